package main

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestRunnerInstances(t *testing.T) {
	cases := []struct {
		runner, ami, instanceType, arch string
	}{
		{"x86", testAmiX86, "c6i.4xlarge", "x86_64"},
		{"graviton", testAmiArm64, "c7g.4xlarge", "arm64"},
	}
	d := mustDeploy(t, testConfig(keyInstanceTypeX86, "c6i.4xlarge", keyInstanceTypeGraviton, "c7g.4xlarge", keyRootVolumeSize, "80"))
	group := d.find(t, typeSecurityGroup, "runner-sg")
	for _, tc := range cases {
		t.Run(tc.runner, func(t *testing.T) {
			instance := d.find(t, typeInstance, tc.runner+"-runner")
			checks := map[string][2]any{
				"ami":                      {str(t, instance, "ami"), tc.ami},
				"instanceType":             {str(t, instance, "instanceType"), tc.instanceType},
				"keyName":                  {str(t, instance, "keyName"), "n3x-runner-key"},
				"availabilityZone":         {str(t, instance, "availabilityZone"), "us-east-1b"},
				"root volumeType":          {str(t, instance, "rootBlockDevice", "volumeType"), "gp3"},
				"root volumeSize":          {num(t, instance, "rootBlockDevice", "volumeSize"), 80},
				"root encrypted":           {boolean(t, instance, "rootBlockDevice", "encrypted"), true},
				"root deleteOnTermination": {boolean(t, instance, "rootBlockDevice", "deleteOnTermination"), true},
				"metadata httpTokens":      {str(t, instance, "metadataOptions", "httpTokens"), "required"},
				"metadata httpEndpoint":    {str(t, instance, "metadataOptions", "httpEndpoint"), "enabled"},
			}
			for what, c := range checks {
				if c[0] != c[1] {
					t.Errorf("%s = %v, want %v", what, c[0], c[1])
				}
			}
			groups := prop(t, instance, "vpcSecurityGroupIds").ArrayValue()
			if len(groups) != 1 || groups[0].StringValue() != group.id {
				t.Errorf("vpcSecurityGroupIds = %v, want [%s]", groups, group.id)
			}
			if _, ok := instance.inputs["subnetId"]; ok {
				t.Errorf("subnetId set without n3x:subnetId: %v", instance.inputs["subnetId"])
			}
			if got, want := str(t, instance, "iamInstanceProfile"), "n3x-runner"; got != want {
				t.Errorf("iamInstanceProfile = %q, want %q", got, want)
			}
			if !hasDependency(instance, "runner-profile") {
				t.Errorf("instance does not wait for the instance profile: %v", instance.rpc.GetDependencies())
			}
			wantTags := map[string]string{"Name": "n3x-" + tc.runner + "-runner", "Project": "n3x", "Stack": "dev", "Arch": tc.arch, "Role": "build-runner",
				stateIDTag: testStateID}
			if got := tags(t, instance); !maps.Equal(got, wantTags) {
				t.Errorf("tags = %v, want %v", got, wantTags)
			}
			// Tagged after the launch, so only with the tags that claim nothing, which the
			// deploy role may put on any volume: no Project, Stack or state id.
			wantTags = map[string]string{"Name": "n3x-" + tc.runner + "-runner-root", "Arch": tc.arch, "Role": "build-runner", "Purpose": "nixos-system"}
			if got := tags(t, instance, "rootBlockDevice"); !maps.Equal(got, wantTags) {
				t.Errorf("root volume tags = %v, want %v", got, wantTags)
			}
			// A new SSH key replaces the key pair; the instance only names it, so it waits
			// for the key pair without its keyName depending on the key pair's output.
			if !slices.ContainsFunc(instance.rpc.GetDependencies(), func(urn string) bool { return urnName(urn) == "runner-key" }) {
				t.Errorf("instance does not depend on the key pair: %v", instance.rpc.GetDependencies())
			}
			if deps := instance.rpc.GetPropertyDependencies()["keyName"].GetUrns(); len(deps) != 0 {
				t.Errorf("instance keyName depends on %v; a key rotation would replace the instance", deps)
			}
			// Replacement order belongs to the attachments; the instance keeps the
			// default create-before-delete so the old runner serves until the new one exists.
			// Its root size replaces it rather than ModifyVolume on an untagged volume.
			if instance.rpc.GetDeleteBeforeReplace() || !slices.Equal(instance.rpc.GetReplaceOnChanges(), []string{"rootBlockDevice.volumeSize"}) {
				t.Errorf("instance options: deleteBeforeReplace=%v replaceOnChanges=%v, want create before delete, replaced on rootBlockDevice.volumeSize",
					instance.rpc.GetDeleteBeforeReplace(), instance.rpc.GetReplaceOnChanges())
			}
		})
	}
}

func TestDataVolumesAndAttachments(t *testing.T) {
	d := mustDeploy(t, testConfig(
		keyCacheVolumeSize, "1000", keyCacheVolumeIops, "12000", keyCacheVolumeThroughput, "500",
		keyYoctoVolumeSize, "200", keyYoctoVolumeIops, "4000", keyYoctoVolumeThroughput, "250"))
	cases := []struct {
		runner, arch, role, device, purpose string
		size, iops, throughput              int
	}{
		{"x86", "x86_64", "cache", "/dev/sdf", "nix-store-zfs-cache", 1000, 12000, 500},
		{"x86", "x86_64", "yocto", "/dev/sdg", "yocto-dl-dir-sstate", 200, 4000, 250},
		{"graviton", "arm64", "cache", "/dev/sdf", "nix-store-zfs-cache", 1000, 12000, 500},
		{"graviton", "arm64", "yocto", "/dev/sdg", "yocto-dl-dir-sstate", 200, 4000, 250},
	}
	for _, tc := range cases {
		t.Run(tc.runner+"/"+tc.role, func(t *testing.T) {
			instance := d.find(t, typeInstance, tc.runner+"-runner")
			volume := d.find(t, typeVolume, tc.runner+"-"+tc.role)
			attachment := d.find(t, typeAttachment, tc.runner+"-"+tc.role+"-attachment")
			checks := map[string][2]any{
				"volume availabilityZone":                {str(t, volume, "availabilityZone"), str(t, instance, "availabilityZone")},
				"volume type":                            {str(t, volume, "type"), "gp3"},
				"volume size":                            {num(t, volume, "size"), tc.size},
				"volume iops":                            {num(t, volume, "iops"), tc.iops},
				"volume throughput":                      {num(t, volume, "throughput"), tc.throughput},
				"volume encrypted":                       {boolean(t, volume, "encrypted"), true},
				"volume finalSnapshot":                   {boolean(t, volume, "finalSnapshot"), true},
				"attachment deviceName":                  {str(t, attachment, "deviceName"), tc.device},
				"attachment volumeId":                    {str(t, attachment, "volumeId"), volume.id},
				"attachment instanceId":                  {str(t, attachment, "instanceId"), instance.id},
				"attachment stopInstanceBeforeDetaching": {boolean(t, attachment, "stopInstanceBeforeDetaching"), true},
				"attachment deleteBeforeReplace":         {attachment.rpc.GetDeleteBeforeReplace(), true},
				"volume deleteBeforeReplace":             {volume.rpc.GetDeleteBeforeReplace(), false},
			}
			for what, c := range checks {
				if c[0] != c[1] {
					t.Errorf("%s = %v, want %v", what, c[0], c[1])
				}
			}
			wantTags := map[string]string{"Name": "n3x-" + tc.runner + "-runner-" + tc.role, "Project": "n3x", "Stack": "dev",
				"Arch": tc.arch, "Role": "build-runner", "Purpose": tc.purpose, "n3x:snapshots": "n3x", "n3x:final-snapshot": "true", stateIDTag: testStateID}
			if got := tags(t, volume); !maps.Equal(got, wantTags) {
				t.Errorf("volume tags = %v, want %v", got, wantTags)
			}
			deps := attachment.rpc.GetDependencies()
			for _, needed := range []registration{instance, volume} {
				if !slices.ContainsFunc(deps, func(urn string) bool { return urnName(urn) == needed.name }) {
					t.Errorf("attachment dependencies %v lack %s", deps, needed.name)
				}
			}
			// The cache volume is attached first, so every boot sees the same order.
			var attachedAfter, want []string
			for _, urn := range deps {
				if strings.HasSuffix(urnName(urn), "-attachment") {
					attachedAfter = append(attachedAfter, urnName(urn))
				}
			}
			if tc.role == "yocto" {
				want = []string{tc.runner + "-cache-attachment"}
			}
			if !slices.Equal(attachedAfter, want) {
				t.Errorf("attachment waits for %v, want %v", attachedAfter, want)
			}
			if deps := volume.rpc.GetDependencies(); len(deps) != 0 {
				t.Errorf("volume depends on %v; it must not wait on (or be replaced with) the instance", deps)
			}
		})
	}
}

func TestVolumeZoneIsKnownAtPreview(t *testing.T) {
	for _, cfg := range []map[string]string{testConfig(), testConfig(keyAvailabilityZone, "")} {
		d := deploy(t, newFakeAWS(), "dev", true, cfg)
		if d.err != nil {
			t.Fatal(d.err)
		}
		for _, volume := range d.ofType(typeVolume) {
			// str fails unless the zone is a plain known string, not a computed value.
			if got := str(t, volume, "availabilityZone"); got != "us-east-1b" {
				t.Errorf("preview: %s zone = %q, want us-east-1b", volume.name, got)
			}
		}
	}
}

func TestElasticIPFollowsTheCurrentInstance(t *testing.T) {
	d := mustDeploy(t, testConfig())
	for _, runner := range []string{"x86", "graviton"} {
		address := d.find(t, typeEip, runner+"-address")
		association := d.find(t, typeEipAssoc, runner+"-address-association")
		if got := str(t, address, "domain"); got != "vpc" {
			t.Errorf("%s address domain = %q, want vpc", runner, got)
		}
		if got, want := str(t, association, "allocationId"), address.outputs["allocationId"].StringValue(); got != want {
			t.Errorf("%s association allocationId = %q, want %q", runner, got, want)
		}
		if got, want := str(t, association, "instanceId"), d.find(t, typeInstance, runner+"-runner").id; got != want {
			t.Errorf("%s association instanceId = %q, want %q", runner, got, want)
		}
		if !association.rpc.GetDeleteBeforeReplace() {
			t.Errorf("%s association must be deleted before it is replaced: an address has one instance at a time", runner)
		}
		if address.rpc.GetDeleteBeforeReplace() || len(address.rpc.GetDependencies()) != 0 {
			t.Errorf("%s address must not depend on the instance (deps %v)", runner, address.rpc.GetDependencies())
		}
		// The address moves only once the new instance holds its volumes: after the last attachment.
		if !hasDependency(association, runner+"-yocto-attachment") {
			t.Errorf("%s association does not wait for the Yocto attachment: %v", runner, association.rpc.GetDependencies())
		}
	}
}

func TestProtectVolumes(t *testing.T) {
	for _, protect := range []bool{false, true} {
		d := mustDeploy(t, testConfig(keyProtectVolumes, map[bool]string{false: "false", true: "true"}[protect]))
		for _, r := range d.aws.registrations {
			want := protect && r.typ == typeVolume
			if got := r.rpc.GetProtect(); got != want {
				t.Errorf("protectVolumes=%v: %s %s protect = %v, want %v", protect, r.typ, r.name, got, want)
			}
		}
		if n := len(d.ofType(typeVolume)); n != 4 {
			t.Fatalf("protectVolumes=%v: %d volumes registered, want 4", protect, n)
		}
	}
}

// An AMI rollout, a new instance type or a bigger volume must change only the inputs
// that name them: every logical name (and so every URN) stays, nothing asks for a
// replacement, and the volumes keep every input but the one that grew.
func TestConfigChangesTouchOnlyWhatTheyName(t *testing.T) {
	before := mustDeploy(t, testConfig())
	cases := []struct {
		name      string
		overrides []string
		changed   map[string][]string // logical name -> inputs expected to differ
	}{
		{"new x86 AMI", []string{keyAmiX86, "ami-0aaaaaaaaaaaaaaaa"}, map[string][]string{"x86-runner": {"ami"}}},
		{"new instance type", []string{keyInstanceTypeGraviton, "c7g.4xlarge"}, map[string][]string{"graviton-runner": {"instanceType"}}},
		{"bigger cache", []string{keyCacheVolumeSize, "800"}, map[string][]string{"x86-cache": {"size"}, "graviton-cache": {"size"}}},
		{"bigger root", []string{keyRootVolumeSize, "60"}, map[string][]string{"x86-runner": {"rootBlockDevice"}, "graviton-runner": {"rootBlockDevice"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aws := before.next()
			aws.amis["ami-0aaaaaaaaaaaaaaaa"] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8}
			after := deploy(t, aws, "dev", false, testConfig(tc.overrides...))
			if after.err != nil {
				t.Fatal(after.err)
			}
			if !slices.Equal(before.names(), after.names()) {
				t.Fatalf("resource set changed:\n%q\n%q", before.names(), after.names())
			}
			for _, old := range before.aws.registrations {
				updated := after.find(t, old.typ, old.name)
				for key := range old.inputs {
					differs := !old.inputs[key].DeepEquals(updated.inputs[key])
					if differs != slices.Contains(tc.changed[old.name], string(key)) {
						t.Errorf("%s input %s differs=%v: %v -> %v", old.name, key, differs, old.inputs[key], updated.inputs[key])
					}
				}
				if len(updated.rpc.GetReplaceOnChanges()) > 0 && old.typ != typeSpotRequest && old.typ != typeInstance {
					t.Errorf("%s has replaceOnChanges %v", old.name, updated.rpc.GetReplaceOnChanges())
				}
			}
		})
	}
}

func TestUnsettingGravitonRemovesOnlyItsResources(t *testing.T) {
	both := mustDeploy(t, testConfig())
	x86Only := mustDeploy(t, testConfig(keyAmiArm64, ""))
	for _, r := range both.aws.registrations {
		graviton := strings.HasPrefix(r.name, "graviton-")
		remaining := slices.ContainsFunc(x86Only.aws.registrations, func(o registration) bool { return o.typ == r.typ && o.name == r.name })
		if graviton == remaining {
			t.Errorf("%s %s: graviton=%v but still registered=%v", r.typ, r.name, graviton, remaining)
		}
		// The runner role stops reading the Graviton token, in place.
		if remaining && r.name != "runner-role-permissions" && !r.inputs.DeepEquals(x86Only.find(t, r.typ, r.name).inputs) {
			t.Errorf("%s %s inputs change when the Graviton runner goes", r.typ, r.name)
		}
	}
}
