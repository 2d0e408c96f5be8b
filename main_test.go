package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// sharedResourceNames are the resources a stack has whatever its runners.
func sharedResourceNames() []string {
	return []string{
		typeEgressRule + " egress-to-0.0.0.0-0",
		typeEgressRule + " egress-to----0",
		typeIngressRule + " apt-cacher-from-203.0.113.0-24",
		typeIngressRule + " apt-cacher-from-runners",
		typeIngressRule + " https-from-203.0.113.0-24",
		typeIngressRule + " https-from-runners",
		typeIngressRule + " ssh-from-203.0.113.0-24",
		typeKeyPair + " runner-key",
		typeSecurityGroup + " runner-sg",
		typeRole + " runner-role",
		typeRolePolicy + " runner-role-permissions",
		typeInstanceProfile + " runner-profile",
		typeRole + " snapshot-policy-role",
		typeRolePolicy + " snapshot-policy-role-permissions",
		typeLifecyclePolicy + " snapshot-policy",
		typeStash + " state-id",
	}
}

// runnerResourceNames are one on-demand runner's resources.
func runnerResourceNames(name string) []string {
	return []string{
		typeEip + " " + name + "-address",
		typeEipAssoc + " " + name + "-address-association",
		typeInstance + " " + name + "-runner",
		typeVolume + " " + name + "-cache",
		typeVolume + " " + name + "-yocto",
		typeAttachment + " " + name + "-cache-attachment",
		typeAttachment + " " + name + "-yocto-attachment",
	}
}

func TestFleetRegistersExactlyTheConfiguredRunners(t *testing.T) {
	cases := []struct {
		name     string
		amiArm64 string
		want     []string
	}{
		{"x86 only", "", slices.Concat(sharedResourceNames(), runnerResourceNames("x86"))},
		{"x86 and graviton", testAmiArm64, slices.Concat(sharedResourceNames(), runnerResourceNames("x86"), runnerResourceNames("graviton"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDeploy(t, testConfig(keyAmiArm64, tc.amiArm64))
			slices.Sort(tc.want)
			if got := d.names(); !slices.Equal(got, tc.want) {
				t.Errorf("registered resources:\n got %q\nwant %q", got, tc.want)
			}
			if want := []string{"dev"}; !slices.Equal(d.aws.stackReads, want) {
				t.Errorf("the program read the outputs of %q, want its own stack %q", d.aws.stackReads, want)
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	shared := []string{"securityGroupId", "keyPairName", "availabilityZone", "monthlyCost", "startRunnersCommand", "runners",
		"runnerParameters"}
	_, publicKey := testSigningKey(t)
	runnerOutputs := func(prefix string) []string {
		return []string{prefix + "InstanceId", prefix + "PublicIp", prefix + "PublicDns", prefix + "SshCommand",
			prefix + "PrivateIp", prefix + "PrivateDns", prefix + "CacheVolumeId", prefix + "YoctoVolumeId"}
	}
	cases := []struct {
		name      string
		amiArm64  string
		publicKey string
		want      []string
	}{
		{"x86 only", "", "", slices.Concat(shared, runnerOutputs("x86"))},
		{"both runners", testAmiArm64, "", slices.Concat(shared, runnerOutputs("x86"), runnerOutputs("graviton"))},
		{"with a cache key", "", publicKey, slices.Concat(shared, []string{"cacheSigningPublicKey"}, runnerOutputs("x86"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDeploy(t, testConfig(keyAmiArm64, tc.amiArm64, keyCacheSigningPublicKey, tc.publicKey))
			got := slices.Sorted(maps.Keys(d.outputs))
			if slices.Sort(tc.want); !slices.Equal(got, tc.want) {
				t.Fatalf("output names:\n got %q\nwant %q", got, tc.want)
			}
			want := map[string]any{
				"securityGroupId":  d.find(t, typeSecurityGroup, "runner-sg").id,
				"keyPairName":      "n3x-runner-key",
				"availabilityZone": "us-east-1b",
			}
			if tc.publicKey != "" {
				want["cacheSigningPublicKey"] = tc.publicKey
			}
			command := "aws ec2 start-instances --region us-east-1 --instance-ids"
			for _, r := range d.fleet.runners {
				command += " " + d.find(t, typeInstance, r.spec.name+"-runner").id
			}
			want["startRunnersCommand"] = command
			for _, r := range d.fleet.runners {
				p := r.spec.name
				address := d.find(t, typeEip, p+"-address")
				instance := d.find(t, typeInstance, p+"-runner")
				want[p+"InstanceId"] = instance.id
				want[p+"PrivateIp"] = instance.outputs["privateIp"].StringValue()
				want[p+"PrivateDns"] = instance.outputs["privateDns"].StringValue()
				ip := address.outputs["publicIp"].StringValue()
				want[p+"PublicIp"] = ip
				want[p+"PublicDns"] = address.outputs["publicDns"].StringValue()
				want[p+"SshCommand"] = "ssh root@" + ip
				want[p+"CacheVolumeId"] = d.find(t, typeVolume, p+"-cache").id
				want[p+"YoctoVolumeId"] = d.find(t, typeVolume, p+"-yocto").id
			}
			for name, value := range want {
				if d.outputs[name] != value {
					t.Errorf("output %s = %v, want %v", name, d.outputs[name], value)
				}
			}
		})
	}
}

func TestStacksGetTheirOwnPhysicalNames(t *testing.T) {
	cases := []struct {
		stack, namePrefix string
		wantPrefix        string
	}{
		{"dev", "", "n3x"},
		{"staging", "", "n3x-staging"},
		{"staging", "ci-fleet", "ci-fleet"},
	}
	for _, tc := range cases {
		t.Run(tc.stack+"/"+tc.namePrefix, func(t *testing.T) {
			d := deploy(t, newFakeAWS(), tc.stack, false, testConfig(keyNamePrefix, tc.namePrefix))
			if d.err != nil {
				t.Fatal(d.err)
			}
			names := map[string]string{
				str(t, d.find(t, typeSecurityGroup, "runner-sg"), "name"):        tc.wantPrefix + "-runner-sg",
				str(t, d.find(t, typeKeyPair, "runner-key"), "keyName"):          tc.wantPrefix + "-runner-key",
				str(t, d.find(t, typeRole, "runner-role"), "name"):               tc.wantPrefix + "-runner",
				str(t, d.find(t, typeInstanceProfile, "runner-profile"), "name"): tc.wantPrefix + "-runner",
				str(t, d.find(t, typeRole, "snapshot-policy-role"), "name"):      tc.wantPrefix + "-snapshots",
				tags(t, d.find(t, typeInstance, "graviton-runner"))["Name"]:      tc.wantPrefix + "-graviton-runner",
			}
			for got, want := range names {
				if got != want {
					t.Errorf("name %q, want %q", got, want)
				}
			}
			if got := tags(t, d.find(t, typeSecurityGroup, "runner-sg"))["Stack"]; got != tc.stack {
				t.Errorf("Stack tag = %q, want %q", got, tc.stack)
			}
			if want := []string{tc.stack}; !slices.Equal(d.aws.stackReads, want) {
				t.Errorf("read %q, want %q", d.aws.stackReads, want)
			}
		})
	}
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	d := mustDeploy(t, testConfig(keyGitlabRunnerToken, "glrt-token"))
	untaggable := map[string]bool{typeAttachment: true, typeEipAssoc: true, typeRolePolicy: true, typeStash: true}
	for _, r := range d.aws.registrations {
		if untaggable[r.typ] {
			continue
		}
		got := tags(t, r)
		if got["Project"] != "n3x" || got["Stack"] != "dev" || got["Name"] == "" {
			t.Errorf("%s %s tags = %v, want Name, Project=n3x, Stack=dev", r.typ, r.name, got)
		}
	}
}

func TestKeyPairIsDeletedBeforeItIsReplaced(t *testing.T) {
	d := mustDeploy(t, testConfig())
	key := d.find(t, typeKeyPair, "runner-key")
	if !key.rpc.GetDeleteBeforeReplace() {
		t.Error("key pair keeps its name across a new public key, so it must be deleted before it is replaced")
	}
	if got := str(t, key, "publicKey"); got != testSSHKey {
		t.Errorf("publicKey = %q, want %q", got, testSSHKey)
	}
}

// What the program finds wrong reads as an answer: one logged error diagnostic whose first
// line counts the problems, and an exit the CLI shows without its crash wrapper.
func TestProblemsAreLoggedAsOneDiagnostic(t *testing.T) {
	aws := newFakeAWS()
	aws.amis[testAmiArm64] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8}
	d := deploy(t, aws, "dev", true, testConfig(keyInstanceTypeX86, "c7g.2xlarge"))
	if len(d.errors) != 1 {
		t.Fatalf("logged errors %q, want one", d.errors)
	}
	lines := strings.Split(d.errors[0], "\n")
	if lines[0] != "n3x configuration: 2 problems" || len(lines) != 3 || !strings.HasPrefix(lines[1], "  - n3x:") || !strings.HasPrefix(lines[2], "  - n3x:") {
		t.Errorf("diagnostic:\n%s", d.errors[0])
	}
	for _, wrapper := range []string{"unhandled error", "program failed", "error occurred"} {
		if strings.Contains(d.errors[0], wrapper) {
			t.Errorf("diagnostic has the wrapper %q", wrapper)
		}
	}
	if len(d.aws.registrations) != 0 {
		t.Errorf("registered %v", d.names())
	}
}

// The program reads its own stack's outputs: by the stack's name alone on the local and S3
// backends (whose placeholder organization is "organization"; their legacy layout refuses a
// qualified name), fully qualified on Pulumi Cloud.
func TestTheProgramReadsItsOwnStack(t *testing.T) {
	diy := deploy(t, newFakeAWS(), "dev", true, testConfig())
	cloud := deploy(t, newFakeAWS(), "dev", true, testConfig(), "@organization", "acme")
	if diy.err != nil || cloud.err != nil {
		t.Fatal(diy.err, cloud.err)
	}
	if !slices.Equal(diy.aws.stackReads, []string{"dev"}) || !slices.Equal(cloud.aws.stackReads, []string{"acme/n3x/dev"}) {
		t.Errorf("read %q on a file backend and %q on Pulumi Cloud", diy.aws.stackReads, cloud.aws.stackReads)
	}
}

// The state is read by each resource's type and logical name, which no version of the
// program changed: a runner's instance (on demand or Spot), data volumes and address, the
// security group and the state id; anything else named like them (a Spot runner's tags,
// snapshots, attachments) is no runner resource. Ids come from the outputs' id, which the
// bridged provider records, else the ARN's last part.
func TestStackStateIsReadByTypeAndName(t *testing.T) {
	urn := func(typ, name string) string { return "urn:pulumi:dev::n3x::" + typ + "::" + name }
	entry := func(typ string, outputs map[string]any) map[string]any {
		return map[string]any{"type": typ, "outputs": outputs}
	}
	state := parseStackState(map[string]any{
		urn(typeStash, "state-id"):          entry(typeStash, map[string]any{"input": "0123456789abcdef", "output": "0123456789abcdef"}),
		urn(typeSecurityGroup, "runner-sg"): entry(typeSecurityGroup, map[string]any{"arn": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1"}),
		urn(typeInstance, "x86-runner"): entry(typeInstance, map[string]any{"id": "i-1", "ami": testAmiX86, "instanceType": "c6i.2xlarge",
			"availabilityZone": "us-east-1b", "rootBlockDevice": map[string]any{"volumeSize": 50.0}}),
		urn(typeSpotRequest, "graviton-2-runner"):     entry(typeSpotRequest, map[string]any{"id": "sir-1", "spotInstanceId": "i-2", "ami": testAmiArm64}),
		urn(typeVolume, "x86-cache"):                  entry(typeVolume, map[string]any{"id": "vol-c", "availabilityZone": "us-east-1b", "size": 500.0, "finalSnapshot": true}),
		urn(typeVolume, "x86-yocto"):                  entry(typeVolume, map[string]any{"arn": "arn:aws:ec2:us-east-1:123456789012:volume/vol-y", "snapshotId": "snap-1"}),
		urn(typeEip, "x86-address"):                   entry(typeEip, map[string]any{"id": "eipalloc-1", "allocationId": "eipalloc-1"}),
		urn(typeTag, "x86-runner-tag-Name"):           entry(typeTag, map[string]any{"id": "i-9,Name"}),
		urn(typeSnapshot, "x86-cache-final-snapshot"): entry(typeSnapshot, map[string]any{"id": "snap-9"}),
		urn(typeVolume, "x86-1-cache"):                entry(typeVolume, map[string]any{"id": "vol-not-a-runner"}),
		urn(typeInstance, "builder-runner"):           entry(typeInstance, map[string]any{"id": "i-not-a-runner"}),
	})
	want := stackState{stateID: "0123456789abcdef", securityGroupID: "sg-1", runners: map[string]stateRunner{
		"x86": {arch: "x86_64", addressID: "eipalloc-1",
			instance: stateInstance{id: "i-1", ami: testAmiX86, instanceType: "c6i.2xlarge", zone: "us-east-1b", rootSizeGiB: 50},
			volumes:  map[string]stateVolume{"cache": {id: "vol-c", zone: "us-east-1b", finalSnapshot: true}, "yocto": {id: "vol-y"}}},
		"graviton-2": {arch: "arm64", instance: stateInstance{id: "i-2", spot: true, ami: testAmiArm64}, volumes: map[string]stateVolume{}},
	}}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Errorf("state\n got %+v\nwant %+v", state, want)
	}
	if got := state.instanceIDs(); !slices.Equal(got, []string{"i-2", "i-1"}) {
		t.Errorf("instance ids %q", got)
	}
	if got := state.zone(); got != "us-east-1b" {
		t.Errorf("zone %q", got)
	}
}
