package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// launchFacts are what EC2 says about what the runners launch from: each architecture's
// instance type and AMI, and, for an AMI that is gone, the runners of the state still on it.
type launchFacts struct {
	types      map[string]typeFacts // by architecture kind
	vcpus      map[string]int       // by instance type, configured or the state's: default vCPUs, 0 when unknown
	amis       map[string]amiFacts  // by architecture kind
	amiRunners map[string][]string  // by architecture kind: the state's instances still on an AMI that is gone
}

type typeFacts struct {
	info *ec2.GetInstanceTypeResult
	err  error
}

type amiFacts struct {
	ami *ec2.LookupAmiResult
	err error
}

// findLaunchFacts looks up every configured instance type and AMI, and the instance types
// the state's runners run, for their vCPUs.
func findLaunchFacts(ctx *pulumi.Context, l *lookups, cfg Config, state stackState) *launchFacts {
	f := &launchFacts{types: map[string]typeFacts{}, vcpus: map[string]int{}, amis: map[string]amiFacts{}, amiRunners: map[string][]string{}}
	configured := instanceTypes(cfg)
	for _, a := range architectures(cfg) {
		l.start(func() {
			info, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: a.instanceType})
			l.locked(func() {
				if f.types[a.kind] = (typeFacts{info, err}); err == nil {
					f.vcpus[a.instanceType] = info.DefaultVcpus
				}
			})
		})
		l.start(func() {
			ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
				Filters:           []ec2.GetAmiFilter{{Name: "image-id", Values: []string{a.ami}}},
				IncludeDeprecated: pulumi.BoolRef(true),
			})
			l.locked(func() { f.amis[a.kind] = amiFacts{ami, err} })
		})
	}
	var held []string
	for _, name := range state.names() {
		if typ := state.runners[name].instance.instanceType; typ != "" && !slices.Contains(configured, typ) && !slices.Contains(held, typ) {
			held = append(held, typ)
		}
	}
	for _, typ := range held {
		l.start(func() {
			if info, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: typ}); err == nil {
				l.locked(func() { f.vcpus[typ] = info.DefaultVcpus })
			}
		})
	}
	return f
}

// findRunnersOnGoneAMIs looks up, for an AMI EC2 cannot find, the state's instances that
// still run it.
func (f *launchFacts) findRunnersOnGoneAMIs(ctx *pulumi.Context, l *lookups, cfg Config, state stackState) {
	instanceIDs := state.instanceIDs()
	for _, a := range architectures(cfg) {
		if f.amis[a.kind].err == nil || len(instanceIDs) == 0 {
			continue
		}
		l.start(func() {
			found, err := ec2.GetInstances(ctx, &ec2.GetInstancesArgs{
				InstanceStateNames: notTerminated,
				Filters:            []ec2.GetInstancesFilter{{Name: "instance-id", Values: instanceIDs}, {Name: "image-id", Values: []string{a.ami}}},
			})
			if err == nil && len(found.Ids) > 0 {
				l.locked(func() { f.amiRunners[a.kind] = found.Ids })
			}
		})
	}
}

// checkInstanceType checks that the runner's instance type exists, runs its
// architecture and is offered in the zone. When it is not, the fix is a zone that offers
// every type (for a stack whose zone holds no caches yet), or another type.
func checkInstanceType(cfg Config, a architecture, p placement, f *launchFacts, z *zoneFacts, live *liveFleet) []error {
	typ := f.types[a.kind]
	typeFix := placeholderFix(a.instanceTypeKey, fmt.Sprintf("<%s instance type>", a.arch))
	if err := denied(fmt.Sprintf("reading n3x:%s (%s)", a.instanceTypeKey, a.instanceType), "ec2:DescribeInstanceTypes", typ.err); err != nil {
		return []error{err}
	}
	if typ.err != nil {
		return []error{configError{a.instanceTypeKey, fmt.Sprintf("is %s, which EC2 does not know in this region (%v)", a.instanceType, typ.err), typeFix}}
	}
	if !slices.Contains(typ.info.SupportedArchitectures, a.arch) {
		return []error{configError{a.instanceTypeKey, fmt.Sprintf("is %s, which runs %s, but the %s runners' AMI is %s",
			a.instanceType, strings.Join(typ.info.SupportedArchitectures, "/"), a.kind, a.arch), typeFix}}
	}
	offered := z.offerings.Offered[a.instanceType]
	if p.Zone == "" || slices.Contains(offered, p.Zone) {
		return nil
	}
	where := "no zone of this region offers it"
	if len(offered) > 0 {
		where = "zones that do: " + strings.Join(offered, ", ")
	}
	everyType := z.offerings.zonesOfferingAll(instanceTypes(cfg))
	if len(live.volumes) == 0 && cfg.SubnetID == "" && len(everyType) > 0 {
		// Nothing lives in the zone yet: move it, not the type.
		return []error{configError{keyAvailabilityZone, fmt.Sprintf("is %s, which does not offer %s (n3x:%s; %s); zones that offer every configured type: %s",
			p.Zone, a.instanceType, a.instanceTypeKey, where, strings.Join(everyType, ", ")), setFix(keyAvailabilityZone, everyType[0])}}
	}
	return []error{configError{a.instanceTypeKey, fmt.Sprintf("is %s, which is not offered in %s, the zone of this stack's runners and caches (%s); "+
		"pick a type offered there, or move the fleet (and empty its caches) with n3x:availabilityZone or n3x:subnetId", a.instanceType, p.Zone, where), typeFix}}
}

// checkAMI checks that the runner's AMI can launch here: it exists and is available, is
// built for the runner's architecture with an EBS root and the ENA driver its instance
// type needs, fits on the configured root volume and, for Spot, requires IMDSv2 itself.
// An AMI that has gone (deregistered) while a runner of this stack still runs it only
// warns: nothing needs it until that runner is replaced.
func checkAMI(cfg Config, a architecture, f *launchFacts) ([]error, []string) {
	fix := placeholderFix(a.amiKey, "<your-ami-id>")
	found := f.amis[a.kind]
	if err := denied(fmt.Sprintf("reading n3x:%s (%s)", a.amiKey, a.ami), "ec2:DescribeImages", found.err); err != nil {
		return []error{err}, nil
	}
	if found.err != nil {
		if running := f.amiRunners[a.kind]; len(running) > 0 {
			return nil, []string{fmt.Sprintf("n3x:%s is %s, which this account can no longer find (deregistered?), but %s still runs it; "+
				"it keeps running, but anything that replaces it will fail until you register a current AMI: %s",
				a.amiKey, a.ami, strings.Join(running, ", "), fix)}
		}
		return []error{configError{a.amiKey, fmt.Sprintf("is %s, which this account cannot find in this region (%v); AMIs are regional, so register or copy it here",
			a.ami, found.err), fix}}, nil
	}
	ami := found.ami
	problem := func(format string, args ...any) error {
		return configError{a.amiKey, fmt.Sprintf("is %s, ", a.ami) + fmt.Sprintf(format, args...), fix}
	}
	var problems []error
	if ami.State != "available" {
		problems = append(problems, problem("which is %s, not available (a fresh import takes minutes; wait with: aws ec2 wait image-available --image-ids %s)", ami.State, a.ami))
	}
	if ami.Architecture != a.arch {
		problems = append(problems, problem("an %s AMI, but the %s runners need an %s AMI", ami.Architecture, a.kind, a.arch))
	}
	if ami.RootDeviceType != "ebs" {
		problems = append(problems, problem("whose root device is %s; the runners need an EBS-backed AMI", ami.RootDeviceType))
	}
	if !ami.EnaSupport && enaRequired(f.types[a.kind].info) {
		problems = append(problems, problem("which has no ENA support, and %s launches only from AMIs with the ENA driver; register it with --ena-support", a.instanceType))
	}
	// RequestSpotInstances has no metadata options (EC2 API reference,
	// RequestSpotLaunchSpecification), so a Spot runner requires IMDSv2 only when its AMI does.
	if cfg.Capacity == capacitySpot && ami.ImdsSupport != "v2.0" {
		problems = append(problems, problem("which does not require IMDSv2 (imdsSupport %q), and a Spot runner gets its metadata options only from its AMI; "+
			"mark the AMI (aws ec2 modify-image-attribute --image-id %s --imds-support v2.0, which cannot be undone) or register it with --imds-support v2.0",
			ami.ImdsSupport, a.ami))
	}
	if size := rootSnapshotSize(ami); cfg.RootVolumeSize < size {
		problems = append(problems, configError{keyRootVolumeSize, fmt.Sprintf("is %d GiB, smaller than the %d GiB root snapshot of %s (n3x:%s)",
			cfg.RootVolumeSize, size, a.ami, a.amiKey), setFix(keyRootVolumeSize, strconv.Itoa(size))})
	}
	var warnings []string
	if deprecated, err := time.Parse(time.RFC3339, ami.DeprecationTime); err == nil && deprecated.Before(time.Now()) {
		warnings = append(warnings, fmt.Sprintf("n3x:%s is %s, deprecated since %s; it still launches for its owner, but register a current AMI: %s",
			a.amiKey, a.ami, ami.DeprecationTime, fix))
	}
	return problems, warnings
}

// enaRequired says whether the instance type launches only from ENA AMIs: every Nitro
// type does. An unknown type (already reported) or an unreported answer counts as yes.
func enaRequired(instanceType *ec2.GetInstanceTypeResult) bool {
	return instanceType == nil || (instanceType.EnaSupport != "supported" && instanceType.EnaSupport != "unsupported")
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
