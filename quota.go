package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/servicequotas"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EC2 quotas a new account's runner fleet meets first (Service Quotas codes).
const (
	quotaOnDemandStandardVcpus = "L-1216C47A" // Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, vCPUs
	quotaSpotStandardVcpus     = "L-34B43A08" // All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests, vCPUs
	quotaElasticIPs            = "L-0263D0A3" // EC2-VPC Elastic IPs
)

// standardFamilies are the instance families the standard vCPU quotas count.
var standardFamilies = []string{"a", "c", "d", "h", "i", "im", "is", "m", "r", "t", "z"}

// vcpuQuotaCode is the vCPU quota the runners count against: Spot's with n3x:capacity spot.
func vcpuQuotaCode(cfg Config) string {
	if cfg.Capacity == capacitySpot {
		return quotaSpotStandardVcpus
	}
	return quotaOnDemandStandardVcpus
}

// quotaFacts are the account's EC2 quotas, by quota code.
type quotaFacts map[string]quotaValue

type quotaValue struct {
	name  string
	value float64
	err   error
}

// findQuotas reads the vCPU quota the runners count against and the Elastic IP quota.
func findQuotas(ctx *pulumi.Context, l *lookups, cfg Config) quotaFacts {
	q := quotaFacts{}
	for _, code := range []string{vcpuQuotaCode(cfg), quotaElasticIPs} {
		l.start(func() {
			quota, err := servicequotas.LookupServiceQuota(ctx, &servicequotas.LookupServiceQuotaArgs{ServiceCode: "ec2", QuotaCode: pulumi.StringRef(code)})
			v := quotaValue{err: err}
			if err == nil {
				v.name, v.value = quota.QuotaName, quota.Value
			}
			l.locked(func() { q[code] = v })
		})
	}
	return q
}

// quotaError is a quota this update would exceed at its peak, with the request that raises it.
type quotaError struct {
	name, code string
	need, have int
	unit       string // "vCPUs", "Elastic IPs"
	why        string // what makes up need
	region     string // the stack's aws:region, whose quota it is
}

func (e quotaError) Error() string {
	return fmt.Sprintf("this update needs %d %s of the quota %q (%s) at once: %s; the account has %d; request more: %s",
		e.need, e.unit, e.name, e.code, e.why, e.have, quotaIncreaseCommand(e.region, e.code, e.need))
}

// quotaIncreaseCommand asks Service Quotas for an EC2 quota of value in region.
func quotaIncreaseCommand(region, code string, value int) string {
	return fmt.Sprintf("aws service-quotas request-service-quota-increase --region %s --service-code ec2 --quota-code %s --desired-value %d", region, code, value)
}

// quotaNeed is what this stack needs of one quota: at the peak of this update, and at the
// peak of a later update that replaces every architecture's instances at once (a new AMI for
// each), which the quota should hold too.
type quotaNeed struct {
	code, unit string
	now        int
	why        []string // what makes up now
	later      int
}

// vcpuNeed is the vCPU peak of this update in the quota of the configured capacity. Each
// configured runner runs its configured type (an on-demand type change stops, modifies and
// starts the instance, so it never runs twice); a runner the configuration drops runs its old
// type until the update deletes it, at the end; and an architecture whose instances this
// update replaces runs one more at a time, because a replacement launches the new instance
// first and the old one stops when its cache volume is detached, before the next runner's new
// instance launches (runner.go, the serving chain). A runner whose capacity changes launches
// into the other quota, with no surge: the old instance counts against the quota it already
// uses. Only the standard families count; another family warns.
func vcpuNeed(cfg Config, state stackState, p placement, launch *launchFacts) (quotaNeed, []string) {
	need := quotaNeed{code: vcpuQuotaCode(cfg), unit: "vCPUs"}
	var warnings, surges []string
	spot := cfg.Capacity == capacitySpot
	kept, surge, removed := 0, 0, 0
	for _, a := range architectures(cfg) {
		typ := launch.types[a.kind]
		if typ.err != nil {
			continue // reported as an unknown type
		}
		if !slices.Contains(standardFamilies, family(a.instanceType)) {
			warnings = append(warnings, fmt.Sprintf("n3x:%s is %s, outside the standard families: its vCPU quota is not checked", a.instanceTypeKey, a.instanceType))
			continue
		}
		vcpus := typ.info.DefaultVcpus
		kept += a.count * vcpus
		need.later += (a.count + 1) * vcpus
		var replaced []string
		for _, spec := range runnerSpecs(cfg) {
			if held := state.runners[spec.name].instance; spec.kind == a.kind && held.id != "" && held.spot == spot {
				if why := launchReason(cfg, spec, held, p); why != "" {
					replaced = append(replaced, spec.name+" ("+why+")")
				}
			}
		}
		if len(replaced) > 0 {
			surge += vcpus
			surges = append(surges, fmt.Sprintf("%d for one more %s instance while it replaces %s, one at a time", vcpus, a.kind, strings.Join(replaced, ", ")))
		}
	}
	for _, name := range state.removed(cfg) {
		if held := state.runners[name].instance; held.id != "" && held.spot == spot && slices.Contains(standardFamilies, family(held.instanceType)) {
			removed += launch.vcpus[held.instanceType]
		}
	}
	need.now = kept + surge + removed
	need.why = append([]string{fmt.Sprintf("%d for the runners it keeps or makes", kept)}, surges...)
	if removed > 0 {
		need.why = append(need.why, fmt.Sprintf("%d for the runners it removes, which run until it deletes them at its end", removed))
	}
	return need, warnings
}

// addressNeed is the Elastic IP peak of this update: the addresses the state holds (those of
// removed runners are released at its end) and one for each configured runner without one.
// An address is never replaced (eip.go: its replacing inputs, domain and pools, are
// constants here), so a later update needs no more than the configured runners.
func addressNeed(cfg Config, state stackState) quotaNeed {
	need := quotaNeed{code: quotaElasticIPs, unit: "Elastic IPs"}
	held := 0
	for _, name := range state.names() {
		if state.runners[name].addressID != "" {
			held++
		}
	}
	made := 0
	for _, spec := range runnerSpecs(cfg) {
		if state.runners[spec.name].addressID == "" {
			made++
		}
	}
	need.now, need.later = held+made, len(runnerSpecs(cfg))
	need.why = []string{fmt.Sprintf("%d the stack holds and %d it allocates", held, made)}
	return need
}

// checkQuotas fails when this update alone would exceed, at its peak, the account's vCPU
// quota or its Elastic IP quota, which EC2 would otherwise refuse half-way through `pulumi
// up` (VcpuLimitExceeded, MaxSpotInstanceCountExceeded, AddressLimitExceeded), and warns when
// the quota holds this update but not a later one that replaces every architecture's
// instances at once. The quotas count the whole account; this counts this stack alone. A
// quota the caller may not read only warns.
func checkQuotas(cfg Config, state stackState, p placement, launch *launchFacts, quotas quotaFacts) ([]error, []string) {
	vcpus, warnings := vcpuNeed(cfg, state, p, launch)
	var found []error
	for _, need := range []quotaNeed{vcpus, addressNeed(cfg, state)} {
		quota := quotas[need.code]
		if quota.err != nil {
			warnings = append(warnings, fmt.Sprintf("could not read the EC2 quota %s (%v), so preview cannot tell whether the %d %s this update needs fit; "+
				"allow servicequotas:GetAWSDefaultServiceQuota and servicequotas:GetServiceQuota (iam/preview-policy.json) to have it checked",
				need.code, firstLine(quota.err), need.now, need.unit))
			continue
		}
		have := int(quota.value)
		switch {
		case need.now > have:
			found = append(found, quotaError{name: quota.name, code: need.code, need: need.now, have: have, unit: need.unit, why: strings.Join(need.why, ", "), region: cfg.Region})
		case need.later > have:
			warnings = append(warnings, fmt.Sprintf("the quota %q (%s) of %d %s holds this update (%d at most), but not a later one that replaces every architecture's "+
				"instances at once (a new AMI for each), which needs %d; request more before then: %s",
				quota.name, need.code, have, need.unit, need.now, need.later, quotaIncreaseCommand(cfg.Region, need.code, need.later)))
		}
	}
	return found, warnings
}

// family is the instance family's letters: "c" for c6i.2xlarge, "inf" for inf2.xlarge.
func family(instanceType string) string {
	for i, r := range instanceType {
		if r < 'a' || r > 'z' {
			return instanceType[:i]
		}
	}
	return instanceType
}
