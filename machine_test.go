package main

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestSpotRunners(t *testing.T) {
	d := mustDeploy(t, testConfig(keyCapacity, "spot", keyWorkingHours, "Mon-Fri 07:00-19:00 UTC"))
	if n := len(d.ofType(typeInstance)); n != 0 {
		t.Errorf("%d on-demand instances with n3x:capacity spot", n)
	}
	for _, tc := range []struct{ runner, ami, instanceType, arch string }{
		{"x86", testAmiX86, "c6i.2xlarge", "x86_64"},
		{"graviton", testAmiArm64, "c7g.2xlarge", "arm64"},
	} {
		request := d.find(t, typeSpotRequest, tc.runner+"-runner")
		instanceID := request.outputs["spotInstanceId"].StringValue()
		checks := map[string][2]any{
			"ami":                          {str(t, request, "ami"), tc.ami},
			"instanceType":                 {str(t, request, "instanceType"), tc.instanceType},
			"keyName":                      {str(t, request, "keyName"), "n3x-runner-key"},
			"availabilityZone":             {str(t, request, "availabilityZone"), "us-east-1b"},
			"spotType":                     {str(t, request, "spotType"), "persistent"},
			"instanceInterruptionBehavior": {str(t, request, "instanceInterruptionBehavior"), "stop"},
			"waitForFulfillment":           {boolean(t, request, "waitForFulfillment"), true},
			"root volumeSize":              {num(t, request, "rootBlockDevice", "volumeSize"), 50},
			"root encrypted":               {boolean(t, request, "rootBlockDevice", "encrypted"), true},
			"metadata httpTokens":          {str(t, request, "metadataOptions", "httpTokens"), "required"},
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
		if _, spotPrice := request.inputs["spotPrice"]; spotPrice {
			t.Errorf("%s sets a maximum price; the on-demand price is the cap", tc.runner)
		}
		// Terraform keeps a request's tags on the request: the instance gets its own.
		instanceTags := map[string]string{}
		for _, tag := range d.ofType(typeTag) {
			if strings.HasPrefix(tag.name, tc.runner+"-runner-tag-") {
				if str(t, tag, "resourceId") != instanceID {
					t.Errorf("tag %s is on %s, want the instance %s", tag.name, str(t, tag, "resourceId"), instanceID)
				}
				instanceTags[str(t, tag, "key")] = str(t, tag, "value")
			}
		}
		if want := tags(t, request); !maps.Equal(instanceTags, want) {
			t.Errorf("%s instance tags %v, want the runner's %v", tc.runner, instanceTags, want)
		}
		if !strings.Contains(str(t, d.find(t, typeSchedule, "runners-stop"), "target", "input"), instanceID) {
			t.Errorf("the stop schedule does not stop %s", instanceID)
		}
	}
}

// Back on demand, nothing of Spot is left: no request (whose delete cancels it and
// terminates its instance) and no tags of Spot instances.
func TestSwitchingBackToOnDemandLeavesNoSpot(t *testing.T) {
	spot := mustDeploy(t, testConfig(keyCapacity, "spot"))
	onDemand := deploy(t, spot.aws.afterUp(), "dev", true, testConfig())
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
