package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// liveFleet is what EC2 says about the runners this stack's state holds: which of its data
// volumes still exist and where, what they are attached to, which of its instances still
// exist, and which instances are tagged as its runners. Every decision that can create,
// replace or move a data volume asks it as well as the state: a volume exists only when the
// state holds it and EC2 has it.
type liveFleet struct {
	volumes      map[string]liveVolume // the state's data volumes that still exist, by id
	moving       map[string]liveVolume // the volumes an unfinished zone move snapshotted, pending deletion, that still exist
	volumesErr   error
	attached     []string // the state's data volumes attached to one of the state's instances
	attachedAny  []string // the state's data volumes attached to any instance
	running      []string // the state's instances that are not terminated
	imdsV1       []string // the state's instances that still answer IMDSv1
	runnerTagged []string // instances, not terminated, tagged as one of this stack's runners
	instancesErr error
	holders      map[string][]string // instance id -> the state's data volumes it holds, for runner-tagged instances the state does not hold
}

type liveVolume struct {
	id, zone string
	sizeGiB  int
}

// exists says whether the state holds a runner's volume of that role and EC2 still has it.
func (f *liveFleet) exists(state stackState, runner, role string) (stateVolume, liveVolume, bool) {
	v, ok := state.runners[runner].volumes[role]
	if !ok {
		return stateVolume{}, liveVolume{}, false
	}
	live, ok := f.volumes[v.id]
	return v, live, ok
}

// findLiveFleet looks up the state's volumes and instances in EC2.
func findLiveFleet(ctx *pulumi.Context, l *lookups, cfg Config, state stackState) *liveFleet {
	f := &liveFleet{volumes: map[string]liveVolume{}, moving: map[string]liveVolume{}, holders: map[string][]string{}}
	instanceIDs, volumeIDs := state.instanceIDs(), state.volumeIDs()
	moving := slices.Sorted(maps.Keys(state.pendingMoves()))
	for _, id := range slices.Concat(volumeIDs, moving) {
		into := f.volumes
		if slices.Contains(moving, id) {
			into = f.moving
		}
		l.start(func() {
			v, err := ebs.LookupVolume(ctx, &ebs.LookupVolumeArgs{Filters: []ebs.GetVolumeFilter{{Name: "volume-id", Values: []string{id}}}})
			l.locked(func() {
				switch {
				case err == nil:
					into[id] = liveVolume{id: id, zone: v.AvailabilityZone, sizeGiB: v.Size}
				case !isNoResults(err):
					f.volumesErr = fmt.Errorf("reading data volume %s: %w", id, err)
				}
			})
		})
	}
	findVolumes := func(into *[]string, filters ...ebs.GetEbsVolumesFilter) {
		l.start(func() {
			found, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{Filters: filters})
			l.locked(func() {
				if err != nil {
					f.volumesErr = fmt.Errorf("reading the attachments of this stack's data volumes: %w", err)
					return
				}
				*into = found.Ids
			})
		})
	}
	findInstances := func(into *[]string, args *ec2.GetInstancesArgs) {
		l.start(func() {
			found, err := ec2.GetInstances(ctx, args)
			l.locked(func() {
				if err != nil {
					f.instancesErr = err
					return
				}
				*into = found.Ids
			})
		})
	}
	attached := ebs.GetEbsVolumesFilter{Name: "attachment.status", Values: []string{"attaching", "attached"}}
	if len(volumeIDs) > 0 {
		ours := ebs.GetEbsVolumesFilter{Name: "volume-id", Values: volumeIDs}
		findVolumes(&f.attachedAny, ours, attached)
		if len(instanceIDs) > 0 {
			findVolumes(&f.attached, ours, ebs.GetEbsVolumesFilter{Name: "attachment.instance-id", Values: instanceIDs}, attached)
		}
	}
	if len(instanceIDs) > 0 {
		ours := ec2.GetInstancesFilter{Name: "instance-id", Values: instanceIDs}
		findInstances(&f.running, &ec2.GetInstancesArgs{InstanceStateNames: notTerminated, Filters: []ec2.GetInstancesFilter{ours}})
		findInstances(&f.imdsV1, &ec2.GetInstancesArgs{InstanceStateNames: notTerminated, Filters: []ec2.GetInstancesFilter{
			ours, {Name: "metadata-options.http-tokens", Values: []string{"optional"}},
		}})
	}
	findInstances(&f.runnerTagged, &ec2.GetInstancesArgs{
		InstanceTags:       map[string]string{"Project": ctx.Project(), "Stack": ctx.Stack(), "Role": runnerRole},
		InstanceStateNames: notTerminated,
		Filters:            []ec2.GetInstancesFilter{{Name: "tag:Name", Values: runnerNamesOf(cfg, state)}},
	})
	return f
}

// findHolders looks up, for each instance tagged as a runner that the state does not hold,
// the state's data volumes it holds, or those an unfinished zone move left: the old
// instance of a replacement that did not finish, pending deletion.
func (f *liveFleet) findHolders(ctx *pulumi.Context, l *lookups, state stackState) {
	instanceIDs := state.instanceIDs()
	volumeIDs := slices.Concat(state.volumeIDs(), slices.Sorted(maps.Keys(state.pendingMoves())))
	for _, id := range f.runnerTagged {
		if slices.Contains(instanceIDs, id) || len(volumeIDs) == 0 {
			continue
		}
		l.start(func() {
			held, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{Filters: []ebs.GetEbsVolumesFilter{
				{Name: "volume-id", Values: volumeIDs},
				{Name: "attachment.instance-id", Values: []string{id}},
			}})
			l.locked(func() {
				switch {
				case err != nil:
					f.volumesErr = fmt.Errorf("reading the volumes of instance %s: %w", id, err)
				case len(held.Ids) > 0:
					f.holders[id] = held.Ids
				}
			})
		})
	}
}

// runnerNamesOf lists the Name tags of every runner this stack runs or its state holds.
func runnerNamesOf(cfg Config, state stackState) []string {
	var names []string
	for _, spec := range runnerSpecs(cfg) {
		names = append(names, spec.physicalName(cfg))
	}
	for _, name := range state.names() {
		if n := runnerPhysicalName(cfg.NamePrefix, name); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
