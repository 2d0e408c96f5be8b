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

// quotaError is a quota this stack alone would exceed, with the request that raises it.
type quotaError struct {
	name, code string
	need, have int
}

func (e quotaError) Error() string {
	return fmt.Sprintf("this stack needs %d of the quota %q (%s), the account has %d; request more: "+
		"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code %s --desired-value %d",
		e.need, e.name, e.code, e.have, e.code, e.need)
}

// checkQuotas fails when the stack's runners alone would exceed the account's vCPU quota
// (Spot's with n3x:capacity spot) or its Elastic IP quota, which EC2 would otherwise
// refuse half-way through `pulumi up` (VcpuLimitExceeded, AddressLimitExceeded). A quota
// the caller may not read only warns. vcpus holds each instance type's vCPUs.
func checkQuotas(ctx *pulumi.Context, cfg Config, vcpus map[string]int) ([]error, []string) {
	needs := map[string]int{quotaElasticIPs: len(runnerSpecs(cfg))}
	vcpuQuota := quotaOnDemandStandardVcpus
	if cfg.Capacity == capacitySpot {
		vcpuQuota = quotaSpotStandardVcpus
	}
	var found []error
	var warnings []string
	for _, a := range architectures(cfg) {
		if !slices.Contains(standardFamilies, family(a.instanceType)) {
			warnings = append(warnings, fmt.Sprintf("n3x:%s is %s, outside the standard families: its vCPU quota is not checked", a.instanceTypeKey, a.instanceType))
			continue
		}
		needs[vcpuQuota] += a.count * vcpus[a.instanceType]
	}
	for _, code := range []string{vcpuQuota, quotaElasticIPs} {
		quota, err := servicequotas.LookupServiceQuota(ctx, &servicequotas.LookupServiceQuotaArgs{ServiceCode: "ec2", QuotaCode: pulumi.StringRef(code)})
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("could not read the EC2 quota %s (%v), so preview cannot tell whether the %d this stack needs fit; "+
				"allow servicequotas:GetServiceQuota to have it checked", code, err, needs[code]))
			continue
		}
		if need := needs[code]; need > int(quota.Value) {
			found = append(found, quotaError{name: quota.QuotaName, code: code, need: need, have: int(quota.Value)})
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
