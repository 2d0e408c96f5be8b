package main

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// preflightResult is what preflight decided: where the runners go, what each new data
// volume starts from, what the account said that resources need, and what to print.
type preflightResult struct {
	placement  placement
	sources    map[string]volumeSource // by runner name and role: "x86/cache"
	caller     *callerFacts
	boundary   string // the roles' permissions boundary's ARN, "" for none (boundary.go)
	spotPrices map[string]float64
	live       *liveFleet
	leftovers  *leftoverFacts
	warnings   []string
	notes      []string // what new volumes start from
}

// preflight checks the configuration against the account and region, through the
// provider's data sources, before any resource is registered: a wrong AMI or instance
// type fails `pulumi preview` instead of half-way through `pulumi up`. The calls that need
// only the configuration and the state run at once, then those that need the zone.
func preflight(ctx *pulumi.Context, cfg Config, state stackState) (preflightResult, error) {
	var l lookups
	zones := findZones(ctx, &l, cfg)
	launch := findLaunchFacts(ctx, &l, cfg, state)
	quotas := findQuotas(ctx, &l, cfg)
	caller := findCaller(ctx, &l)
	live := findLiveFleet(ctx, &l, cfg, state)
	leftovers := findLeftovers(ctx, &l, cfg, state)
	l.wait()

	p, found := choosePlacement(cfg, state, zones, live)
	zones.findSubnets(ctx, &l, cfg, p)
	launch.findRunnersOnGoneAMIs(ctx, &l, cfg, state)
	live.findHolders(ctx, &l, state)
	leftovers.findNames(ctx, &l, state)
	leftovers.findLostLinks(ctx, &l, cfg, state)
	restore := findRestoreSnapshots(ctx, &l, cfg, state, live)
	boundary := findBoundary(ctx, &l, cfg, caller)
	spotPrices := findSpotPrices(ctx, &l, cfg, p)
	l.wait()

	var warnings []string
	for _, lookupErr := range []error{caller.err, live.volumesErr, live.instancesErr, restore.err, zones.subnetsErr, zones.routesErr} {
		if lookupErr != nil {
			found = append(found, lookupErr)
		}
	}
	if p.Zone != "" {
		found = append(found, checkSubnet(cfg, &p, zones)...)
	}
	for _, a := range architectures(cfg) {
		found = append(found, checkInstanceType(cfg, a, p, launch, zones, live)...)
		amiProblems, amiWarnings := checkAMI(cfg, a, launch)
		found, warnings = append(found, amiProblems...), append(warnings, amiWarnings...)
	}
	quotaProblems, quotaWarnings := checkQuotas(cfg, state, p, launch, quotas)
	found, warnings = append(found, quotaProblems...), append(warnings, quotaWarnings...)
	if evidence := copyEvidence(cfg, state, p, leftovers, live); evidence != "" {
		found = append(found, copyError(evidence, nil))
	}
	leftoverProblems, leftoverWarnings := checkLeftovers(ctx, cfg, state, p, leftovers)
	found, warnings = append(found, leftoverProblems...), append(warnings, leftoverWarnings...)
	found = append(found, checkLostVolumes(state, live)...)
	moveProblems, moveWarnings := checkUnfinishedMove(cfg, state, p, live)
	found, warnings = append(found, moveProblems...), append(warnings, moveWarnings...)
	found = append(found, checkImportedAttachments(cfg, state, p)...)
	boundaryProblems, boundaryWarnings := boundary.checks(cfg)
	found, warnings = append(found, boundaryProblems...), append(warnings, boundaryWarnings...)
	var sources map[string]volumeSource
	if p.Zone != "" { // without a zone (already reported) every volume would look like moving
		var sourceProblems []error
		sources, sourceProblems = volumeSources(cfg, state, p, live, restore)
		found = append(found, sourceProblems...)
		found = append(found, checkProtectedVolumes(cfg, state, p)...)
	}
	if len(found) > 0 {
		// The warnings too: a lookup that failed may be why a leftover is not named.
		return preflightResult{spotPrices: spotPrices, warnings: warnings}, configProblems(found)
	}
	warnings = slices.Concat(skipCheckpointsWarning(os.Getenv), legacySecretWarnings(cfg), configWarnings(cfg, p), removalWarnings(cfg, state), warnings, driftWarnings(cfg, state, live), movingWarning(cfg, state, p, live))
	var notes []string
	for _, spec := range runnerSpecs(cfg) {
		for _, role := range dataVolumeRoles {
			if note := sources[spec.name+"/"+role].note; note != "" {
				notes = append(notes, note)
			}
		}
	}
	return preflightResult{placement: p, sources: sources, caller: caller, boundary: boundary.arnOr(state), spotPrices: spotPrices, live: live, leftovers: leftovers,
		warnings: warnings, notes: notes}, nil
}

// checkProtectedVolumes stops, before anything is registered, a change that would delete
// protected data volumes: fewer runners than the stack has, Graviton removed, or a zone
// move. Pulumi would otherwise terminate those runners and release their addresses first,
// and only then fail on the protected volumes.
func checkProtectedVolumes(cfg Config, state stackState, p placement) []error {
	if !cfg.ProtectVolumes {
		return nil
	}
	var found []error
	counts := map[string]int{} // the state's runners by kind
	for _, name := range state.names() {
		kind := strings.SplitN(name, "-", 2)[0]
		counts[kind] = max(counts[kind], runnerNumber(name))
	}
	removed := state.removed(cfg)
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
	if len(cfg.unusedGravitonKeys) > 0 {
		keys, rms := make([]string, len(cfg.unusedGravitonKeys)), make([]string, len(cfg.unusedGravitonKeys))
		for i, key := range cfg.unusedGravitonKeys {
			keys[i], rms[i] = configNamespace+":"+key, rmFix(key)
		}
		them := "them"
		if len(keys) == 1 {
			them = "it"
		}
		warnings = append(warnings, fmt.Sprintf("%s set, but n3x:%s is not, so this stack makes no Graviton runner: set its AMI (%s, docs/ami.md), or remove %s: %s",
			strings.Join(keys, ", "), keyAmiArm64, placeholderFix(keyAmiArm64, "<ami-id>"), them, strings.Join(rms, " && ")))
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

// removalWarnings name the data volumes `pulumi up` deletes: those of runners no longer
// configured. They come from this stack's own state, never from tags another stack could
// carry.
func removalWarnings(cfg Config, state stackState) []string {
	var warnings []string
	var removed []string
	for _, name := range state.removed(cfg) {
		for _, role := range dataVolumeRoles {
			if id := state.runners[name].volumes[role].id; id != "" {
				removed = append(removed, fmt.Sprintf("%s (%s %s)", id, name, role))
			}
		}
	}
	if len(removed) > 0 {
		warnings = append(warnings, fmt.Sprintf("the data volumes %s belong to no configured runner (n3x:%s, n3x:%s, n3x:%s): "+
			"pulumi up deletes them, first taking a snapshot of each, tagged with its volume's Name and %s=%s; when a runner of that name comes back, "+
			"its volumes start from their own newest snapshot, the one taken now; "+
			"protected volumes make it fail instead", strings.Join(removed, ", "), keyX86Count, keyGravitonCount, keyAmiArm64, snapshotTag, cfg.NamePrefix))
	}
	return warnings
}

// movingWarning names the data volumes a zone move replaces, and what the new ones hold.
func movingWarning(cfg Config, state stackState, p placement, live *liveFleet) []string {
	if len(p.Moving) == 0 {
		return nil
	}
	var moving []string
	from := ""
	for _, id := range p.Moving {
		runner, role := state.volumeOwner(id)
		from = live.volumes[id].zone
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
