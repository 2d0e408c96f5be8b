package main

import (
	"slices"
	"strings"
	"testing"
)

// What the account did behind the stack's back shows in the next preview, as warnings that
// name the ids and the command that recovers.
func TestPreviewTellsWhenTheAccountDrifted(t *testing.T) {
	cases := []struct {
		name  string
		drift func(*fakeAWS)
		want  []string
	}{
		{"nothing", func(*fakeAWS) {}, nil},
		{"an instance retired by EC2", func(a *fakeAWS) { setInstance(a, "x86-runner-id", func(i *fakeInstance) { i.state = "terminated" }) },
			[]string{"runner x86: its instance x86-runner-id is terminated or gone (retired by EC2, or terminated outside Pulumi); " +
				"pulumi up --refresh launches a new one, and its data volumes and address stay"}},
		{"a volume detached", func(a *fakeAWS) {
			for i := range a.volumes {
				if a.volumes[i].id == "x86-cache-id" {
					a.volumes[i].attachedTo = ""
				}
			}
		}, []string{"runner x86: its cache volume x86-cache-id is not attached to any instance (detached outside Pulumi, or by an update that failed before attaching it again); " +
			"pulumi up --refresh attaches it to x86-runner-id again, stopping the instance first"}},
		{"an instance that allows IMDSv1", func(a *fakeAWS) {
			setInstance(a, "graviton-runner-id", func(i *fakeInstance) { i.httpTokens = "optional" })
		},
			[]string{"runner graviton: its instance graviton-runner-id answers IMDSv1 (metadata tokens optional), so a request forged through its proxies can read its role's credentials; " +
				"require tokens: aws ec2 modify-instance-metadata-options --region us-east-1 --instance-id graviton-runner-id --http-tokens required --http-endpoint enabled"}},
		// A deploy cancelled while EC2 launched a replacement: tagged as the runner, in no state.
		{"an instance the stack does not run", func(a *fakeAWS) {
			orphan := a.instances[0]
			orphan.id = "i-0rphan"
			a.instances = append(a.instances, orphan)
		}, []string{"the instances i-0rphan are tagged as runners of this stack but the stack does not run them " +
			"(a pulumi up that was cancelled or failed while EC2 launched them); they cost money and may have registered with GitLab without their caches. " +
			"Check that they hold none of this stack's data volumes (aws ec2 describe-volumes --region us-east-1 --filters Name=attachment.instance-id,Values=i-0rphan), " +
			"then: aws ec2 terminate-instances --region us-east-1 --instance-ids i-0rphan"}},
		// The same orphan from another stack (another Stack tag) is not ours to judge.
		{"another stack's instance", func(a *fakeAWS) {
			other := a.instances[0]
			other.id, other.tags = "i-other", map[string]string{"Project": "n3x", "Stack": "staging", "Role": "build-runner", "Name": other.tags["Name"]}
			a.instances = append(a.instances, other)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := mustDeploy(t, testConfig()).next()
			tc.drift(account)
			d := deploy(t, account, "dev", true, testConfig())
			if d.err != nil {
				t.Fatal(d.err)
			}
			if !slices.Equal(d.warnings, tc.want) {
				t.Errorf("warnings:\n got %q\nwant %q", d.warnings, tc.want)
			}
		})
	}
}

// A new instance a failed roll left in the state, and the old one it holds as pending
// deletion, which still holds the volumes: neither is an orphan.
func TestInstancesTheStackRunsAreNoOrphans(t *testing.T) {
	account := mustDeploy(t, testConfig()).next()
	account.amis["ami-0aaaaaaaaaaaaaaaa"] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8, imdsSupport: "v2.0"}
	// A roll that failed after launching the new x86 instance: the state holds it, and the
	// old one only as pending deletion, which the state read leaves out.
	account.setStateID(typeInstance+"::x86-runner", "i-new")
	newer := account.instances[0]
	newer.id = "i-new"
	account.instances = append(account.instances, newer)
	d := deploy(t, account, "dev", true, testConfig(keyAmiX86, "ami-0aaaaaaaaaaaaaaaa"))
	if d.err != nil {
		t.Fatal(d.err)
	}
	for _, w := range d.warnings {
		if strings.Contains(w, "does not run") {
			t.Errorf("an instance the stack runs is called an orphan: %s", w)
		}
	}
}

// A data volume deleted outside Pulumi stops preview, and up, until a refresh has dropped
// it from the state: a plain up would stop the runner and fail to detach it, and up
// --refresh decides before its refresh is saved.
func TestAVolumeGoneFromEC2StopsUntilARefresh(t *testing.T) {
	account := mustDeploy(t, testConfig()).next()
	account.volumes = slices.DeleteFunc(account.volumes, func(v fakeVolume) bool { return v.id == "graviton-yocto-id" })
	for _, dryRun := range []bool{true, false} {
		d := deploy(t, account.clone(), "dev", dryRun, testConfig())
		want := "runner graviton: its yocto volume graviton-yocto-id is gone (deleted outside Pulumi); run pulumi refresh first, " +
			"then pulumi up creates it again, from its own newest snapshot, else the newest of its kind " +
			"(pulumi up --refresh cannot: the program decides before its refresh is saved)"
		if d.err == nil || !strings.Contains(d.err.Error(), want) {
			t.Errorf("dryRun=%v: err = %v\nwant %q", dryRun, d.err, want)
		}
		if names := d.names(); len(names) != 0 {
			t.Errorf("dryRun=%v: registered %q", dryRun, names)
		}
	}
}

// A roll that failed half-way (the deploy role could not stop the old instance) leaves the
// new instance in the state, and the volumes and address on the old one, which the state
// holds only as pending deletion: preview says the next up finishes the roll, and never calls
// the old instance an orphan to terminate.
func TestAnUnfinishedRollIsNoDrift(t *testing.T) {
	before := mustDeploy(t, testConfig(keyAmiArm64, ""))
	account := before.next()
	account.setStateID(typeInstance+"::x86-runner", "i-new")
	newer := account.instances[0]
	newer.id = "i-new"
	account.instances = append(account.instances, newer)
	d := deploy(t, account, "dev", true, testConfig(keyAmiArm64, ""))
	if d.err != nil {
		t.Fatal(d.err)
	}
	want := []string{
		"runner x86: its cache volume x86-cache-id is attached to another instance than the runner's i-new (x86-runner-id holds it): " +
			"an update that replaces this runner did not finish; pulumi up finishes it, moving the volumes and then the address to i-new",
		"runner x86: its yocto volume x86-yocto-id is attached to another instance than the runner's i-new (x86-runner-id holds it): " +
			"an update that replaces this runner did not finish; pulumi up finishes it, moving the volumes and then the address to i-new",
	}
	if !slices.Equal(d.warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", d.warnings, want)
	}
}

func setInstance(a *fakeAWS, id string, change func(*fakeInstance)) {
	for i := range a.instances {
		if a.instances[i].id == id {
			change(&a.instances[i])
		}
	}
}
