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
// daily, a volume that goes leaves a snapshot behind, and a new volume starts from the
// newest snapshot of its kind.

// finalSnapshotTag marks the data volumes created with the provider's final_snapshot on.
// The flag cannot be added to an existing volume: any change to it but tags makes the
// provider call ModifyVolume (ebs_volume.go, resourceEBSVolumeUpdate: HasChangesExcept(tags)),
// which EC2 refuses or counts as a modification (hashicorp/terraform-provider-aws#31044).
// So the flag stays as each volume was created, and the tag tells the program which it is.
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
	snapshotID    string // a new volume: the newest completed snapshot of its kind ("" none)
	moveFrom      string // a zone move: the volume it replaces, snapshotted in the same up
}

// volumeSources decides, per runner and role, what each configured data volume starts
// from. A volume that exists where it is keeps everything as it is: giving it a snapshot id,
// even the one it came from, would plan a replacement whenever a snapshot appears (snapshotId
// forces a new volume; leaving it unset keeps the volume's own, as the argument is
// Optional+Computed in ebs_volume.go). Not ignoreChanges: the engine copies an ignored input
// into the replacement too (pulumi/pulumi#2657), so a zone move would start from the old
// snapshot. A snapshot larger than the configured size is a problem naming the size key.
func volumeSources(cfg Config, prev previousDeployment, p placement, f *accountFacts) (map[string]volumeSource, []error) {
	sources := map[string]volumeSource{}
	var problems []error
	for _, spec := range runnerSpecs(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			key := spec.name + "/" + vol.role
			existing, exists := f.volumes[prev.runners[spec.name].volumes[vol.role]]
			switch {
			case exists && existing.zone == p.Zone:
				sources[key] = volumeSource{finalSnapshot: existing.finalSnapshot}
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
				newest := f.newest[snapshotKind(spec.arch, vol.role)]
				sources[key] = volumeSource{finalSnapshot: true, snapshotID: newest.id}
				if newest.sizeGiB > vol.SizeGiB {
					problems = append(problems, snapshotTooBig(vol, newest.sizeGiB, "snapshot "+newest.id+", the newest of its kind, which a new "+vol.role+" volume starts from"))
				}
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
// their own: those of runners no longer configured that were created before final snapshots.
// (A zone move's snapshots are taken by newDataVolume.)
func departures(cfg Config, prev previousDeployment, f *accountFacts) []departure {
	var leaving []departure
	for _, name := range prev.removed(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			if v, ok := f.volumes[prev.runners[name].volumes[vol.role]]; ok && !v.finalSnapshot {
				leaving = append(leaving, departure{runner: name, arch: prev.runners[name].arch, vol: vol, volumeID: v.id})
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
func newSnapshotPolicy(ctx *pulumi.Context, cfg Config, account callerFacts) error {
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
				// The volume's tags (Stack, Arch, Purpose, n3x:snapshots) are how a new volume
				// finds the newest snapshot of its kind.
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
