package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Amazon Data Lifecycle Manager snapshots every data volume of this stack daily, found by
// the stack's snapshot tag, keeps each n3x:snapshotRetentionDays days and copies the
// volume's tags, running as a role that may do no more.
func TestSnapshotPolicy(t *testing.T) {
	d := mustDeploy(t, testConfig(keySnapshotRetentionDays, "5"))
	policy := d.find(t, typeLifecyclePolicy, "snapshot-policy")
	role := d.find(t, typeRole, "snapshot-policy-role")
	schedule := prop(t, policy, "policyDetails", "schedules").ArrayValue()
	if len(schedule) != 1 {
		t.Fatalf("schedules %v", schedule)
	}
	s := registration{typ: "schedule", inputs: schedule[0].ObjectValue()}
	checks := map[string][2]any{
		"state":             {str(t, policy, "state"), "ENABLED"},
		"executionRoleArn":  {str(t, policy, "executionRoleArn"), role.outputs["arn"].StringValue()},
		"resourceTypes":     {prop(t, policy, "policyDetails", "resourceTypes").ArrayValue()[0].StringValue(), "VOLUME"},
		"create interval":   {num(t, s, "createRule", "interval"), 24},
		"create unit":       {str(t, s, "createRule", "intervalUnit"), "HOURS"},
		"create time":       {str(t, s, "createRule", "times"), "03:00"},
		"retain interval":   {num(t, s, "retainRule", "interval"), 5},
		"retain unit":       {str(t, s, "retainRule", "intervalUnit"), "DAYS"},
		"copy tags":         {boolean(t, s, "copyTags"), true},
		"role name":         {str(t, role, "name"), "n3x-snapshots"},
		"description is ok": {strings.Trim(str(t, policy, "description"), "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz _-"), ""},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", what, c[0], c[1])
		}
	}
	target := map[string]string{}
	for k, v := range prop(t, policy, "policyDetails", "targetTags").ObjectValue() {
		target[string(k)] = v.StringValue()
	}
	if want := map[string]string{"n3x:snapshots": "n3x"}; !maps.Equal(target, want) {
		t.Errorf("target tags %v, want %v", target, want)
	}
	// Exactly the data volumes carry the target tag: never a root volume.
	for _, r := range d.aws.registrations {
		carries := false
		if t0, ok := r.inputs["tags"]; ok && t0.IsObject() {
			_, carries = t0.ObjectValue()["n3x:snapshots"]
		}
		if carries != (r.typ == typeVolume) {
			t.Errorf("%s %s carries the snapshot tag: %v", r.typ, r.name, carries)
		}
	}
	var trust, permissions policyDocument
	if err := json.Unmarshal([]byte(str(t, role, "assumeRolePolicy")), &trust); err != nil {
		t.Fatal(err)
	}
	if want := (policyStatement{Effect: "Allow", Principal: map[string]string{"Service": "dlm.amazonaws.com"}, Action: "sts:AssumeRole"}); len(trust.Statement) != 1 ||
		!equalJSON(t, trust.Statement[0], want) {
		t.Errorf("trust %+v", trust.Statement)
	}
	if err := json.Unmarshal([]byte(str(t, d.find(t, typeRolePolicy, "snapshot-policy-role-permissions"), "policy")), &permissions); err != nil {
		t.Fatal(err)
	}
	ours := map[string]map[string]string{"StringEquals": {"aws:ResourceTag/n3x:snapshots": "n3x"}}
	want := []policyStatement{
		{Effect: "Allow", Action: "ec2:CreateSnapshot", Resource: "arn:aws:ec2:us-east-1:" + testAccount + ":volume/*", Condition: ours},
		{Effect: "Allow", Action: []any{"ec2:CreateSnapshot", "ec2:CreateTags"}, Resource: "arn:aws:ec2:us-east-1::snapshot/*"},
		{Effect: "Allow", Action: "ec2:DeleteSnapshot", Resource: "arn:aws:ec2:us-east-1::snapshot/*", Condition: ours},
		{Effect: "Allow", Action: []any{"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots"}, Resource: "*"},
	}
	if !equalJSON(t, permissions.Statement, want) {
		t.Errorf("snapshot role may\n%+v\nwant\n%+v", permissions.Statement, want)
	}
	off := mustDeploy(t, testConfig(keySnapshotRetentionDays, "0"))
	for _, typ := range []string{typeLifecyclePolicy} {
		if n := len(off.ofType(typ)); n != 0 {
			t.Errorf("retention 0 still registers %d %s", n, typ)
		}
	}
	if _, found := off.registration(typeRole, "snapshot-policy-role"); found {
		t.Error("retention 0 still registers the snapshot role")
	}
}

// A new runner's volumes start from the newest completed snapshot of their architecture and
// role in this stack; the existing runners' volumes are left exactly as they are, however
// many snapshots appear.
func TestNewVolumesStartFromTheNewestSnapshotOfTheirKind(t *testing.T) {
	account := mustDeploy(t, testConfig()).next()
	addSnapshotsOfEveryKind(account)
	account.snapshots = append(account.snapshots,
		fakeSnapshot{id: "snap-older", state: "completed", start: "2026-11-01T03:00:00Z", sizeGiB: 500,
			tags: map[string]string{"n3x:snapshots": "n3x", "Stack": "dev", "Arch": "x86_64", "Purpose": "nix-store-zfs-cache"}},
		fakeSnapshot{id: "snap-pending", state: "pending", start: "2026-12-31T03:00:00Z", sizeGiB: 500,
			tags: map[string]string{"n3x:snapshots": "n3x", "Stack": "dev", "Arch": "x86_64", "Purpose": "nix-store-zfs-cache"}},
		fakeSnapshot{id: "snap-other-prefix", state: "completed", start: "2026-12-30T03:00:00Z", sizeGiB: 500,
			tags: map[string]string{"n3x:snapshots": "n3x-staging", "Stack": "dev", "Arch": "x86_64", "Purpose": "nix-store-zfs-cache"}})
	d := deploy(t, account, "dev", true, testConfig(keyX86Count, "2"))
	if d.err != nil {
		t.Fatal(d.err)
	}
	want := map[string]string{
		"x86-2-cache": "snap-dlm-x86-cache-id", "x86-2-yocto": "snap-dlm-x86-yocto-id", // any runner's, same architecture and role
	}
	for _, volume := range d.ofType(typeVolume) {
		snapshot, set := volume.inputs["snapshotId"]
		switch {
		case want[volume.name] != "" && (!set || snapshot.StringValue() != want[volume.name]):
			t.Errorf("%s starts from %v, want %s", volume.name, snapshot, want[volume.name])
		case want[volume.name] == "" && set:
			t.Errorf("existing volume %s is given snapshotId %v: a new snapshot would replace it", volume.name, snapshot)
		}
		if volume.rpc.GetIgnoreChanges() != nil {
			t.Errorf("%s ignores %v: the engine would carry that into a replacement", volume.name, volume.rpc.GetIgnoreChanges())
		}
	}
}

// A new volume is never smaller than the snapshot it starts from.
func TestVolumeSmallerThanItsSnapshotFailsPreview(t *testing.T) {
	account := mustDeploy(t, testConfig(keyCacheVolumeSize, "800")).next()
	addSnapshotsOfEveryKind(account)
	d := deploy(t, account, "dev", true, testConfig(keyCacheVolumeSize, "800", keyX86Count, "2"))
	if d.err != nil {
		t.Fatal(d.err)
	}
	shrunk := deploy(t, account.clone(), "dev", true, testConfig(keyCacheVolumeSize, "600", keyX86Count, "2"))
	want := "n3x:cacheVolumeSize is 600 GiB, smaller than the 800 GiB of snapshot snap-dlm-x86-cache-id, " +
		"which the new cache volume of x86-2 starts from; a volume cannot be smaller than its snapshot; fix: pulumi config set n3x:cacheVolumeSize 800"
	if shrunk.err == nil || !strings.Contains(shrunk.err.Error(), want) {
		t.Errorf("err = %v\nwant %q", shrunk.err, want)
	}
}

// Lowering a data volume's size fails preview: the provider updates size in place
// (ebs_volume.go: size is not ForceNew), and EC2's ModifyVolume only grows a volume.
func TestShrinkingAnExistingVolumeFailsPreview(t *testing.T) {
	account := mustDeploy(t, testConfig(keyYoctoVolumeSize, "300")).next()
	d := deploy(t, account, "dev", true, testConfig(keyYoctoVolumeSize, "200"))
	want := "n3x:yoctoVolumeSize is 200 GiB, smaller than the 300 GiB volume x86-yocto-id of x86; an EBS volume can grow, never shrink; " +
		"fix: pulumi config set n3x:yoctoVolumeSize 300"
	if d.err == nil || !strings.Contains(d.err.Error(), want) {
		t.Errorf("err = %v\nwant %q", d.err, want)
	}
	if len(d.aws.registrations) != 0 {
		t.Errorf("registered %v", d.names())
	}
}

// Without a zone (its lookup failed, already reported) no volume is taken for moving.
func TestNoZoneNoMoveProblems(t *testing.T) {
	account := mustDeploy(t, testConfig(keySubnetID, testSubnet, keyAvailabilityZone, "")).next()
	account.denied = map[string]string{"aws:ec2/getSubnet:getSubnet": "ec2:DescribeSubnets"}
	d := deploy(t, account, "dev", true, testConfig(keySubnetID, testSubnet, keyAvailabilityZone, "", keyCacheVolumeSize, "400"))
	if d.err == nil || !strings.Contains(d.err.Error(), "n3x configuration: 1 problem\n") || !strings.Contains(d.err.Error(), "may not call ec2:DescribeSubnets") {
		t.Errorf("err = %v, want only the refused subnet lookup", d.err)
	}
}

// A zone move starts the new volumes from snapshots of the ones they replace, taken in the
// same up and kept when the old volumes go.
func TestZoneMoveStartsFromSnapshotsOfTheOldVolumes(t *testing.T) {
	account := mustDeploy(t, testConfig(keyAmiArm64, "")).next()
	d := deploy(t, account, "dev", true, testConfig(keyAmiArm64, "", keyAvailabilityZone, "us-east-1c"))
	if d.err != nil {
		t.Fatal(d.err)
	}
	for _, role := range []string{"cache", "yocto"} {
		snapshot := d.find(t, typeSnapshot, "x86-"+role+"-move-snapshot")
		volume := d.find(t, typeVolume, "x86-"+role)
		if got := str(t, snapshot, "volumeId"); got != "x86-"+role+"-id" {
			t.Errorf("%s snapshot of %s", role, got)
		}
		if !snapshot.rpc.GetRetainOnDelete() {
			t.Errorf("%s move snapshot is deleted with the stack's next update", role)
		}
		if deps := volume.rpc.GetPropertyDependencies()["snapshotId"].GetUrns(); len(deps) != 1 || urnName(deps[0]) != snapshot.name {
			t.Errorf("%s volume snapshotId comes from %v, want %s", role, deps, snapshot.name)
		}
		if got := tags(t, snapshot); got["n3x:snapshots"] != "n3x" || got["n3x:snapshot-of"] != "x86-"+role+"-id" || got["Arch"] != "x86_64" {
			t.Errorf("%s snapshot tags %v", role, got)
		}
		if !boolean(t, volume, "finalSnapshot") {
			t.Errorf("%s moved volume has no final snapshot", role)
		}
	}
}

// Volumes created before final snapshots keep final_snapshot off (adding it makes the
// provider call ModifyVolume), and get a snapshot of their own when a scale-down removes
// them; volumes created with it on keep it and need none.
func TestOldVolumesKeepTheirFlagAndGetADepartureSnapshot(t *testing.T) {
	account := mustDeploy(t, testConfig(keyX86Count, "2")).next()
	for _, role := range dataVolumeRoles {
		account.setStateOutput(typeVolume+"::x86-2-"+role, "finalSnapshot", false) // as an older version made them
	}
	same := deploy(t, account.clone(), "dev", true, testConfig(keyX86Count, "2"))
	if same.err != nil {
		t.Fatal(same.err)
	}
	for _, volume := range same.ofType(typeVolume) {
		old := strings.HasPrefix(volume.name, "x86-2-")
		if flag, set := volume.inputs["finalSnapshot"]; set == old || (set && !flag.BoolValue()) {
			t.Errorf("%s finalSnapshot %v (set %v); want it only, and true, on volumes made with it", volume.name, flag, set)
		}
		if _, tagged := tags(t, volume)["n3x:final-snapshot"]; tagged == old {
			t.Errorf("%s final-snapshot tag %v", volume.name, tagged)
		}
	}
	if n := len(same.ofType(typeSnapshot)); n != 0 {
		t.Errorf("%d snapshots without a change", n)
	}
	down := deploy(t, account.clone(), "dev", true, testConfig())
	if down.err != nil {
		t.Fatal(down.err)
	}
	var snapshots []string
	for _, s := range down.ofType(typeSnapshot) {
		snapshots = append(snapshots, s.name+"<-"+str(t, s, "volumeId"))
		if !s.rpc.GetRetainOnDelete() {
			t.Errorf("%s is not retained", s.name)
		}
	}
	if want := []string{"x86-2-cache-final-snapshot<-x86-2-cache-id", "x86-2-yocto-final-snapshot<-x86-2-yocto-id"}; !slices.Equal(snapshots, want) {
		t.Errorf("departure snapshots %q, want %q", snapshots, want)
	}
}

// A data volume deleted behind the stack's back (or on purpose, to restore an older
// snapshot) comes back from its own newest snapshot: a copy tagged with its Name is newer
// than its daily one.
func TestAGoneVolumeComesBackFromTheNewestSnapshot(t *testing.T) {
	account := mustDeploy(t, testConfig(keyAmiArm64, "")).next()
	addSnapshotsOfEveryKind(account)
	account.snapshots = append(account.snapshots, fakeSnapshot{id: "snap-restore-copy", state: "completed", start: "2026-12-24T10:00:00Z", sizeGiB: 500,
		tags: map[string]string{"n3x:snapshots": "n3x", "Stack": "dev", "Arch": "x86_64", "Purpose": "nix-store-zfs-cache", "Name": "n3x-x86-runner-cache"}})
	account.volumes = slices.DeleteFunc(account.volumes, func(v fakeVolume) bool { return v.id == "x86-cache-id" })
	delete(account.state, typeVolume+"::x86-cache") // pulumi up --refresh forgot it
	d := deploy(t, account, "dev", true, testConfig(keyAmiArm64, ""))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if got := str(t, d.find(t, typeVolume, "x86-cache"), "snapshotId"); got != "snap-restore-copy" {
		t.Errorf("the new cache volume starts from %s, want its own newest", got)
	}
	if _, set := d.find(t, typeVolume, "x86-yocto").inputs["snapshotId"]; set {
		t.Error("the Yocto volume, which exists, is given a snapshot")
	}
}
