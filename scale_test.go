package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// runnerResources are the logical names of one runner's resources.
func runnerResources(name string) []string {
	return []string{name + "-runner", name + "-cache", name + "-yocto", name + "-cache-attachment", name + "-yocto-attachment",
		name + "-address", name + "-address-association"}
}

func TestRunnerCounts(t *testing.T) {
	account := newFakeAWS()
	account.quotas[quotaElasticIPs] = fakeQuota{"EC2-VPC Elastic IPs", 10} // six runners, six addresses
	countless := deploy(t, account, "dev", false, testConfig(keyAvailabilityZone, ""))
	three := deploy(t, countless.next(), "dev", false, testConfig(keyAvailabilityZone, "", keyX86Count, "3", keyGravitonCount, "3"))
	if three.err != nil {
		t.Fatal(three.err)
	}
	// Scaling up touches no existing runner: runner 1 is registered exactly as without counts.
	for _, old := range countless.aws.registrations {
		now, ok := three.registration(old.typ, old.name)
		if !ok {
			t.Errorf("%s %s is gone with counts", old.typ, old.name)
			continue
		}
		if !old.inputs.DeepEquals(now.inputs) || !slices.Equal(sortedDeps(old), sortedDeps(now)) ||
			old.rpc.GetDeleteBeforeReplace() != now.rpc.GetDeleteBeforeReplace() || old.rpc.GetProtect() != now.rpc.GetProtect() {
			t.Errorf("%s %s changes when runners are added", old.typ, old.name)
		}
	}
	for name, value := range countless.outputs {
		if name != "monthlyCost" && name != "startRunnersCommand" && name != "runners" && name != "availabilityZone" && fmt.Sprint(three.outputs[name]) != fmt.Sprint(value) {
			t.Errorf("output %s = %v with counts, %v without", name, three.outputs[name], value)
		}
	}
	for _, name := range []string{"x86-2", "x86-3", "graviton-2", "graviton-3"} {
		if got := tags(t, three.find(t, typeInstance, name+"-runner"))["Name"]; got != "n3x-"+name+"-runner" {
			t.Errorf("%s Name tag %q", name, got)
		}
		if got := tags(t, three.find(t, typeVolume, name+"-cache"))["Name"]; got != "n3x-"+name+"-runner-cache" {
			t.Errorf("%s cache Name tag %q", name, got)
		}
	}
	if countless.err != nil {
		t.Fatal(countless.err)
	}
	if n := len(three.aws.registrations) - len(countless.aws.registrations); n != 4*len(runnerResources("x")) {
		t.Errorf("scaling 1 -> 3 per architecture added %d resources, want %d", n, 4*len(runnerResources("x")))
	}
	if replaced := plannedReplacements(t, countless, three); len(replaced) != 0 {
		t.Errorf("scaling up replaces %q", replaced)
	}

	// Scaling down removes only the highest-numbered runners, and says which caches go.
	two := deploy(t, three.next(), "dev", true, testConfig(keyAvailabilityZone, "", keyX86Count, "2", keyGravitonCount, "2"))
	if two.err != nil {
		t.Fatal(two.err)
	}
	var removed []string
	for _, r := range three.aws.registrations {
		if _, ok := two.registration(r.typ, r.name); !ok {
			removed = append(removed, r.name)
		}
	}
	want := slices.Concat(runnerResources("graviton-3"), runnerResources("x86-3"))
	for _, old := range slices.Concat(three.ofType(typeVolume)) {
		if strings.Contains(old.name, "-3-") {
			// the final snapshots of the volumes that go are the provider's (finalSnapshot)
			if !boolean(t, old, "finalSnapshot") {
				t.Errorf("%s goes without a final snapshot", old.name)
			}
		}
	}
	if slices.Sort(removed); !slices.Equal(removed, slices.Sorted(slices.Values(want))) {
		t.Errorf("scaling 3 -> 2 removes %q, want %q", removed, want)
	}
	if replaced := plannedReplacements(t, three, two); len(replaced) != 0 {
		t.Errorf("scaling down replaces %q", replaced)
	}
	warning := "the data volumes graviton-3-cache-id (graviton-3 cache), graviton-3-yocto-id (graviton-3 yocto), " +
		"x86-3-cache-id (x86-3 cache), x86-3-yocto-id (x86-3 yocto) belong to no configured runner " +
		"(n3x:x86Count, n3x:gravitonCount, n3x:amiArm64): pulumi up deletes them, first taking a snapshot of each, tagged with its volume's Name and n3x:snapshots=n3x; " +
		"when a runner of that name comes back, its volumes start from their own newest snapshot, the one taken now; protected volumes make it fail instead"
	if !slices.Contains(two.warnings, warning) {
		t.Errorf("warnings %q lack\n%q", two.warnings, warning)
	}
}

func sortedDeps(r registration) []string {
	return slices.Sorted(slices.Values(r.rpc.GetDependencies()))
}

// An AMI upgrade never takes all runners of an architecture down at once: each runner's
// instance is launched only after the previous runner has its volumes and address back.
func TestRunnersOfAnArchitectureRollOneByOne(t *testing.T) {
	d := mustDeploy(t, testConfig(keyX86Count, "3", keyGravitonCount, "2"))
	cases := []struct{ runner, previous string }{
		{"x86", ""}, {"x86-2", "x86"}, {"x86-3", "x86-2"}, {"graviton", ""}, {"graviton-2", "graviton"},
	}
	for _, tc := range cases {
		var waitsFor []string
		for _, urn := range d.find(t, typeInstance, tc.runner+"-runner").rpc.GetDependencies() {
			if name := urnName(urn); name != "runner-key" && name != "runner-sg" && name != "runner-profile" {
				waitsFor = append(waitsFor, name)
			}
		}
		var want []string
		if tc.previous != "" {
			want = []string{tc.previous + "-address-association", tc.previous + "-yocto-attachment"}
		}
		if slices.Sort(waitsFor); !slices.Equal(waitsFor, want) {
			t.Errorf("%s instance waits for %q, want %q", tc.runner, waitsFor, want)
		}
		if deps := d.find(t, typeInstance, tc.runner+"-runner").rpc.GetPropertyDependencies(); len(deps["ami"].GetUrns()) != 0 {
			t.Errorf("%s ami depends on %v: the order must not become a replacement", tc.runner, deps["ami"].GetUrns())
		}
	}
}

func TestRunnersOutput(t *testing.T) {
	d := mustDeploy(t, testConfig(keyX86Count, "2", keyGravitonCount, "2"))
	listed, _ := d.outputs["runners"].([]any)
	var names []string
	for _, entry := range listed {
		r := entry.(map[string]any)
		name := r["name"].(string)
		names = append(names, name)
		instance := d.find(t, typeInstance, name+"-runner")
		address := d.find(t, typeEip, name+"-address")
		want := map[string]any{
			"architecture":      map[bool]string{true: "x86_64", false: "arm64"}[strings.HasPrefix(name, "x86")],
			"instanceId":        instance.id,
			"publicIp":          address.outputs["publicIp"].StringValue(),
			"publicDns":         address.outputs["publicDns"].StringValue(),
			"privateIp":         instance.outputs["privateIp"].StringValue(),
			"privateDns":        instance.outputs["privateDns"].StringValue(),
			"sshCommand":        "ssh root@" + address.outputs["publicIp"].StringValue(),
			"ssmSessionCommand": "aws ssm start-session --region us-east-1 --target " + instance.id,
			"cacheVolumeId":     d.find(t, typeVolume, name+"-cache").id,
			"yoctoVolumeId":     d.find(t, typeVolume, name+"-yocto").id,
		}
		for key, value := range want {
			if r[key] != value {
				t.Errorf("runners[%s].%s = %v, want %v", name, key, r[key], value)
			}
		}
	}
	if want := []string{"x86", "x86-2", "graviton", "graviton-2"}; !slices.Equal(names, want) {
		t.Errorf("runners output lists %q, want %q in that order", names, want)
	}
	if _, ok := d.outputs["x86-2InstanceId"]; ok {
		t.Error("runner 2 has seed-style outputs; it belongs in runners only")
	}
	// The schedules and the estimate cover every runner.
	hours := mustDeploy(t, testConfig(keyX86Count, "2", keyWorkingHours, "Mon-Fri 07:00-19:00 UTC"))
	for _, instance := range hours.ofType(typeInstance) {
		runner := strings.TrimSuffix(instance.name, "-runner")
		if input := str(t, hours.find(t, typeSchedule, runner+"-runner-stop"), "target", "input"); input != `{"InstanceIds":["`+instance.id+`"]}` {
			t.Errorf("the stop schedule of %s sends %s", runner, input)
		}
	}
	cost, _ := hours.outputs["monthlyCost"].(map[string]any)
	if runners, _ := cost["runners"].(map[string]any); len(runners) != 3 || runners["x86-2"] == nil {
		t.Errorf("monthlyCost runners %v, want x86, x86-2 and graviton", runners)
	}
}

// Preflight refuses only what this update cannot launch at its peak, in the quota of the
// configured capacity: the runners it keeps or makes, one more instance per architecture it
// rolls, and the runners it removes until its end; it warns when the quota holds this update
// but not a later one that rolls every architecture at once. Each case deploys before (nil:
// a first deploy), then previews after. c6i.2xlarge and c7g.2xlarge have 8 vCPUs,
// c6i.4xlarge 16.
func TestQuotas(t *testing.T) {
	const onDemand = `"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" (L-1216C47A)`
	both, newAMI := testConfig(), "ami-0aaaaaaaaaaaaaaaa"
	cases := []struct {
		name          string
		before, after map[string]string
		quotas        map[string]float64 // overrides; -1 denies reading
		wantErr       string
		wantWarn      string
	}{
		{"first deploy: 16 fits 16, a later roll of both needs 32", nil, both, map[string]float64{quotaOnDemandStandardVcpus: 16}, "",
			`the quota "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" (L-1216C47A) of 16 vCPUs holds this update (16 at most), ` +
				"but not a later one that replaces every architecture's instances at once (a new AMI for each), which needs 32; request more before then: " +
				"aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-1216C47A --desired-value 32"},
		{"first deploy that does not fit", nil, testConfig(keyX86Count, "2"), map[string]float64{quotaOnDemandStandardVcpus: 16},
			"this update needs 24 vCPUs of the quota " + onDemand + " at once: 24 for the runners it keeps or makes; the account has 16; " +
				"request more: aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-1216C47A --desired-value 24", ""},
		{"one architecture rolled: 24 fits 24", both, testConfig(keyAmiX86, newAMI), map[string]float64{quotaOnDemandStandardVcpus: 24}, "", "needs 32"},
		{"one architecture rolled does not fit 16", both, testConfig(keyAmiX86, newAMI), map[string]float64{quotaOnDemandStandardVcpus: 16},
			"this update needs 24 vCPUs of the quota " + onDemand + " at once: 16 for the runners it keeps or makes, " +
				"8 for one more x86 instance while it replaces x86 (AMI ami-0aaaaaaaaaaaaaaaa), one at a time; the account has 16", ""},
		{"both rolled: 32 fits 32", both, testConfig(keyAmiX86, newAMI, keyAmiArm64, "ami-0fedcba9876543211"), map[string]float64{quotaOnDemandStandardVcpus: 32}, "", ""},
		{"both rolled does not fit 24", both, testConfig(keyAmiX86, newAMI, keyAmiArm64, "ami-0fedcba9876543211"), map[string]float64{quotaOnDemandStandardVcpus: 24},
			"this update needs 32 vCPUs", ""},
		{"a type change is in place: 24 fits 24", both, testConfig(keyInstanceTypeX86, "c6i.4xlarge"), map[string]float64{quotaOnDemandStandardVcpus: 24}, "", "needs 48"},
		{"a scale-up makes, replaces nothing: 24 fits 24", testConfig(keyAmiArm64, ""), testConfig(keyAmiArm64, "", keyX86Count, "3"),
			map[string]float64{quotaOnDemandStandardVcpus: 24}, "", "needs 32"},
		{"a scale-down with a roll keeps the removed runners to its end", testConfig(keyAmiArm64, "", keyX86Count, "3"),
			testConfig(keyAmiArm64, "", keyAmiX86, newAMI), map[string]float64{quotaOnDemandStandardVcpus: 24},
			"this update needs 32 vCPUs of the quota " + onDemand + " at once: 8 for the runners it keeps or makes, " +
				"8 for one more x86 instance while it replaces x86 (AMI ami-0aaaaaaaaaaaaaaaa), one at a time, 16 for the runners it removes, which run until it deletes them at its end", ""},
		{"Spot: a type change replaces", testConfig(keyCapacity, "spot"), testConfig(keyCapacity, "spot", keyInstanceTypeX86, "c6i.4xlarge"),
			map[string]float64{quotaSpotStandardVcpus: 24},
			`this update needs 40 vCPUs of the quota "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests" (L-34B43A08) at once: 24 for the runners it keeps or makes, ` +
				"16 for one more x86 instance while it replaces x86 (instance type c6i.4xlarge), one at a time", ""},
		{"Spot: switching from on demand launches into the Spot quota with no surge", both, testConfig(keyCapacity, "spot"),
			map[string]float64{quotaSpotStandardVcpus: 16, quotaOnDemandStandardVcpus: 0}, "", "needs 32"},
		{"Elastic IPs: a scale-up allocates one per new runner", both, testConfig(keyX86Count, "3", keyGravitonCount, "3"), nil,
			`this update needs 6 Elastic IPs of the quota "EC2-VPC Elastic IPs" (L-0263D0A3) at once: 2 the stack holds and 4 it allocates; the account has 5; ` +
				"request more: aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-0263D0A3 --desired-value 6", ""},
		{"no permission", nil, both, map[string]float64{quotaOnDemandStandardVcpus: -1, quotaElasticIPs: -1}, "",
			"could not read the EC2 quota L-1216C47A (reading Service Quota (L-1216C47A): AccessDeniedException: User is not authorized to perform: " +
				"servicequotas:GetAWSDefaultServiceQuota), so preview cannot tell whether the 16 vCPUs this update needs fit; " +
				"allow servicequotas:GetAWSDefaultServiceQuota and servicequotas:GetServiceQuota (iam/preview-policy.json) to have it checked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := newFakeAWS()
			account.amis["ami-0aaaaaaaaaaaaaaaa"] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8, imdsSupport: "v2.0"}
			account.amis["ami-0fedcba9876543211"] = fakeAMI{arch: "arm64", rootSnapshotGiB: 8, imdsSupport: "v2.0"}
			if tc.before != nil {
				account = mustDeployOn(t, account, tc.before).next()
			}
			for code, value := range tc.quotas {
				q := account.quotas[code]
				q.value = value
				account.quotas[code] = q
			}
			account.registrations = nil
			d := deploy(t, account, "dev", true, tc.after)
			switch {
			case tc.wantErr == "" && d.err != nil:
				t.Fatal(d.err)
			case tc.wantErr != "" && (d.err == nil || !strings.Contains(d.err.Error(), tc.wantErr)):
				t.Fatalf("err = %v\nwant %q", d.err, tc.wantErr)
			case tc.wantErr != "" && len(account.registrations) != 0:
				t.Errorf("a quota failure registered %v", d.names())
			}
			quotaWarnings := slices.DeleteFunc(slices.Clone(d.warnings), func(w string) bool { return !strings.Contains(w, "quota") })
			switch {
			case tc.wantWarn == "" && len(quotaWarnings) > 0:
				t.Errorf("quota warnings %q", quotaWarnings)
			case tc.wantWarn != "" && !slices.ContainsFunc(quotaWarnings, func(w string) bool { return strings.Contains(w, tc.wantWarn) }):
				t.Errorf("warnings %q lack %q", quotaWarnings, tc.wantWarn)
			}
		})
	}
}

// With n3x:protectVolumes, a configuration with fewer runners, or without Graviton, or in
// another zone fails before anything is registered: Pulumi would otherwise terminate the
// runners and release their addresses before the protected volumes stop it.
func TestProtectedVolumesStopAScaleDownBeforeAnythingIsTouched(t *testing.T) {
	protected := []string{keyProtectVolumes, "true", keyX86Count, "3"}
	account := mustDeploy(t, testConfig(protected...)).next()
	cases := []struct {
		name      string
		overrides []string
		want      string
	}{
		{"fewer x86 runners", []string{keyX86Count, "1"}, "n3x:x86Count removes the runners x86-2, x86-3, whose data volumes are protected (n3x:protectVolumes); " +
			"keep them, or release the volumes first (pulumi config set n3x:protectVolumes false && pulumi up) and then remove the runners; fix: pulumi config set n3x:x86Count 3"},
		{"Graviton removed", []string{keyAmiArm64, ""}, "n3x:amiArm64 removes the runners graviton, whose data volumes are protected"},
		{"another zone", []string{keyAvailabilityZone, "us-east-1c"}, "n3x:availabilityZone moves the runners to us-east-1c, which replaces the protected data volumes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := account.clone()
			d := deploy(t, next, "dev", false, testConfig(append(protected, tc.overrides...)...))
			if d.err == nil || !strings.Contains(d.err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", d.err, tc.want)
			}
			if len(next.registrations) != 0 {
				t.Errorf("registered %v before failing", d.names())
			}
		})
	}
	if d := deploy(t, account.clone(), "dev", true, testConfig(keyX86Count, "1")); d.err != nil {
		t.Errorf("unprotected, the scale-down goes ahead: %v", d.err)
	}
}
