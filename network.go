package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// placement is where the runners and their volumes live. The zone is a plain string
// known before any instance exists, so a volume never waits on (or follows) an instance.
type placement struct {
	Zone       string
	SubnetID   string // empty: the zone's default subnet
	VpcID      string
	ZoneChosen bool // the zone was picked by the program, not pinned by n3x:availabilityZone
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

// resolvePlacement finds the VPC and zone: the subnet's when n3x:subnetId is set,
// otherwise the default VPC and the pinned or first suitable zone.
func resolvePlacement(ctx *pulumi.Context, cfg Config, offers zoneOfferings) (placement, error) {
	if cfg.SubnetID != "" {
		subnet, err := ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(cfg.SubnetID)})
		if err != nil {
			return placement{}, configError{keySubnetID, fmt.Sprintf("names a subnet this account cannot read in this region (%v)", err), configExamples[keySubnetID]}
		}
		if cfg.AvailabilityZone != "" && cfg.AvailabilityZone != subnet.AvailabilityZone {
			return placement{}, configError{keyAvailabilityZone, fmt.Sprintf("is %s but subnet %s is in %s; with n3x:subnetId set the zone follows the subnet",
				cfg.AvailabilityZone, cfg.SubnetID, subnet.AvailabilityZone), ""}
		}
		return placement{Zone: subnet.AvailabilityZone, SubnetID: subnet.Id, VpcID: subnet.VpcId}, nil
	}
	vpcs, err := ec2.GetVpcs(ctx, &ec2.GetVpcsArgs{Filters: []ec2.GetVpcsFilter{{Name: "is-default", Values: []string{"true"}}}})
	if err != nil {
		return placement{}, fmt.Errorf("looking up the default VPC: %w", err)
	}
	if len(vpcs.Ids) == 0 {
		return placement{}, configError{keySubnetID, "is unset and this region has no default VPC; name a public subnet for the runners", configExamples[keySubnetID]}
	}
	if cfg.AvailabilityZone != "" {
		if !slices.Contains(offers.Zones, cfg.AvailabilityZone) {
			return placement{}, configError{keyAvailabilityZone, fmt.Sprintf("is %s, not an available zone of this region (zones: %s)",
				cfg.AvailabilityZone, strings.Join(offers.Zones, ", ")), firstOr(offers.Zones, configExamples[keyAvailabilityZone])}
		}
		return placement{Zone: cfg.AvailabilityZone, VpcID: vpcs.Ids[0]}, nil
	}
	types := instanceTypes(cfg)
	zone := offers.firstZoneOfferingAll(types)
	if zone == "" {
		return placement{}, configError{keyAvailabilityZone, fmt.Sprintf("is unset and no zone of the region offers all of %s; pick other instance types or another region",
			strings.Join(types, ", ")), ""}
	}
	return placement{Zone: zone, VpcID: vpcs.Ids[0], ZoneChosen: true}, nil
}

// inboundPort is one TCP service the runners offer.
type inboundPort struct {
	name        string
	port        int
	description string
	fromPeers   bool // the other runners may always reach it, whatever n3x:sshCidrBlocks says
}

var inboundPorts = []inboundPort{
	{name: "ssh", port: 22, description: "SSH for operators"},
	{name: "https", port: 443, description: "Caddy TLS proxy to the Harmonia Nix binary cache", fromPeers: true},
	{name: "apt-cacher", port: 3142, description: "apt-cacher-ng Debian package proxy", fromPeers: true},
}

// newRunnerSecurityGroup creates the shared group with one rule resource per port and
// source, so a change to one CIDR touches only its own rules.
func newRunnerSecurityGroup(ctx *pulumi.Context, cfg Config, p placement) (*ec2.SecurityGroup, error) {
	name := securityGroupName(cfg)
	group, err := ec2.NewSecurityGroup(ctx, "runner-sg", &ec2.SecurityGroupArgs{
		Name:        pulumi.String(name),
		Description: pulumi.String("n3x build runners: SSH, Nix binary cache, apt proxy"),
		VpcId:       pulumi.String(p.VpcID),
		Tags:        sharedTags(ctx, name),
	})
	if err != nil {
		return nil, fmt.Errorf("security group %s: %w", name, err)
	}
	ingress := func(in inboundPort, source string, fill func(*vpc.SecurityGroupIngressRuleArgs)) error {
		rule := &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: group.ID(),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(in.port),
			ToPort:          pulumi.Int(in.port),
			Description:     pulumi.String(in.description),
			Tags:            sharedTags(ctx, fmt.Sprintf("%s-%s-from-%s", name, in.name, source)),
		}
		fill(rule)
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, in.name+"-from-"+source, rule); err != nil {
			return fmt.Errorf("%s ingress from %s: %w", in.name, source, err)
		}
		return nil
	}
	for _, in := range inboundPorts {
		for _, cidr := range cfg.SSHCidrBlocks {
			if err := ingress(in, resourceNamePart(cidr), func(rule *vpc.SecurityGroupIngressRuleArgs) {
				setCidr(&rule.CidrIpv4, &rule.CidrIpv6, cidr)
			}); err != nil {
				return nil, err
			}
		}
		if !in.fromPeers {
			continue
		}
		if err := ingress(in, "runners", func(rule *vpc.SecurityGroupIngressRuleArgs) {
			rule.ReferencedSecurityGroupId = group.ID()
			rule.Description = pulumi.String(in.description + ", between runners")
		}); err != nil {
			return nil, err
		}
	}
	// Runners fetch sources, Nix substitutes and Debian packages from anywhere.
	for _, everywhere := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		rule := &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: group.ID(),
			IpProtocol:      pulumi.String("-1"),
			Description:     pulumi.String("All outbound traffic"),
			Tags:            sharedTags(ctx, fmt.Sprintf("%s-egress-to-%s", name, everywhere)),
		}
		setCidr(&rule.CidrIpv4, &rule.CidrIpv6, everywhere)
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, "egress-to-"+resourceNamePart(everywhere), rule); err != nil {
			return nil, fmt.Errorf("egress to %s: %w", everywhere, err)
		}
	}
	return group, nil
}

// setCidr fills the rule's IPv4 or IPv6 source, whichever the prefix is.
func setCidr(ipv4, ipv6 *pulumi.StringPtrInput, prefix netip.Prefix) {
	if prefix.Addr().Is4() {
		*ipv4 = pulumi.String(prefix.String())
	} else {
		*ipv6 = pulumi.String(prefix.String())
	}
}

// resourceNamePart turns a CIDR into a stable logical-name fragment; "::" would break URNs.
func resourceNamePart(prefix netip.Prefix) string {
	return strings.NewReplacer(":", "-", "/", "-").Replace(prefix.String())
}

// securityGroupName is the physical name of the shared security group.
func securityGroupName(cfg Config) string {
	return cfg.NamePrefix + "-runner-sg"
}

// firstOr is the first value, or fallback when there is none.
func firstOr(values []string, fallback string) string {
	if len(values) > 0 {
		return values[0]
	}
	return fallback
}
