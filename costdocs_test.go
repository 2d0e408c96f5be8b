package main

import "testing"

// documentedCosts are the configurations the README and the architecture diagram price,
// estimated by the program itself (Spot at the prices the README states).
func documentedCosts(t *testing.T) []struct {
	label string
	cost  fleetCost
} {
	t.Helper()
	hours := []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"}
	var costs []struct {
		label string
		cost  fleetCost
	}
	for _, c := range []struct {
		label     string
		overrides []string
	}{
		{"Always on, on demand (730 h)", nil},
		{"Mon-Fri 07:00-19:00, on demand (260 h)", hours},
		{"Mon-Fri 07:00-19:00, Spot (260 h)", append(hours, keyCapacity, "spot")},
		{"Wake on job, on demand (165 h)", []string{keyWakeOnJob, "true"}},
		{"Wake on job, Spot (165 h)", []string{keyWakeOnJob, "true", keyCapacity, "spot"}},
	} {
		cfg := mustLoadConfig(t, testConfig(append([]string{keySSHCidrBlocks, "", keyAvailabilityZone, ""}, c.overrides...)...), "dev")
		cfg.Region = "us-east-1"
		costs = append(costs, struct {
			label string
			cost  fleetCost
		}{c.label, estimateCost(cfg, map[string]float64{"c6i.2xlarge": 0.1372, "c7g.2xlarge": 0.1126})})
	}
	return costs
}
