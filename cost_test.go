package main

import (
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
// The snapshot bound: the oldest snapshot at most the whole volume, each later day at most
// 10 % of it, at $0.05 per GiB-month: (500 + 100) GiB x (1 + 0.1 x 6) x 0.05 = $48 a runner.
func TestSnapshotCostIsAnUpperBound(t *testing.T) {
	cases := map[string]float64{"7": 48, "1": 30, "0": 0, "30": 600 * 3.9 * 0.05}
	for days, want := range cases {
		cfg := mustLoadConfig(t, testConfig(keySnapshotRetentionDays, days, keyAmiArm64, ""), "dev")
		cfg.Region = "us-east-1"
		cost := estimateCost(cfg, nil)
		if got := cost.snapshots(); got == nil || math.Abs(*got-want) > 0.006 {
			t.Errorf("%s days: %s, want $%.2f", days, dollars(got), want)
		}
		if days == "0" && strings.Contains(cost.String(), "snapshots") {
			t.Errorf("no snapshots, yet: %s", cost.String())
		}
	}
}

func TestCostIsLoggedAndExported(t *testing.T) {
	d := mustDeploy(t, testConfig(keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin", keyCapacity, "spot"))
	want := "monthly cost estimate, spot, 260 instance hours: x86 $91.32 (c6i.2xlarge $35.67, volumes $52.00, public IPv4 $3.65) + " +
		"graviton $84.93 (c7g.2xlarge $29.28, volumes $52.00, public IPv4 $3.65) = $176.25 a month, " +
		"plus at most $96.00 of snapshots (7 days kept, at most 10 % of each volume changing a day)"
	if got := costLine(d); got != want {
		t.Errorf("cost line %q, want %q", got, want)
	}
	cost, _ := d.outputs["monthlyCost"].(map[string]any)
	runners, _ := cost["runners"].(map[string]any)
	x86, _ := runners["x86"].(map[string]any)
	if cost["total"] != 176.25 || cost["currency"] != "USD" || cost["instanceHours"] != 260.0 || x86["instance"] != 35.67 || x86["hourly"] != 0.1372 ||
		cost["snapshotsMax"] != 96.0 || x86["snapshotsMax"] != 48.0 {
		t.Errorf("monthlyCost = %v", cost)
	}
	// One Spot price per instance type, however many runners share it.
	counted := mustDeploy(t, testConfig(keyCapacity, "spot", keyX86Count, "3"))
	if n := countInvokes(counted.aws, "aws:ec2/getSpotPrice:getSpotPrice"); n != 2 {
		t.Errorf("%d Spot price lookups for two instance types", n)
	}
	unknown := mustDeploy(t, testConfig(keyCapacity, "spot", keyInstanceTypeGraviton, "c7g.4xlarge"))
	if line := costLine(unknown); !strings.Contains(line, "graviton unknown (c7g.4xlarge unknown,") || !strings.Contains(line, "= unknown a month") {
		t.Errorf("a type without a Spot price in the zone: %q", line)
	}
}

// costLine is the one info line of a run that states the cost, "" when there is none or
// more than one.
func costLine(d deployment) string {
	var lines []string
	for _, info := range d.infos {
		if strings.HasPrefix(info, "monthly cost estimate") {
			lines = append(lines, info)
		}
	}
	if len(lines) != 1 {
		return ""
	}
	return lines[0]
}

// countInvokes counts the invokes of a data source.
func countInvokes(aws *fakeAWS, token string) int {
	n := 0
	for _, invoked := range aws.invokes {
		if invoked.token == token {
			n++
		}
	}
	return n
}

// A preview that stops on a problem still prints the cost of the configuration as typed,
// where every key the estimate reads is valid; not when one of those is wrong.
func TestAPreviewThatStopsStillPrices(t *testing.T) {
	cases := []struct {
		name      string
		overrides []string
		priced    bool
	}{
		{"the AMI and the key still to set", []string{keyAmiX86, "", keySSHPublicKey, ""}, true},
		{"a CIDR from a failed lookup", []string{keySSHCidrBlocks, "/32"}, true},
		{"an AMI the account cannot find", []string{keyAmiX86, "ami-0badbadbadbadbad0"}, true},
		{"a wrong instance type", []string{keyInstanceTypeX86, "c6i.2xl arge"}, false},
		{"a wrong count", []string{keyX86Count, "many"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := deploy(t, newFakeAWS(), "dev", true, testConfig(tc.overrides...))
			if d.err == nil {
				t.Fatal("the preview went on")
			}
			line := costLine(d)
			switch {
			case tc.priced && !strings.HasPrefix(line, "monthly cost estimate, on-demand, 730 instance hours: x86 $303.85"):
				t.Errorf("cost line %q", line)
			case !tc.priced && line != "":
				t.Errorf("priced a configuration whose priced keys are wrong: %q", line)
			}
		})
	}
}
