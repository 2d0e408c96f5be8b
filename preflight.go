package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// preflight checks the configuration against the account and region, through the
// provider's data sources, before any resource is registered: a wrong AMI or instance
// type fails `pulumi preview` instead of half-way through `pulumi up`. It returns where
// the runners go and the warnings to print.
func preflight(ctx *pulumi.Context, cfg Config) (placement, []string, error) {
	offers, err := lookupZoneOfferings(ctx, slices.Compact([]string{cfg.InstanceTypeX86, cfg.InstanceTypeGraviton}))
	if err != nil {
		return placement{}, nil, err
	}
	volumes, err := lookupStackVolumes(ctx, cfg)
	if err != nil {
		return placement{}, nil, err
	}
	var found problems
	p, err := resolvePlacement(ctx, cfg, offers, volumes)
	if err != nil {
		found = append(found, err) // p.Zone is empty: the offering checks below skip it
	}
	warnings := preflightWarnings(cfg, p, volumes)
	vcpus := map[string]int{} // by instance type, for the quotas
	for _, a := range architectures(cfg) {
		info, typeProblems := checkInstanceType(ctx, a, p.Zone, offers)
		amiProblems, amiWarnings := checkAMI(ctx, cfg, a, info)
		found = append(slices.Concat(found, typeProblems), amiProblems...)
		warnings = append(warnings, amiWarnings...)
		if info != nil {
			vcpus[a.instanceType] = info.DefaultVcpus
		}
	}
	quotaProblems, quotaWarnings := checkQuotas(ctx, cfg, vcpus)
	found, warnings = append(found, quotaProblems...), append(warnings, quotaWarnings...)
	if len(found) > 0 {
		return placement{}, nil, fmt.Errorf("the configuration does not fit this AWS account and region (%s):%w", found.count(), found)
	}
	return p, warnings, nil
}

// checkAMI checks that the runner's AMI can launch here: it exists and is available, is
// built for the runner's architecture with an EBS root and the ENA driver its instance
// type needs, and fits on the configured root volume. An AMI that has gone (deregistered)
// or is deprecated while a runner of this stack still runs it only warns: nothing needs
// it until that runner is replaced, and it must not block an unrelated urgent change.
func checkAMI(ctx *pulumi.Context, cfg Config, spec architecture, instanceType *ec2.GetInstanceTypeResult) ([]error, []string) {
	ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Filters:           []ec2.GetAmiFilter{{Name: "image-id", Values: []string{spec.ami}}},
		IncludeDeprecated: pulumi.BoolRef(true),
	})
	if err != nil {
		if running := runnersOfAMI(ctx, spec.ami); len(running) > 0 {
			return nil, []string{fmt.Sprintf("n3x:%s is %s, which this account can no longer find (deregistered?), but %s still runs it; "+
				"it keeps running, but anything that replaces it will fail until you register a current AMI: pulumi config set n3x:%s %s",
				spec.amiKey, spec.ami, strings.Join(running, ", "), spec.amiKey, configExamples[spec.amiKey])}
		}
		return []error{configError{spec.amiKey, fmt.Sprintf("is %s, which this account cannot find in this region (%v); AMIs are regional, so register or copy it here",
			spec.ami, err), configExamples[spec.amiKey]}}, nil
	}
	problem := func(format string, args ...any) error {
		return configError{spec.amiKey, fmt.Sprintf("is %s, ", spec.ami) + fmt.Sprintf(format, args...), configExamples[spec.amiKey]}
	}
	var found []error
	if ami.State != "available" {
		found = append(found, problem("which is %s, not available (a fresh import takes minutes; wait with: aws ec2 wait image-available --image-ids %s)", ami.State, spec.ami))
	}
	if ami.Architecture != spec.arch {
		found = append(found, problem("an %s AMI, but the %s runner needs an %s AMI", ami.Architecture, spec.kind, spec.arch))
	}
	if ami.RootDeviceType != "ebs" {
		found = append(found, problem("whose root device is %s; the runners need an EBS-backed AMI", ami.RootDeviceType))
	}
	if !ami.EnaSupport && enaRequired(instanceType) {
		found = append(found, problem("which has no ENA support, and %s launches only from AMIs with the ENA driver; register it with --ena-support", spec.instanceType))
	}
	if size := rootSnapshotSize(ami); cfg.RootVolumeSize < size {
		found = append(found, configError{keyRootVolumeSize, fmt.Sprintf("is %d GiB, smaller than the %d GiB root snapshot of %s (n3x:%s)",
			cfg.RootVolumeSize, size, spec.ami, spec.amiKey), strconv.Itoa(size)})
	}
	var warnings []string
	if deprecated, err := time.Parse(time.RFC3339, ami.DeprecationTime); err == nil && deprecated.Before(time.Now()) {
		warnings = append(warnings, fmt.Sprintf("n3x:%s is %s, deprecated since %s; it still launches for its owner, but register a current AMI: pulumi config set n3x:%s %s",
			spec.amiKey, spec.ami, ami.DeprecationTime, spec.amiKey, configExamples[spec.amiKey]))
	}
	return found, warnings
}

// enaRequired says whether the instance type launches only from ENA AMIs: every Nitro
// type does. An unknown type (already reported) or an unreported answer counts as yes.
func enaRequired(instanceType *ec2.GetInstanceTypeResult) bool {
	return instanceType == nil || (instanceType.EnaSupport != "supported" && instanceType.EnaSupport != "unsupported")
}

// runnersOfAMI lists this stack's runner instances (running or stopped) launched from the AMI.
func runnersOfAMI(ctx *pulumi.Context, ami string) []string {
	found, err := ec2.GetInstances(ctx, &ec2.GetInstancesArgs{
		InstanceTags:       map[string]string{"Project": ctx.Project(), "Stack": ctx.Stack(), "Role": runnerRole},
		InstanceStateNames: []string{"pending", "running", "stopping", "stopped"},
		Filters:            []ec2.GetInstancesFilter{{Name: "image-id", Values: []string{ami}}},
	})
	if err != nil {
		return nil
	}
	return found.Ids
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
// architecture and is offered in the zone (when the zone is known). It returns what EC2
// says of the type, nil when it does not know it.
func checkInstanceType(ctx *pulumi.Context, spec architecture, zone string, offers zoneOfferings) (*ec2.GetInstanceTypeResult, []error) {
	info, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: spec.instanceType})
	if err != nil {
		return nil, []error{configError{spec.instanceTypeKey, fmt.Sprintf("is %s, which EC2 does not know in this region (%v)",
			spec.instanceType, err), configDefaults[spec.instanceTypeKey]}}
	}
	if !slices.Contains(info.SupportedArchitectures, spec.arch) {
		return info, []error{configError{spec.instanceTypeKey, fmt.Sprintf("is %s, which runs %s, but the %s runner's AMI is %s",
			spec.instanceType, strings.Join(info.SupportedArchitectures, "/"), spec.kind, spec.arch), configDefaults[spec.instanceTypeKey]}}
	}
	if zone == "" || slices.Contains(offers.Offered[spec.instanceType], zone) {
		return info, nil
	}
	where := "no zone of this region offers it"
	if zones := offers.Offered[spec.instanceType]; len(zones) > 0 {
		where = "zones that do: " + strings.Join(zones, ", ")
	}
	return info, []error{configError{spec.instanceTypeKey, fmt.Sprintf("is %s, which is not offered in %s, the zone of this stack's runners and caches (%s); "+
		"pick another type, or move the fleet (and empty its caches) with n3x:availabilityZone or n3x:subnetId",
		spec.instanceType, zone, where), configDefaults[spec.instanceTypeKey]}}
}

// preflightWarnings are the risks the deployment accepts, each naming the key to change.
func preflightWarnings(cfg Config, p placement, volumes []stackVolume) []string {
	var warnings []string
	for _, family := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		if coversAll(cfg.SSHCidrBlocks, family) {
			warnings = append(warnings, fmt.Sprintf("n3x:%s opens all of %s: SSH (22) is open to the whole internet (Security Hub EC2.13, EC2.19), "+
				"Harmonia behind Caddy (443) serves the whole /nix/store, build outputs included, to anyone, "+
				"and apt-cacher-ng (3142) is an open proxy (EC2.18); restrict it: pulumi config set n3x:%s %s",
				keySSHCidrBlocks, family, keySSHCidrBlocks, configExamples[keySSHCidrBlocks]))
		}
	}
	if p.ZoneChosen {
		warnings = append(warnings, fmt.Sprintf("n3x:%s is not set, so this new stack goes to %s, chosen by the instance types it offers; "+
			"later runs keep the zone of its data volumes, but pin it to make that explicit: pulumi config set n3x:%s %s",
			keyAvailabilityZone, p.Zone, keyAvailabilityZone, p.Zone))
	}
	if gaps := cfg.WorkingHours.gaps(time.Now()); len(gaps) > 0 {
		warnings = append(warnings, fmt.Sprintf("n3x:%s starts or stops at a time that %s skips when daylight saving time begins (%s): "+
			"that day the schedule cannot fire at that local time; move it out of the skipped hour",
			keyWorkingHours, cfg.WorkingHours.Zone, strings.Join(gaps, ", ")))
	}
	var moving []string
	for _, v := range volumes {
		if p.Zone != "" && v.Zone != p.Zone {
			moving = append(moving, fmt.Sprintf("%s (%s, in %s)", v.ID, v.Name, v.Zone))
		}
	}
	var removed []string
	configured := dataVolumeNames(cfg)
	for _, v := range volumes {
		if !slices.Contains(configured, v.Name) {
			removed = append(removed, fmt.Sprintf("%s (%s)", v.ID, v.Name))
		}
	}
	if len(removed) > 0 {
		warnings = append(warnings, fmt.Sprintf("the data volumes %s belong to no configured runner (n3x:%s, n3x:%s, n3x:%s): "+
			"pulumi up deletes them with their caches (protected volumes make it fail instead)",
			strings.Join(removed, ", "), keyX86Count, keyGravitonCount, keyAmiArm64))
	}
	if len(moving) > 0 {
		key := keyAvailabilityZone
		if cfg.SubnetID != "" {
			key = keySubnetID
		}
		warnings = append(warnings, fmt.Sprintf("n3x:%s moves the runners to %s: pulumi up replaces the data volumes %s with new, empty ones there "+
			"and deletes the old ones with their caches (protected volumes make it fail instead); to keep them: pulumi config set n3x:%s %s",
			key, p.Zone, strings.Join(moving, ", "), keyAvailabilityZone, volumes[0].Zone))
	}
	return warnings
}

// coversAll says whether the prefixes together cover all of space, such as 0.0.0.0/0
// written as 0.0.0.0/1 and 128.0.0.0/1.
func coversAll(prefixes []netip.Prefix, space netip.Prefix) bool {
	overlapping := false
	for _, p := range prefixes {
		if p.Bits() <= space.Bits() && p.Contains(space.Addr()) {
			return true
		}
		overlapping = overlapping || space.Contains(p.Addr())
	}
	if !overlapping || space.Bits() == space.Addr().BitLen() {
		return false
	}
	low, high := halves(space)
	return coversAll(prefixes, low) && coversAll(prefixes, high)
}

// halves splits a prefix into its two subnets one bit longer.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	low := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	high := low.Addr().AsSlice()
	high[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	highAddr, _ := netip.AddrFromSlice(high)
	return low, netip.PrefixFrom(highAddr, p.Bits()+1)
}
