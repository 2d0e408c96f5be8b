package main

import (
	"slices"
	"testing"
	"time"
)

// rounds counts the sequential rounds of data-source calls of a run: a call is in the round
// after the latest round of any call that ended before it began.
func rounds(invokes []invokeRecord) int {
	sorted := slices.Clone(invokes)
	slices.SortFunc(sorted, func(a, b invokeRecord) int { return a.start - b.start })
	round := make([]int, len(sorted))
	most := 0
	for i, r := range sorted {
		round[i] = 1
		for j, q := range sorted[:i] {
			if q.end < r.start {
				round[i] = max(round[i], round[j]+1)
			}
		}
		most = max(most, round[i])
	}
	return most
}

// A preview reads its state once, then waits for two rounds of AWS calls, however many
// architectures and runners: the lookups that need only the configuration and the state run
// at once, then the ones that need the zone. Each mock call takes 20 ms, so calls started together
// overlap. The rig measures the same with the real engine (docs/build-cost.md).
func TestPreviewMakesTwoRoundsOfLookups(t *testing.T) {
	cases := []struct {
		name      string
		overrides []string
	}{
		{"on demand, three runners each", []string{keyX86Count, "3", keyGravitonCount, "3", keyAvailabilityZone, ""}},
		{"Spot, working hours, secrets", []string{keyCapacity, "spot", keyWorkingHours, "Mon-Fri 07:00-19:00 UTC", keyGitlabRunnerToken, "glrt-a"}},
		{"a subnet of its own", []string{keySubnetID, testSubnet, keyAvailabilityZone, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := newFakeAWS()
			first.quotas[quotaElasticIPs] = fakeQuota{"EC2-VPC Elastic IPs", 10}
			first.quotas[quotaOnDemandStandardVcpus] = fakeQuota{"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 128}
			up := deploy(t, first, "dev", false, testConfig(tc.overrides...))
			if up.err != nil {
				t.Fatal(up.err)
			}
			account := up.next()
			addSnapshotsOfEveryKind(account)
			account.invokeDelay = 20 * time.Millisecond
			d := deploy(t, account, "dev", true, testConfig(append(tc.overrides, keyX86Count, "4")...))
			if d.err != nil {
				t.Fatal(d.err)
			}
			reads := slices.DeleteFunc(slices.Clone(account.invokes), func(r invokeRecord) bool { return r.token != readStateToken })
			lookups := slices.DeleteFunc(slices.Clone(account.invokes), func(r invokeRecord) bool { return r.token == readStateToken })
			if len(reads) != 1 || slices.ContainsFunc(lookups, func(r invokeRecord) bool { return r.start < reads[0].end }) {
				t.Errorf("the state is read %d times, or after a lookup began", len(reads))
			}
			if got := rounds(lookups); got != 2 {
				t.Errorf("%d rounds of lookups (%d calls), want 2", got, len(lookups))
			}
		})
	}
}
