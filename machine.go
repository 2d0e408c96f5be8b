package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// machine is a runner's EC2 instance, on demand or Spot: what the volumes, the address,
// the schedules and the outputs need of it.
type machine struct {
	id         pulumi.StringOutput // of the instance, also when a Spot request owns it
	privateIP  pulumi.StringOutput
	privateDNS pulumi.StringOutput
}

// spotRequestValidUntil is when the Spot requests end. EC2 ends a request 7 days after its
// creation unless told otherwise (EC2 API reference, RequestSpotInstances ValidUntil), and
// the provider then reads the cancelled request as gone
// (ec2_spot_instance_request.go, resourceSpotInstanceRequestRead via findSpotInstanceRequestByID),
// so the runner would drop out of the state while it runs on. A fixed date, because
// valid_until forces a new request when it changes; preview warns a year before it.
const spotRequestValidUntil = "2035-12-31T23:59:59Z"

// launchReason says why this update launches a new instance for a runner whose instance the
// state holds, "" when the instance stays (updated in place or not at all). It follows the
// inputs this program varies and the provider's rules for them (replacementRules in
// replacement_test.go): on demand, ami, availability_zone, subnet_id and key_name force a new
// instance while instance_type and the profile update in place (ec2_instance.go), and a root
// size replaces it (ReplaceOnChanges here);
// a Spot request replaces on any argument (ec2_spot_instance_request.go) and on any root
// device change (ReplaceOnChanges here); a change of capacity is another resource type.
func launchReason(cfg Config, spec runnerSpec, held stateInstance, p placement) string {
	spot := cfg.Capacity == capacitySpot
	switch {
	case held.spot != spot:
		return "capacity " + cfg.Capacity
	case held.ami != "" && held.ami != spec.ami:
		return "AMI " + spec.ami
	case held.keyName != "" && held.keyName != keyPairName(cfg):
		return "key pair " + keyPairName(cfg)
	case !spot && held.zone != "" && held.zone != p.Zone:
		return "zone " + p.Zone
	case (spot || cfg.SubnetID != "") && held.subnetID != "" && p.SubnetID != "" && held.subnetID != p.SubnetID:
		return "subnet " + p.SubnetID
	case spot && held.instanceType != "" && held.instanceType != spec.instanceType:
		return "instance type " + spec.instanceType
	case held.rootSizeGiB != 0 && held.rootSizeGiB != cfg.RootVolumeSize:
		return fmt.Sprintf("root volume %d GiB", cfg.RootVolumeSize)
	case spot && held.profile == "":
		return "instance profile " + runnerRoleName(cfg)
	}
	return ""
}

// machineSettings are the launch settings both capacity types share.
type machineSettings struct {
	ami, instanceType, keyName pulumi.StringInput
	securityGroups             pulumi.StringArray
	zone, subnet               pulumi.StringInput
	profile                    pulumi.StringInput // the runners' instance profile name
	rootSizeGiB                pulumi.IntInput
	rootTags, tags             pulumi.StringMap
}

// newMachine launches the runner's instance, after the resources in opts' DependsOn.
func newMachine(ctx *pulumi.Context, cfg Config, spec runnerSpec, shared sharedResources, name string, opts []pulumi.ResourceOption) (machine, error) {
	s := machineSettings{
		ami:          pulumi.String(spec.ami),
		instanceType: pulumi.String(spec.instanceType),
		// The key pair's name as a plain value, not its output: replacing the key pair
		// (a new sshPublicKey) must not replace the instances, whose key_name forces new.
		keyName:        pulumi.String(keyPairName(cfg)),
		securityGroups: pulumi.StringArray{shared.securityGroup.ID()},
		zone:           pulumi.String(shared.placement.Zone),
		subnet:         pulumi.String(shared.placement.SubnetID),
		profile:        shared.identity.profile.Name,
		rootSizeGiB:    pulumi.Int(cfg.RootVolumeSize),
		rootTags:       runnerTags(ctx, spec, name+"-root", "nixos-system"),
		tags:           owned(cfg, runnerTags(ctx, spec, name, "")),
	}
	if cfg.Capacity == capacitySpot {
		return newSpotMachine(ctx, cfg, spec, s, name, opts)
	}
	args := &ec2.InstanceArgs{
		Ami: s.ami, InstanceType: s.instanceType, KeyName: s.keyName,
		VpcSecurityGroupIds: s.securityGroups, AvailabilityZone: s.zone,
		// In place, not forcing a new instance (ec2_instance.go: iam_instance_profile is not
		// ForceNew; resourceInstanceUpdate associates or replaces the profile).
		IamInstanceProfile: s.profile,
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType: pulumi.String("gp3"), VolumeSize: s.rootSizeGiB, Encrypted: pulumi.Bool(true),
			// Set by CreateTags after the launch, on a volume that has no tags yet
			// (ec2_instance.go, resourceInstanceCreate: blockDeviceTagsToCreate), so only the
			// tags that claim nothing, which the deploy role may set on any volume.
			DeleteOnTermination: pulumi.Bool(true), Tags: unclaimingTags(s.rootTags),
		},
		// IMDSv2 only: a token is required, so SSRF through the proxies cannot read credentials.
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{HttpEndpoint: pulumi.String("enabled"), HttpTokens: pulumi.String("required")},
		Tags:            s.tags,
	}
	// The subnet only where it was configured: subnet_id forces a new instance, and the
	// zone alone already places an on-demand instance (RunInstances Placement).
	if cfg.SubnetID != "" {
		args.SubnetId = s.subnet
	}
	// A bigger root replaces the instance, like a new AMI, rather than growing the root volume
	// in place (ModifyVolume): the root volume carries no tag of this stack that the deploy
	// role could be scoped to (unclaimingTags).
	instance, err := ec2.NewInstance(ctx, spec.name+"-runner", args, append(opts, pulumi.ReplaceOnChanges([]string{"rootBlockDevice.volumeSize"}))...)
	if err != nil {
		return machine{}, fmt.Errorf("instance %s: %w", name, err)
	}
	return machine{id: instance.ID().ToStringOutput(), privateIP: instance.PrivateIp, privateDNS: instance.PrivateDns}, nil
}

// newSpotMachine requests a persistent Spot instance that stops (not terminates) on
// interruption, so the volumes stay attached and EC2 starts it again when capacity returns.
// Why a Spot request and not an ec2.Instance with Spot market options: deleting such an
// instance leaves its persistent request open in the v5 provider up to at least 5.84
// (ec2_instance.go, resourceInstanceDelete, v5.5.0 line 2003: once ported to the AWS SDK v2
// the instance_lifecycle check compares with a typed constant and never matches:
// hashicorp/terraform-provider-aws#38142, fixed by #41206, whose release could not be
// confirmed for the version pulumi-aws 6.83.4 bundles), and EC2 then launches untracked
// replacements; the request's delete cancels it and terminates its instance
// (ec2_spot_instance_request.go, resourceSpotInstanceRequestDelete, v5.5.0 line 368). What
// the request's create and read do not do, this does:
//   - Zone: with interruption behaviour stop the create sends no Placement
//     (resourceSpotInstanceRequestCreate, v5.5.0 lines 198-201, #12680), so the request names
//     the zone's subnet, which it does send (LaunchSpecification.SubnetId, line 171).
//   - IMDSv2: RequestSpotInstances takes no metadata options (#25896), so preflight requires
//     an AMI registered with imdsSupport v2.0, whose instances require tokens.
//   - Expiry: a fixed validUntil (spotRequestValidUntil).
//   - Root size: the request's update changes only tags (resourceSpotInstanceRequestUpdate,
//     #24333), so any change to the root device replaces the request.
//   - Tags: they stay on the request (#38821), so ec2.Tag resources put the runner's tags and
//     the provider's default tags on the instance, and on its root volume only the tags that
//     claim nothing (spotRootTags): the deploy role may put those on a volume of no stack. The request names no
//     root device tags but one stable volume tag: with volume_tags set, its read leaves the
//     root device's tags unread (readInstance; ec2_instance.go readBlockDevicesFromInstance,
//     v5.5.0 line 2246), so the tags that
//     ec2.Tag adds after the create never show as a difference, and a preview after up (or
//     after a refresh) plans nothing. volume_tags is not sent at create either.
func newSpotMachine(ctx *pulumi.Context, cfg Config, spec runnerSpec, s machineSettings, name string, opts []pulumi.ResourceOption) (machine, error) {
	instanceTags, rootTags := withDefaultTags(cfg, s.tags), spotRootTags(cfg, s.rootTags)
	request, err := ec2.NewSpotInstanceRequest(ctx, spec.name+"-runner", &ec2.SpotInstanceRequestArgs{
		Ami: s.ami, InstanceType: s.instanceType, KeyName: s.keyName,
		VpcSecurityGroupIds: s.securityGroups, SubnetId: s.subnet,
		IamInstanceProfile: s.profile,
		RootBlockDevice: &ec2.SpotInstanceRequestRootBlockDeviceArgs{
			VolumeType: pulumi.String("gp3"), VolumeSize: s.rootSizeGiB, Encrypted: pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true),
		},
		VolumeTags:                   pulumi.StringMap{"Role": pulumi.String(runnerRole)},
		SpotType:                     pulumi.String("persistent"),
		InstanceInterruptionBehavior: pulumi.String("stop"),
		ValidUntil:                   pulumi.String(spotRequestValidUntil),
		WaitForFulfillment:           pulumi.Bool(true),
		// Not the state id: no data source lists Spot requests, and a change to the request's
		// tags leaves its root volume id unknown in a preview, so every root ec2.Tag would
		// show as replaced. Its instance carries the id through ec2.Tag.
		Tags: withoutStateID(s.tags),
		// Every change to the root device is one the request cannot make.
	}, append(opts, pulumi.ReplaceOnChanges([]string{"rootBlockDevice"}))...)
	if err != nil {
		return machine{}, fmt.Errorf("spot request %s: %w", name, err)
	}
	targets := []struct {
		logical string
		id      pulumi.StringOutput
		tags    pulumi.StringMap
		opts    []pulumi.ResourceOption
	}{
		{spec.name + "-runner-tag-", request.SpotInstanceId, instanceTags, nil},
		// Left on the volume when the tag goes: the volume goes with its instance
		// (DeleteOnTermination), and the deploy role may not take tags off a volume that
		// carries none of this stack's (iam/deploy-ec2-change-policy.json).
		{spec.name + "-root-tag-", request.RootBlockDevice.VolumeId().Elem(), rootTags, []pulumi.ResourceOption{pulumi.RetainOnDelete(true)}},
	}
	for _, target := range targets {
		for _, key := range slices.Sorted(maps.Keys(target.tags)) {
			if _, err := ec2.NewTag(ctx, target.logical+key, &ec2.TagArgs{
				ResourceId: target.id, Key: pulumi.String(key), Value: target.tags[key],
			}, target.opts...); err != nil {
				return machine{}, fmt.Errorf("tag %s of %s: %w", key, name, err)
			}
		}
	}
	return machine{id: request.SpotInstanceId, privateIP: request.PrivateIp, privateDNS: request.PrivateDns}, nil
}
