package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runnerSpec is everything that differs between the x86_64 and the Graviton runner.
type runnerSpec struct {
	name            string // logical-name and output prefix: "x86", "graviton"
	arch            string // EC2 architecture of AMI and instance type: "x86_64", "arm64"
	ami             string
	instanceType    string
	amiKey          string // config keys, for messages
	instanceTypeKey string
}

// runnerSpecs lists the configured runners: x86_64 always, Graviton when its AMI is set.
func runnerSpecs(cfg Config) []runnerSpec {
	specs := []runnerSpec{{
		name: "x86", arch: "x86_64", ami: cfg.AmiX86, instanceType: cfg.InstanceTypeX86,
		amiKey: keyAmiX86, instanceTypeKey: keyInstanceTypeX86,
	}}
	if cfg.AmiArm64 != "" {
		specs = append(specs, runnerSpec{
			name: "graviton", arch: "arm64", ami: cfg.AmiArm64, instanceType: cfg.InstanceTypeGraviton,
			amiKey: keyAmiArm64, instanceTypeKey: keyInstanceTypeGraviton,
		})
	}
	return specs
}

// instanceTypes lists the configured runners' instance types.
func instanceTypes(cfg Config) []string {
	var types []string
	for _, spec := range runnerSpecs(cfg) {
		types = append(types, spec.instanceType)
	}
	return types
}

// dataVolumeSpec is one of the EBS volumes that outlive the runner's instance.
type dataVolumeSpec struct {
	role    string // "cache" or "yocto": logical names and outputs
	device  string // EBS device name; NixOS finds it by this name's udev link, never by nvmeN
	purpose string // Purpose tag, read by operators in the console
	VolumeConfig
}

func dataVolumeSpecs(cfg Config) []dataVolumeSpec {
	return []dataVolumeSpec{
		{role: "cache", device: "/dev/sdf", purpose: "nix-store-zfs-cache", VolumeConfig: cfg.CacheVolume},
		{role: "yocto", device: "/dev/sdg", purpose: "yocto-dl-dir-sstate", VolumeConfig: cfg.YoctoVolume},
	}
}

// runner is one build runner: its machine, the stable address in front of it and
// its data volumes by role.
type runner struct {
	spec    runnerSpec
	machine machine
	address *ec2.Eip
	volumes map[string]*ebs.Volume
}

// sharedResources are what every runner is wired to.
type sharedResources struct {
	placement     placement
	securityGroup *ec2.SecurityGroup
	keyPair       *ec2.KeyPair
}

// newRunner builds one runner from its spec. The instance is disposable (a new AMI
// replaces it); its data volumes and Elastic IP are not.
func newRunner(ctx *pulumi.Context, cfg Config, spec runnerSpec, shared sharedResources) (*runner, error) {
	name := fmt.Sprintf("%s-%s-runner", cfg.NamePrefix, spec.name)
	instance, err := newMachine(ctx, cfg, spec, shared, name)
	if err != nil {
		return nil, err
	}
	r := &runner{spec: spec, machine: instance, volumes: map[string]*ebs.Volume{}}
	// Each attachment waits for the one before, so the cache volume is always attached
	// first and the instance sees its data volumes in the same order on every boot.
	var previous []pulumi.Resource
	for _, vol := range dataVolumeSpecs(cfg) {
		volume, attachment, err := newDataVolume(ctx, cfg, spec, vol, name+"-"+vol.role, shared.placement.Zone, instance, previous)
		if err != nil {
			return nil, err
		}
		r.volumes[vol.role], previous = volume, []pulumi.Resource{attachment}
	}
	if r.address, err = newAddress(ctx, spec, name+"-address", instance); err != nil {
		return nil, err
	}
	return r, nil
}

// newDataVolume creates a volume in the runner's zone, known before the instance exists,
// and attaches it after the attachments it is given. The attachment is deleted before it
// is replaced, and stops the instance before detaching, so NixOS exports the ZFS pool and
// unmounts cleanly first.
func newDataVolume(ctx *pulumi.Context, cfg Config, spec runnerSpec, vol dataVolumeSpec, name, zone string, instance machine,
	after []pulumi.Resource) (*ebs.Volume, *ec2.VolumeAttachment, error) {
	volume, err := ebs.NewVolume(ctx, spec.name+"-"+vol.role, &ebs.VolumeArgs{
		AvailabilityZone: pulumi.String(zone),
		Type:             pulumi.String("gp3"),
		Size:             pulumi.Int(vol.SizeGiB),
		Iops:             pulumi.Int(vol.Iops),
		Throughput:       pulumi.Int(vol.ThroughputMiBs),
		Encrypted:        pulumi.Bool(true),
		Tags:             runnerTags(ctx, spec, name, vol.purpose),
	}, pulumi.Protect(cfg.ProtectVolumes))
	if err != nil {
		return nil, nil, fmt.Errorf("%s volume %s: %w", vol.role, name, err)
	}
	attachment, err := ec2.NewVolumeAttachment(ctx, spec.name+"-"+vol.role+"-attachment", &ec2.VolumeAttachmentArgs{
		DeviceName:                  pulumi.String(vol.device),
		VolumeId:                    volume.ID(),
		InstanceId:                  instance.id,
		StopInstanceBeforeDetaching: pulumi.Bool(true),
	}, pulumi.DeleteBeforeReplace(true), pulumi.DependsOn(after))
	if err != nil {
		return nil, nil, fmt.Errorf("%s attachment of %s: %w", vol.role, name, err)
	}
	return volume, attachment, nil
}

// newAddress gives the runner an Elastic IP that outlives its instances; the association
// is deleted before it is replaced because an address has one instance at a time.
func newAddress(ctx *pulumi.Context, spec runnerSpec, name string, instance machine) (*ec2.Eip, error) {
	address, err := ec2.NewEip(ctx, spec.name+"-address", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   runnerTags(ctx, spec, name, ""),
	})
	if err != nil {
		return nil, fmt.Errorf("elastic IP %s: %w", name, err)
	}
	if _, err := ec2.NewEipAssociation(ctx, spec.name+"-address-association", &ec2.EipAssociationArgs{
		AllocationId: address.AllocationId,
		InstanceId:   instance.id,
	}, pulumi.DeleteBeforeReplace(true)); err != nil {
		return nil, fmt.Errorf("elastic IP association %s: %w", name, err)
	}
	return address, nil
}

// outputs are the runner's stack outputs, prefixed with its name.
func (r *runner) outputs() map[string]pulumi.Input {
	return map[string]pulumi.Input{
		r.spec.name + "InstanceId":    r.machine.id,
		r.spec.name + "PublicIp":      r.address.PublicIp,
		r.spec.name + "PublicDns":     r.address.PublicDns,
		r.spec.name + "SshCommand":    pulumi.Sprintf("ssh root@%s", r.address.PublicIp),
		r.spec.name + "PrivateIp":     r.machine.privateIP,
		r.spec.name + "PrivateDns":    r.machine.privateDNS,
		r.spec.name + "CacheVolumeId": r.volumes["cache"].ID(),
		r.spec.name + "YoctoVolumeId": r.volumes["yocto"].ID(),
	}
}
