package main

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// Hand-computed from the us-east-1 list prices: c6i.2xlarge $0.34/h, c7g.2xlarge $0.289/h,
// gp3 $0.08/GiB-month, $0.005/IOPS-month over 3000, $0.04/MiB/s-month over 125, public
// IPv4 $0.005/h for all 730 hours; working hours Mon-Fri 07:00-19:00 = 60 h × 52 / 12 = 260 h.
func TestCostEstimate(t *testing.T) {
	cases := []struct {
		name      string
		overrides []string
		region    string
		want      map[string]float64 // runner -> monthly total; "" -> fleet total; -1 unknown
	}{
		{"defaults, always on", nil, "us-east-1",
			map[string]float64{"x86": 248.20 + 52 + 3.65, "graviton": 210.97 + 52 + 3.65, "": 570.47}},
		{"working hours", []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"}, "us-east-1",
			map[string]float64{"x86": 88.40 + 52 + 3.65, "graviton": 75.14 + 52 + 3.65, "": 274.84}},
		{"working hours on Spot", []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin", keyCapacity, "spot"}, "us-east-1",
			map[string]float64{"x86": 35.67 + 52 + 3.65, "graviton": 29.28 + 52 + 3.65, "": 176.25}},
		{"faster cache volume", []string{keyAmiArm64, "", keyCacheVolumeIops, "4000", keyCacheVolumeThroughput, "250"}, "us-east-1",
			map[string]float64{"x86": 248.20 + 52 + 5 + 5 + 3.65, "": 313.85}},
		{"type without a price", []string{keyInstanceTypeGraviton, "c7gn.2xlarge"}, "us-east-1",
			map[string]float64{"x86": 303.85, "graviton": -1, "": -1}},
		{"Spot type without a price", []string{keyCapacity, "spot", keyInstanceTypeGraviton, "c7g.4xlarge"}, "us-east-1",
			map[string]float64{"x86": 100.16 + 52 + 3.65, "graviton": -1, "": -1}},
		{"region without prices", nil, "eu-west-1", map[string]float64{"x86": -1, "graviton": -1, "": -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustLoadConfig(t, testConfig(tc.overrides...), "dev")
			cfg.Region = tc.region
			spot := map[string]float64{"c6i.2xlarge": 0.1372, "c7g.2xlarge": 0.1126}
			cost := estimateCost(cfg, spot)
			got := map[string]*float64{"": cost.total()}
			for _, r := range cost.runners {
				got[r.name] = r.total()
			}
			if len(got) != len(tc.want) {
				t.Fatalf("runners %v, want %v", got, tc.want)
			}
			for name, want := range tc.want {
				switch {
				case want < 0 && got[name] != nil:
					t.Errorf("%q = %.2f, want unknown", name, *got[name])
				case want >= 0 && (got[name] == nil || math.Abs(*got[name]-want) > 0.006):
					t.Errorf("%q = %s, want $%.2f", name, dollars(got[name]), want)
				}
			}
		})
	}
}

// The targets the README promises, measured with the program's own estimate.
func TestWorkingHoursAndSpotMeetTheirTargets(t *testing.T) {
	estimate := func(overrides ...string) float64 {
		cfg := mustLoadConfig(t, testConfig(overrides...), "dev")
		cfg.Region = "us-east-1"
		return *estimateCost(cfg, map[string]float64{"c6i.2xlarge": 0.1372, "c7g.2xlarge": 0.1126}).total()
	}
	always := estimate()
	if share := estimate(keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin") / always; share > 0.50 {
		t.Errorf("working hours cost %.0f%% of always on, want at most 50%%", share*100)
	}
	if share := estimate(keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin", keyCapacity, "spot") / always; share > 0.35 {
		t.Errorf("working hours on Spot cost %.0f%% of always on, want at most 35%%", share*100)
	}
}

// Every preview prints the estimate, and the stack exports it.
func TestCostIsLoggedAndExported(t *testing.T) {
	d := mustDeploy(t, testConfig(keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin", keyCapacity, "spot"))
	want := "monthly cost estimate, spot, 260 instance hours: x86 $91.32 (c6i.2xlarge $35.67, volumes $52.00, public IPv4 $3.65) + " +
		"graviton $84.93 (c7g.2xlarge $29.28, volumes $52.00, public IPv4 $3.65) = $176.25 a month"
	if len(d.infos) != 1 || d.infos[0] != want {
		t.Errorf("info lines %q, want %q", d.infos, want)
	}
	cost, _ := d.outputs["monthlyCost"].(map[string]any)
	runners, _ := cost["runners"].(map[string]any)
	x86, _ := runners["x86"].(map[string]any)
	if cost["total"] != 176.25 || cost["currency"] != "USD" || cost["instanceHours"] != 260.0 || x86["instance"] != 35.67 || x86["hourly"] != 0.1372 {
		t.Errorf("monthlyCost = %v", cost)
	}
	// One Spot price per instance type, however many runners share it.
	counted := mustDeploy(t, testConfig(keyCapacity, "spot", keyX86Count, "3"))
	if n := countInvokes(counted.aws, "aws:ec2/getSpotPrice:getSpotPrice"); n != 2 {
		t.Errorf("%d Spot price lookups for two instance types", n)
	}
	unknown := mustDeploy(t, testConfig(keyCapacity, "spot", keyInstanceTypeGraviton, "c7g.4xlarge"))
	if !strings.Contains(unknown.infos[0], "graviton unknown (c7g.4xlarge unknown,") || !strings.HasSuffix(unknown.infos[0], "= unknown a month") {
		t.Errorf("a type without a Spot price in the zone: %q", unknown.infos[0])
	}
}

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

func TestReadmeCostsComeFromTheCode(t *testing.T) {
	section := readmeSection(t, "Cost Estimate")
	costs := documentedCosts(t)
	always := *costs[0].cost.total()
	for _, c := range costs {
		row := fmt.Sprintf("| %s | %s | %s | %s | %.0f %% |", c.label, dollars(c.cost.runners[0].total()), dollars(c.cost.runners[1].total()),
			dollars(c.cost.total()), *c.cost.total()/always*100)
		if !strings.Contains(section, row) {
			t.Errorf("README cost table lacks the row\n%s", row)
		}
	}
	x86, graviton := costs[0].cost.runners[0], costs[0].cost.runners[1]
	breakdown := fmt.Sprintf("(x86 %s, Graviton %s),\nits volumes (%s) and its public IPv4 (%s)", dollars(x86.instance), dollars(graviton.instance),
		dollars(x86.volumes), dollars(x86.publicIPv4))
	if !strings.Contains(section, breakdown) {
		t.Errorf("README cost breakdown lacks %q", breakdown)
	}
}

// countInvokes counts the invokes of a data source.
func countInvokes(aws *fakeAWS, token string) int {
	n := 0
	for _, invoked := range aws.invokes {
		if invoked == token {
			n++
		}
	}
	return n
}
