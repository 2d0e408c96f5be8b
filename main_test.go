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
		"runnerParameters", "cacheSigningPublicKey"}
	runnerOutputs := func(prefix string) []string {
		return []string{prefix + "InstanceId", prefix + "PublicIp", prefix + "PublicDns", prefix + "SshCommand",
			prefix + "PrivateIp", prefix + "PrivateDns", prefix + "CacheVolumeId", prefix + "YoctoVolumeId"}
	}
	cases := []struct {
		name     string
		amiArm64 string
		want     []string
	}{
		{"x86 only", "", slices.Concat(shared, runnerOutputs("x86"))},
		{"both runners", testAmiArm64, slices.Concat(shared, runnerOutputs("x86"), runnerOutputs("graviton"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDeploy(t, testConfig(keyAmiArm64, tc.amiArm64))
			got := slices.Sorted(maps.Keys(d.outputs))
			if slices.Sort(tc.want); !slices.Equal(got, tc.want) {
				t.Fatalf("output names:\n got %q\nwant %q", got, tc.want)
			}
			want := map[string]any{
				"securityGroupId":       d.find(t, typeSecurityGroup, "runner-sg").id,
				"keyPairName":           "n3x-runner-key",
				"availabilityZone":      "us-east-1b",
				"cacheSigningPublicKey": nil,
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
	untaggable := map[string]bool{typeAttachment: true, typeEipAssoc: true, typeRolePolicy: true}
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

// A stack last updated by a version without the runners output still knows its runners,
// from the per-architecture outputs every version exported: its volumes keep their flags.
func TestPreviousDeploymentOfAnOlderVersion(t *testing.T) {
	prev := parsePreviousDeployment(map[string]any{"availabilityZone": "us-east-1b", "x86InstanceId": "i-x", "x86CacheVolumeId": "vol-c",
		"x86YoctoVolumeId": "vol-y", "gravitonInstanceId": nil})
	want := previousRunner{arch: "x86_64", instanceID: "i-x", volumes: map[string]string{"cache": "vol-c", "yocto": "vol-y"}}
	if prev.zone != "us-east-1b" || len(prev.runners) != 1 || fmt.Sprint(prev.runners["x86"]) != fmt.Sprint(want) {
		t.Errorf("previous deployment %+v", prev)
	}
}
