package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// stateOnly keeps of an account's state only the resources keep accepts, as an update that
// failed or was cancelled part-way leaves it; what AWS holds stays.
func stateOnly(a *fakeAWS, keep func(key string) bool) {
	for key := range a.state {
		if !keep(key) {
			delete(a.state, key)
		}
	}
}

// stateDelete drops resources from the account's state by their "type::name" keys, as
// pulumi state delete does.
func stateDelete(a *fakeAWS, keys ...string) {
	for _, key := range keys {
		delete(a.state, key)
	}
}

// snapshotOf is a completed snapshot of one of the account's volumes, tagged as DLM or the
// provider tag it (the volume's tags), taken at start.
func snapshotOf(t *testing.T, a *fakeAWS, volumeID, id, start string, extra map[string]string) fakeSnapshot {
	t.Helper()
	for _, v := range a.volumes {
		if v.id == volumeID {
			tags := map[string]string{}
			for k, val := range v.tags {
				tags[k] = val
			}
			for k, val := range extra {
				tags[k] = val
			}
			return fakeSnapshot{id: id, volumeID: volumeID, state: "completed", start: start, sizeGiB: v.sizeGiB, tags: tags}
		}
	}
	t.Fatalf("no volume %s", volumeID)
	return fakeSnapshot{}
}

// A first deploy that stopped part-way (the vCPU quota ran out at the second x86 runner)
// recorded no outputs, but its state holds runner 1 with its volumes. A night of daily
// snapshots later, the next preview keeps those volumes as they are: it decides from the
// state, not from outputs the failed update never wrote.
func TestAFailedFirstDeployKeepsItsVolumesWhenSnapshotsAppear(t *testing.T) {
	cfg := testConfig(keyAmiArm64, "", keyX86Count, "2")
	first := mustDeploy(t, cfg)
	account := first.next()
	stateOnly(account, func(key string) bool { return !strings.Contains(key, "::x86-2") })
	// EC2 refused runner 2's instance: there is none.
	account.instances = slices.DeleteFunc(account.instances, func(i fakeInstance) bool { return i.id == "x86-2-runner-id" })
	for _, v := range slices.Clone(account.volumes) {
		if strings.HasPrefix(v.id, "x86-2-") {
			account.volumes = slices.DeleteFunc(account.volumes, func(w fakeVolume) bool { return w.id == v.id })
		}
	}
	for _, role := range dataVolumeRoles {
		account.snapshots = append(account.snapshots, snapshotOf(t, account, "x86-"+role+"-id", "snap-daily-"+role, "2026-12-02T03:00:00Z",
			map[string]string{"aws:dlm:lifecycle-policy-id": "policy-1"}))
	}
	d := deploy(t, account, "dev", true, cfg)
	if d.err != nil {
		t.Fatal(d.err)
	}
	if replaced := slices.DeleteFunc(plannedReplacements(t, first, d), func(name string) bool { return strings.HasPrefix(name, "x86-2-") }); len(replaced) != 0 {
		t.Errorf("the preview after the failed deploy replaces runner 1's %q", replaced)
	}
	for _, role := range dataVolumeRoles {
		if _, set := d.find(t, typeVolume, "x86-"+role).inputs["snapshotId"]; set {
			t.Errorf("runner 1's live %s volume is given a snapshot", role)
		}
		// Runner 2, which the failed update never made, starts from runner 1's snapshot.
		if got := str(t, d.find(t, typeVolume, "x86-2-"+role), "snapshotId"); got != "snap-daily-"+role {
			t.Errorf("runner 2's new %s volume starts from %q", role, got)
		}
	}
	want := "n3x-x86-2-runner-cache: a new cache volume from snap-daily-cache (it has none of its own; the newest of its kind: " +
		"the daily snapshot of n3x-x86-runner-cache of 2026-12-02T03:00:00Z)"
	if !slices.Contains(d.infos, want) {
		t.Errorf("infos %q lack %q", d.infos, want)
	}
}

// A runner restores from its own history first: its own newest snapshot, then the newest
// of its kind, whatever another runner's is.
func TestARunnerRestoresFromItsOwnHistoryFirst(t *testing.T) {
	three := testConfig(keyAmiArm64, "", keyX86Count, "3")
	account := mustDeploy(t, three).next()
	// Runner 1's daily snapshot, then runner 2's, a day newer.
	account.snapshots = append(account.snapshots,
		snapshotOf(t, account, "x86-cache-id", "snap-x86-own", "2026-12-01T03:00:00Z", map[string]string{"aws:dlm:lifecycle-policy-id": "policy-1"}),
		snapshotOf(t, account, "x86-2-cache-id", "snap-x86-2-newer", "2026-12-02T03:00:00Z", map[string]string{"aws:dlm:lifecycle-policy-id": "policy-1"}))

	// Runner 1's cache deleted behind the stack's back, and refreshed away.
	gone := account.clone()
	gone.volumes = slices.DeleteFunc(gone.volumes, func(v fakeVolume) bool { return v.id == "x86-cache-id" })
	delete(gone.state, typeVolume+"::x86-cache")
	d := deploy(t, gone, "dev", true, three)
	if d.err != nil {
		t.Fatal(d.err)
	}
	if got := str(t, d.find(t, typeVolume, "x86-cache"), "snapshotId"); got != "snap-x86-own" {
		t.Errorf("runner 1's cache comes back from %s, want its own snap-x86-own", got)
	}
	want := "n3x-x86-runner-cache: a new cache volume from snap-x86-own (its own daily snapshot of 2026-12-01T03:00:00Z)"
	if !slices.Contains(d.infos, want) {
		t.Errorf("infos %q lack %q", d.infos, want)
	}

	// Runner 3 removed (its final snapshot stays) and added again a day later, when runner
	// 2's daily snapshot is newer: it starts from its own final snapshot.
	down := account.clone()
	stateOnly(down, func(key string) bool { return !strings.Contains(key, "::x86-3") })
	final := snapshotOf(t, down, "x86-3-cache-id", "snap-x86-3-final", "2026-11-30T12:00:00Z", nil)
	down.volumes = slices.DeleteFunc(down.volumes, func(v fakeVolume) bool { return strings.HasPrefix(v.id, "x86-3-") })
	down.instances = slices.DeleteFunc(down.instances, func(i fakeInstance) bool { return i.id == "x86-3-runner-id" })
	down.snapshots = append(down.snapshots, final)
	back := deploy(t, down, "dev", true, three)
	if back.err != nil {
		t.Fatal(back.err)
	}
	if got := str(t, back.find(t, typeVolume, "x86-3-cache"), "snapshotId"); got != "snap-x86-3-final" {
		t.Errorf("runner 3's cache comes back from %s, want its own final snapshot", got)
	}
	if _, set := back.find(t, typeVolume, "x86-3-yocto").inputs["snapshotId"]; set {
		t.Error("runner 3's yocto volume starts from a snapshot, though none of its kind exists")
	}
}

// A first deploy cancelled while AWS created the security group leaves the group, tagged
// with the state id the state already holds: preview names it as this stack's own, with
// the import that takes it back, never as a second copy.
func TestACancelledFirstDeployNamesItsOwnSecurityGroup(t *testing.T) {
	account := mustDeploy(t, testConfig()).next()
	group := account.state[typeSecurityGroup+"::runner-sg"]
	stateOnly(account, func(key string) bool { return key == typeStash+"::state-id" })
	account.volumes, account.instances, account.addresses = nil, nil, nil
	d := deploy(t, account, "dev", true, testConfig())
	want := "security group runner-sg-id (n3x-runner-sg, in vpc-0aaaabbbbccccdddd) carries this stack's state id (n3x:state-id=5eed5eed5eed5eed), " +
		"but the state does not hold it: an update was cancelled while AWS created it, or pulumi state delete removed it. Take it back into the state: " +
		"pulumi refresh --import-pending-creates 'urn:pulumi:dev::n3x::aws:ec2/securityGroup:SecurityGroup::runner-sg' --import-pending-creates runner-sg-id " +
		"if pulumi warns of its pending create, else pulumi import aws:ec2/securityGroup:SecurityGroup runner-sg runner-sg-id --protect=false; " +
		"or delete it: aws ec2 delete-security-group --region us-east-1 --group-id runner-sg-id"
	if d.err == nil || !strings.Contains(d.err.Error(), want) || strings.Contains(d.err.Error(), "another backend") {
		t.Errorf("err = %v\nwant %q", d.err, want)
	}
	if names := d.names(); len(names) != 0 {
		t.Errorf("registered %q", names)
	}
	// Taken back, as the import does: the preview goes on and plans nothing for the group.
	account.state[typeSecurityGroup+"::runner-sg"] = group
	again := deploy(t, account, "dev", true, testConfig())
	if again.err != nil {
		t.Fatal(again.err)
	}
}

// After pulumi state delete of a cache volume, preview stops and names the volume with the
// import that takes it back; once imported, it plans nothing.
func TestAVolumeTheStateLostIsNamedWithItsImport(t *testing.T) {
	cfg := testConfig(keyAmiArm64, "")
	first := mustDeploy(t, cfg)
	account := first.next()
	held := account.state[typeVolume+"::x86-cache"]
	delete(account.state, typeVolume+"::x86-cache")
	d := deploy(t, account, "dev", true, cfg)
	want := "volume x86-cache-id (n3x-x86-runner-cache) carries this stack's state id (n3x:state-id=5eed5eed5eed5eed), but the state does not hold it " +
		"(pulumi state delete, an import under another name, or an update cancelled while AWS created it); it is runner x86's cache volume, " +
		"and pulumi up would make a second one beside it (from a snapshot, or empty). Take it back into the state: pulumi refresh --import-pending-creates " +
		"'urn:pulumi:dev::n3x::aws:ebs/volume:Volume::x86-cache' --import-pending-creates x86-cache-id if pulumi warns of its pending create, " +
		"else pulumi import aws:ebs/volume:Volume x86-cache x86-cache-id --protect=false; or delete it: aws ec2 delete-volume --region us-east-1 --volume-id x86-cache-id"
	if d.err == nil || !strings.Contains(d.err.Error(), want) {
		t.Errorf("err = %v\nwant %q", d.err, want)
	}
	// pulumi import records the volume with final_snapshot unset: the program then leaves it
	// unset, so the import plans no update of the flag, and a scale-down snapshots it first.
	held.outputs = held.outputs.Copy()
	delete(held.outputs, "finalSnapshot")
	account.state[typeVolume+"::x86-cache"] = held
	imported := deploy(t, account, "dev", true, cfg)
	if imported.err != nil {
		t.Fatal(imported.err)
	}
	if replaced := plannedReplacements(t, first, imported); len(replaced) != 0 {
		t.Errorf("after the import the preview replaces %q", replaced)
	}
	if _, set := imported.find(t, typeVolume, "x86-cache").inputs["finalSnapshot"]; set {
		t.Error("the imported volume is given final_snapshot, which the provider would apply with ModifyVolume")
	}
}

// pulumi state delete of a cache volume needs --target-dependents, which takes its two
// attachments and the address association with it: preview names each with its import.
func TestAStateDeleteWithItsDependentsNamesEachImport(t *testing.T) {
	cfg := testConfig(keyAmiArm64, "")
	account := mustDeploy(t, cfg).next()
	stateDelete(account, typeVolume+"::x86-cache", typeAttachment+"::x86-cache-attachment", typeAttachment+"::x86-yocto-attachment",
		typeEipAssoc+"::x86-address-association")
	d := deploy(t, account, "dev", true, cfg)
	if d.err == nil {
		t.Fatal("preview went on")
	}
	for _, want := range []string{
		"pulumi import aws:ebs/volume:Volume x86-cache x86-cache-id --protect=false",
		"runner x86's cache volume x86-cache-id is attached to its instance x86-runner-id as /dev/sdf, but the state does not hold x86-cache-attachment",
		"pulumi import aws:ec2/volumeAttachment:VolumeAttachment x86-cache-attachment /dev/sdf:x86-cache-id:x86-runner-id --protect=false",
		"pulumi import aws:ec2/volumeAttachment:VolumeAttachment x86-yocto-attachment /dev/sdg:x86-yocto-id:x86-runner-id --protect=false",
		"runner x86's address eipalloc-x86-address is associated with its instance x86-runner-id (eipassoc-x86-address), but the state does not hold x86-address-association",
		"pulumi import aws:ec2/eipAssociation:EipAssociation x86-address-association eipassoc-x86-address --protect=false",
	} {
		if !strings.Contains(d.err.Error(), want) {
			t.Errorf("err lacks %q:\n%v", want, d.err)
		}
	}
}

// pulumi state delete --target-dependents of a runner's instance takes its attachments and
// its address's association too: preview stops before up launches a second instance beside
// the one holding the volumes, and names the instance and each link with its import; on
// Spot, the request's import. The orphan warning does not name it a second time.
func TestAStateDeleteOfAnInstanceNamesItsImport(t *testing.T) {
	for _, capacity := range []string{capacityOnDemand, capacitySpot} {
		t.Run(capacity, func(t *testing.T) {
			cfg := testConfig(keyAmiArm64, "", keyCapacity, capacity)
			account := mustDeploy(t, cfg).next()
			typ := typeInstance
			if capacity == capacitySpot {
				typ = typeSpotRequest
			}
			instance := account.state[typ+"::x86-runner"]
			instanceID := instance.id
			if capacity == capacitySpot {
				instanceID = instance.outputs["spotInstanceId"].StringValue()
			}
			stateDelete(account, typ+"::x86-runner", typeAttachment+"::x86-cache-attachment", typeAttachment+"::x86-yocto-attachment",
				typeEipAssoc+"::x86-address-association")
			d := deploy(t, account, "dev", true, cfg)
			if d.err == nil {
				t.Fatal("preview went on")
			}
			takeBack := "pulumi import aws:ec2/instance:Instance x86-runner " + instanceID + " --protect=false"
			if capacity == capacitySpot {
				takeBack = "take back its Spot request, whose id aws ec2 describe-instances --region us-east-1 --instance-ids " + instanceID +
					" --query 'Reservations[0].Instances[0].SpotInstanceRequestId' --output text prints: "
			}
			for _, want := range []string{
				"instance " + instanceID + " (n3x-x86-runner) carries this stack's state id (n3x:state-id=" + testStateID + "), but the state does not hold it",
				"pulumi up would launch a second one beside it", takeBack,
				"or terminate it (its data volumes stay, detached): aws ec2 terminate-instances --region us-east-1 --instance-ids " + instanceID,
				"pulumi import aws:ec2/volumeAttachment:VolumeAttachment x86-cache-attachment /dev/sdf:x86-cache-id:" + instanceID + " --protect=false",
				"pulumi import aws:ec2/volumeAttachment:VolumeAttachment x86-yocto-attachment /dev/sdg:x86-yocto-id:" + instanceID + " --protect=false",
				"pulumi import aws:ec2/eipAssociation:EipAssociation x86-address-association eipassoc-x86-address --protect=false",
			} {
				if !strings.Contains(d.err.Error(), want) {
					t.Errorf("err lacks %q:\n%v", want, d.err)
				}
			}
			if slices.ContainsFunc(d.warnings, func(w string) bool { return strings.Contains(w, "the stack does not run them") }) {
				t.Errorf("the instance is named an orphan too: %q", d.warnings)
			}
		})
	}
}

// A lookup that fails is said also when preview stops on problems: it may be why a leftover
// is not named among them.
func TestAFailedLeftoverLookupIsSaidWithTheProblems(t *testing.T) {
	cfg := testConfig(keyAmiArm64, "")
	account := mustDeploy(t, cfg).next()
	stateDelete(account, typeVolume+"::x86-cache", typeAttachment+"::x86-cache-attachment", typeAttachment+"::x86-yocto-attachment")
	delete(account.state, typeEipAssoc+"::x86-address-association")
	account.denied = map[string]string{"aws:ec2/getElasticIp:getElasticIp": "ec2:DescribeAddresses"}
	d := deploy(t, account, "dev", true, cfg)
	if d.err == nil {
		t.Fatal("preview went on")
	}
	if !slices.ContainsFunc(d.warnings, func(w string) bool {
		return strings.HasPrefix(w, "could not look for attachments and address associations that this stack made but its state does not hold")
	}) {
		t.Errorf("warnings %q", d.warnings)
	}
}

// A leftover address, and a leftover volume of no configured runner, only warn, each with
// the command that removes it (or the import, where a configured runner lacks its address).
func TestLeftoverAddressesAndExtraVolumesWarn(t *testing.T) {
	cfg := testConfig(keyAmiArm64, "")
	account := mustDeploy(t, cfg).next()
	delete(account.state, typeEip+"::x86-address")
	extra := account.volumes[0]
	extra.id, extra.attachedTo = "vol-extra", ""
	extra.tags = map[string]string{"Name": "n3x-x86-7-runner-cache", stateIDTag: testStateID}
	account.volumes = append(account.volumes, extra)
	d := deploy(t, account, "dev", true, cfg)
	if d.err != nil {
		t.Fatal(d.err)
	}
	wants := []string{
		"Elastic IP eipalloc-x86-address (n3x-x86-runner-address) carries this stack's state id (n3x:state-id=5eed5eed5eed5eed), but the state does not hold it " +
			"(an update cancelled while AWS allocated it, or pulumi state delete); it costs money while it is allocated: take it back as runner x86's address: " +
			"pulumi refresh --import-pending-creates 'urn:pulumi:dev::n3x::aws:ec2/eip:Eip::x86-address' --import-pending-creates eipalloc-x86-address " +
			"if pulumi warns of its pending create, else pulumi import aws:ec2/eip:Eip x86-address eipalloc-x86-address --protect=false; or release it: aws ec2 release-address --region us-east-1 --allocation-id eipalloc-x86-address",
		"volume vol-extra (n3x-x86-7-runner-cache) carries this stack's state id (n3x:state-id=5eed5eed5eed5eed), but the state does not hold it " +
			"(pulumi state delete, an import under another name, or an update cancelled while AWS created it), and no configured runner lacks it; " +
			"it costs money until you delete it: aws ec2 delete-volume --region us-east-1 --volume-id vol-extra",
	}
	for _, want := range wants {
		if !slices.ContainsFunc(d.warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("warnings %q lack %q", d.warnings, want)
		}
	}
}

// A stack that is whole has no leftovers, on demand or Spot: nothing it holds, and no root
// volume (which goes with its instance), is named.
func TestAWholeStackHasNoLeftovers(t *testing.T) {
	for _, capacity := range []string{capacityOnDemand, capacitySpot} {
		cfg := testConfig(keyCapacity, capacity)
		d := deploy(t, mustDeploy(t, cfg).next(), "dev", true, cfg)
		if d.err != nil {
			t.Fatal(d.err)
		}
		for _, w := range d.warnings {
			if strings.Contains(w, "carries this stack's state id") || strings.Contains(w, "does not run them") {
				t.Errorf("%s: %s", capacity, w)
			}
		}
	}
}

// A lookup of leftovers that fails only warns, naming the action.
func TestALeftoverLookupTheRoleMayNotMakeWarns(t *testing.T) {
	account := mustDeploy(t, testConfig(keyAmiArm64, "")).next()
	account.denied = map[string]string{"aws:ec2/getEips:getEips": "ec2:DescribeAddresses"}
	d := deploy(t, account, "dev", true, testConfig(keyAmiArm64, ""))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if !slices.ContainsFunc(d.warnings, func(w string) bool {
		return strings.HasPrefix(w, "could not look for Elastic IPs that this stack made but its state does not hold") && strings.Contains(w, "allow ec2:DescribeAddresses")
	}) {
		t.Errorf("warnings %q", d.warnings)
	}
}

// A stack whose state has an id keeps it; a new one gets the random one, once: the Stash
// is registered first, and the security group waits for it.
func TestTheStateIDIsKeptAndRecordedFirst(t *testing.T) {
	first := mustDeploy(t, testConfig())
	stash := first.find(t, typeStash, "state-id")
	if got := str(t, stash, "input"); got != testStateID {
		t.Errorf("state id %q", got)
	}
	if group := first.find(t, typeSecurityGroup, "runner-sg"); !hasDependency(group, "state-id") {
		t.Errorf("the security group does not wait for the state id: %v", group.rpc.GetDependencies())
	}
	account := first.next()
	account.setStateOutput(typeStash+"::state-id", "output", "0123456789abcdef")
	again := deploy(t, account, "dev", true, testConfig())
	if again.err != nil {
		t.Fatal(again.err)
	}
	if got := str(t, again.find(t, typeStash, "state-id"), "input"); got != "0123456789abcdef" {
		t.Errorf("the next run's state id is %q, want the state's", got)
	}
	if got := tags(t, again.find(t, typeVolume, "x86-cache"))[stateIDTag]; got != "0123456789abcdef" {
		t.Errorf("volumes carry %q", got)
	}
}

// A zone move that failed half-way (the volumes all replaced, runner 2 still on its old
// instance and old volumes, pending deletion) is named: finishing it goes on with a warning,
// moving back first is refused, and the old volumes are never called leftovers to delete.
func TestAnUnfinishedZoneMoveIsNamed(t *testing.T) {
	two := testConfig(keyAmiArm64, "", keyX86Count, "2")
	account := mustDeploy(t, two).next()
	// The move to us-east-1c made the new volumes (the state holds them and their move
	// snapshots); the old ones stay in us-east-1b, the state holding them only as pending deletion.
	moved := deploy(t, account.clone(), "dev", false, testConfig(keyAmiArm64, "", keyX86Count, "2", keyAvailabilityZone, "us-east-1c"))
	if moved.err != nil {
		t.Fatal(moved.err)
	}
	half := moved.next()
	for i, v := range half.volumes { // the replacements got ids of their own
		if strings.HasPrefix(v.id, "x86") {
			half.volumes[i].id = "new-" + v.id
			half.setStateID(typeVolume+"::"+strings.TrimSuffix(v.id, "-id"), "new-"+v.id)
		}
	}
	for _, v := range account.volumes { // and the old ones are still there
		if !strings.HasPrefix(v.id, "vol-root-") {
			half.volumes = append(half.volumes, v)
		}
	}
	half.instances = append(half.instances, account.instances[1])
	finish := deploy(t, half.clone(), "dev", true, testConfig(keyAmiArm64, "", keyX86Count, "2", keyAvailabilityZone, "us-east-1c"))
	if finish.err != nil {
		t.Fatal(finish.err)
	}
	want := "a zone move to us-east-1c did not finish: the old data volumes x86-2-cache-id (x86-2 cache, in us-east-1b), x86-2-yocto-id (x86-2 yocto, in us-east-1b), " +
		"x86-cache-id (x86 cache, in us-east-1b), x86-yocto-id (x86 yocto, in us-east-1b) still exist, pending deletion; pulumi up finishes it"
	if !slices.ContainsFunc(finish.warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("warnings %q lack %q", finish.warnings, want)
	}
	for _, w := range finish.warnings {
		if strings.Contains(w, "carries this stack's state id") || strings.Contains(w, "does not run them") || strings.Contains(w, "not attached") {
			t.Errorf("the unfinished move's volumes or old instance are misnamed: %s", w)
		}
	}
	back := deploy(t, half.clone(), "dev", true, testConfig(keyAmiArm64, "", keyX86Count, "2", keyAvailabilityZone, "us-east-1b"))
	if back.err == nil || !strings.Contains(back.err.Error(), "n3x:availabilityZone moves the runners to us-east-1b, but a zone move to us-east-1c did not finish") ||
		!strings.Contains(back.err.Error(), "fix: pulumi config set n3x:availabilityZone us-east-1c") {
		t.Errorf("moving back before the move finished: err = %v", back.err)
	}
}

// An attachment taken back with pulumi import has stop_instance_before_detaching unset: an
// update that replaces its instance would detach the volume from the running instance, so
// it stops until an up without the replacement has recorded the setting.
func TestAnImportedAttachmentIsNotDetachedFromARunningInstance(t *testing.T) {
	cfg := testConfig(keyAmiArm64, "")
	account := mustDeploy(t, cfg).next()
	account.amis["ami-0aaaaaaaaaaaaaaaa"] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8, imdsSupport: "v2.0"}
	account.setStateOutput(typeAttachment+"::x86-cache-attachment", "stopInstanceBeforeDetaching", false)
	if d := deploy(t, account.clone(), "dev", true, cfg); d.err != nil {
		t.Fatalf("without a replacement: %v", d.err)
	}
	d := deploy(t, account.clone(), "dev", true, testConfig(keyAmiArm64, "", keyAmiX86, "ami-0aaaaaaaaaaaaaaaa"))
	if d.err == nil || !strings.Contains(d.err.Error(), "runner x86: this update replaces its instance, and its cache attachment (x86-cache-attachment, imported) "+
		"would detach the volume from the running instance without stopping it first") {
		t.Errorf("err = %v", d.err)
	}
}

// PULUMI_SKIP_CHECKPOINTS keeps a cancelled update's resources out of the state: warned.
func TestSkippedCheckpointsWarn(t *testing.T) {
	for value, warns := range map[string]bool{"": false, "false": false, "0": false, "true": true, "1": true} {
		if got := len(skipCheckpointsWarning(func(string) string { return value })) > 0; got != warns {
			t.Errorf("PULUMI_SKIP_CHECKPOINTS=%q warns %v", value, got)
		}
	}
}

// A lookup that fails for another reason than the policy (EC2 throttling) warns without
// sending the operator to the policy.
func TestALeftoverLookupThatIsThrottledWarnsWithoutBlamingThePolicy(t *testing.T) {
	account := mustDeploy(t, testConfig(keyAmiArm64, "")).next()
	account.throttled = map[string]bool{"aws:ec2/getEips:getEips": true}
	d := deploy(t, account, "dev", true, testConfig(keyAmiArm64, ""))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if !slices.ContainsFunc(d.warnings, func(w string) bool {
		return strings.HasPrefix(w, "could not look for Elastic IPs that this stack made but its state does not hold") &&
			strings.Contains(w, "RequestLimitExceeded") && strings.HasSuffix(w, "; the next preview looks again") && !strings.Contains(w, "allow ")
	}) {
		t.Errorf("warnings %q", d.warnings)
	}
}

// Without both security group answers, a group of this stack's name is never called
// another copy's: the lookup that failed warns.
func TestASecurityGroupLookupThatFailsWarnsAndAccusesNoCopy(t *testing.T) {
	account := mustDeploy(t, testConfig()).next()
	stateOnly(account, func(key string) bool { return key == typeStash+"::state-id" })
	account.volumes, account.instances, account.addresses = nil, nil, nil
	account.denied = map[string]string{"aws:ec2/getSecurityGroups:getSecurityGroups": "ec2:DescribeSecurityGroups"}
	d := deploy(t, account, "dev", true, testConfig())
	if d.err != nil && strings.Contains(d.err.Error(), "another backend") {
		t.Errorf("a group of this stack's own is called a copy's: %v", d.err)
	}
	if !slices.ContainsFunc(d.warnings, func(w string) bool {
		return strings.HasPrefix(w, "could not look for security groups that this stack made but its state does not hold")
	}) {
		t.Errorf("warnings %q", d.warnings)
	}
}

// After a refresh the checkpoint may hold the wake function's code archive without its
// contents (the engine sends a provider's Read the assets elided, and the provider hands
// them back so): the program reads its own state all the same, decoding only what it reads.
func TestTheStateReadsPastAnArchiveWithoutContents(t *testing.T) {
	first := mustDeploy(t, testConfig(keyWakeOnJob, "true"))
	account := first.next()
	elided := &resource.Archive{Sig: resource.ArchiveSig, Hash: "0a1b", Assets: map[string]any{"wake.py": &resource.Asset{Sig: resource.AssetSig, Hash: "2c3d"}}}
	account.setStateOutput(typeFunction+"::runner-wake", "code", elided)
	d := deploy(t, account, "dev", true, testConfig(keyWakeOnJob, "true"))
	if d.err != nil {
		t.Fatalf("a preview after the refresh: %v %q", d.err, d.errors)
	}
	if got := d.find(t, typeInstance, "x86-runner").id; got != first.find(t, typeInstance, "x86-runner").id {
		t.Errorf("the state's runner was not read: id %q", got)
	}
}
