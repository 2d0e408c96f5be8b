package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// preflight checks the configuration against the account and region, through the
// provider's data sources, before any resource is registered: a wrong AMI or instance
// type fails `pulumi preview` instead of half-way through `pulumi up`. It returns where
// the runners go and the warnings to print.
func preflight(ctx *pulumi.Context, cfg Config) (placement, []string, error) {
	offers, err := lookupZoneOfferings(ctx, instanceTypes(cfg))
	if err != nil {
		return placement{}, nil, err
	}
	var found problems
	p, err := resolvePlacement(ctx, cfg, offers)
	if err != nil {
		found = append(found, err) // p.Zone is empty: the offering checks below skip it
	}
	for _, spec := range runnerSpecs(cfg) {
		found = append(found, checkAMI(ctx, cfg, spec)...)
		found = append(found, checkInstanceType(ctx, spec, p.Zone, offers)...)
	}
	if len(found) > 0 {
		return placement{}, nil, fmt.Errorf("the configuration does not fit this AWS account and region (%s):%w", found.count(), found)
	}
	return p, preflightWarnings(cfg, p), nil
}

// checkAMI checks that the runner's AMI exists here, is built for its architecture and
// fits on the configured root volume.
func checkAMI(ctx *pulumi.Context, cfg Config, spec runnerSpec) []error {
	ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Filters:           []ec2.GetAmiFilter{{Name: "image-id", Values: []string{spec.ami}}},
		IncludeDeprecated: pulumi.BoolRef(true),
	})
	if err != nil {
		return []error{configError{spec.amiKey, fmt.Sprintf("is %s, which this account cannot find in this region (%v); AMIs are regional, so register or copy it here",
			spec.ami, err), configExamples[spec.amiKey]}}
	}
	var found []error
	if ami.Architecture != spec.arch {
		found = append(found, configError{spec.amiKey, fmt.Sprintf("is %s, an %s AMI, but the %s runner needs an %s AMI",
			spec.ami, ami.Architecture, spec.name, spec.arch), configExamples[spec.amiKey]})
	}
	if size := rootSnapshotSize(ami); cfg.RootVolumeSize < size {
		found = append(found, configError{keyRootVolumeSize, fmt.Sprintf("is %d GiB, smaller than the %d GiB root snapshot of %s (n3x:%s)",
			cfg.RootVolumeSize, size, spec.ami, spec.amiKey), strconv.Itoa(size)})
	}
	return found
}

// rootSnapshotSize is the size in GiB of the AMI's root device snapshot, 0 if unknown.
func rootSnapshotSize(ami *ec2.LookupAmiResult) int {
	for _, mapping := range ami.BlockDeviceMappings {
		if mapping.DeviceName == ami.RootDeviceName {
			size, _ := strconv.Atoi(mapping.Ebs["volume_size"])
			return size
		}
	}
	return 0
}

// checkInstanceType checks that the runner's instance type exists, runs its
// architecture and is offered in the zone (when the zone is known).
func checkInstanceType(ctx *pulumi.Context, spec runnerSpec, zone string, offers zoneOfferings) []error {
	info, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: spec.instanceType})
	if err != nil {
		return []error{configError{spec.instanceTypeKey, fmt.Sprintf("is %s, which EC2 does not know in this region (%v)",
			spec.instanceType, err), configDefaults[spec.instanceTypeKey]}}
	}
	if !slices.Contains(info.SupportedArchitectures, spec.arch) {
		return []error{configError{spec.instanceTypeKey, fmt.Sprintf("is %s, which runs %s, but the %s runner's AMI is %s",
			spec.instanceType, strings.Join(info.SupportedArchitectures, "/"), spec.name, spec.arch), configDefaults[spec.instanceTypeKey]}}
	}
	if zone == "" || slices.Contains(offers.Offered[spec.instanceType], zone) {
		return nil
	}
	where := "no zone of this region offers it"
	if zones := offers.Offered[spec.instanceType]; len(zones) > 0 {
		where = "zones that do: " + strings.Join(zones, ", ")
	}
	return []error{configError{spec.instanceTypeKey, fmt.Sprintf("is %s, which is not offered in %s (%s); pick another type, or another zone with n3x:availabilityZone or n3x:subnetId",
		spec.instanceType, zone, where), configDefaults[spec.instanceTypeKey]}}
}

// preflightWarnings are the risks the deployment accepts, each naming the key to change.
func preflightWarnings(cfg Config, p placement) []string {
	var warnings []string
	for _, cidr := range cfg.SSHCidrBlocks {
		if cidr.Bits() == 0 {
			warnings = append(warnings, fmt.Sprintf("n3x:%s includes %s: SSH (22) is open to the whole internet (Security Hub EC2.13, EC2.19) "+
				"and apt-cacher-ng (3142) is an open proxy (EC2.18); restrict it: pulumi config set n3x:%s %s",
				keySSHCidrBlocks, cidr, keySSHCidrBlocks, configExamples[keySSHCidrBlocks]))
		}
	}
	if p.ZoneChosen {
		warnings = append(warnings, fmt.Sprintf("n3x:%s is not set, so the runners and their volumes go to %s, the first zone offering %s; "+
			"if AWS offerings change the choice could move and replace the volumes, so pin it: pulumi config set n3x:%s %s",
			keyAvailabilityZone, p.Zone, strings.Join(instanceTypes(cfg), " and "), keyAvailabilityZone, p.Zone))
	}
	return warnings
}
