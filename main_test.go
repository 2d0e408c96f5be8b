package main

import (
	"maps"
	"slices"
	"testing"
)

func TestFleetRegistersExactlyTheConfiguredRunners(t *testing.T) {
	shared := []string{
		typeEgressRule + " egress-to-0.0.0.0-0",
		typeEgressRule + " egress-to----0",
		typeIngressRule + " apt-cacher-from-203.0.113.0-24",
		typeIngressRule + " apt-cacher-from-runners",
		typeIngressRule + " https-from-203.0.113.0-24",
		typeIngressRule + " https-from-runners",
		typeIngressRule + " ssh-from-203.0.113.0-24",
		typeKeyPair + " runner-key",
		typeSecurityGroup + " runner-sg",
	}
	perRunner := func(name string) []string {
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
	cases := []struct {
		name     string
		amiArm64 string
		want     []string
	}{
		{"x86 only", "", slices.Concat(shared, perRunner("x86"))},
		{"x86 and graviton", testAmiArm64, slices.Concat(shared, perRunner("x86"), perRunner("graviton"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDeploy(t, testConfig(keyAmiArm64, tc.amiArm64))
			slices.Sort(tc.want)
			if got := d.names(); !slices.Equal(got, tc.want) {
				t.Errorf("registered resources:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	shared := []string{"securityGroupId", "keyPairName", "availabilityZone", "monthlyCost", "startRunnersCommand", "runners"}
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
				"securityGroupId":  d.find(t, typeSecurityGroup, "runner-sg").id,
				"keyPairName":      "n3x-runner-key",
				"availabilityZone": "us-east-1b",
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
			group := d.find(t, typeSecurityGroup, "runner-sg")
			if got := str(t, group, "name"); got != tc.wantPrefix+"-runner-sg" {
				t.Errorf("security group name = %q, want %q", got, tc.wantPrefix+"-runner-sg")
			}
			if got := str(t, d.find(t, typeKeyPair, "runner-key"), "keyName"); got != tc.wantPrefix+"-runner-key" {
				t.Errorf("key pair name = %q, want %q", got, tc.wantPrefix+"-runner-key")
			}
			if got := tags(t, d.find(t, typeInstance, "graviton-runner"))["Name"]; got != tc.wantPrefix+"-graviton-runner" {
				t.Errorf("graviton instance Name tag = %q", got)
			}
			if got := tags(t, group)["Stack"]; got != tc.stack {
				t.Errorf("Stack tag = %q, want %q", got, tc.stack)
			}
		})
	}
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	d := mustDeploy(t, testConfig())
	untaggable := map[string]bool{typeAttachment: true, typeEipAssoc: true}
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
