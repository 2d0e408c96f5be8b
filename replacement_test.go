package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// forceNewInputs are the inputs whose change makes the provider replace a resource
// rather than update it. Source: terraform-provider-aws v5, which pulumi-aws v6 bundles:
// the ForceNew arguments in internal/service/ec2 ebs_volume.go, ec2_instance.go
// (root_block_device: only encrypted and kms_key_id), ebs_volume_attachment.go, ec2_eip.go,
// ec2_eip_association.go, ec2_key_pair.go, vpc_security_group.go, ec2_tag.go, iam_role.go,
// iam_role_policy.go and scheduler/schedule.go, RequiresReplace in
// vpc_security_group_ingress_rule.go / _egress_rule.go, and ec2_spot_instance_request.go,
// which makes every argument but tags ForceNew. Nested inputs are "outer.inner".
var forceNewInputs = map[string][]string{
	typeVolume: {"availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn", "multiAttachEnabled"},
	typeInstance: {"ami", "availabilityZone", "subnetId", "keyName", "privateIp", "associatePublicIpAddress", "securityGroups",
		"tenancy", "placementGroup", "placementPartitionNumber", "hostId", "ebsBlockDevices", "ephemeralBlockDevices",
		"networkInterfaces", "ipv6Addresses", "ipv6AddressCount", "launchTemplate", "instanceMarketOptions", "cpuOptions",
		"cpuCoreCount", "cpuThreadsPerCore", "hibernation", "ebsOptimized", "enclaveOptions", "privateDnsNameOptions",
		"rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId"},
	typeAttachment:    {"deviceName", "instanceId", "volumeId"},
	typeEip:           {"domain", "address", "publicIpv4Pool", "customerOwnedIpv4Pool", "networkBorderGroup"},
	typeEipAssoc:      {"allocationId", "instanceId", "networkInterfaceId", "privateIpAddress", "publicIp", "allowReassociation"},
	typeKeyPair:       {"keyName", "keyNamePrefix", "publicKey"},
	typeSecurityGroup: {"name", "namePrefix", "description", "vpcId"},
	typeIngressRule:   {"securityGroupId"},
	typeEgressRule:    {"securityGroupId"},
	typeSpotRequest: {"ami", "instanceType", "keyName", "vpcSecurityGroupIds", "availabilityZone", "subnetId", "rootBlockDevice",
		"metadataOptions", "spotType", "instanceInterruptionBehavior", "spotPrice", "waitForFulfillment", "validUntil", "launchGroup"},
	typeTag:        {"resourceId", "key"},
	typeRole:       {"name", "namePrefix", "path"},
	typeRolePolicy: {"role", "name", "namePrefix"},
	typeSchedule:   {"name", "namePrefix", "groupName"},
}

// plannedReplacements is what the engine would replace going from one run to the next:
// resources in both runs whose replacement-forcing inputs differ, and, as in a preview,
// those whose replacement-forcing input comes from a replaced resource's output (its new
// id is unknown until it exists). The mock gives a replaced resource the same id, so
// the second rule is the only way such a change shows here.
func plannedReplacements(t *testing.T, before, after deployment) []string {
	t.Helper()
	for _, r := range after.aws.registrations {
		if _, known := forceNewInputs[r.typ]; !known {
			t.Fatalf("%s has no replacement-forcing inputs listed in forceNewInputs", r.typ)
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
			for _, path := range forceNewInputs[r.typ] {
				top := strings.Split(path, ".")[0]
				fromReplaced := slices.ContainsFunc(r.rpc.GetPropertyDependencies()[top].GetUrns(), func(urn string) bool { return replaced[urnTypeAndName(urn)] })
				if _, set := r.inputs[resource.PropertyKey(top)]; (set && fromReplaced) || !inputAt(old, path).DeepEquals(inputAt(r, path)) {
					replaced[r.typ+"::"+r.name], changed = true, true
					break
				}
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

// spotRunnerReplaced is what replacing a Spot runner replaces: its request, its instance's
// tags, and what names the instance.
func spotRunnerReplaced(runner string) []string {
	names := []string{runner + "-address-association", runner + "-cache-attachment", runner + "-runner"}
	for _, key := range []string{"Arch", "Name", "Project", "Role", "Stack"} {
		names = append(names, runner+"-runner-tag-"+key)
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

// inputAt reads a possibly nested input; absent is null.
func inputAt(r registration, path string) resource.PropertyValue {
	current := resource.NewObjectProperty(r.inputs)
	for _, key := range strings.Split(path, ".") {
		if !current.IsObject() {
			return resource.NewNullProperty()
		}
		current = current.ObjectValue()[resource.PropertyKey(key)]
	}
	return current
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
		{"bigger root volume", both, append(both, keyRootVolumeSize, "80"), nil, nil},
		{"narrower CIDRs", both, append(both, keySSHCidrBlocks, "198.51.100.0/24"), nil, nil},
		{"volumes protected", both, append(both, keyProtectVolumes, "true"), nil, nil},
		{"AWS now offers Graviton in the first zone", both, both, func(a *fakeAWS) { a.offerings["c7g.2xlarge"] = a.zones }, nil},
		{"new SSH key", both, append(both, keySSHPublicKey, testSSHKeyRotated), nil, []string{"runner-key"}},
		{"new x86 AMI", both, append(both, keyAmiX86, newAMI), nil,
			[]string{"x86-address-association", "x86-cache-attachment", "x86-runner", "x86-yocto-attachment"}},
		{"working hours", both, append(both, keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"), nil, nil},
		{"Spot: new SSH key", spot, append(spot, keySSHPublicKey, testSSHKeyRotated), nil, []string{"runner-key"}},
		{"Spot: working hours", spot, append(spot, keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"), nil, nil},
		// A Spot request cannot change: what is in place on demand replaces a Spot runner.
		{"Spot: x86 instance type", spot, append(spot, keyInstanceTypeX86, "c6i.4xlarge"), nil,
			spotRunnerReplaced("x86")},
		{"Spot: bigger root volume", spot, append(spot, keyRootVolumeSize, "80"), nil,
			slices.Concat(spotRunnerReplaced("graviton"), spotRunnerReplaced("x86"))},
		{"zone pinned elsewhere", x86Only, append(x86Only, keyAvailabilityZone, "us-east-1c"), nil,
			[]string{"x86-address-association", "x86-cache", "x86-cache-attachment", "x86-runner", "x86-yocto", "x86-yocto-attachment"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := newFakeAWS()
			account.amis[newAMI] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8}
			before := deploy(t, account, "dev", false, testConfig(tc.before...))
			if before.err != nil {
				t.Fatal(before.err)
			}
			next := before.aws.afterUp()
			if tc.account != nil {
				tc.account(next)
			}
			after := deploy(t, next, "dev", true, testConfig(tc.after...))
			if after.err != nil {
				t.Fatal(after.err)
			}
			if got := plannedReplacements(t, before, after); !slices.Equal(got, tc.want) {
				t.Errorf("replaced %q, want %q", got, tc.want)
			}
		})
	}
}

// The replacement model itself: a changed replacement-forcing input replaces, an
// in-place input does not, and a replacement carries to what names its id.
func TestPlannedReplacementsModel(t *testing.T) {
	before := mustDeploy(t, testConfig())
	cases := []struct {
		name string
		edit func(map[string]registration)
		want []string
	}{
		{"nothing", func(map[string]registration) {}, nil},
		{"in-place input", func(r map[string]registration) { r["x86-cache"].inputs["size"] = resource.NewNumberProperty(900) }, nil},
		{"volume zone", func(r map[string]registration) {
			r["x86-yocto"].inputs["availabilityZone"] = resource.NewStringProperty("us-east-1c")
		}, []string{"x86-yocto", "x86-yocto-attachment"}},
		{"root encryption", func(r map[string]registration) {
			r["graviton-runner"].inputs["rootBlockDevice"].ObjectValue()["encrypted"] = resource.NewBoolProperty(false)
		}, []string{"graviton-address-association", "graviton-cache-attachment", "graviton-runner", "graviton-yocto-attachment"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after := mustDeploy(t, testConfig())
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
			if got := plannedReplacements(t, before, after); !slices.Equal(got, tc.want) {
				t.Errorf("replaced %q, want %q", got, tc.want)
			}
		})
	}
}
