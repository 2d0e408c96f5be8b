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

// The runners' secrets, by their parameter's name under parameterPath.
const cacheSigningKeyParameter = "cache-signing-key"

func runnerTokenParameter(arch string) string { return "gitlab-runner-token/" + arch }

// runnerParameterNames are the SSM parameters the runners read at boot, by what each holds:
// each architecture's GitLab runner token and the Nix cache signing key. The operator writes
// them (aws ssm put-parameter --type SecureString, docs/ci-iam.md), so their values never
// enter the stack's configuration or state, which every preview decrypts.
func runnerParameterNames(cfg Config) map[string]string {
	names := map[string]string{cacheSigningKeyParameter: parameterPath(cfg) + cacheSigningKeyParameter}
	for _, a := range architectures(cfg) {
		names[runnerTokenParameter(a.arch)] = parameterPath(cfg) + runnerTokenParameter(a.arch)
	}
	if cfg.Wake.Enabled {
		names["idle-minutes"] = wakeParameterNames(cfg)["idle-minutes"]
	}
	return names
}

// Session Manager's actions for the agent on the instance, the minimum AWS documents for
// sessions without logging ("Create a custom IAM role for Session Manager"). Not
// AmazonSSMManagedInstanceCore: it also grants ssm:GetParameter(s) on every parameter.
var sessionManagerActions = []string{
	"ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
}

// newRunnerIdentity creates the runners' role, which only EC2 may assume, and its instance
// profile. The role may read exactly this stack's parameters, by ARN, and take Session
// Manager sessions; nothing else. A secret still set in the configuration by an earlier
// version (n3x:gitlabRunnerToken, n3x:cacheSigningKey) keeps its SecureString parameter as
// before, retained on delete: removing the key leaves the parameter, and its value, in SSM,
// and takes it out of the stack (legacySecretWarnings).
func newRunnerIdentity(ctx *pulumi.Context, cfg Config, account *callerFacts, boundary string) (runnerIdentity, error) {
	name := runnerRoleName(cfg)
	identity := runnerIdentity{parameters: runnerParameterNames(cfg), publicKey: cfg.CacheSigningPublicKey}
	legacy := map[string]string{} // parameter name -> value, from the configuration
	for arch, token := range cfg.RunnerTokens {
		legacy[parameterPath(cfg)+runnerTokenParameter(arch)] = token
	}
	if cfg.CacheSigningKey != nil {
		legacy[parameterPath(cfg)+cacheSigningKeyParameter] = cfg.CacheSigningKey.secretValue()
	}
	for _, parameter := range slices.Sorted(maps.Keys(legacy)) {
		logical := "parameter" + parameter[len(parameterPath(cfg))-1:]
		if _, err := ssm.NewParameter(ctx, logical, &ssm.ParameterArgs{
			Name:        pulumi.String(parameter),
			Type:        pulumi.String("SecureString"),
			Value:       pulumi.ToSecret(pulumi.String(legacy[parameter])).(pulumi.StringOutput),
			Description: pulumi.String("n3x runners: read at boot with the runner role (docs/ami.md)"),
			Tags:        sharedTags(ctx, parameter),
		}, pulumi.RetainOnDelete(true)); err != nil {
			return runnerIdentity{}, fmt.Errorf("parameter %s: %w", parameter, err)
		}
	}
	var parameterARNs []string
	for _, parameter := range slices.Sorted(maps.Values(identity.parameters)) {
		// SSM parameter ARNs drop the name's leading slash (SSM user guide, parameter ARNs).
		parameterARNs = append(parameterARNs, fmt.Sprintf("arn:%s:ssm:%s:%s:parameter%s", account.partition, cfg.Region, account.accountID, parameter))
	}
	permissions, err := policyJSON(append([]policyStatement{
		{Effect: "Allow", Action: sessionManagerActions, Resource: "*"},
		{Effect: "Allow", Action: []string{"ssm:GetParameter", "ssm:GetParameters"}, Resource: parameterARNs},
	}, wakeRunnerPermissions(cfg, account)...)...)
	if err != nil {
		return runnerIdentity{}, err
	}
	role, policy, err := newServiceRole(ctx, serviceRole{
		logical: "runner-role", name: name, service: "ec2.amazonaws.com",
		description:   "The n3x runners: read this stack's SSM parameters, Session Manager",
		policyLogical: "runner-role-permissions", policyName: "runner", policy: pulumi.String(permissions), boundary: boundary,
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

// legacySecretWarnings name each secret an earlier version kept in the configuration, with
// the move out of it: remove the key and pulumi up (its parameter, retained on delete, stays
// in SSM with its value), then rotate it, since the stack's history still holds the old one.
func legacySecretWarnings(cfg Config) []string {
	var warnings []string
	for _, key := range cfg.LegacySecretKeys {
		fix := rmFix(key)
		if key == keyCacheSigningKey && !cfg.publicKeySet {
			fix = setFix(keyCacheSigningPublicKey, cfg.CacheSigningKey.publicKey()) + " && " + fix
		}
		warnings = append(warnings, fmt.Sprintf("n3x:%s keeps a secret in this stack's configuration and state, which every preview decrypts, merge requests' too; "+
			"move it out: %s && pulumi up (its SSM parameter stays, with its value: this version keeps it when the key goes), then rotate it "+
			"(docs/ci-iam.md, Stack secrets)", key, fix))
	}
	return warnings
}

// outputs are the names of the parameters, for the runners' configuration, and, with one
// configured, the cache's public key, for every client's nix.conf; never a secret. Without
// a key there is no such output (a null one the engine would drop anyway).
func (i runnerIdentity) outputs() map[string]pulumi.Input {
	parameters := pulumi.StringMap{} // by what each holds
	for what, name := range i.parameters {
		parameters[what] = pulumi.String(name)
	}
	outputs := map[string]pulumi.Input{"runnerParameters": parameters}
	if i.publicKey != "" {
		outputs["cacheSigningPublicKey"] = pulumi.String(i.publicKey)
	}
	return outputs
}
