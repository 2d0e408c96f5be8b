package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// placement is where the runners and their volumes live. The zone is a plain string
// known before any instance exists, so a volume never waits on (or follows) an instance.
type placement struct {
	Zone       string
	SubnetID   string // n3x:subnetId, or the zone's default subnet (found in round 2)
	VpcID      string
	ZoneChosen bool     // picked afresh: no pin, no subnet and no data volumes of this stack yet
	Moving     []string // previous data volume ids in another zone, which the move replaces
}

// zoneOfferings are the region's standard zones and, per instance type, the zones
// that offer it, both sorted by name.
type zoneOfferings struct {
	Zones   []string
	Offered map[string][]string
}

// lookupZoneOfferings asks, at once, for the region's standard (not Local or Wavelength)
// zones and for the zones that offer each instance type.
func lookupZoneOfferings(ctx *pulumi.Context, instanceTypes []string) (zoneOfferings, error) {
	var zones *aws.GetAvailabilityZonesResult
	var offerings *ec2.GetInstanceTypeOfferingsResult
	var zonesErr, offeringsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		zones, zonesErr = aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
			State:   pulumi.StringRef("available"),
			Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
		})
	})
	wg.Go(func() {
		offerings, offeringsErr = ec2.GetInstanceTypeOfferings(ctx, &ec2.GetInstanceTypeOfferingsArgs{
			LocationType: pulumi.StringRef("availability-zone"),
			Filters:      []ec2.GetInstanceTypeOfferingsFilter{{Name: "instance-type", Values: instanceTypes}},
		})
	})
	wg.Wait()
	if zonesErr != nil {
		return zoneOfferings{}, fmt.Errorf("listing availability zones: %w", zonesErr)
	}
	if offeringsErr != nil {
		return zoneOfferings{}, fmt.Errorf("listing instance type offerings: %w", offeringsErr)
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

// zonesOfferingAll lists, by name, the zones that offer every instance type.
func (o zoneOfferings) zonesOfferingAll(instanceTypes []string) []string {
	var zones []string
	for _, zone := range o.Zones {
		if !slices.ContainsFunc(instanceTypes, func(t string) bool { return !slices.Contains(o.Offered[t], zone) }) {
			zones = append(zones, zone)
		}
	}
	return zones
}

// zoneFacts are what the region says about where the runners can go: its zones and the
// zones that offer each instance type, the default VPC or n3x:subnetId, and, once the zone
// is known, the subnet the runners launch into and its routes.
type zoneFacts struct {
	offerings    zoneOfferings
	offeringsErr error
	defaultVPC   string // "" when the region has none; looked up without n3x:subnetId
	vpcErr       error
	subnet       *ec2.LookupSubnetResult // with n3x:subnetId
	subnetErr    error

	defaultSubnet string // the zone's default subnet, "" when none
	subnetsErr    error
	routes        []ec2.GetRouteTableRoute // of n3x:subnetId's route table
	routeTableID  string
	routesErr     error
}

// findZones looks up the zones, the offerings and the VPC or subnet. Graviton's type counts
// even while amiArm64 is unset, so the zone suits it later too.
func findZones(ctx *pulumi.Context, l *lookups, cfg Config) *zoneFacts {
	z := &zoneFacts{}
	l.start(func() {
		z.offerings, z.offeringsErr = lookupZoneOfferings(ctx, slices.Compact([]string{cfg.InstanceTypeX86, cfg.InstanceTypeGraviton}))
	})
	if cfg.SubnetID != "" {
		l.start(func() {
			z.subnet, z.subnetErr = ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(cfg.SubnetID)})
		})
		return z
	}
	l.start(func() {
		vpcs, err := ec2.GetVpcs(ctx, &ec2.GetVpcsArgs{Filters: []ec2.GetVpcsFilter{{Name: "is-default", Values: []string{"true"}}}})
		if z.vpcErr = err; err == nil && len(vpcs.Ids) > 0 {
			z.defaultVPC = vpcs.Ids[0]
		}
	})
	return z
}

// findSubnets looks up, in the chosen zone, the default subnet, or n3x:subnetId's routes.
func (z *zoneFacts) findSubnets(ctx *pulumi.Context, l *lookups, cfg Config, p placement) {
	if cfg.SubnetID == "" && p.Zone != "" && z.defaultVPC != "" {
		l.start(func() {
			subnets, err := ec2.GetSubnets(ctx, &ec2.GetSubnetsArgs{Filters: []ec2.GetSubnetsFilter{
				{Name: "vpc-id", Values: []string{z.defaultVPC}},
				{Name: "availability-zone", Values: []string{p.Zone}},
				{Name: "default-for-az", Values: []string{"true"}},
			}})
			if z.subnetsErr = err; err == nil && len(subnets.Ids) > 0 {
				z.defaultSubnet = subnets.Ids[0]
			}
		})
	}
	if z.subnet != nil {
		l.start(func() { z.routes, z.routeTableID, z.routesErr = lookupSubnetRoutes(ctx, z.subnet) })
	}
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

// checkSubnet fills in the subnet the runners launch into and checks it can reach the
// internet: the zone's default subnet, or n3x:subnetId, whose route table needs a 0.0.0.0/0
// route to an internet gateway for the Elastic IPs and the runners' downloads.
func checkSubnet(cfg Config, p *placement, z *zoneFacts) []error {
	if cfg.SubnetID == "" {
		if z.defaultSubnet == "" && z.subnetsErr == nil {
			return []error{configError{keyAvailabilityZone, fmt.Sprintf("places the runners in %s, where the default VPC %s has no default subnet; "+
				"create it (aws ec2 create-default-subnet --availability-zone %s) or pin a zone that has one", p.Zone, p.VpcID, p.Zone), placeholderFix(keyAvailabilityZone, "<zone with a default subnet>")}}
		}
		p.SubnetID = z.defaultSubnet
		return nil
	}
	if z.routesErr != nil || slices.ContainsFunc(z.routes, func(r ec2.GetRouteTableRoute) bool {
		return r.CidrBlock == "0.0.0.0/0" && strings.HasPrefix(r.GatewayId, "igw-")
	}) {
		return nil
	}
	return []error{configError{keySubnetID, fmt.Sprintf("is %s, whose route table %s has no 0.0.0.0/0 route to an internet gateway; "+
		"the Elastic IPs and the runners' downloads need one: name a public subnet, or add the route to an internet gateway", cfg.SubnetID, z.routeTableID),
		placeholderFix(keySubnetID, "<public-subnet-id>")}}
}

// choosePlacement decides the VPC and zone: the subnet's when n3x:subnetId is set,
// otherwise the default VPC and the pinned zone, the zone of this stack's data volumes (those
// its state holds that EC2 still has), the zone of what else its state holds, or, for a new
// stack, the first zone that offers both configured instance types. It lists the volumes a
// move to another zone replaces.
func choosePlacement(cfg Config, state stackState, z *zoneFacts, live *liveFleet) (placement, []error) {
	if z.offeringsErr != nil {
		return placement{}, []error{z.offeringsErr}
	}
	var p placement
	volumesZone, err := zoneOfVolumes(state, live.volumes)
	switch {
	case cfg.SubnetID != "":
		if err := denied(fmt.Sprintf("reading n3x:%s (%s)", keySubnetID, cfg.SubnetID), "ec2:DescribeSubnets", z.subnetErr); err != nil {
			return placement{}, []error{err}
		}
		if z.subnetErr != nil {
			return placement{}, []error{configError{keySubnetID, fmt.Sprintf("is %s, a subnet this account cannot read in this region (%v)", cfg.SubnetID, z.subnetErr),
				placeholderFix(keySubnetID, "<your-subnet-id>")}}
		}
		if cfg.AvailabilityZone != "" && cfg.AvailabilityZone != z.subnet.AvailabilityZone {
			return placement{}, []error{configError{keyAvailabilityZone, fmt.Sprintf("is %s but subnet %s is in %s; with n3x:subnetId set the zone follows the subnet",
				cfg.AvailabilityZone, cfg.SubnetID, z.subnet.AvailabilityZone), rmFix(keyAvailabilityZone)}}
		}
		p = placement{Zone: z.subnet.AvailabilityZone, SubnetID: z.subnet.Id, VpcID: z.subnet.VpcId}
	case z.vpcErr != nil:
		return placement{}, []error{fmt.Errorf("looking up the default VPC: %w", z.vpcErr)}
	case z.defaultVPC == "":
		return placement{}, []error{configError{keySubnetID, "is unset and this region has no default VPC; name a public subnet for the runners",
			placeholderFix(keySubnetID, "<your-subnet-id>")}}
	case cfg.AvailabilityZone != "":
		p = placement{Zone: cfg.AvailabilityZone, VpcID: z.defaultVPC}
		if !slices.Contains(z.offerings.Zones, p.Zone) {
			return placement{}, []error{configError{keyAvailabilityZone, fmt.Sprintf("is %s, not an available zone of this region (zones: %s)",
				p.Zone, strings.Join(z.offerings.Zones, ", ")), zoneFix(cfg, z.offerings, volumesZone)}}
		}
	case err != nil:
		return placement{}, []error{err}
	case volumesZone != "":
		p = placement{Zone: volumesZone, VpcID: z.defaultVPC}
	case state.zone() != "":
		p = placement{Zone: state.zone(), VpcID: z.defaultVPC}
	default:
		zones := z.offerings.zonesOfferingAll([]string{cfg.InstanceTypeX86, cfg.InstanceTypeGraviton})
		if len(zones) == 0 {
			zones = z.offerings.zonesOfferingAll(instanceTypes(cfg))
		}
		if len(zones) == 0 {
			return placement{}, []error{configError{keyAvailabilityZone, fmt.Sprintf("is unset and no zone of the region offers all of %s; pick other instance types or another region",
				strings.Join(instanceTypes(cfg), ", ")), ""}}
		}
		p = placement{Zone: zones[0], VpcID: z.defaultVPC, ZoneChosen: true}
	}
	for _, id := range slices.Sorted(maps.Keys(live.volumes)) {
		if live.volumes[id].zone != p.Zone {
			p.Moving = append(p.Moving, id)
		}
	}
	return p, nil
}

// zoneOfVolumes is the one zone all of this stack's existing data volumes are in, "" when
// there are none. Volumes split across zones (a move that failed half-way) are an error
// that says which volumes each zone would keep.
func zoneOfVolumes(state stackState, volumes map[string]liveVolume) (string, error) {
	byZone := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(volumes)) {
		runner, role := state.volumeOwner(id)
		byZone[volumes[id].zone] = append(byZone[volumes[id].zone], fmt.Sprintf("%s (%s %s)", id, runner, role))
	}
	if len(byZone) <= 1 {
		for zone := range byZone {
			return zone, nil
		}
		return "", nil
	}
	zones := slices.Sorted(maps.Keys(byZone))
	// The fix keeps the zone with the most volumes; the message names what each would keep.
	keep := slices.MaxFunc(zones, func(a, b string) int { return len(byZone[a]) - len(byZone[b]) })
	var each []string
	for _, zone := range zones {
		each = append(each, fmt.Sprintf("%s keeps %s", zone, strings.Join(byZone[zone], ", ")))
	}
	return "", configError{keyAvailabilityZone, fmt.Sprintf("is unset and this stack's data volumes are in several zones: %s; "+
		"pin the zone whose volumes to keep (the others are replaced by volumes there)", strings.Join(each, "; ")), setFix(keyAvailabilityZone, keep)}
}

// zoneFix is the zone to suggest: the caches' zone when the stack has one, else the first
// zone that offers every configured instance type.
func zoneFix(cfg Config, offers zoneOfferings, volumesZone string) string {
	if volumesZone != "" {
		return setFix(keyAvailabilityZone, volumesZone)
	}
	if zones := offers.zonesOfferingAll(instanceTypes(cfg)); len(zones) > 0 {
		return setFix(keyAvailabilityZone, zones[0])
	}
	return rmFix(keyAvailabilityZone)
}
