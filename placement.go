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

// choosePlacement decides the VPC and zone from round 1's facts: the subnet's when
// n3x:subnetId is set, otherwise the default VPC and the pinned zone, the zone of this
// stack's data volumes (as its previous deployment names them), or, for a new stack, the
// first zone that offers both configured instance types. It lists the volumes a move to
// another zone replaces.
func choosePlacement(cfg Config, prev previousDeployment, f *accountFacts) (placement, []error) {
	if f.offeringsErr != nil {
		return placement{}, []error{f.offeringsErr}
	}
	var p placement
	volumesZone, err := zoneOfVolumes(prev, f.volumes)
	switch {
	case cfg.SubnetID != "":
		if err := denied(fmt.Sprintf("reading n3x:%s (%s)", keySubnetID, cfg.SubnetID), "ec2:DescribeSubnets", f.subnetErr); err != nil {
			return placement{}, []error{err}
		}
		if f.subnetErr != nil {
			return placement{}, []error{configError{keySubnetID, fmt.Sprintf("is %s, a subnet this account cannot read in this region (%v)", cfg.SubnetID, f.subnetErr),
				placeholderFix(keySubnetID, "<your-subnet-id>")}}
		}
		if cfg.AvailabilityZone != "" && cfg.AvailabilityZone != f.subnet.AvailabilityZone {
			return placement{}, []error{configError{keyAvailabilityZone, fmt.Sprintf("is %s but subnet %s is in %s; with n3x:subnetId set the zone follows the subnet",
				cfg.AvailabilityZone, cfg.SubnetID, f.subnet.AvailabilityZone), rmFix(keyAvailabilityZone)}}
		}
		p = placement{Zone: f.subnet.AvailabilityZone, SubnetID: f.subnet.Id, VpcID: f.subnet.VpcId}
	case f.vpcErr != nil:
		return placement{}, []error{fmt.Errorf("looking up the default VPC: %w", f.vpcErr)}
	case f.defaultVPC == "":
		return placement{}, []error{configError{keySubnetID, "is unset and this region has no default VPC; name a public subnet for the runners",
			placeholderFix(keySubnetID, "<your-subnet-id>")}}
	case cfg.AvailabilityZone != "":
		p = placement{Zone: cfg.AvailabilityZone, VpcID: f.defaultVPC}
		if !slices.Contains(f.offerings.Zones, p.Zone) {
			return placement{}, []error{configError{keyAvailabilityZone, fmt.Sprintf("is %s, not an available zone of this region (zones: %s)",
				p.Zone, strings.Join(f.offerings.Zones, ", ")), zoneFix(cfg, f.offerings, volumesZone)}}
		}
	case err != nil:
		return placement{}, []error{err}
	case volumesZone != "":
		p = placement{Zone: volumesZone, VpcID: f.defaultVPC}
	case prev.zone != "":
		p = placement{Zone: prev.zone, VpcID: f.defaultVPC}
	default:
		zones := f.offerings.zonesOfferingAll([]string{cfg.InstanceTypeX86, cfg.InstanceTypeGraviton})
		if len(zones) == 0 {
			zones = f.offerings.zonesOfferingAll(instanceTypes(cfg))
		}
		if len(zones) == 0 {
			return placement{}, []error{configError{keyAvailabilityZone, fmt.Sprintf("is unset and no zone of the region offers all of %s; pick other instance types or another region",
				strings.Join(instanceTypes(cfg), ", ")), ""}}
		}
		p = placement{Zone: zones[0], VpcID: f.defaultVPC, ZoneChosen: true}
	}
	for _, id := range slices.Sorted(maps.Keys(f.volumes)) {
		if f.volumes[id].zone != p.Zone {
			p.Moving = append(p.Moving, id)
		}
	}
	return p, nil
}

// zoneOfVolumes is the one zone all of this stack's existing data volumes are in, "" when
// there are none. Volumes split across zones (a move that failed half-way) are an error
// that says which volumes each zone would keep.
func zoneOfVolumes(prev previousDeployment, volumes map[string]volumeFacts) (string, error) {
	byZone := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(volumes)) {
		runner, role := prev.volumeOwner(id)
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
