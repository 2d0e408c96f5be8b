package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runnerIdentity is what the runners are to AWS: one role and instance profile per stack,
// and the SSM parameters the role may read.
type runnerIdentity struct {
	profile    *iam.InstanceProfile
	parameters map[string]string // parameter name by what it holds: gitlab-runner-token/x86_64, cache-signing-key
	publicKey  string            // the cache signing key's public half, "" without one
}

// parameterPath is where a stack's parameters live: under its instance profile's name, which
// a runner reads from its own instance metadata (iam/info), so it needs no other permission
// and no configuration to find them. The name prefix, which is unique per account and region,
// makes it one path per stack.
func parameterPath(cfg Config) string { return "/" + runnerRoleName(cfg) + "/" }

// Session Manager's actions for the agent on the instance, the minimum AWS documents for
// sessions without logging ("Create a custom IAM role for Session Manager"). Not
// AmazonSSMManagedInstanceCore: it also grants ssm:GetParameter(s) on every parameter.
var sessionManagerActions = []string{
	"ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
}

// newRunnerIdentity creates the runners' role, which only EC2 may assume, its instance
// profile, and a SecureString parameter per secret: the GitLab runner authentication token
// per architecture and the Nix cache signing key. The role may read exactly those
// parameters, by ARN, and take Session Manager sessions; nothing else.
func newRunnerIdentity(ctx *pulumi.Context, cfg Config, account *callerFacts) (runnerIdentity, error) {
	name := runnerRoleName(cfg)
	secrets := map[string]string{} // parameter name -> value
	for arch, token := range cfg.RunnerTokens {
		secrets[parameterPath(cfg)+"gitlab-runner-token/"+arch] = token
	}
	identity := runnerIdentity{parameters: map[string]string{}}
	if cfg.CacheSigningKey != nil {
		secrets[parameterPath(cfg)+"cache-signing-key"] = cfg.CacheSigningKey.secretValue()
		identity.publicKey = cfg.CacheSigningKey.publicKey()
	}
	var parameterARNs []string
	for _, parameter := range slices.Sorted(maps.Keys(secrets)) {
		logical := "parameter" + parameter[len(parameterPath(cfg))-1:]
		if _, err := ssm.NewParameter(ctx, logical, &ssm.ParameterArgs{
			Name:        pulumi.String(parameter),
			Type:        pulumi.String("SecureString"),
			Value:       pulumi.ToSecret(pulumi.String(secrets[parameter])).(pulumi.StringOutput),
			Description: pulumi.String("n3x runners: read at boot with the runner role (docs/ami.md)"),
			Tags:        sharedTags(ctx, parameter),
		}); err != nil {
			return runnerIdentity{}, fmt.Errorf("parameter %s: %w", parameter, err)
		}
		identity.parameters[parameter[len(parameterPath(cfg)):]] = parameter
		// SSM parameter ARNs drop the name's leading slash (SSM user guide, parameter ARNs).
		parameterARNs = append(parameterARNs, fmt.Sprintf("arn:%s:ssm:%s:%s:parameter%s", account.partition, cfg.Region, account.accountID, parameter))
	}
	statements := []policyStatement{{Effect: "Allow", Action: sessionManagerActions, Resource: "*"}}
	if len(parameterARNs) > 0 {
		statements = append(statements, policyStatement{Effect: "Allow", Action: []string{"ssm:GetParameter", "ssm:GetParameters"}, Resource: parameterARNs})
	}
	permissions, err := policyJSON(statements...)
	if err != nil {
		return runnerIdentity{}, err
	}
	role, policy, err := newServiceRole(ctx, serviceRole{
		logical: "runner-role", name: name, service: "ec2.amazonaws.com",
		description:   "The n3x runners: read this stack's SSM parameters, Session Manager",
		policyLogical: "runner-role-permissions", policyName: "runner", policy: pulumi.String(permissions),
	})
	if err != nil {
		return runnerIdentity{}, err
	}
	// The profile waits for the policy, so a runner launched with it can read its parameters.
	identity.profile, err = iam.NewInstanceProfile(ctx, "runner-profile", &iam.InstanceProfileArgs{
		Name: pulumi.String(name),
		Role: role.Name,
		Tags: sharedTags(ctx, name),
	}, pulumi.DependsOn([]pulumi.Resource{policy}))
	if err != nil {
		return runnerIdentity{}, fmt.Errorf("instance profile %s: %w", name, err)
	}
	return identity, nil
}

// outputs are the names of the parameters, for the runners' configuration, and the cache's
// public key, for every client's nix.conf; never a secret.
func (i runnerIdentity) outputs() map[string]pulumi.Input {
	parameters := pulumi.StringMap{}
	for what, name := range i.parameters {
		parameters[what] = pulumi.String(name)
	}
	var publicKey pulumi.Input
	if i.publicKey != "" {
		publicKey = pulumi.String(i.publicKey)
	}
	return map[string]pulumi.Input{
		"runnerParameters":      parameters,
		"cacheSigningPublicKey": publicKey,
	}
}
