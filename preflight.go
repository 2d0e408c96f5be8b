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

// preflightResult is what preflight decided: where the runners go, what each new data
// volume starts from, what the account said, and the warnings to print.
type preflightResult struct {
	placement placement
	sources   map[string]volumeSource // by runner name and role: "x86/cache"
	facts     *accountFacts
	warnings  []string
}

// preflight checks the configuration against the account and region, through the
// provider's data sources, before any resource is registered: a wrong AMI or instance
// type fails `pulumi preview` instead of half-way through `pulumi up`.
func preflight(ctx *pulumi.Context, cfg Config, prev previousDeployment) (preflightResult, error) {
	f := lookUpRound1(ctx, cfg, prev)
	p, found := choosePlacement(cfg, prev, f)
	lookUpRound2(ctx, cfg, prev, p, f)
	var warnings []string
	for _, lookupErr := range []error{f.accountErr, f.volumesErr, f.instancesErr, f.snapshotsErr, f.subnetsErr, f.routesErr} {
		if lookupErr != nil {
			found = append(found, lookupErr)
		}
	}
	if p.Zone != "" {
		found = append(found, checkSubnet(cfg, &p, f)...)
	}
	for _, a := range architectures(cfg) {
		found = append(found, checkInstanceType(cfg, a, p, f)...)
		amiProblems, amiWarnings := checkAMI(cfg, a, f)
		found, warnings = append(found, amiProblems...), append(warnings, amiWarnings...)
	}
	quotaProblems, quotaWarnings := checkQuotas(cfg, f)
	found, warnings = append(found, quotaProblems...), append(warnings, quotaWarnings...)
	var sources map[string]volumeSource
	if p.Zone != "" { // without a zone (already reported) every volume would look like moving
		var sourceProblems []error
		sources, sourceProblems = volumeSources(cfg, prev, p, f)
		found = append(found, sourceProblems...)
		found = append(found, checkProtectedVolumes(cfg, prev, p)...)
	}
	if len(found) > 0 {
		return preflightResult{}, configProblems(found)
	}
	warnings = slices.Concat(configWarnings(cfg, p), removalWarnings(cfg, prev), warnings, driftWarnings(cfg, prev, f), movingWarning(cfg, prev, p, f))
	return preflightResult{placement: p, sources: sources, facts: f, warnings: warnings}, nil
}

// checkSubnet fills in the subnet the runners launch into and checks it can reach the
// internet: the zone's default subnet, or n3x:subnetId, whose route table needs a 0.0.0.0/0
// route to an internet gateway for the Elastic IPs and the runners' downloads.
func checkSubnet(cfg Config, p *placement, f *accountFacts) []error {
	if cfg.SubnetID == "" {
		if f.defaultSubnet == "" && f.subnetsErr == nil {
			return []error{configError{keyAvailabilityZone, fmt.Sprintf("places the runners in %s, where the default VPC %s has no default subnet; "+
				"create it (aws ec2 create-default-subnet --availability-zone %s) or pin a zone that has one", p.Zone, p.VpcID, p.Zone), placeholderFix(keyAvailabilityZone, "<zone with a default subnet>")}}
		}
		p.SubnetID = f.defaultSubnet
		return nil
	}
	if f.routesErr != nil || slices.ContainsFunc(f.routes, func(r ec2.GetRouteTableRoute) bool {
		return r.CidrBlock == "0.0.0.0/0" && strings.HasPrefix(r.GatewayId, "igw-")
	}) {
		return nil
	}
	return []error{configError{keySubnetID, fmt.Sprintf("is %s, whose route table %s has no 0.0.0.0/0 route to an internet gateway; "+
		"the Elastic IPs and the runners' downloads need one: name a public subnet, or add the route to an internet gateway", cfg.SubnetID, f.routeTableID),
		placeholderFix(keySubnetID, "<public-subnet-id>")}}
}

// checkInstanceType checks that the runner's instance type exists, runs its
// architecture and is offered in the zone. When it is not, the fix is a zone that offers
// every type (for a stack whose zone holds no caches yet), or another type.
func checkInstanceType(cfg Config, a architecture, p placement, f *accountFacts) []error {
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
	offered := f.offerings.Offered[a.instanceType]
	if p.Zone == "" || slices.Contains(offered, p.Zone) {
		return nil
	}
	where := "no zone of this region offers it"
	if len(offered) > 0 {
		where = "zones that do: " + strings.Join(offered, ", ")
	}
	everyType := f.offerings.zonesOfferingAll(instanceTypes(cfg))
	if len(f.volumes) == 0 && cfg.SubnetID == "" && len(everyType) > 0 {
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
func checkAMI(cfg Config, a architecture, f *accountFacts) ([]error, []string) {
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

// checkProtectedVolumes stops, before anything is registered, a change that would delete
// protected data volumes: fewer runners than the stack has, Graviton removed, or a zone
// move. Pulumi would otherwise terminate those runners and release their addresses first,
// and only then fail on the protected volumes.
func checkProtectedVolumes(cfg Config, prev previousDeployment, p placement) []error {
	if !cfg.ProtectVolumes {
		return nil
	}
	var found []error
	counts := map[string]int{} // previous runners by kind
	for _, name := range prev.names() {
		kind := strings.SplitN(name, "-", 2)[0]
		counts[kind] = max(counts[kind], runnerNumber(name))
	}
	removed := prev.removed(cfg)
	if len(removed) > 0 {
		key, fix := keyX86Count, setFix(keyX86Count, strconv.Itoa(counts["x86"]))
		if cfg.AmiArm64 == "" && counts["graviton"] > 0 {
			key, fix = keyAmiArm64, placeholderFix(keyAmiArm64, "<the Graviton AMI id>")
		} else if counts["graviton"] > cfg.GravitonCount && cfg.AmiArm64 != "" {
			key, fix = keyGravitonCount, setFix(keyGravitonCount, strconv.Itoa(counts["graviton"]))
		}
		found = append(found, configError{key, fmt.Sprintf("removes the runners %s, whose data volumes are protected (n3x:%s); "+
			"keep them, or release the volumes first (pulumi config set n3x:%s false && pulumi up) and then remove the runners",
			strings.Join(removed, ", "), keyProtectVolumes, keyProtectVolumes), fix})
	}
	if len(p.Moving) > 0 {
		key := zoneKey(cfg)
		found = append(found, configError{key, fmt.Sprintf("moves the runners to %s, which replaces the protected data volumes %s; "+
			"release them first (pulumi config set n3x:%s false && pulumi up), or stay", p.Zone, strings.Join(p.Moving, ", "), keyProtectVolumes), rmFix(key)})
	}
	return found
}

// runnerNumber is the number of a runner name: 1 for x86, 3 for x86-3.
func runnerNumber(name string) int {
	if _, n, found := strings.Cut(name, "-"); found {
		if number, err := strconv.Atoi(n); err == nil {
			return number
		}
	}
	return 1
}

// configWarnings are the risks the configuration accepts, each naming the key to change.
func configWarnings(cfg Config, p placement) []string {
	var warnings []string
	for _, family := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		if coversAll(cfg.SSHCidrBlocks, family) {
			warnings = append(warnings, fmt.Sprintf("n3x:%s opens all of %s: SSH (22) is open to the whole internet (Security Hub EC2.13, EC2.19), "+
				"Harmonia behind Caddy (443) serves the whole /nix/store, build outputs included, to anyone, "+
				"and apt-cacher-ng (3142) is an open proxy (EC2.18); restrict it to your address, or to none and use Session Manager: %s",
				keySSHCidrBlocks, family, placeholderFix(keySSHCidrBlocks, "<your-ip>/32")))
		}
	}
	if p.ZoneChosen {
		warnings = append(warnings, fmt.Sprintf("n3x:%s is not set, so this new stack goes to %s, chosen by the instance types it offers; "+
			"later runs keep the zone of its data volumes, but pin it to make that explicit: %s", keyAvailabilityZone, p.Zone, setFix(keyAvailabilityZone, p.Zone)))
	}
	if gaps := cfg.WorkingHours.gaps(time.Now()); len(gaps) > 0 {
		warnings = append(warnings, fmt.Sprintf("n3x:%s starts or stops at a time that %s skips when daylight saving time begins (%s): "+
			"that day the schedule cannot fire at that local time; move it out of the skipped hour",
			keyWorkingHours, cfg.WorkingHours.Zone, strings.Join(gaps, ", ")))
	}
	if cfg.Capacity == capacitySpot {
		if until, _ := time.Parse(time.RFC3339, spotRequestValidUntil); time.Until(until) < 365*24*time.Hour {
			warnings = append(warnings, fmt.Sprintf("the Spot requests are valid until %s (spotRequestValidUntil in machine.go): move that date on, "+
				"which replaces each Spot runner once, before EC2 cancels them", spotRequestValidUntil))
		}
	}
	return warnings
}

// removalWarnings name the data volumes `pulumi up` deletes or replaces: those of runners
// no longer configured, and those a zone move leaves behind. Both come from this stack's
// own previous deployment, never from tags another stack could carry.
func removalWarnings(cfg Config, prev previousDeployment) []string {
	var warnings []string
	var removed []string
	for _, name := range prev.removed(cfg) {
		for _, role := range []string{"cache", "yocto"} {
			if id := prev.runners[name].volumes[role]; id != "" {
				removed = append(removed, fmt.Sprintf("%s (%s %s)", id, name, role))
			}
		}
	}
	if len(removed) > 0 {
		warnings = append(warnings, fmt.Sprintf("the data volumes %s belong to no configured runner (n3x:%s, n3x:%s, n3x:%s): "+
			"pulumi up deletes them, keeping a final snapshot of each (tagged %s=%s), from which a runner of that kind starts when you scale up again; "+
			"protected volumes make it fail instead", strings.Join(removed, ", "), keyX86Count, keyGravitonCount, keyAmiArm64, snapshotTag, cfg.NamePrefix))
	}
	return warnings
}

// movingWarning names the data volumes a zone move replaces, and what the new ones hold.
func movingWarning(cfg Config, prev previousDeployment, p placement, f *accountFacts) []string {
	if len(p.Moving) == 0 {
		return nil
	}
	var moving []string
	from := ""
	for _, id := range p.Moving {
		runner, role := prev.volumeOwner(id)
		from = f.volumes[id].zone
		moving = append(moving, fmt.Sprintf("%s (%s %s, in %s)", id, runner, role, from))
	}
	stay := setFix(keyAvailabilityZone, from)
	if cfg.SubnetID != "" { // the zone follows the subnet: staying takes a subnet there
		stay = placeholderFix(keySubnetID, "<a subnet in "+from+">")
	}
	return []string{fmt.Sprintf("n3x:%s moves the runners to %s: pulumi up snapshots the data volumes %s, creates their replacements there from those snapshots "+
		"(slow to read at first, as EBS loads their blocks), and deletes the old ones, keeping a final snapshot of each; to stay: %s",
		zoneKey(cfg), p.Zone, strings.Join(moving, ", "), stay)}
}

// zoneKey is the key that decides the runners' zone: n3x:subnetId when set, else
// n3x:availabilityZone.
func zoneKey(cfg Config) string {
	if cfg.SubnetID != "" {
		return keySubnetID
	}
	return keyAvailabilityZone
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
