package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ec2TagsOn collects the ec2.Tag resources on a resource id whose logical names start so.
func ec2TagsOn(t *testing.T, d deployment, prefix, resourceID string) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, tag := range d.ofType(typeTag) {
		if !strings.HasPrefix(tag.name, prefix) {
			continue
		}
		if got := str(t, tag, "resourceId"); got != resourceID {
			t.Errorf("tag %s is on %s, want %s", tag.name, got, resourceID)
		}
		found[str(t, tag, "key")] = str(t, tag, "value")
	}
	return found
}

// With n3x:capacity spot each runner is a persistent Spot request that stops on
// interruption, launched into the zone of its volumes (through the zone's subnet: the
// provider sends no placement with behaviour stop), from an AMI that requires IMDSv2, with
// a request that does not expire on its own, and with the runner's and the provider's
// default tags on the instance and its root volume.
func TestSpotRunners(t *testing.T) {
	d := deploy(t, newFakeAWS(), "dev", false, testConfig(keyCapacity, "spot", keyWorkingHours, "Mon-Fri 07:00-19:00 UTC"),
		"aws:defaultTags", `{"tags":{"CostCenter":"embedded-ci"}}`)
	if d.err != nil {
		t.Fatal(d.err)
	}
	if n := len(d.ofType(typeInstance)); n != 0 {
		t.Errorf("%d on-demand instances with n3x:capacity spot", n)
	}
	for _, tc := range []struct{ runner, ami, instanceType, arch string }{
		{"x86", testAmiX86, "c6i.2xlarge", "x86_64"},
		{"graviton", testAmiArm64, "c7g.2xlarge", "arm64"},
	} {
		request := d.find(t, typeSpotRequest, tc.runner+"-runner")
		instanceID := request.outputs["spotInstanceId"].StringValue()
		volumeZone := str(t, d.find(t, typeVolume, tc.runner+"-cache"), "availabilityZone")
		checks := map[string][2]any{
			"ami":                          {str(t, request, "ami"), tc.ami},
			"instanceType":                 {str(t, request, "instanceType"), tc.instanceType},
			"keyName":                      {str(t, request, "keyName"), "n3x-runner-key"},
			"subnetId":                     {str(t, request, "subnetId"), "subnet-default-us-east-1b"},
			"iamInstanceProfile":           {str(t, request, "iamInstanceProfile"), "n3x-runner"},
			"spotType":                     {str(t, request, "spotType"), "persistent"},
			"instanceInterruptionBehavior": {str(t, request, "instanceInterruptionBehavior"), "stop"},
			"validUntil":                   {str(t, request, "validUntil"), spotRequestValidUntil},
			"waitForFulfillment":           {boolean(t, request, "waitForFulfillment"), true},
			"root volumeSize":              {num(t, request, "rootBlockDevice", "volumeSize"), 50},
			"root encrypted":               {boolean(t, request, "rootBlockDevice", "encrypted"), true},
			"launched zone":                {request.outputs["launchedZone"].StringValue(), volumeZone},
			"launched IMDS tokens":         {request.outputs["launchedHttpTokens"].StringValue(), "required"},
			"cache attachment instanceId":  {str(t, d.find(t, typeAttachment, tc.runner+"-cache-attachment"), "instanceId"), instanceID},
			"yocto attachment instanceId":  {str(t, d.find(t, typeAttachment, tc.runner+"-yocto-attachment"), "instanceId"), instanceID},
			"address instanceId":           {str(t, d.find(t, typeEipAssoc, tc.runner+"-address-association"), "instanceId"), instanceID},
			"InstanceId output":            {d.outputs[tc.runner+"InstanceId"], instanceID},
		}
		for what, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s %s = %v, want %v", tc.runner, what, c[0], c[1])
			}
		}
		if got := request.rpc.GetReplaceOnChanges(); !slices.Equal(got, []string{"rootBlockDevice"}) {
			t.Errorf("%s replaceOnChanges %q: a root size the request cannot update must replace it", tc.runner, got)
		}
		for _, absent := range []string{"spotPrice", "metadataOptions", "availabilityZone"} {
			if _, set := request.inputs[resource.PropertyKey(absent)]; set {
				t.Errorf("%s sets %s, which the request's create does not send", tc.runner, absent)
			}
		}
		// The request keeps its tags; the instance and its root volume get theirs from
		// ec2.Tag resources, the provider's default tags included.
		wantInstance := map[string]string{"Name": "n3x-" + tc.runner + "-runner", "Project": "n3x", "Stack": "dev", "Arch": tc.arch,
			"Role": "build-runner", "CostCenter": "embedded-ci", stateIDTag: testStateID}
		if got := ec2TagsOn(t, d, tc.runner+"-runner-tag-", instanceID); !maps.Equal(got, wantInstance) {
			t.Errorf("%s instance tags %v, want %v", tc.runner, got, wantInstance)
		}
		// Its root volume only the tags that claim nothing (the deploy policy lets them on a
		// volume of no stack): no Project, Stack or state id; the default tags, as an
		// on-demand root volume gets them from the provider.
		wantRoot := map[string]string{"Name": "n3x-" + tc.runner + "-runner-root", "Arch": tc.arch, "Role": "build-runner", "Purpose": "nixos-system",
			"CostCenter": "embedded-ci"}
		if got := ec2TagsOn(t, d, tc.runner+"-root-tag-", "vol-root-"+tc.runner+"-runner"); !maps.Equal(got, wantRoot) {
			t.Errorf("%s root volume tags %v, want %v", tc.runner, got, wantRoot)
		}
		// The request's own tags lack the state id: changing them would leave its root volume id
		// unknown in a preview, and no data source lists Spot requests to find a leftover one.
		if got := tags(t, request); got[stateIDTag] != "" || got["Name"] != "n3x-"+tc.runner+"-runner" {
			t.Errorf("%s request tags %v", tc.runner, got)
		}
		// The request's root device names no tags, and volumeTags is set, so its read leaves the
		// volume's tags (which ec2.Tag adds after the create) unread: no difference, ever.
		if _, set := prop(t, request, "rootBlockDevice").ObjectValue()["tags"]; set {
			t.Errorf("%s request names root device tags", tc.runner)
		}
		if got := str(t, request, "volumeTags", "Role"); got != "build-runner" || len(prop(t, request, "volumeTags").ObjectValue()) != 1 {
			t.Errorf("%s volumeTags %v, want only the stable Role tag", tc.runner, prop(t, request, "volumeTags"))
		}
		for _, action := range []string{"start", "stop"} {
			if got := str(t, d.find(t, typeSchedule, tc.runner+"-runner-"+action), "target", "input"); got != `{"InstanceIds":["`+instanceID+`"]}` {
				t.Errorf("the %s schedule of %s sends %s", action, tc.runner, got)
			}
		}
	}
}

// The next preview of an unchanged Spot stack changes no input of any resource.
func TestSpotStackIsStableAfterUp(t *testing.T) {
	first := mustDeploy(t, testConfig(keyCapacity, "spot", keyAvailabilityZone, ""))
	second := deploy(t, first.next(), "dev", true, testConfig(keyCapacity, "spot", keyAvailabilityZone, ""))
	if second.err != nil {
		t.Fatal(second.err)
	}
	for _, r := range first.aws.registrations {
		now, ok := second.registration(r.typ, r.name)
		if !ok || !r.inputs.DeepEquals(now.inputs) {
			t.Errorf("%s %s changes on the next preview:\n%v\n%v", r.typ, r.name, r.inputs, now.inputs)
		}
	}
	if len(second.warnings) != 0 {
		t.Errorf("warnings %q, want none", second.warnings)
	}
}

// Back on demand, nothing of Spot is left: no request (whose delete cancels it and
// terminates its instance) and no tags of Spot instances.
func TestSwitchingBackToOnDemandLeavesNoSpot(t *testing.T) {
	spot := mustDeploy(t, testConfig(keyCapacity, "spot"))
	onDemand := deploy(t, spot.next(), "dev", true, testConfig())
	if onDemand.err != nil {
		t.Fatal(onDemand.err)
	}
	for _, typ := range []string{typeSpotRequest, typeTag} {
		if found := onDemand.ofType(typ); len(found) != 0 {
			t.Errorf("%d %s left after switching back to on-demand", len(found), typ)
		}
	}
	if n := len(onDemand.ofType(typeInstance)); n != 2 {
		t.Errorf("%d on-demand instances, want 2", n)
	}
	replaced := plannedReplacements(t, spot, onDemand)
	want := []string{"graviton-address-association", "graviton-cache-attachment", "graviton-yocto-attachment",
		"x86-address-association", "x86-cache-attachment", "x86-yocto-attachment"}
	if !slices.Equal(replaced, want) {
		t.Errorf("switching back replaces %q, want only what names the instance %q", replaced, want)
	}
}

// A default tag that says whose a resource is never reaches a Spot root volume: the deploy
// role may not set it there.
func TestSpotRootVolumesGetNoClaimingDefaultTags(t *testing.T) {
	cfg := Config{DefaultTags: map[string]string{"Project": "other", "Stack": "x", "n3x:owner": "y", "CostCenter": "ci"}}
	got := map[string]string{}
	for k, v := range spotRootTags(cfg, pulumi.StringMap{"Name": pulumi.String("n"), "Project": pulumi.String("n3x")}) {
		got[k] = fmt.Sprint(v.(pulumi.String))
	}
	if want := map[string]string{"Name": "n", "CostCenter": "ci"}; !maps.Equal(got, want) {
		t.Errorf("Spot root tags %v, want %v", got, want)
	}
}
