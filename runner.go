package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runner is one build runner: its machine, the stable address in front of it and
// its data volumes by role.
type runner struct {
	spec    runnerSpec
	machine machine
	address *ec2.Eip
	volumes map[string]*ebs.Volume
	serving []pulumi.Resource // done when the runner's volumes and address are on its current instance
	// ssmOnly says nothing outside may reach port 22 (n3x:sshCidrBlocks none), so the
	// runner is reached through Session Manager in the stack's region
	ssmOnly bool
	region  string
}

// sharedResources are what every runner is wired to.
type sharedResources struct {
	placement     placement
	securityGroup *ec2.SecurityGroup
	keyPair       *ec2.KeyPair
	identity      runnerIdentity
	sources       map[string]volumeSource // by runner name and role
	region        string
	wake          *wakeFunction // nil without n3x:wakeOnJob
}

// newRunner builds one runner from its spec. The instance is disposable (a new AMI
// replaces it); its data volumes and Elastic IP are not. Its instance is launched only once
// the resources in after are done: the previous runner of its architecture serving again,
// so an AMI upgrade takes those runners down one at a time.
func newRunner(ctx *pulumi.Context, cfg Config, spec runnerSpec, shared sharedResources, after []pulumi.Resource) (*runner, error) {
	name := spec.physicalName(cfg)
	deps := append([]pulumi.Resource{shared.keyPair, shared.identity.profile}, after...)
	if shared.wake != nil {
		// The wake function learns of a new AMI, key pair, zone or count before this
		// instance is replaced or removed, so it never starts the old one.
		deps = append(deps, shared.wake.function)
	}
	instance, err := newMachine(ctx, cfg, spec, shared, name, []pulumi.ResourceOption{pulumi.DependsOn(deps)})
	if err != nil {
		return nil, err
	}
	r := &runner{spec: spec, machine: instance, volumes: map[string]*ebs.Volume{}, ssmOnly: len(cfg.SSHCidrBlocks) == 0, region: cfg.Region}
	// Each attachment waits for the one before, so the cache volume is always attached
	// first and the instance sees its data volumes in the same order on every boot.
	var previous []pulumi.Resource
	for _, vol := range dataVolumeSpecs(cfg) {
		volume, err := newDataVolume(ctx, cfg, spec, vol, shared)
		if err != nil {
			return nil, err
		}
		attachment, err := ec2.NewVolumeAttachment(ctx, spec.name+"-"+vol.role+"-attachment", &ec2.VolumeAttachmentArgs{
			DeviceName:                  pulumi.String(vol.device),
			VolumeId:                    volume.ID(),
			InstanceId:                  instance.id,
			StopInstanceBeforeDetaching: pulumi.Bool(true),
		}, pulumi.DeleteBeforeReplace(true), pulumi.DependsOn(previous))
		if err != nil {
			return nil, fmt.Errorf("%s attachment of %s: %w", vol.role, name, err)
		}
		r.volumes[vol.role], previous = volume, []pulumi.Resource{attachment}
	}
	// The address moves only once the new instance holds the data volumes: a roll that fails
	// before leaves it on the instance that still has them.
	var association *ec2.EipAssociation
	if r.address, association, err = newAddress(ctx, cfg, spec, name+"-address", instance, previous); err != nil {
		return nil, err
	}
	r.serving = append(previous, association)
	return r, nil
}

// newDataVolume creates a volume in the runner's zone, known before the instance exists,
// from what preflight chose: nothing for a volume that exists (its snapshotId, which forces
// a new volume, is left as the volume has it), for a new one its runner's own newest snapshot,
// else the newest of its kind, or a snapshot of the volume it replaces in a zone move.
func newDataVolume(ctx *pulumi.Context, cfg Config, spec runnerSpec, vol dataVolumeSpec, shared sharedResources) (*ebs.Volume, error) {
	name := spec.physicalName(cfg) + "-" + vol.role
	src := shared.sources[spec.name+"/"+vol.role]
	tags := dataVolumeTags(ctx, cfg, spec, vol)
	if src.finalSnapshot {
		tags[finalSnapshotTag] = pulumi.String("true")
	}
	args := &ebs.VolumeArgs{
		AvailabilityZone: pulumi.String(shared.placement.Zone),
		Type:             pulumi.String("gp3"),
		Size:             pulumi.Int(vol.SizeGiB),
		Iops:             pulumi.Int(vol.Iops),
		Throughput:       pulumi.Int(vol.ThroughputMiBs),
		Encrypted:        pulumi.Bool(true),
		Tags:             tags,
	}
	// Left unset, not false, on a volume made without it: its Default is false, and the
	// input stays exactly as that volume was created.
	if src.finalSnapshot {
		args.FinalSnapshot = pulumi.Bool(true)
	}
	if src.snapshotID != "" {
		args.SnapshotId = pulumi.String(src.snapshotID)
	}
	var deps []pulumi.Resource
	if src.moveFrom != "" {
		snapshot, err := newDepartureSnapshot(ctx, cfg, spec, vol, src.moveFrom, "move")
		if err != nil {
			return nil, err
		}
		args.SnapshotId, deps = snapshot.ID().ToStringOutput(), []pulumi.Resource{snapshot}
	}
	// The delete takes the final snapshot and waits for it, within the delete timeout
	// (ebs_volume.go resourceEBSVolumeDelete; 5 minutes by default): a first snapshot of a
	// large cache takes hours.
	volume, err := ebs.NewVolume(ctx, spec.name+"-"+vol.role, args, pulumi.Protect(cfg.ProtectVolumes), pulumi.DependsOn(deps),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Delete: snapshotTimeout}))
	if err != nil {
		return nil, fmt.Errorf("%s volume %s: %w", vol.role, name, err)
	}
	return volume, nil
}

// newAddress gives the runner an Elastic IP that outlives its instances. The association
// is deleted before it is replaced, because an address has one instance at a time, and is
// made only after the resources in after: the runner's attachments.
func newAddress(ctx *pulumi.Context, cfg Config, spec runnerSpec, name string, instance machine, after []pulumi.Resource) (*ec2.Eip, *ec2.EipAssociation, error) {
	address, err := ec2.NewEip(ctx, spec.name+"-address", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   owned(cfg, runnerTags(ctx, spec, name, "")),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("elastic IP %s: %w", name, err)
	}
	association, err := ec2.NewEipAssociation(ctx, spec.name+"-address-association", &ec2.EipAssociationArgs{
		AllocationId: address.AllocationId,
		InstanceId:   instance.id,
	}, pulumi.DeleteBeforeReplace(true), pulumi.DependsOn(after))
	if err != nil {
		return nil, nil, fmt.Errorf("elastic IP association %s: %w", name, err)
	}
	return address, association, nil
}

// outputs are runner 1's stack outputs, prefixed with its architecture, as before counts;
// every runner is in the runners output.
func (r *runner) outputs() map[string]pulumi.Input {
	if r.spec.number != 1 {
		return nil
	}
	return map[string]pulumi.Input{
		r.spec.name + "InstanceId":    r.machine.id,
		r.spec.name + "PublicIp":      r.address.PublicIp,
		r.spec.name + "PublicDns":     r.address.PublicDns,
		r.spec.name + "SshCommand":    r.sshCommand(),
		r.spec.name + "PrivateIp":     r.machine.privateIP,
		r.spec.name + "PrivateDns":    r.machine.privateDNS,
		r.spec.name + "CacheVolumeId": r.volumes["cache"].ID(),
		r.spec.name + "YoctoVolumeId": r.volumes["yocto"].ID(),
	}
}

// listing is the runner's entry in the runners output, for scripts.
func (r *runner) listing() pulumi.Map {
	return pulumi.Map{
		"name":              pulumi.String(r.spec.name),
		"architecture":      pulumi.String(r.spec.arch),
		"instanceId":        r.machine.id,
		"publicIp":          r.address.PublicIp,
		"publicDns":         r.address.PublicDns,
		"privateIp":         r.machine.privateIP,
		"privateDns":        r.machine.privateDNS,
		"sshCommand":        r.sshCommand(),
		"ssmSessionCommand": r.ssmSessionCommand(),
		"cacheVolumeId":     r.volumes["cache"].ID().ToStringOutput(),
		"yoctoVolumeId":     r.volumes["yocto"].ID().ToStringOutput(),
	}
}

// sshCommand is the command that reaches the runner, as $(pulumi stack output x86SshCommand)
// runs it: ssh to its address, or with port 22 closed to everyone (n3x:sshCidrBlocks none),
// where ssh would wait for a timeout, its Session Manager session.
func (r *runner) sshCommand() pulumi.StringOutput {
	if r.ssmOnly {
		return r.ssmSessionCommand()
	}
	return pulumi.Sprintf("ssh root@%s", r.address.PublicIp)
}

// ssmSessionCommand starts a Session Manager session on the runner.
func (r *runner) ssmSessionCommand() pulumi.StringOutput {
	return pulumi.Sprintf("aws ssm start-session --region %s --target %s", r.region, r.machine.id)
}
