package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Leftovers: what this stack made that its state does not hold. An update cancelled while
// AWS creates a resource (the CLI killed, a CI job cancelled), pulumi state delete, or an
// import under the wrong name leaves one behind. What the stack makes carries its state id
// (stateIDTag), so a leftover is told apart from what another copy of the stack made, whose
// state has another id: the leftover gets the pulumi import that takes it back, or the
// command that deletes it, never the second-copy diagnosis.

// leftoverFacts are the security groups named like this stack's, and the volumes,
// instances and addresses that carry its state id; and the attachments and associations
// EC2 has that the state lost.
type leftoverFacts struct {
	groups     []securityGroupFacts // named like this stack's security group
	ownGroups  []string             // of those, the ids that carry this stack's state id
	volumes    []string             // volume ids with this stack's state id
	instances  []string             // instance ids, not terminated, with this stack's state id
	addresses  []string             // allocation ids with this stack's state id
	names      map[string]string    // id -> its Name tag, for the leftovers the state does not hold
	groupsErr  error                // either security group lookup
	volumesErr error
	eipsErr    error
	lostLinks  []lostLink // attachments and associations in EC2 that the state does not hold
	linksErr   error
	// lostInstances are, by configured runner whose state holds no instance (nor Spot
	// request), the instances of its Name that carry this stack's state id: pulumi state
	// delete of the instance, or an update cancelled while EC2 launched it.
	lostInstances map[string][]string
	instancesErr  error
}

// lostLink is an attachment of a runner's data volume, or its address's association, that
// EC2 has and the state lost (pulumi state delete --target-dependents of a volume takes them
// too): the update would make it again and fail on the one EC2 has.
type lostLink struct {
	runner, role string // role "" for the address's association
	typ, logical string
	importID     string // the provider's import id
	what         string
}

type securityGroupFacts struct{ id, vpcID string }

// findLeftovers looks up the security groups of this stack's name and, once its state has
// an id, the volumes and addresses that carry it.
func findLeftovers(ctx *pulumi.Context, l *lookups, cfg Config, state stackState) *leftoverFacts {
	f := &leftoverFacts{names: map[string]string{}, lostInstances: map[string][]string{}}
	byName := ec2.GetSecurityGroupsFilter{Name: "group-name", Values: []string{securityGroupName(cfg)}}
	l.start(func() {
		groups, err := ec2.GetSecurityGroups(ctx, &ec2.GetSecurityGroupsArgs{Filters: []ec2.GetSecurityGroupsFilter{byName}})
		if err != nil {
			l.locked(func() { f.groupsErr = err })
			return
		}
		l.locked(func() {
			for i, id := range groups.Ids {
				f.groups = append(f.groups, securityGroupFacts{id: id, vpcID: groups.VpcIds[i]})
			}
		})
	})
	if state.stateID == "" {
		return f // nothing can carry an id the state does not have yet
	}
	ours := map[string]string{stateIDTag: state.stateID}
	l.start(func() {
		groups, err := ec2.GetSecurityGroups(ctx, &ec2.GetSecurityGroupsArgs{Tags: ours, Filters: []ec2.GetSecurityGroupsFilter{byName}})
		l.locked(func() {
			if err != nil {
				f.groupsErr = err
				return
			}
			f.ownGroups = groups.Ids
		})
	})
	l.start(func() {
		volumes, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{Tags: ours})
		l.locked(func() {
			if f.volumesErr = err; err == nil {
				f.volumes = volumes.Ids
			}
		})
	})
	l.start(func() {
		instances, err := ec2.GetInstances(ctx, &ec2.GetInstancesArgs{InstanceTags: ours, InstanceStateNames: notTerminated})
		if err == nil { // the runner-tagged lookup reports a failure (liveFleet)
			l.locked(func() { f.instances = instances.Ids })
		}
	})
	for _, spec := range runnerSpecs(cfg) {
		if state.runners[spec.name].instance != (stateInstance{}) {
			continue
		}
		tags := map[string]string{stateIDTag: state.stateID, "Name": spec.physicalName(cfg)}
		l.start(func() {
			instances, err := ec2.GetInstances(ctx, &ec2.GetInstancesArgs{InstanceTags: tags, InstanceStateNames: notTerminated})
			l.locked(func() {
				if err != nil {
					f.instancesErr = err
				} else if len(instances.Ids) > 0 {
					f.lostInstances[spec.name] = instances.Ids
				}
			})
		})
	}
	l.start(func() {
		eips, err := ec2.GetEips(ctx, &ec2.GetEipsArgs{Tags: ours})
		l.locked(func() {
			if f.eipsErr = err; err == nil {
				f.addresses = eips.AllocationIds
			}
		})
	})
	return f
}

// findNames reads the Name tag of each leftover volume and address, which says whose it is.
func (f *leftoverFacts) findNames(ctx *pulumi.Context, l *lookups, state stackState) {
	held := stateHeld(state)
	for _, id := range f.volumes {
		if held[id] {
			continue
		}
		l.start(func() {
			v, err := ebs.LookupVolume(ctx, &ebs.LookupVolumeArgs{Filters: []ebs.GetVolumeFilter{{Name: "volume-id", Values: []string{id}}}})
			if err == nil {
				l.locked(func() { f.names[id] = v.Tags["Name"] })
			}
		})
	}
	for _, id := range f.addresses {
		if held[id] {
			continue
		}
		l.start(func() {
			eip, err := ec2.GetElasticIp(ctx, &ec2.GetElasticIpArgs{Id: pulumi.StringRef(id)})
			if err == nil {
				l.locked(func() { f.names[id] = eip.Tags["Name"] })
			}
		})
	}
}

// findLostLinks looks up, for each configured runner whose state holds its instance (or
// lost it, lostInstances) but not one of its attachments or its address's association,
// whether EC2 has it.
func (f *leftoverFacts) findLostLinks(ctx *pulumi.Context, l *lookups, cfg Config, state stackState) {
	for _, spec := range runnerSpecs(cfg) {
		r := state.runners[spec.name]
		if lost := f.lostInstances[spec.name]; r.instance.id == "" && len(lost) == 1 {
			r.instance.id = lost[0] // taken back with its attachments, or they are made again
		}
		if r.instance.id == "" {
			continue
		}
		for _, vol := range dataVolumeSpecs(cfg) {
			if r.attached[vol.role] {
				continue
			}
			l.start(func() {
				found, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{Filters: []ebs.GetEbsVolumesFilter{
					{Name: "attachment.instance-id", Values: []string{r.instance.id}},
					{Name: "attachment.device", Values: []string{vol.device}},
					{Name: "tag:Name", Values: []string{spec.physicalName(cfg) + "-" + vol.role}},
				}})
				l.locked(func() {
					if err != nil {
						f.linksErr = err
						return
					}
					for _, id := range found.Ids {
						f.lostLinks = append(f.lostLinks, lostLink{runner: spec.name, role: vol.role, typ: typeNameAttachment,
							// ebs_volume_attachment.go, ResourceVolumeAttachment Importer: DEVICE_NAME:VOLUME_ID:INSTANCE_ID
							logical: spec.name + "-" + vol.role + "-attachment", importID: vol.device + ":" + id + ":" + r.instance.id,
							what: fmt.Sprintf("runner %s's %s volume %s is attached to its instance %s as %s", spec.name, vol.role, id, r.instance.id, vol.device)})
					}
				})
			})
		}
		if r.addressID == "" || r.associated {
			continue
		}
		l.start(func() {
			eip, err := ec2.GetElasticIp(ctx, &ec2.GetElasticIpArgs{Id: pulumi.StringRef(r.addressID)})
			l.locked(func() {
				switch {
				case err != nil:
					f.linksErr = err
				case eip.InstanceId == r.instance.id && eip.AssociationId != "":
					// ec2_eip_association.go: the association's id is its import id.
					f.lostLinks = append(f.lostLinks, lostLink{runner: spec.name, typ: typeNameEipAssoc, logical: spec.name + "-address-association",
						importID: eip.AssociationId, what: fmt.Sprintf("runner %s's address %s is associated with its instance %s (%s)", spec.name, r.addressID, r.instance.id, eip.AssociationId)})
				}
			})
		})
	}
}

// stateHeld is the set of volume and allocation ids the state holds, pending deletion by
// an unfinished zone move included.
func stateHeld(state stackState) map[string]bool {
	held := map[string]bool{}
	for _, id := range slices.Concat(state.volumeIDs(), slices.Collect(maps.Keys(state.pendingMoves()))) {
		held[id] = true
	}
	for _, r := range state.runners {
		if r.addressID != "" {
			held[r.addressID] = true
		}
	}
	return held
}

// checkLeftovers names each leftover with the way back. A leftover security group, or a
// data volume of a configured runner whose state holds none, is a problem: the update would
// fail on the group's name, or make a second volume and then fail to attach it
// beside the first. Any other leftover volume, and a leftover address, is a warning.
func checkLeftovers(ctx *pulumi.Context, cfg Config, state stackState, p placement, f *leftoverFacts) (problems []error, warnings []string) {
	takeBack := func(typ, logical, id string) string { return takeBackCommands(ctx, typ, logical, id) }
	if state.securityGroupID == "" {
		for _, g := range f.groups {
			if g.vpcID == p.VpcID && slices.Contains(f.ownGroups, g.id) {
				problems = append(problems, fmt.Errorf("security group %s (%s, in %s) carries this stack's state id (%s=%s), but the state does not hold it: "+
					"an update was cancelled while AWS created it, or pulumi state delete removed it. Take it back into the state: %s; "+
					"or delete it: aws ec2 delete-security-group --region %s --group-id %s",
					g.id, securityGroupName(cfg), g.vpcID, stateIDTag, state.stateID, takeBack(typeNameSecurityGroup, securityGroupLogical, g.id), cfg.Region, g.id))
			}
		}
	}
	held := stateHeld(state)
	configured := map[string]bool{}
	for _, spec := range runnerSpecs(cfg) {
		configured[spec.name] = true
	}
	for _, id := range f.volumes {
		if held[id] {
			continue
		}
		runner, role := runnerOfName(cfg, f.names[id])
		deleteIt := fmt.Sprintf("aws ec2 delete-volume --region %s --volume-id %s (detach it first if it is attached; it may hold a cache: snapshot it first with aws ec2 create-snapshot --region %s --volume-id %s)",
			cfg.Region, id, cfg.Region, id)
		what := fmt.Sprintf("volume %s (%s) carries this stack's state id (%s=%s), but the state does not hold it (pulumi state delete, an import under another name, or an update cancelled while AWS created it)",
			id, cmp.Or(f.names[id], "no Name tag"), stateIDTag, state.stateID)
		if _, stateHasOne := state.runners[runner].volumes[role]; configured[runner] && role != "" && !stateHasOne {
			problems = append(problems, fmt.Errorf("%s; it is runner %s's %s volume, and pulumi up would make a second one beside it (from a snapshot, or empty). "+
				"Take it back into the state: %s; or delete it: %s", what, runner, role, takeBack(typeNameVolume, runner+"-"+role, id), deleteIt))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s, and no configured runner lacks it; it costs money until you delete it: %s", what, deleteIt))
	}
	for _, id := range f.addresses {
		if held[id] {
			continue
		}
		runner, _ := runnerOfName(cfg, f.names[id])
		way := fmt.Sprintf("release it: aws ec2 release-address --region %s --allocation-id %s", cfg.Region, id)
		if configured[runner] && state.runners[runner].addressID == "" {
			way = fmt.Sprintf("take it back as runner %s's address: %s; or %s", runner, takeBack(typeNameEip, runner+"-address", id), way)
		}
		warnings = append(warnings, fmt.Sprintf("Elastic IP %s (%s) carries this stack's state id (%s=%s), but the state does not hold it (an update cancelled while AWS allocated it, or pulumi state delete); "+
			"it costs money while it is allocated: %s", id, cmp.Or(f.names[id], "no Name tag"), stateIDTag, state.stateID, way))
	}
	for _, spec := range runnerSpecs(cfg) {
		for _, id := range f.lostInstances[spec.name] {
			takeBackIt := takeBack(typeNameInstance, spec.name+"-runner", id)
			if cfg.Capacity == capacitySpot {
				// ec2_spot_instance_request.go: imported by the request's id.
				takeBackIt = fmt.Sprintf("take back its Spot request, whose id aws ec2 describe-instances --region %s --instance-ids %s --query 'Reservations[0].Instances[0].SpotInstanceRequestId' --output text prints: %s",
					cfg.Region, id, takeBack(typeNameSpotRequest, spec.name+"-runner", "<sir-id>"))
			}
			problems = append(problems, fmt.Errorf("instance %s (%s) carries this stack's state id (%s=%s), but the state does not hold it (pulumi state delete, or an update cancelled while EC2 launched it): "+
				"it is runner %s's instance, and pulumi up would launch a second one beside it, which could not attach the volumes this one holds. "+
				"Take it back into the state: %s; or terminate it (its data volumes stay, detached): aws ec2 terminate-instances --region %s --instance-ids %s",
				id, spec.physicalName(cfg), stateIDTag, state.stateID, spec.name, takeBackIt, cfg.Region, id))
		}
	}
	slices.SortFunc(f.lostLinks, func(a, b lostLink) int { return strings.Compare(a.logical, b.logical) })
	for _, link := range f.lostLinks {
		problems = append(problems, fmt.Errorf("%s, but the state does not hold %s (pulumi state delete --target-dependents takes it with the volume): "+
			"pulumi up would make it again, and EC2 would refuse the second one. Take it back into the state: %s",
			link.what, link.logical, takeBack(link.typ, link.logical, link.importID)))
	}
	for _, lookup := range []struct {
		err         error
		what, calls string
	}{{f.groupsErr, "security groups", "ec2:DescribeSecurityGroups"}, {f.volumesErr, "data volumes", "ec2:DescribeVolumes"}, {f.eipsErr, "Elastic IPs", "ec2:DescribeAddresses"},
		{f.linksErr, "attachments and address associations", "ec2:DescribeVolumes and ec2:DescribeAddresses"}, {f.instancesErr, "runner instances", "ec2:DescribeInstances"}} {
		if lookup.err == nil {
			continue
		}
		// The policy is the fix only where AWS refused the call; a throttle or a network
		// error passes with the next preview.
		then := "; the next preview looks again"
		if accessDenied(lookup.err) {
			then = fmt.Sprintf("; allow %s (iam/preview-policy.json) to have them named", lookup.calls)
		}
		warnings = append(warnings, fmt.Sprintf("could not look for %s that this stack made but its state does not hold (%s)%s",
			lookup.what, firstLine(lookup.err), then))
	}
	return problems, warnings
}

// takeBackCommands are the ways a resource the state lost comes back: for a create the
// state still records as pending (the CLI warns of "pending operations" after a cancelled
// update), pulumi refresh names its id (pkg/cmd/pulumi/operations/refresh.go,
// pendingCreatesToImports: the URN and the id, each after the flag); otherwise pulumi import,
// unprotected like the program's own resources.
func takeBackCommands(ctx *pulumi.Context, typ, logical, id string) string {
	urn := fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", ctx.Stack(), ctx.Project(), typ, logical)
	return fmt.Sprintf("pulumi refresh --import-pending-creates '%s' --import-pending-creates %s if pulumi warns of its pending create, else pulumi import %s %s %s --protect=false",
		urn, id, typ, logical, id)
}

// copyEvidence is what says that another state runs this stack's names here, "" when
// nothing does: for a stack whose state holds no security group yet, a group of its name in
// the VPC that does not carry its state id, or, while its state holds no instance,
// instances tagged as its runners that do not carry its state id.
func copyEvidence(cfg Config, state stackState, p placement, f *leftoverFacts, live *liveFleet) string {
	if state.securityGroupID != "" || f.groupsErr != nil { // without both answers a group of ours could look foreign
		return ""
	}
	if taken := slices.IndexFunc(f.groups, func(g securityGroupFacts) bool {
		return g.vpcID == p.VpcID && !slices.Contains(f.ownGroups, g.id)
	}); taken >= 0 {
		return fmt.Sprintf("the security group name %s, which %s in %s already has", securityGroupName(cfg), f.groups[taken].id, p.VpcID)
	}
	var others []string
	for _, id := range slices.Sorted(slices.Values(live.runnerTagged)) {
		if !slices.Contains(f.instances, id) {
			others = append(others, id)
		}
	}
	if len(state.instanceIDs()) == 0 && len(others) > 0 {
		return fmt.Sprintf("the runners' names, and instances tagged with them (%s) already run here", strings.Join(others, ", "))
	}
	return ""
}

// runnerOfName reads a runner resource's Name tag (n3x-x86-2-runner, its -cache, -yocto and
// -address) back into the runner and the role of its volume; "" for a name that is none of
// this stack's.
func runnerOfName(cfg Config, name string) (runner, role string) {
	rest, ok := strings.CutPrefix(name, cfg.NamePrefix+"-")
	if !ok {
		return "", ""
	}
	if runner, ok := strings.CutSuffix(rest, "-runner-address"); ok && isRunnerName(runner) {
		return runner, ""
	}
	for _, r := range dataVolumeRoles {
		if runner, ok := strings.CutSuffix(rest, "-runner-"+r); ok && isRunnerName(runner) {
			return runner, r
		}
	}
	if runner, ok := strings.CutSuffix(rest, "-runner"); ok && isRunnerName(runner) {
		return runner, ""
	}
	return "", ""
}
