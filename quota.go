package main

import (
	"fmt"
	"slices"

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

// quotaError is a quota this stack alone would exceed, with the request that raises it.
type quotaError struct {
	name, code string
	runners    int    // what the runners need
	surge      int    // what a rolling replacement needs on top
	have       int    // the account's quota
	unit       string // "vCPUs", "Elastic IPs"
}

func (e quotaError) Error() string {
	need := e.runners + e.surge
	why := fmt.Sprintf("%d %s for its runners", e.runners, e.unit)
	if e.surge > 0 {
		why += fmt.Sprintf(" and %d more while an AMI, instance-type or capacity change replaces them, which launches each architecture's next runner "+
			"before its old one is stopped", e.surge)
	}
	return fmt.Sprintf("this stack needs %d %s of the quota %q (%s): %s; the account has %d; request more: "+
		"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code %s --desired-value %d",
		need, e.unit, e.name, e.code, why, e.have, e.code, need)
}

// checkQuotas fails when the stack's runners alone would exceed the account's vCPU quota
// or its Elastic IP quota, which EC2 would otherwise refuse half-way through `pulumi up`
// (VcpuLimitExceeded, MaxSpotInstanceCountExceeded, AddressLimitExceeded). Replacements are
// create-before-delete, one runner per architecture at a time, so the vCPU quota must hold
// one more runner of each architecture. Elastic IPs are never replaced (their replacing
// inputs, eip.go's domain and pools, are constants here), so they need one per runner. A
// quota the caller may not read only warns.
func checkQuotas(cfg Config, launch *launchFacts, quotas quotaFacts) ([]error, []string) {
	code := vcpuQuotaCode(cfg)
	vcpu := quotaError{code: code, unit: "vCPUs"}
	var warnings []string
	for _, a := range architectures(cfg) {
		typ := launch.types[a.kind]
		if typ.err != nil {
			continue // reported as an unknown type
		}
		if !slices.Contains(standardFamilies, family(a.instanceType)) {
			warnings = append(warnings, fmt.Sprintf("n3x:%s is %s, outside the standard families: its vCPU quota is not checked", a.instanceTypeKey, a.instanceType))
			continue
		}
		vcpu.runners += a.count * typ.info.DefaultVcpus
		vcpu.surge += typ.info.DefaultVcpus
	}
	addresses := quotaError{code: quotaElasticIPs, unit: "Elastic IPs", runners: len(runnerSpecs(cfg))}
	var found []error
	for _, need := range []quotaError{vcpu, addresses} {
		quota := quotas[need.code]
		if quota.err != nil {
			warnings = append(warnings, fmt.Sprintf("could not read the EC2 quota %s (%v), so preview cannot tell whether the %d %s this stack needs fit; "+
				"allow servicequotas:GetAWSDefaultServiceQuota and servicequotas:GetServiceQuota (iam/preview-policy.json) to have it checked",
				need.code, firstLine(quota.err), need.runners+need.surge, need.unit))
			continue
		}
		if need.runners+need.surge > int(quota.value) {
			need.name, need.have = quota.name, int(quota.value)
			found = append(found, need)
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
