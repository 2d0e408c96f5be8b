package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Drift: what the account did behind the stack's back, which a preview does not see by
// itself (it compares the program with the state, not with AWS). Each warning names the ids
// and the one command that recovers. All of it is judged against this stack's own state,
// never against tags another stack could carry.

// driftWarnings compare the state's runners with the account: an instance that is gone or
// terminated, a data volume that is gone or not attached, an instance that answers IMDSv1.
func driftWarnings(cfg Config, state stackState, f *liveFleet) []string {
	if f.instancesErr != nil || f.volumesErr != nil {
		return nil // reported as a failed lookup
	}
	var warnings []string
	for _, name := range state.names() {
		r := state.runners[name]
		instanceID := r.instance.id
		instanceLive := instanceID != "" && slices.Contains(f.running, instanceID)
		if instanceID != "" && !instanceLive {
			warnings = append(warnings, fmt.Sprintf("runner %s: its instance %s is terminated or gone (retired by EC2, or terminated outside Pulumi); "+
				"pulumi up --refresh launches a new one, and its data volumes and address stay", name, instanceID))
		}
		for _, role := range dataVolumeRoles {
			id := r.volumes[role].id
			switch _, exists := f.volumes[id]; {
			case id == "", !exists: // checkLostVolumes
			case len(r.moveFrom) > 0 && len(f.moving) > 0: // checkUnfinishedMove
			case instanceLive && slices.Contains(f.attached, id):
			case instanceLive && slices.Contains(f.attachedAny, id):
				warnings = append(warnings, fmt.Sprintf("runner %s: its %s volume %s is attached to another instance than the runner's %s%s: "+
					"an update that replaces this runner did not finish; pulumi up finishes it, moving the volumes and then the address to %s",
					name, role, id, instanceID, heldBy(f.holders, id), instanceID))
			case instanceLive:
				warnings = append(warnings, fmt.Sprintf("runner %s: its %s volume %s is not attached to any instance (detached outside Pulumi, or by an update that failed before attaching it again); "+
					"pulumi up --refresh attaches it to %s again, stopping the instance first", name, role, id, instanceID))
			}
		}
		if slices.Contains(f.imdsV1, instanceID) {
			warnings = append(warnings, fmt.Sprintf("runner %s: its instance %s answers IMDSv1 (metadata tokens optional), so a request forged through its proxies "+
				"can read its role's credentials; require tokens: aws ec2 modify-instance-metadata-options --region %s --instance-id %s --http-tokens required --http-endpoint enabled",
				name, instanceID, cfg.Region, instanceID))
		}
	}
	return warnings
}

// checkLostVolumes stops an update while a data volume the state holds is gone from EC2
// (deleted outside Pulumi). A plain up would replace it (its snapshot changes) and its
// attachment, whose delete stops the runner and then fails to detach a volume that is not
// there (ebs_volume_attachment.go, resourceVolumeAttachmentDelete). A refresh drops both from
// the state first; up --refresh refreshes only in memory, where the program does not see it
// (state.go), so it is refused too.
func checkLostVolumes(state stackState, f *liveFleet) []error {
	if f.volumesErr != nil {
		return nil // reported as a failed lookup
	}
	var problems []error
	for _, name := range state.names() {
		for _, role := range dataVolumeRoles {
			if id := state.runners[name].volumes[role].id; id != "" {
				if _, exists := f.volumes[id]; !exists {
					problems = append(problems, fmt.Errorf("runner %s: its %s volume %s is gone (deleted outside Pulumi); run pulumi refresh first, "+
						"then pulumi up creates it again, from its own newest snapshot, else the newest of its kind "+
						"(pulumi up --refresh cannot: the program decides before its refresh is saved)", name, role, id))
				}
			}
		}
	}
	return problems
}

// checkUnfinishedMove names a zone move that did not finish: the state holds the new
// volumes, and the old ones, still in EC2, only as pending deletion (their move snapshots
// are in the state). Finishing it (an up to the same zone) deletes them, each with a final
// snapshot; moving anywhere else first would start the volumes from copies older than the
// old volumes, which the runners not yet moved still use.
func checkUnfinishedMove(cfg Config, state stackState, p placement, f *liveFleet) ([]error, []string) {
	if len(f.moving) == 0 {
		return nil, nil
	}
	target := state.zone()
	moves := state.pendingMoves()
	var old []string
	for _, id := range slices.Sorted(maps.Keys(f.moving)) {
		old = append(old, fmt.Sprintf("%s (%s, in %s)", id, moves[id], f.moving[id].zone))
	}
	what := fmt.Sprintf("a zone move to %s did not finish: the old data volumes %s still exist, pending deletion", target, strings.Join(old, ", "))
	if p.Zone != target {
		return []error{configError{zoneKey(cfg), fmt.Sprintf("moves the runners to %s, but %s; finish the move first (pulumi up with the zone %s), then move again: "+
			"otherwise the volumes would start from copies older than the old ones, which the runners not yet moved still use", p.Zone, what, target),
			setFix(keyAvailabilityZone, target)}}, nil
	}
	return nil, []string{what + "; pulumi up finishes it, attaching the new volumes and deleting the old ones, each with a final snapshot " +
		"(what the runners wrote after the move snapshots is in those final snapshots only)"}
}

// checkImportedAttachments stops an update that would detach a data volume without
// stopping its instance first: an attachment taken back with pulumi import has
// stop_instance_before_detaching unset in the state (ebs_volume_attachment.go: the
// importer reads only the ids), and a replacement deletes it with the state's settings.
func checkImportedAttachments(cfg Config, state stackState, p placement) []error {
	var problems []error
	for _, spec := range runnerSpecs(cfg) {
		r, ok := state.runners[spec.name]
		if !ok || r.instance.id == "" || launchReason(cfg, spec, r.instance, p) == "" {
			continue
		}
		for _, role := range dataVolumeRoles {
			if r.attached[role] && !r.stopsFirst[role] {
				problems = append(problems, fmt.Errorf("runner %s: this update replaces its instance, and its %s attachment (%s-%s-attachment, imported) "+
					"would detach the volume from the running instance without stopping it first; run pulumi up once without the change that replaces it "+
					"(that records stop_instance_before_detaching), then make it", spec.name, role, spec.name, role))
			}
		}
	}
	return problems
}

// heldBy names the instance that holds a volume, when one of the looked-up instances does.
func heldBy(holders map[string][]string, volume string) string {
	for instance, volumes := range holders {
		if slices.Contains(volumes, volume) {
			return " (" + instance + " holds it)"
		}
	}
	return ""
}

// warnOrphans warns, in a preview, about instances tagged as one of this stack's runners, or
// carrying its state id, that the stack does not run: neither an instance its state holds
// nor one it registers now (an id known in the preview). A deploy cancelled while EC2
// launched one leaves such an instance, billed and possibly registered with GitLab without
// caches.
func warnOrphans(ctx *pulumi.Context, cfg Config, state stackState, f *liveFleet, own *leftoverFacts, runners []*runner) error {
	candidates := slices.Compact(slices.Sorted(slices.Values(slices.Concat(f.runnerTagged, own.instances))))
	if !ctx.DryRun() || len(candidates) == 0 {
		return nil
	}
	tracked := state.instanceIDs()
	for _, r := range runners {
		result, err := internals.UnsafeAwaitOutput(ctx.Context(), r.machine.id)
		if err != nil {
			return err
		}
		if id, ok := result.Value.(string); ok && result.Known {
			tracked = append(tracked, id)
		}
	}
	var orphans []string
	for _, ids := range own.lostInstances {
		tracked = append(tracked, ids...) // named by checkLeftovers, with the import
	}
	for _, id := range candidates {
		// One that holds this stack's volumes is the old instance of an unfinished replacement,
		// which the state still holds and the next up deletes (driftWarnings says so).
		if !slices.Contains(tracked, id) && len(f.holders[id]) == 0 {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	return ctx.Log.Warn(fmt.Sprintf("the instances %s are tagged as runners of this stack but the stack does not run them "+
		"(a pulumi up that was cancelled or failed while EC2 launched them); they cost money and may have registered with GitLab without their caches. "+
		"Check that they hold none of this stack's data volumes (aws ec2 describe-volumes --region %[2]s --filters Name=attachment.instance-id,Values=%[3]s), "+
		"then: aws ec2 terminate-instances --region %[2]s --instance-ids %[4]s",
		strings.Join(orphans, ", "), cfg.Region, strings.Join(orphans, ","), strings.Join(orphans, " ")), nil)
}
