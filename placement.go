package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// placement is where the runners and their volumes live. The zone is a plain string
// known before any instance exists, so a volume never waits on (or follows) an instance.
type placement struct {
	Zone       string
	SubnetID   string // empty: the zone's default subnet
	VpcID      string
	ZoneChosen bool // picked afresh: no pin, no subnet and no data volumes of this stack yet
}

// zoneOfferings are the region's standard zones and, per instance type, the zones
// that offer it, both sorted by name.
type zoneOfferings struct {
	Zones   []string
	Offered map[string][]string
}

// lookupZoneOfferings asks which of the region's standard (not Local or Wavelength)
// zones offer each instance type.
func lookupZoneOfferings(ctx *pulumi.Context, instanceTypes []string) (zoneOfferings, error) {
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State:   pulumi.StringRef("available"),
		Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
	})
	if err != nil {
		return zoneOfferings{}, fmt.Errorf("listing availability zones: %w", err)
	}
	offerings, err := ec2.GetInstanceTypeOfferings(ctx, &ec2.GetInstanceTypeOfferingsArgs{
		LocationType: pulumi.StringRef("availability-zone"),
		Filters:      []ec2.GetInstanceTypeOfferingsFilter{{Name: "instance-type", Values: instanceTypes}},
	})
	if err != nil {
		return zoneOfferings{}, fmt.Errorf("listing instance type offerings: %w", err)
	}
	result := zoneOfferings{Zones: slices.Sorted(slices.Values(zones.Names)), Offered: map[string][]string{}}
	for i, instanceType := range offerings.InstanceTypes {
		if zone := offerings.Locations[i]; slices.Contains(result.Zones, zone) {
			result.Offered[instanceType] = append(result.Offered[instanceType], zone)
		}
	}
	for _, offered := range result.Offered {
		slices.Sort(offered)
	}
	return result, nil
}

// firstZoneOfferingAll is the first zone by name that offers every instance type, or "".
func (o zoneOfferings) firstZoneOfferingAll(instanceTypes []string) string {
	for _, zone := range o.Zones {
		if !slices.ContainsFunc(instanceTypes, func(t string) bool { return !slices.Contains(o.Offered[t], zone) }) {
			return zone
		}
	}
	return ""
}

// stackVolume is one of this stack's cache or Yocto volumes as the account has it now.
type stackVolume struct {
	ID, Name, Zone string
}

// lookupStackVolumes finds this stack's existing data volumes by their tags, so that an
// unpinned zone stays where the caches are and a move is announced before it empties them.
func lookupStackVolumes(ctx *pulumi.Context, cfg Config) ([]stackVolume, error) {
	var purposes []string
	for _, vol := range dataVolumeSpecs(cfg) {
		purposes = append(purposes, vol.purpose)
	}
	found, err := ebs.GetEbsVolumes(ctx, &ebs.GetEbsVolumesArgs{
		Tags: map[string]string{"Project": ctx.Project(), "Stack": ctx.Stack()},
		Filters: []ebs.GetEbsVolumesFilter{
			{Name: "tag:Purpose", Values: purposes},
			{Name: "status", Values: []string{"creating", "available", "in-use"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("looking up this stack's data volumes: %w", err)
	}
	var volumes []stackVolume
	for _, id := range slices.Sorted(slices.Values(found.Ids)) {
		v, err := ebs.LookupVolume(ctx, &ebs.LookupVolumeArgs{Filters: []ebs.GetVolumeFilter{{Name: "volume-id", Values: []string{id}}}})
		if err != nil {
			return nil, fmt.Errorf("reading data volume %s: %w", id, err)
		}
		volumes = append(volumes, stackVolume{ID: id, Name: v.Tags["Name"], Zone: v.AvailabilityZone})
	}
	return volumes, nil
}

// resolvePlacement finds the VPC and zone: the subnet's when n3x:subnetId is set,
// otherwise the default VPC and the pinned zone, the zone of this stack's data volumes,
// or, for a new stack, the first zone that offers both configured instance types.
func resolvePlacement(ctx *pulumi.Context, cfg Config, offers zoneOfferings, volumes []stackVolume) (placement, error) {
	if cfg.SubnetID != "" {
		return subnetPlacement(ctx, cfg)
	}
	vpcs, err := ec2.GetVpcs(ctx, &ec2.GetVpcsArgs{Filters: []ec2.GetVpcsFilter{{Name: "is-default", Values: []string{"true"}}}})
	if err != nil {
		return placement{}, fmt.Errorf("looking up the default VPC: %w", err)
	}
	if len(vpcs.Ids) == 0 {
		return placement{}, configError{keySubnetID, "is unset and this region has no default VPC; name a public subnet for the runners", configExamples[keySubnetID]}
	}
	p := placement{Zone: cfg.AvailabilityZone, VpcID: vpcs.Ids[0]}
	switch {
	case p.Zone != "":
		if !slices.Contains(offers.Zones, p.Zone) {
			return placement{}, configError{keyAvailabilityZone, fmt.Sprintf("is %s, not an available zone of this region (zones: %s)",
				p.Zone, strings.Join(offers.Zones, ", ")), firstOr(offers.Zones, configExamples[keyAvailabilityZone])}
		}
	case len(volumes) > 0:
		if p.Zone, err = zoneOfVolumes(volumes); err != nil {
			return placement{}, err
		}
	default:
		if p.Zone, err = freshZone(cfg, offers); err != nil {
			return placement{}, err
		}
		p.ZoneChosen = true
	}
	return p, checkDefaultSubnet(ctx, p)
}

// zoneOfVolumes is the one zone all of this stack's data volumes are in.
func zoneOfVolumes(volumes []stackVolume) (string, error) {
	var zones, where []string
	for _, v := range volumes {
		if !slices.Contains(zones, v.Zone) {
			zones = append(zones, v.Zone)
		}
		where = append(where, v.ID+" in "+v.Zone)
	}
	if len(zones) > 1 {
		return "", configError{keyAvailabilityZone, fmt.Sprintf("is unset and this stack's data volumes are in several zones (%s); pin the zone whose volumes to keep",
			strings.Join(where, ", ")), zones[0]}
	}
	return zones[0], nil
}

// freshZone picks a new stack's zone: the first that offers both configured instance
// types, Graviton's too even while amiArm64 is unset, so adding that runner later finds
// its type where the caches already are; failing that, the first that offers the
// configured runners' types.
func freshZone(cfg Config, offers zoneOfferings) (string, error) {
	if zone := offers.firstZoneOfferingAll([]string{cfg.InstanceTypeX86, cfg.InstanceTypeGraviton}); zone != "" {
		return zone, nil
	}
	types := instanceTypes(cfg)
	if zone := offers.firstZoneOfferingAll(types); zone != "" {
		return zone, nil
	}
	return "", configError{keyAvailabilityZone, fmt.Sprintf("is unset and no zone of the region offers all of %s; pick other instance types or another region",
		strings.Join(types, ", ")), ""}
}

// checkDefaultSubnet fails when the default VPC has no default subnet in the zone, where
// RunInstances would find no subnet to launch into.
func checkDefaultSubnet(ctx *pulumi.Context, p placement) error {
	subnets, err := ec2.GetSubnets(ctx, &ec2.GetSubnetsArgs{Filters: []ec2.GetSubnetsFilter{
		{Name: "vpc-id", Values: []string{p.VpcID}},
		{Name: "availability-zone", Values: []string{p.Zone}},
		{Name: "default-for-az", Values: []string{"true"}},
	}})
	if err != nil {
		return fmt.Errorf("looking up the default subnet of %s: %w", p.Zone, err)
	}
	if len(subnets.Ids) > 0 {
		return nil
	}
	return configError{keyAvailabilityZone, fmt.Sprintf("places the runners in %s, where the default VPC %s has no default subnet; "+
		"create it (aws ec2 create-default-subnet --availability-zone %s) or pin a zone that has one", p.Zone, p.VpcID, p.Zone), configExamples[keyAvailabilityZone]}
}

// subnetPlacement places the runners in the configured subnet, which must route
// 0.0.0.0/0 to an internet gateway for the Elastic IPs and the runners' downloads.
func subnetPlacement(ctx *pulumi.Context, cfg Config) (placement, error) {
	subnet, err := ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(cfg.SubnetID)})
	if err != nil {
		return placement{}, configError{keySubnetID, fmt.Sprintf("names a subnet this account cannot read in this region (%v)", err), configExamples[keySubnetID]}
	}
	if cfg.AvailabilityZone != "" && cfg.AvailabilityZone != subnet.AvailabilityZone {
		return placement{}, configError{keyAvailabilityZone, fmt.Sprintf("is %s but subnet %s is in %s; with n3x:subnetId set the zone follows the subnet",
			cfg.AvailabilityZone, cfg.SubnetID, subnet.AvailabilityZone), ""}
	}
	// A subnet without an explicit association uses its VPC's main route table.
	table, err := ec2.LookupRouteTable(ctx, &ec2.LookupRouteTableArgs{SubnetId: pulumi.StringRef(subnet.Id)})
	if err != nil {
		table, err = ec2.LookupRouteTable(ctx, &ec2.LookupRouteTableArgs{
			VpcId:   pulumi.StringRef(subnet.VpcId),
			Filters: []ec2.GetRouteTableFilter{{Name: "association.main", Values: []string{"true"}}},
		})
		if err != nil {
			return placement{}, fmt.Errorf("looking up the route table of subnet %s: %w", subnet.Id, err)
		}
	}
	if !slices.ContainsFunc(table.Routes, func(r ec2.GetRouteTableRoute) bool {
		return r.CidrBlock == "0.0.0.0/0" && strings.HasPrefix(r.GatewayId, "igw-")
	}) {
		return placement{}, configError{keySubnetID, fmt.Sprintf("is %s, whose route table %s has no 0.0.0.0/0 route to an internet gateway; "+
			"the Elastic IPs and the runners' downloads need one: name a public subnet, or add the route to an internet gateway", subnet.Id, table.RouteTableId),
			configExamples[keySubnetID]}
	}
	return placement{Zone: subnet.AvailabilityZone, SubnetID: subnet.Id, VpcID: subnet.VpcId}, nil
}

// firstOr is the first value, or fallback when there is none.
func firstOr(values []string, fallback string) string {
	if len(values) > 0 {
		return values[0]
	}
	return fallback
}
