package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

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

// newRunnerSecurityGroup creates the shared group, checks that it is this stack's own
// (claimNames), and then its rules: one rule resource per port and source, so a change to
// one CIDR touches only its own rules. With n3x:sshCidrBlocks none only the rules between
// the runners and the egress rules exist.
func newRunnerSecurityGroup(ctx *pulumi.Context, cfg Config, p placement, after pulumi.Resource) (*ec2.SecurityGroup, error) {
	name := securityGroupName(cfg)
	group, err := ec2.NewSecurityGroup(ctx, "runner-sg", &ec2.SecurityGroupArgs{
		Name:        pulumi.String(name),
		Description: pulumi.String("n3x build runners: SSH, Nix binary cache, apt proxy"),
		VpcId:       pulumi.String(p.VpcID),
		Tags:        owned(cfg, sharedTags(ctx, name)),
	}, pulumi.DependsOn([]pulumi.Resource{after}))
	if err != nil {
		return nil, fmt.Errorf("security group %s: %w", name, err)
	}
	if err := claimNames(ctx, group); err != nil {
		return nil, err
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

// claimNames waits for the security group, the first resource the stack registers and the
// one its other resources wait for, so that when its create fails (its name taken by a
// group preflight could not list) the engine ends the update before anything else is made.
// Preflight has already stopped a stack whose group name another state holds, or that its
// own state lost (copyEvidence, checkLeftovers).
func claimNames(ctx *pulumi.Context, group *ec2.SecurityGroup) error {
	_, err := internals.UnsafeAwaitOutput(ctx.Context(), group.ID())
	return err
}

// copyError explains names taken by another state, and the two ways out.
func copyError(evidence string, cause error) error {
	problem := fmt.Sprintf("gives this stack %s, but this stack's state does not: "+
		"probably this stack was deployed from another backend (log in to that one: pulumi login <its URL>), or its stack file was copied; "+
		"to run a second fleet here instead, give it a prefix of its own", evidence)
	if cause != nil {
		problem += fmt.Sprintf(" (%s)", firstLine(cause))
	}
	return configError{keyNamePrefix, problem, placeholderFix(keyNamePrefix, "<another-prefix>")}
}
