package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// replacementRule is how the provider decides, for one resource type, whether a change of
// inputs replaces the resource: its ForceNew (or RequiresReplace) arguments, top-level or
// nested ("outer.inner"; "outer.*.inner" for every element of a list), the blocks whose
// ForceNew counts only their presence (SDKv2 applies a list's ForceNew to its count, not to
// the fields inside), and the Optional+Computed arguments that keep their value when the
// program drops them.
type replacementRule struct {
	source   string // where it was read: file and function of terraform-provider-aws v5
	forceNew []string
	blocks   []string
	computed []string
	// sourceKind, for the security group rule types: a change between cidrIpv4, cidrIpv6
	// and referencedSecurityGroupId replaces (their ModifyPlan).
	sourceKind bool
}

// instanceForceNew are aws_instance's ForceNew arguments that the spot request shares as
// top-level ForceNew (every argument of the instance schema is ForceNew there).
var instanceForceNew = []string{"ami", "associatePublicIpAddress", "availabilityZone", "ebsOptimized", "ephemeralBlockDevices", "hibernation",
	"hostId", "instanceMarketOptions", "ipv6Addresses", "keyName", "launchTemplate", "placementGroup", "placementPartitionNumber",
	"privateDnsNameOptions", "privateIp", "securityGroups", "subnetId", "tenancy", "cpuCoreCount", "cpuThreadsPerCore",
	"cpuOptions.coreCount", "cpuOptions.threadsPerCore", "cpuOptions.amdSevSnp", "ebsBlockDevices", "enclaveOptions.enabled",
	"networkInterfaces", "rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId"}

// replacementRules hold the provider's replacement rules for every type the program
// registers, read in terraform-provider-aws v5 (v5.5.0 from pulumi's fork, compared with
// v5.46 and the v6.0.0 function index for the version pulumi-aws 6.83.4 bundles).
var replacementRules = map[string]replacementRule{
	// The engine's builtin: a new input is an update that keeps the value (Diff, Update).
	typeStash: {source: "pulumi/pkg resource/deploy/builtins.go, builtinProvider Diff (ChangedKeys input, never ReplaceKeys)"},
	typeVolume: {source: "internal/service/ec2/ebs_volume.go, ResourceEBSVolume",
		forceNew: []string{"availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn", "multiAttachEnabled"},
		computed: []string{"snapshotId", "kmsKeyId", "iops", "throughput", "size", "type"}},
	typeInstance: {source: "internal/service/ec2/ec2_instance.go, ResourceInstance (iam_instance_profile, instance_type, root_block_device.volume_size, metadata_options update in place)",
		forceNew: instanceForceNew,
		computed: []string{"availabilityZone", "subnetId", "iamInstanceProfile", "instanceMarketOptions", "privateIp", "ebsOptimized"}},
	typeSpotRequest: {source: "internal/service/ec2/ec2_spot_instance_request.go, ResourceSpotInstanceRequest: every instance argument ForceNew at the top level, " +
		"nested fields only where aws_instance has them; spot_type and wait_for_fulfillment are not ForceNew; Update changes tags only",
		forceNew: slices.Concat(instanceForceNew, []string{"instanceType", "vpcSecurityGroupIds", "iamInstanceProfile", "userData", "userDataBase64",
			"instanceInterruptionBehavior", "launchGroup", "spotPrice", "validFrom", "validUntil", "blockDurationMinutes", "volumeTags"}),
		blocks:   []string{"rootBlockDevice", "metadataOptions", "creditSpecification"},
		computed: []string{"availabilityZone", "subnetId", "metadataOptions", "validFrom", "validUntil", "instanceInterruptionBehavior"}},
	typeAttachment: {source: "internal/service/ec2/ebs_volume_attachment.go, ResourceVolumeAttachment",
		forceNew: []string{"deviceName", "instanceId", "volumeId"}},
	typeEip: {source: "internal/service/ec2/ec2_eip.go, ResourceEIP",
		forceNew: []string{"domain", "address", "publicIpv4Pool", "customerOwnedIpv4Pool", "networkBorderGroup", "ipamPoolId", "vpc"}},
	typeEipAssoc: {source: "internal/service/ec2/ec2_eip_association.go, ResourceEIPAssociation (no Update)",
		forceNew: []string{"allocationId", "instanceId", "networkInterfaceId", "privateIpAddress", "publicIp", "allowReassociation"}},
	typeKeyPair: {source: "internal/service/ec2/ec2_key_pair.go, ResourceKeyPair",
		forceNew: []string{"keyName", "keyNamePrefix", "publicKey"}},
	typeSecurityGroup: {source: "internal/service/ec2/vpc_security_group.go, ResourceSecurityGroup",
		forceNew: []string{"name", "namePrefix", "description", "vpcId"}},
	typeIngressRule: {source: "internal/service/ec2/vpc_security_group_ingress_rule.go, Schema (RequiresReplace) and ModifyPlan",
		forceNew: []string{"securityGroupId"}, sourceKind: true},
	typeEgressRule: {source: "internal/service/ec2/vpc_security_group_egress_rule.go, as the ingress rule",
		forceNew: []string{"securityGroupId"}, sourceKind: true},
	typeTag: {source: "internal/service/ec2/ec2_tag.go, ResourceTag",
		forceNew: []string{"resourceId", "key"}},
	typeRole: {source: "internal/service/iam/role.go, ResourceRole",
		forceNew: []string{"name", "namePrefix", "path"}},
	typeRolePolicy: {source: "internal/service/iam/role_policy.go, ResourceRolePolicy",
		forceNew: []string{"role", "name", "namePrefix"}},
	typeInstanceProfile: {source: "internal/service/iam/instance_profile.go, ResourceInstanceProfile (role swaps in place)",
		forceNew: []string{"name", "namePrefix", "path"}},
	typeSchedule: {source: "internal/service/scheduler/schedule.go, ResourceSchedule",
		forceNew: []string{"name", "namePrefix", "groupName"}},
	typeParameter: {source: "internal/service/ssm/parameter.go, ResourceParameter (data_type ForceNew since 5.43; tier only Advanced to Standard)",
		forceNew: []string{"name", "dataType"}},
	typeSnapshot: {source: "internal/service/ec2/ebs_snapshot.go, ResourceEBSSnapshot",
		forceNew: []string{"volumeId", "description", "outpostArn"}},
	typeLifecyclePolicy: {source: "internal/service/dlm/lifecycle_policy.go, ResourceLifecyclePolicy",
		forceNew: []string{"policyDetails.schedules.*.copyTags"}},
}

// replaces says whether going from old to new inputs replaces a resource of the rule.
func (rule replacementRule) replaces(old, new registration) bool {
	for _, path := range rule.forceNew {
		before, after := inputAt(old, path), inputAt(new, path)
		if after.IsNull() && slices.Contains(rule.computed, path) {
			continue // dropped: the state keeps what it has
		}
		if !before.DeepEquals(after) {
			return true
		}
	}
	for _, block := range rule.blocks {
		if inputAt(old, block).IsNull() != inputAt(new, block).IsNull() && !(inputAt(new, block).IsNull() && slices.Contains(rule.computed, block)) {
			return true
		}
	}
	if rule.sourceKind {
		kind := func(r registration) string {
			for _, key := range []string{"cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"} {
				if _, set := r.inputs[resource.PropertyKey(key)]; set {
					return key
				}
			}
			return ""
		}
		if kind(old) != kind(new) {
			return true
		}
	}
	// The program's own replaceOnChanges: the engine turns a change there into a replacement.
	for _, path := range new.rpc.GetReplaceOnChanges() {
		if !inputAt(old, path).DeepEquals(inputAt(new, path)) {
			return true
		}
	}
	return false
}

// plannedReplacements is what the engine would replace going from one run to the next:
// resources in both runs whose replacing inputs differ, and, as in a preview, those whose
// replacing input comes from a replaced resource's output (its new id is unknown until it
// exists). The mock gives a replaced resource the same id, so the second rule is the only
// way such a change shows here.
func plannedReplacements(t *testing.T, before, after deployment) []string {
	t.Helper()
	for _, r := range after.aws.registrations {
		if _, known := replacementRules[r.typ]; !known {
			t.Fatalf("%s has no replacement rule in replacementRules", r.typ)
		}
	}
	replaced := map[string]bool{} // by type and name
	for changed := true; changed; {
		changed = false
		for _, r := range after.aws.registrations {
			old, existed := before.registration(r.typ, r.name)
			if !existed || replaced[r.typ+"::"+r.name] {
				continue
			}
			rule := replacementRules[r.typ]
			fromReplaced := false
			for _, path := range rule.forceNew {
				top := strings.Split(path, ".")[0]
				_, set := r.inputs[resource.PropertyKey(top)]
				fromReplaced = fromReplaced || (set && slices.ContainsFunc(r.rpc.GetPropertyDependencies()[top].GetUrns(),
					func(urn string) bool { return replaced[urnTypeAndName(urn)] }))
			}
			if fromReplaced || rule.replaces(old, r) {
				replaced[r.typ+"::"+r.name], changed = true, true
			}
		}
	}
	var names []string
	for key := range replaced {
		names = append(names, urnName(key))
	}
	return slices.Sorted(slices.Values(names))
}

// urnTypeAndName is "type::name" of a URN (urn:pulumi:stack::project::[parent$]type::name).
func urnTypeAndName(urn string) string {
	parts := strings.Split(urn, "::")
	typ := parts[len(parts)-2]
	return typ[strings.LastIndex(typ, "$")+1:] + "::" + parts[len(parts)-1]
}

// runnerReplaced is what replacing an on-demand runner replaces: its instance and what names it.
func runnerReplaced(runner string) []string {
	return []string{runner + "-address-association", runner + "-cache-attachment", runner + "-runner", runner + "-yocto-attachment"}
}

// spotRunnerReplaced is what replacing a Spot runner replaces: its request, its instance's
// and root volume's tags, and what names the instance.
func spotRunnerReplaced(runner string, defaultTags ...string) []string {
	names := []string{runner + "-address-association", runner + "-cache-attachment", runner + "-runner"}
	for _, key := range slices.Concat([]string{"Arch", "Name", "Project", "Role", "Stack", stateIDTag}, defaultTags) {
		names = append(names, runner+"-runner-tag-"+key)
	}
	for _, key := range slices.Concat(unclaimingKeys, defaultTags) {
		names = append(names, runner+"-root-tag-"+key)
	}
	return append(names, runner+"-yocto-attachment")
}

// registration finds a resource of the run by type and logical name.
func (d deployment) registration(typ, name string) (registration, bool) {
	for _, r := range d.aws.registrations {
		if r.typ == typ && r.name == name {
			return r, true
		}
	}
	return registration{}, false
}

// inputAt reads a possibly nested input ("a.b", "a.*.b" for every element); absent is null.
func inputAt(r registration, path string) resource.PropertyValue {
	current := []resource.PropertyValue{resource.NewObjectProperty(r.inputs)}
	for _, key := range strings.Split(path, ".") {
		var next []resource.PropertyValue
		for _, v := range current {
			switch {
			case key == "*" && v.IsArray():
				next = append(next, v.ArrayValue()...)
			case v.IsObject():
				next = append(next, v.ObjectValue()[resource.PropertyKey(key)])
			default:
				next = append(next, resource.NewNullProperty())
			}
		}
		current = next
	}
	if len(current) == 1 {
		return current[0]
	}
	return resource.NewArrayProperty(current)
}

// Every change an operator makes in good faith replaces only what the README says it
// does. The account's first zone lacks the Graviton type, and the zone is never pinned.
func TestChangesReplaceOnlyWhatTheReadmePromises(t *testing.T) {
	x86Only := []string{keyAvailabilityZone, "", keyAmiArm64, ""}
	both := []string{keyAvailabilityZone, ""}
	spot := []string{keyAvailabilityZone, "", keyCapacity, "spot"}
	newAMI := "ami-0aaaaaaaaaaaaaaaa"
	cases := []struct {
		name          string
		before, after []string
		account       func(*fakeAWS) // what changed in AWS between the runs
		want          []string       // logical names replaced
	}{
		{"add the Graviton runner", x86Only, both, nil, nil},
		{"remove the Graviton runner", both, x86Only, nil, nil},
		{"x86 instance type", both, append(both, keyInstanceTypeX86, "c6i.4xlarge"), nil, nil},
		{"Graviton instance type", both, append(both, keyInstanceTypeGraviton, "c7g.4xlarge"), nil, nil},
		{"bigger cache volume", both, append(both, keyCacheVolumeSize, "800"), nil, nil},
		{"faster yocto volume", both, append(both, keyYoctoVolumeIops, "6000", keyYoctoVolumeThroughput, "500"), nil, nil},
		// The root volume carries no tag of this stack, so the deploy role cannot grow it in
		// place (ModifyVolume): a bigger root is a new runner, like a new AMI.
		{"bigger root volume", both, append(both, keyRootVolumeSize, "80"), nil, slices.Concat(runnerReplaced("graviton"), runnerReplaced("x86"))},
		{"narrower CIDRs", both, append(both, keySSHCidrBlocks, "198.51.100.0/24"), nil, nil},
		{"no CIDRs", both, append(both, keySSHCidrBlocks, "none"), nil, nil},
		{"volumes protected", both, append(both, keyProtectVolumes, "true"), nil, nil},
		{"a runner token", both, append(both, keyGitlabRunnerToken, "glrt-first"), nil, nil},
		{"snapshots off", both, append(both, keySnapshotRetentionDays, "0"), nil, nil},
		{"AWS now offers Graviton in the first zone", both, both, func(a *fakeAWS) { a.offerings["c7g.2xlarge"] = a.zones }, nil},
		{"new snapshots of every kind", both, both, addSnapshotsOfEveryKind, nil},
		{"new SSH key", both, append(both, keySSHPublicKey, testSSHKeyRotated), nil, []string{"runner-key"}},
		{"new x86 AMI", both, append(both, keyAmiX86, newAMI), nil, runnerReplaced("x86")},
		{"working hours", both, append(both, keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"), nil, nil},
		{"Spot: new SSH key", spot, append(spot, keySSHPublicKey, testSSHKeyRotated), nil, []string{"runner-key"}},
		{"Spot: working hours", spot, append(spot, keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"), nil, nil},
		{"Spot: a runner token", spot, append(spot, keyGitlabRunnerToken, "glrt-first"), nil, nil},
		// A Spot request cannot change: what is in place on demand replaces a Spot runner.
		{"Spot: x86 instance type", spot, append(spot, keyInstanceTypeX86, "c6i.4xlarge"), nil, spotRunnerReplaced("x86")},
		{"Spot: bigger root volume", spot, append(spot, keyRootVolumeSize, "80"), nil,
			slices.Concat(spotRunnerReplaced("graviton"), spotRunnerReplaced("x86"))},
		{"zone pinned elsewhere", x86Only, append(x86Only, keyAvailabilityZone, "us-east-1c"), nil,
			[]string{"x86-address-association", "x86-cache", "x86-cache-attachment", "x86-runner", "x86-yocto", "x86-yocto-attachment"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := newFakeAWS()
			account.amis[newAMI] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8, imdsSupport: "v2.0"}
			before := deploy(t, account, "dev", false, testConfig(tc.before...))
			if before.err != nil {
				t.Fatal(before.err)
			}
			next := before.next()
			if tc.account != nil {
				tc.account(next)
			}
			after := deploy(t, next, "dev", true, testConfig(tc.after...))
			if after.err != nil {
				t.Fatal(after.err)
			}
			if got := plannedReplacements(t, before, after); !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
				t.Errorf("replaced %q, want %q", got, slices.Sorted(slices.Values(tc.want)))
			}
		})
	}
}

// addSnapshotsOfEveryKind is a day of DLM: a completed snapshot of every data volume.
func addSnapshotsOfEveryKind(a *fakeAWS) {
	for _, v := range a.volumes {
		tags := maps.Clone(v.tags)
		tags["aws:dlm:lifecycle-policy-id"] = "policy-0123"
		a.snapshots = append(a.snapshots, fakeSnapshot{id: "snap-dlm-" + v.id, volumeID: v.id, state: "completed", start: "2026-12-01T03:00:00Z",
			sizeGiB: v.sizeGiB, tags: tags})
	}
}

// The replacement model itself: a changed replacing input replaces, an in-place input does
// not, a nested field replaces only where the provider says so, and a replacement carries to
// what names its id.
func TestPlannedReplacementsModel(t *testing.T) {
	before := mustDeploy(t, testConfig())
	spotBefore := mustDeploy(t, testConfig(keyCapacity, "spot"))
	cases := []struct {
		name string
		spot bool
		edit func(map[string]registration)
		want []string
	}{
		{"nothing", false, func(map[string]registration) {}, nil},
		{"in-place input", false, func(r map[string]registration) { r["x86-cache"].inputs["size"] = resource.NewNumberProperty(900) }, nil},
		{"volume zone", false, func(r map[string]registration) {
			r["x86-yocto"].inputs["availabilityZone"] = resource.NewStringProperty("us-east-1c")
		}, []string{"x86-yocto", "x86-yocto-attachment"}},
		{"volume snapshot dropped", false, func(r map[string]registration) { delete(r["x86-yocto"].inputs, "snapshotId") }, nil},
		{"root encryption", false, func(r map[string]registration) {
			r["graviton-runner"].inputs["rootBlockDevice"].ObjectValue()["encrypted"] = resource.NewBoolProperty(false)
		}, []string{"graviton-address-association", "graviton-cache-attachment", "graviton-runner", "graviton-yocto-attachment"}},
		// A nested field of an instance is updated in place...
		{"root volume type", false, func(r map[string]registration) {
			r["x86-runner"].inputs["rootBlockDevice"].ObjectValue()["volumeType"] = resource.NewStringProperty("gp2")
		}, nil},
		// ...and of a Spot request it is an update the request's Update ignores, so the program
		// asks for a replacement of any root device change.
		{"Spot root volume type", true, func(r map[string]registration) {
			r["x86-runner"].inputs["rootBlockDevice"].ObjectValue()["volumeType"] = resource.NewStringProperty("gp2")
		}, spotRunnerReplaced("x86")},
		{"Spot root volume size", true, func(r map[string]registration) {
			r["x86-runner"].inputs["rootBlockDevice"].ObjectValue()["volumeSize"] = resource.NewNumberProperty(90)
		}, spotRunnerReplaced("x86")},
		{"Spot type is not ForceNew", true, func(r map[string]registration) {
			r["x86-runner"].inputs["spotType"] = resource.NewStringProperty("one-time")
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, cfg := before, testConfig()
			if tc.spot {
				base, cfg = spotBefore, testConfig(keyCapacity, "spot")
			}
			after := mustDeploy(t, cfg)
			byName := map[string]registration{}
			for _, r := range after.aws.registrations {
				r.inputs = r.inputs.Copy()
				if root, ok := r.inputs["rootBlockDevice"]; ok {
					r.inputs["rootBlockDevice"] = resource.NewObjectProperty(root.ObjectValue().Copy())
				}
				byName[r.name] = r
			}
			tc.edit(byName)
			after.aws.registrations = slices.Collect(maps.Values(byName))
			if got := plannedReplacements(t, base, after); !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
				t.Errorf("replaced %q, want %q", got, tc.want)
			}
		})
	}
}

// Every row names the provider file it was read from.
func TestReplacementRulesCiteTheProvider(t *testing.T) {
	for typ, rule := range replacementRules {
		builtin := slices.Contains(engineBuiltins, typ) && strings.HasPrefix(rule.source, "pulumi/pkg resource/deploy/builtins.go")
		if !strings.HasPrefix(rule.source, "internal/service/") && !builtin {
			t.Errorf("%s: source %q does not name a provider file", typ, rule.source)
		}
	}
}
