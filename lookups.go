package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/servicequotas"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The data-source lookups that decide a deployment, in two rounds of concurrent calls:
// round 1 needs only the configuration and the previous deployment, round 2 the zone that
// round 1 decides. A preview so waits for two AWS round trips, whatever the number of
// architectures and runners. Each lookup keeps its error; preflight judges them.

// accountFacts is what AWS said, for preflight to judge.
type accountFacts struct {
	// Round 1.
	offerings      zoneOfferings
	offeringsErr   error
	defaultVPC     string // "" when the region has none; looked up without n3x:subnetId
	vpcErr         error
	subnet         *ec2.LookupSubnetResult // with n3x:subnetId
	subnetErr      error
	types          map[string]typeFacts  // by architecture kind
	amis           map[string]amiFacts   // by architecture kind
	quotas         map[string]quotaFacts // by quota code
	account        callerFacts           // for ARNs
	accountErr     error
	volumes        map[string]volumeFacts // this stack's previous data volumes that still exist, by id
	volumesErr     error
	attached       []string // previous data volumes attached to a previous instance
	attachedAny    []string // previous data volumes attached to any instance
	liveInstances  []string // previous instances not terminated
	imdsV1         []string // previous instances that still answer IMDSv1
	runnerTagged   []string // instances, not terminated, tagged as one of this stack's runners
	instancesErr   error
	snapshots      map[string][]string // completed snapshots of this stack's data volumes, by snapshotKind
	snapshotsErr   error
	securityGroups []securityGroupFacts // groups named like this stack's

	// Round 2.
	defaultSubnet string // the default subnet of the zone, "" when none
	subnetsErr    error
	routes        []ec2.GetRouteTableRoute // of n3x:subnetId's route table
	routeTableID  string
	routesErr     error
	spotPrices    map[string]float64       // by instance type
	amiRunners    map[string][]string      // by architecture kind: previous instances still on an AMI that is gone
	holders       map[string][]string      // instance id -> this stack's data volumes it holds, for runner-tagged instances the previous deployment does not name
	newest        map[string]snapshotFacts // by snapshotKind: the newest completed snapshot
}

type typeFacts struct {
	info *ec2.GetInstanceTypeResult
	err  error
}

type amiFacts struct {
	ami *ec2.LookupAmiResult
	err error
}

type quotaFacts struct {
	name  string
	value float64
	err   error
}

type callerFacts struct{ accountID, partition string }

type volumeFacts struct {
	id, zone, snapshotID string
	sizeGiB              int
	finalSnapshot        bool // created with final_snapshot on (finalSnapshotTag)
}

type securityGroupFacts struct{ id, vpcID string }

type snapshotFacts struct {
	id      string
	sizeGiB int
}

// notTerminated are the instance states of an instance that still exists.
var notTerminated = []string{"pending", "running", "stopping", "stopped"}

// snapshotKind names the snapshots a new volume may start from: same architecture and role.
func snapshotKind(arch, role string) string { return arch + "/" + role }

// lookUpRound1 makes every lookup that needs only the configuration and the previous
// deployment, all at once.
func lookUpRound1(ctx *pulumi.Context, cfg Config, prev previousDeployment) *accountFacts {
	f := &accountFacts{types: map[string]typeFacts{}, amis: map[string]amiFacts{}, quotas: map[string]quotaFacts{},
		volumes: map[string]volumeFacts{}, snapshots: map[string][]string{}}
	var mu sync.Mutex // guards f's maps
	var wg sync.WaitGroup
	instanceIDs, volumeIDs := prev.instanceIDs(), prev.volumeIDs()
	// Graviton's type counts even while amiArm64 is unset, so the zone suits it later too.
	wg.Go(func() {
		f.offerings, f.offeringsErr = lookupZoneOfferings(ctx, slices.Compact([]string{cfg.InstanceTypeX86, cfg.InstanceTypeGraviton}))
	})
	if cfg.SubnetID != "" {
		wg.Go(func() {
			f.subnet, f.subnetErr = ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(cfg.SubnetID)})
		})
	} else {
		wg.Go(func() {
			vpcs, err := ec2.GetVpcs(ctx, &ec2.GetVpcsArgs{Filters: []ec2.GetVpcsFilter{{Name: "is-default", Values: []string{"true"}}}})
			if f.vpcErr = err; err == nil && len(vpcs.Ids) > 0 {
				f.defaultVPC = vpcs.Ids[0]
			}
		})
	}
	for _, a := range architectures(cfg) {
		wg.Go(func() {
			info, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: a.instanceType})
			mu.Lock()
			f.types[a.kind] = typeFacts{info, err}
			mu.Unlock()
		})
		wg.Go(func() {
			ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
				Filters:           []ec2.GetAmiFilter{{Name: "image-id", Values: []string{a.ami}}},
				IncludeDeprecated: pulumi.BoolRef(true),
			})
			mu.Lock()
			f.amis[a.kind] = amiFacts{ami, err}
			mu.Unlock()
		})
	}
	for _, code := range []string{vcpuQuotaCode(cfg), quotaElasticIPs} {
		wg.Go(func() {
			quota, err := servicequotas.LookupServiceQuota(ctx, &servicequotas.LookupServiceQuotaArgs{ServiceCode: "ec2", QuotaCode: pulumi.StringRef(code)})
			q := quotaFacts{err: err}
			if err == nil {
				q.name, q.value = quota.QuotaName, quota.Value
			}
			mu.Lock()
			f.quotas[code] = q
			mu.Unlock()
		})
	}
	wg.Go(func() {
		caller, err := aws.GetCallerIdentity(ctx, nil)
		if f.accountErr = err; err == nil {
			f.account = callerFacts{accountID: caller.AccountId, partition: strings.Split(caller.Arn, ":")[1]}
		}
	})
	for _, id := range volumeIDs {
		wg.Go(func() {
			v, err := ebs.LookupVolume(ctx, &ebs.LookupVolumeArgs{Filters: []ebs.GetVolumeFilter{{Name: "volume-id", Values: []string{id}}}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				f.volumes[id] = volumeFacts{id: id, zone: v.AvailabilityZone, snapshotID: v.SnapshotId, sizeGiB: v.Size,
					finalSnapshot: v.Tags[finalSnapshotTag] == "true"}
			case !isNoResults(err):
				f.volumesErr = fmt.Errorf("reading data volume %s: %w", id, err)
			}
		})
	}
	// findVolumes and findInstances run a listing query into one of f's fields.
	findVolumes := func(into *[]string, what string, filters ...ebs.GetEbsVolumesFilter) {
		wg.Go(func() {
			found, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{Filters: filters})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.volumesErr = fmt.Errorf("reading %s: %w", what, err)
				return
			}
			*into = found.Ids
		})
	}
	findInstances := func(into *[]string, args *ec2.GetInstancesArgs) {
		wg.Go(func() {
			found, err := ec2.GetInstances(ctx, args)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.instancesErr = err
				return
			}
			*into = found.Ids
		})
	}
	attached := ebs.GetEbsVolumesFilter{Name: "attachment.status", Values: []string{"attaching", "attached"}}
	if len(volumeIDs) > 0 {
		findVolumes(&f.attachedAny, "the attachments of this stack's data volumes", ebs.GetEbsVolumesFilter{Name: "volume-id", Values: volumeIDs}, attached)
		if len(instanceIDs) > 0 {
			findVolumes(&f.attached, "the attachments of this stack's data volumes", ebs.GetEbsVolumesFilter{Name: "volume-id", Values: volumeIDs},
				ebs.GetEbsVolumesFilter{Name: "attachment.instance-id", Values: instanceIDs}, attached)
		}
	}
	if len(instanceIDs) > 0 {
		findInstances(&f.liveInstances, &ec2.GetInstancesArgs{
			InstanceStateNames: notTerminated,
			Filters:            []ec2.GetInstancesFilter{{Name: "instance-id", Values: instanceIDs}},
		})
		findInstances(&f.imdsV1, &ec2.GetInstancesArgs{
			InstanceStateNames: notTerminated,
			Filters: []ec2.GetInstancesFilter{
				{Name: "instance-id", Values: instanceIDs},
				{Name: "metadata-options.http-tokens", Values: []string{"optional"}},
			},
		})
	}
	findInstances(&f.runnerTagged, &ec2.GetInstancesArgs{
		InstanceTags:       map[string]string{"Project": ctx.Project(), "Stack": ctx.Stack(), "Role": runnerRole},
		InstanceStateNames: notTerminated,
		Filters:            []ec2.GetInstancesFilter{{Name: "tag:Name", Values: runnerNamesOf(cfg, prev)}},
	})
	// A new volume (scale-up, or one gone from the account) starts from the newest snapshot of
	// its kind; looking them up always costs four quick calls in this round.
	for _, a := range architectures(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			wg.Go(func() {
				found, err := ebs.GetSnapshotIds(ctx, &ebs.GetSnapshotIdsArgs{Owners: []string{"self"}, Filters: []ebs.GetSnapshotIdsFilter{
					{Name: "status", Values: []string{"completed"}},
					{Name: "tag:" + snapshotTag, Values: []string{cfg.NamePrefix}},
					{Name: "tag:Stack", Values: []string{ctx.Stack()}},
					{Name: "tag:Arch", Values: []string{a.arch}},
					{Name: "tag:Purpose", Values: []string{vol.purpose}},
				}})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					f.snapshotsErr = fmt.Errorf("looking up snapshots of this stack's %s %s volumes: %w", a.arch, vol.role, err)
					return
				}
				f.snapshots[snapshotKind(a.arch, vol.role)] = found.Ids
			})
		}
	}
	wg.Go(func() {
		groups, err := ec2.GetSecurityGroups(ctx, &ec2.GetSecurityGroupsArgs{Filters: []ec2.GetSecurityGroupsFilter{
			{Name: "group-name", Values: []string{securityGroupName(cfg)}},
		}})
		if err != nil {
			return // only the copy check needs it; the security group's own create reports a duplicate too
		}
		mu.Lock()
		defer mu.Unlock()
		for i, id := range groups.Ids {
			f.securityGroups = append(f.securityGroups, securityGroupFacts{id: id, vpcID: groups.VpcIds[i]})
		}
	})
	wg.Wait()
	return f
}

// lookUpRound2 makes the lookups that need the zone, all at once.
func lookUpRound2(ctx *pulumi.Context, cfg Config, prev previousDeployment, p placement, f *accountFacts) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	f.spotPrices, f.amiRunners, f.newest, f.holders = map[string]float64{}, map[string][]string{}, map[string]snapshotFacts{}, map[string][]string{}
	instanceIDs, volumeIDs := prev.instanceIDs(), prev.volumeIDs()
	// An instance tagged as a runner that the previous deployment does not name may hold this
	// stack's volumes: the old instance of a replacement that did not finish.
	for _, id := range f.runnerTagged {
		if slices.Contains(instanceIDs, id) || len(volumeIDs) == 0 {
			continue
		}
		wg.Go(func() {
			held, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{Filters: []ebs.GetEbsVolumesFilter{
				{Name: "volume-id", Values: volumeIDs},
				{Name: "attachment.instance-id", Values: []string{id}},
			}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				f.volumesErr = fmt.Errorf("reading the volumes of instance %s: %w", id, err)
			case len(held.Ids) > 0:
				f.holders[id] = held.Ids
			}
		})
	}
	if cfg.SubnetID == "" && p.Zone != "" && f.defaultVPC != "" {
		wg.Go(func() {
			subnets, err := ec2.GetSubnets(ctx, &ec2.GetSubnetsArgs{Filters: []ec2.GetSubnetsFilter{
				{Name: "vpc-id", Values: []string{f.defaultVPC}},
				{Name: "availability-zone", Values: []string{p.Zone}},
				{Name: "default-for-az", Values: []string{"true"}},
			}})
			if f.subnetsErr = err; err == nil && len(subnets.Ids) > 0 {
				f.defaultSubnet = subnets.Ids[0]
			}
		})
	}
	if f.subnet != nil {
		wg.Go(func() { f.routes, f.routeTableID, f.routesErr = lookupSubnetRoutes(ctx, f.subnet) })
	}
	if cfg.Capacity == capacitySpot && p.Zone != "" {
		for _, instanceType := range instanceTypes(cfg) {
			wg.Go(func() {
				price, ok := lookupSpotPrice(ctx, instanceType, p.Zone)
				if ok {
					mu.Lock()
					f.spotPrices[instanceType] = price
					mu.Unlock()
				}
			})
		}
	}
	for _, a := range architectures(cfg) {
		if f.amis[a.kind].err == nil || len(instanceIDs) == 0 {
			continue
		}
		wg.Go(func() {
			found, err := ec2.GetInstances(ctx, &ec2.GetInstancesArgs{
				InstanceStateNames: notTerminated,
				Filters:            []ec2.GetInstancesFilter{{Name: "instance-id", Values: instanceIDs}, {Name: "image-id", Values: []string{a.ami}}},
			})
			if err == nil && len(found.Ids) > 0 {
				mu.Lock()
				f.amiRunners[a.kind] = found.Ids
				mu.Unlock()
			}
		})
	}
	for kind, ids := range f.snapshots {
		if len(ids) == 0 {
			continue
		}
		wg.Go(func() {
			// getSnapshotIds sorts newest first (ebs_snapshot_ids_data_source.go, by StartTime).
			newest, err := ebs.LookupSnapshot(ctx, &ebs.LookupSnapshotArgs{Owners: []string{"self"}, SnapshotIds: ids[:1]})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.snapshotsErr = fmt.Errorf("reading snapshot %s: %w", ids[0], err)
				return
			}
			f.newest[kind] = snapshotFacts{id: newest.SnapshotId, sizeGiB: newest.VolumeSize}
		})
	}
	wg.Wait()
}

// lookupSubnetRoutes reads the routes of the subnet's route table: its explicit one, or
// its VPC's main table, which a subnet without an explicit association uses. Both are
// asked at once.
func lookupSubnetRoutes(ctx *pulumi.Context, subnet *ec2.LookupSubnetResult) ([]ec2.GetRouteTableRoute, string, error) {
	var explicit, main *ec2.LookupRouteTableResult
	var explicitErr, mainErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		explicit, explicitErr = ec2.LookupRouteTable(ctx, &ec2.LookupRouteTableArgs{SubnetId: pulumi.StringRef(subnet.Id)})
	})
	wg.Go(func() {
		main, mainErr = ec2.LookupRouteTable(ctx, &ec2.LookupRouteTableArgs{
			VpcId:   pulumi.StringRef(subnet.VpcId),
			Filters: []ec2.GetRouteTableFilter{{Name: "association.main", Values: []string{"true"}}},
		})
	})
	wg.Wait()
	switch {
	case explicitErr == nil:
		return explicit.Routes, explicit.RouteTableId, nil
	case mainErr == nil:
		return main.Routes, main.RouteTableId, nil
	}
	return nil, "", fmt.Errorf("looking up the route table of subnet %s: %w", subnet.Id, mainErr)
}

// runnerNamesOf lists the Name tags of every runner this stack runs or ran.
func runnerNamesOf(cfg Config, prev previousDeployment) []string {
	var names []string
	for _, spec := range runnerSpecs(cfg) {
		names = append(names, spec.physicalName(cfg))
	}
	for _, name := range prev.names() {
		if n := runnerPhysicalName(cfg.NamePrefix, name); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// isNoResults says whether a data source found nothing, as the provider words it
// ("Your query returned no results. Please change your search criteria and try again.").
func isNoResults(err error) bool { return strings.Contains(strings.ToLower(err.Error()), "no results") }

// accessDenied says whether a data source failed because the caller's IAM policy refused
// the call: EC2 answers UnauthorizedOperation, Service Quotas and STS AccessDenied(Exception),
// all with HTTP status 403, which the provider's errors quote ("https response error
// StatusCode: 403, ..., api error UnauthorizedOperation: ...").
func accessDenied(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UnauthorizedOperation") || strings.Contains(s, "AccessDenied") || strings.Contains(s, "StatusCode: 403")
}

// deniedAction is the action AWS's refusal names ("is not authorized to perform:
// ec2:DescribeImages"), or fallback, the one the data source calls, when it names none.
func deniedAction(err error, fallback string) string {
	if m := deniedActionPattern.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return fallback
}

var deniedActionPattern = regexp.MustCompile(`not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)`)

// permissionError is a lookup the caller may not make. It is no configuration problem, so
// it offers no config fix: the value may well be right, the policy needs the action.
type permissionError struct {
	what   string // what was being read, with the config key it checks
	action string // the IAM action refused
	err    error
}

func (e permissionError) Error() string {
	return fmt.Sprintf("%s: the AWS identity running Pulumi may not call %s, so this cannot be checked (%s); "+
		"allow it (iam/preview-policy.json lists every action a preview calls)", e.what, e.action, firstLine(e.err))
}

func (e permissionError) Unwrap() error { return e.err }

// denied is a permissionError when err is a refusal, nil otherwise.
func denied(what, action string, err error) error {
	if err == nil || !accessDenied(err) {
		return nil
	}
	return permissionError{what: what, action: deniedAction(err, action), err: err}
}
