package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dlm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Snapshots keep the caches warm: Amazon Data Lifecycle Manager snapshots every data volume
// daily, a volume that goes leaves a snapshot behind, and a new volume starts from its
// runner's own newest snapshot, else the newest of its kind.

// finalSnapshotTag marks the data volumes created with the provider's final_snapshot on,
// for operators; the program reads the flag from the state. The flag cannot be added to an
// existing volume: any change to it but tags makes the provider call ModifyVolume
// (ebs_volume.go, resourceEBSVolumeUpdate: HasChangesExcept(tags)), which EC2 refuses or
// counts as a modification (hashicorp/terraform-provider-aws#31044). So the flag stays as
// each volume was created.
const finalSnapshotTag = "n3x:final-snapshot"

// snapshotTimeout is how long a snapshot the program takes (a final one, a move's) may take
// to complete: the first snapshot of a 500 GB cache copies every block and takes hours.
const snapshotTimeout = "6h"

// snapshotTime is when DLM snapshots every day, in UTC: night in Europe and the Americas,
// when working-hours runners are stopped and their volumes quiet.
const snapshotTime = "03:00"

// volumeSource is what one data volume starts from.
type volumeSource struct {
	finalSnapshot bool   // the volume's final_snapshot input, as it was created or will be
	snapshotID    string // a new volume: the snapshot it starts from ("" none)
	moveFrom      string // a zone move: the volume it replaces, snapshotted in the same up
	note          string // a new volume: what it starts from, printed at preview
}

// foundSnapshot is a completed snapshot a new data volume may start from.
type foundSnapshot struct {
	id, volumeName, startTime, origin string
	sizeGiB                           int
}

// restoreFacts are, for each data volume this update creates, the newest completed
// snapshot of that very volume (by its Name tag: the runner's own history, daily, final or
// taken before a departure or a move) and the newest of its kind (architecture and role).
type restoreFacts struct {
	own  map[string]*foundSnapshot // by runner name and role: "x86/cache"; nil when none
	kind map[string]*foundSnapshot // by snapshotKind; nil when none
	err  error
}

// snapshotKind names the snapshots a new volume may start from: same architecture and role.
func snapshotKind(arch, role string) string { return arch + "/" + role }

// findRestoreSnapshots looks up what the volumes this update creates may start from: only
// those the state does not hold or EC2 no longer has (a volume that exists keeps what it
// has, and one that moves starts from its own move snapshot), one call for each volume and
// one for each kind, all at once.
func findRestoreSnapshots(ctx *pulumi.Context, l *lookups, cfg Config, state stackState, live *liveFleet) *restoreFacts {
	r := &restoreFacts{own: map[string]*foundSnapshot{}, kind: map[string]*foundSnapshot{}}
	find := func(into map[string]*foundSnapshot, key, what string, filters ...ebs.GetSnapshotFilter) {
		l.start(func() {
			// most_recent picks the newest by StartTime (ebs_snapshot_data_source.go).
			found, err := ebs.LookupSnapshot(ctx, &ebs.LookupSnapshotArgs{Owners: []string{"self"}, MostRecent: pulumi.BoolRef(true),
				Filters: append([]ebs.GetSnapshotFilter{
					{Name: "status", Values: []string{"completed"}},
					{Name: "tag:" + snapshotTag, Values: []string{cfg.NamePrefix}},
					{Name: "tag:Stack", Values: []string{ctx.Stack()}},
				}, filters...)})
			l.locked(func() {
				switch {
				case err == nil:
					into[key] = &foundSnapshot{id: found.SnapshotId, volumeName: found.Tags["Name"], startTime: found.StartTime,
						origin: snapshotOrigin(found.Tags), sizeGiB: found.VolumeSize}
				case !isNoResults(err):
					r.err = fmt.Errorf("looking up snapshots of %s: %w", what, err)
				}
			})
		})
	}
	kinds := map[string]bool{}
	for _, spec := range runnerSpecs(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			if _, _, exists := live.exists(state, spec.name, vol.role); exists {
				continue
			}
			purpose := ebs.GetSnapshotFilter{Name: "tag:Purpose", Values: []string{vol.purpose}}
			name := spec.physicalName(cfg) + "-" + vol.role
			find(r.own, spec.name+"/"+vol.role, name, purpose, ebs.GetSnapshotFilter{Name: "tag:Name", Values: []string{name}})
			if kind := snapshotKind(spec.arch, vol.role); !kinds[kind] {
				kinds[kind] = true
				find(r.kind, kind, "this stack's "+spec.arch+" "+vol.role+" volumes", purpose, ebs.GetSnapshotFilter{Name: "tag:Arch", Values: []string{spec.arch}})
			}
		}
	}
	return r
}

// snapshotOrigin says how a snapshot of this stack was made, from its tags: Data Lifecycle
// Manager's daily ones carry its policy id, the program's own a snapshot-of tag, and the
// provider's final snapshots neither.
func snapshotOrigin(tags map[string]string) string {
	switch {
	case tags["aws:dlm:lifecycle-policy-id"] != "":
		return "daily snapshot"
	case tags["n3x:snapshot-of"] != "":
		return "snapshot taken before this stack deleted or moved it"
	}
	return "final snapshot"
}

// volumeSources decides, per runner and role, what each configured data volume starts
// from. A volume that exists where it is (the state holds it and EC2 has it) keeps
// everything as it is: giving it a snapshot id, even the one it came from, would plan a
// replacement whenever a snapshot appears (snapshotId forces a new volume; leaving it unset
// keeps the volume's own, as the argument is Optional+Computed in ebs_volume.go). Not
// ignoreChanges: the engine copies an ignored input into the replacement too
// (pulumi/pulumi#2657), so a zone move would start from the old snapshot. A new volume
// starts from its own newest snapshot, else the newest of its kind. A snapshot larger than
// the configured size is a problem naming the size key.
func volumeSources(cfg Config, state stackState, p placement, live *liveFleet, restore *restoreFacts) (map[string]volumeSource, []error) {
	sources := map[string]volumeSource{}
	var problems []error
	for _, spec := range runnerSpecs(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			key := spec.name + "/" + vol.role
			held, existing, exists := live.exists(state, spec.name, vol.role)
			switch {
			case exists && existing.zone == p.Zone:
				sources[key] = volumeSource{finalSnapshot: held.finalSnapshot}
				// size changes in place (ebs_volume.go: size is not ForceNew; resourceEBSVolumeUpdate
				// calls ModifyVolume), and ModifyVolume only grows a volume (EBS user guide, "Modify a volume").
				if existing.sizeGiB > vol.SizeGiB {
					problems = append(problems, configError{vol.sizeKey, fmt.Sprintf("is %d GiB, smaller than the %d GiB volume %s of %s; an EBS volume can grow, never shrink",
						vol.SizeGiB, existing.sizeGiB, existing.id, spec.name), setFix(vol.sizeKey, strconv.Itoa(existing.sizeGiB))})
				}
			case exists:
				sources[key] = volumeSource{finalSnapshot: true, moveFrom: existing.id}
				if existing.sizeGiB > vol.SizeGiB {
					problems = append(problems, snapshotTooBig(vol, existing.sizeGiB, "the volume "+existing.id+" it replaces in the move"))
				}
			default:
				src := volumeSource{finalSnapshot: true}
				name := spec.physicalName(cfg) + "-" + vol.role
				from, why := restore.own[key], ""
				if from != nil {
					why = fmt.Sprintf("its own %s of %s", from.origin, from.startTime)
				} else if from = restore.kind[snapshotKind(spec.arch, vol.role)]; from != nil {
					why = fmt.Sprintf("it has none of its own; the newest of its kind: the %s of %s of %s", from.origin, from.volumeName, from.startTime)
				}
				if from == nil {
					src.note = fmt.Sprintf("%s: a new %s volume, empty: this stack has no snapshot of it nor of any %s %s volume", name, vol.role, spec.arch, vol.role)
				} else {
					src.snapshotID = from.id
					src.note = fmt.Sprintf("%s: a new %s volume from %s (%s)", name, vol.role, from.id, why)
					if from.sizeGiB > vol.SizeGiB {
						problems = append(problems, snapshotTooBig(vol, from.sizeGiB, "snapshot "+from.id+", which the new "+vol.role+" volume of "+spec.name+" starts from"))
					}
				}
				sources[key] = src
			}
		}
	}
	return sources, slices.CompactFunc(problems, func(a, b error) bool { return a.Error() == b.Error() })
}

func snapshotTooBig(vol dataVolumeSpec, sizeGiB int, what string) error {
	return configError{vol.sizeKey, fmt.Sprintf("is %d GiB, smaller than the %d GiB of %s; a volume cannot be smaller than its snapshot",
		vol.SizeGiB, sizeGiB, what), setFix(vol.sizeKey, strconv.Itoa(sizeGiB))}
}

// departures are the existing data volumes this update removes without a final snapshot of
// their own: those of runners no longer configured whose state has final_snapshot off (made
// by a version before final snapshots, or imported). (A zone move's snapshots are taken by
// newDataVolume.)
func departures(cfg Config, state stackState, live *liveFleet) []departure {
	var leaving []departure
	for _, name := range state.removed(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			if held, _, exists := live.exists(state, name, vol.role); exists && !held.finalSnapshot {
				leaving = append(leaving, departure{runner: name, arch: state.runners[name].arch, vol: vol, volumeID: held.id})
			}
		}
	}
	return leaving
}

// departure is a data volume that leaves the stack in this update.
type departure struct {
	runner, arch, volumeID string
	vol                    dataVolumeSpec
}

// newDepartureSnapshots snapshots each departing volume before the engine deletes it at the
// end of the update. Retained on delete: the next update no longer registers it, and the
// snapshot must stay in the account.
func newDepartureSnapshots(ctx *pulumi.Context, cfg Config, leaving []departure) error {
	for _, d := range leaving {
		spec := runnerSpec{architecture: architecture{arch: d.arch}, name: d.runner}
		if _, err := newDepartureSnapshot(ctx, cfg, spec, d.vol, d.volumeID, "final"); err != nil {
			return err
		}
	}
	return nil
}

// newDepartureSnapshot takes a snapshot of a volume this update replaces or removes, tagged
// like the volume so the snapshot lookups and operators find it.
func newDepartureSnapshot(ctx *pulumi.Context, cfg Config, spec runnerSpec, vol dataVolumeSpec, volumeID, why string) (*ebs.Snapshot, error) {
	tags := dataVolumeTags(ctx, cfg, spec, vol)
	tags["n3x:snapshot-of"] = pulumi.String(volumeID)
	snapshot, err := ebs.NewSnapshot(ctx, fmt.Sprintf("%s-%s-%s-snapshot", spec.name, vol.role, why), &ebs.SnapshotArgs{
		VolumeId:    pulumi.String(volumeID),
		Description: pulumi.String(fmt.Sprintf("%s of %s before this stack deletes it (%s)", vol.role, volumeID, why)),
		Tags:        tags,
	}, pulumi.RetainOnDelete(true), pulumi.Timeouts(&pulumi.CustomTimeouts{Create: snapshotTimeout}))
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", volumeID, err)
	}
	return snapshot, nil
}

// newSnapshotPolicy makes the Data Lifecycle Manager policy that snapshots every data volume
// of this stack daily and keeps each snapshot n3x:snapshotRetentionDays days, and the role it
// runs as. The role may snapshot only volumes carrying this stack's snapshot tag and delete
// only snapshots carrying it, the EC2 actions of AWS's AWSDataLifecycleManagerServiceRole
// that a volume policy needs.
func newSnapshotPolicy(ctx *pulumi.Context, cfg Config, account *callerFacts) error {
	if cfg.SnapshotRetention == 0 {
		return nil
	}
	arn := func(resource string) string {
		return fmt.Sprintf("arn:%s:ec2:%s:%s", account.partition, cfg.Region, resource)
	}
	ours := map[string]map[string]string{"StringEquals": {"aws:ResourceTag/" + snapshotTag: cfg.NamePrefix}}
	permissions, err := policyJSON(
		policyStatement{Effect: "Allow", Action: "ec2:CreateSnapshot", Resource: arn(account.accountID + ":volume/*"), Condition: ours},
		policyStatement{Effect: "Allow", Action: []string{"ec2:CreateSnapshot", "ec2:CreateTags"}, Resource: arn(":snapshot/*")},
		policyStatement{Effect: "Allow", Action: "ec2:DeleteSnapshot", Resource: arn(":snapshot/*"), Condition: ours},
		policyStatement{Effect: "Allow", Action: []string{"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots"}, Resource: "*"},
	)
	if err != nil {
		return err
	}
	role, permission, err := newServiceRole(ctx, serviceRole{
		logical: "snapshot-policy-role", name: snapshotRoleName(cfg), service: "dlm.amazonaws.com",
		description:   "Data Lifecycle Manager snapshots the n3x runners' data volumes (n3x:snapshotRetentionDays)",
		policyLogical: "snapshot-policy-role-permissions", policyName: "snapshot-data-volumes", policy: pulumi.String(permissions),
	})
	if err != nil {
		return err
	}
	_, err = dlm.NewLifecyclePolicy(ctx, "snapshot-policy", &dlm.LifecyclePolicyArgs{
		// The provider allows only letters, digits, spaces, '_' and '-' here (dlm/lifecycle_policy.go).
		Description:      pulumi.String("n3x data volumes of " + strings.NewReplacer(".", "-").Replace(cfg.NamePrefix)),
		ExecutionRoleArn: role.Arn,
		State:            pulumi.String("ENABLED"),
		PolicyDetails: &dlm.LifecyclePolicyPolicyDetailsArgs{
			ResourceTypes: pulumi.StringArray{pulumi.String("VOLUME")},
			TargetTags:    pulumi.StringMap{snapshotTag: pulumi.String(cfg.NamePrefix)},
			Schedules: dlm.LifecyclePolicyPolicyDetailsScheduleArray{&dlm.LifecyclePolicyPolicyDetailsScheduleArgs{
				Name: pulumi.String("daily"),
				CreateRule: &dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs{
					Interval: pulumi.Int(24), IntervalUnit: pulumi.String("HOURS"), Times: pulumi.String(snapshotTime),
				},
				RetainRule: &dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs{
					Interval: pulumi.Int(cfg.SnapshotRetention), IntervalUnit: pulumi.String("DAYS"),
				},
				// The volume's tags (Stack, Arch, Purpose, n3x:snapshots, its Name) are how a
				// new volume finds its runner's newest snapshot, or the newest of its kind.
				CopyTags: pulumi.Bool(true),
			}},
		},
		Tags: sharedTags(ctx, cfg.NamePrefix+"-snapshots"),
	}, pulumi.DependsOn([]pulumi.Resource{permission}))
	if err != nil {
		return fmt.Errorf("snapshot policy: %w", err)
	}
	return nil
}
