package main

import (
	"fmt"

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

// machineSettings are the launch settings both capacity types share.
type machineSettings struct {
	ami, instanceType, keyName pulumi.StringInput
	securityGroups             pulumi.StringArray
	zone                       pulumi.StringInput
	subnet                     pulumi.StringPtrInput
	rootSizeGiB                pulumi.IntInput
	rootTags, tags             pulumi.StringMap
}

// newMachine launches the runner's instance. On demand it is an ec2.Instance. Spot uses a
// persistent ec2.SpotInstanceRequest that stops the instance on interruption, so the volumes
// stay attached and EC2 starts it again when capacity returns. Not an ec2.Instance with
// Spot market options: deleting one of those (an AMI upgrade, a removal, a destroy) leaves its
// persistent request open, and EC2 launches an untracked replacement
// (hashicorp/terraform-provider-aws#38142); deleting a Spot request cancels it and
// terminates its instance.
func newMachine(ctx *pulumi.Context, cfg Config, spec runnerSpec, shared sharedResources, name string, after []pulumi.Resource) (machine, error) {
	s := machineSettings{
		ami:          pulumi.String(spec.ami),
		instanceType: pulumi.String(spec.instanceType),
		// The key pair's name as a plain value, not its output: replacing the key pair
		// (a new sshPublicKey) must not replace the instances, whose key_name forces new.
		keyName:        pulumi.String(keyPairName(cfg)),
		securityGroups: pulumi.StringArray{shared.securityGroup.ID()},
		zone:           pulumi.String(shared.placement.Zone),
		rootSizeGiB:    pulumi.Int(cfg.RootVolumeSize),
		rootTags:       runnerTags(ctx, spec, name+"-root", "nixos-system"),
		tags:           runnerTags(ctx, spec, name, ""),
	}
	if shared.placement.SubnetID != "" {
		s.subnet = pulumi.String(shared.placement.SubnetID)
	}
	opts := []pulumi.ResourceOption{pulumi.DependsOn(append([]pulumi.Resource{shared.keyPair}, after...))}
	if cfg.Capacity == capacitySpot {
		return newSpotMachine(ctx, spec, s, name, opts)
	}
	instance, err := ec2.NewInstance(ctx, spec.name+"-runner", &ec2.InstanceArgs{
		Ami: s.ami, InstanceType: s.instanceType, KeyName: s.keyName,
		VpcSecurityGroupIds: s.securityGroups, AvailabilityZone: s.zone, SubnetId: s.subnet,
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType: pulumi.String("gp3"), VolumeSize: s.rootSizeGiB, Encrypted: pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true), Tags: s.rootTags,
		},
		// IMDSv2 only: a token is required, so SSRF through the proxies cannot read credentials.
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{HttpEndpoint: pulumi.String("enabled"), HttpTokens: pulumi.String("required")},
		Tags:            s.tags,
	}, opts...)
	if err != nil {
		return machine{}, fmt.Errorf("instance %s: %w", name, err)
	}
	return machine{id: instance.ID().ToStringOutput(), privateIP: instance.PrivateIp, privateDNS: instance.PrivateDns}, nil
}

// newSpotMachine requests a persistent Spot instance and waits for it, so its id is in the
// state (deleting a request without one would leave the instance running). Its tags stay on
// the request, so the instance gets its own.
func newSpotMachine(ctx *pulumi.Context, spec runnerSpec, s machineSettings, name string, opts []pulumi.ResourceOption) (machine, error) {
	request, err := ec2.NewSpotInstanceRequest(ctx, spec.name+"-runner", &ec2.SpotInstanceRequestArgs{
		Ami: s.ami, InstanceType: s.instanceType, KeyName: s.keyName,
		VpcSecurityGroupIds: s.securityGroups, AvailabilityZone: s.zone, SubnetId: s.subnet,
		RootBlockDevice: &ec2.SpotInstanceRequestRootBlockDeviceArgs{
			VolumeType: pulumi.String("gp3"), VolumeSize: s.rootSizeGiB, Encrypted: pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true), Tags: s.rootTags,
		},
		MetadataOptions:              &ec2.SpotInstanceRequestMetadataOptionsArgs{HttpEndpoint: pulumi.String("enabled"), HttpTokens: pulumi.String("required")},
		SpotType:                     pulumi.String("persistent"),
		InstanceInterruptionBehavior: pulumi.String("stop"),
		WaitForFulfillment:           pulumi.Bool(true),
		Tags:                         s.tags,
	}, opts...)
	if err != nil {
		return machine{}, fmt.Errorf("spot request %s: %w", name, err)
	}
	for key, value := range s.tags {
		if _, err := ec2.NewTag(ctx, spec.name+"-runner-tag-"+key, &ec2.TagArgs{
			ResourceId: request.SpotInstanceId, Key: pulumi.String(key), Value: value,
		}); err != nil {
			return machine{}, fmt.Errorf("tag %s of %s: %w", key, name, err)
		}
	}
	return machine{id: request.SpotInstanceId, privateIP: request.PrivateIp, privateDNS: request.PrivateDns}, nil
}
