package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Every runner, on demand or Spot, runs as the stack's runner role: one EC2 may assume, that
// may read exactly this stack's parameters and take Session Manager sessions.
func TestRunnersHaveOneIdentity(t *testing.T) {
	for _, capacity := range []string{capacityOnDemand, capacitySpot} {
		t.Run(capacity, func(t *testing.T) {
			d := mustDeploy(t, testConfig(keyCapacity, capacity, keyX86Count, "2"))
			role := d.find(t, typeRole, "runner-role")
			profile := d.find(t, typeInstanceProfile, "runner-profile")
			if str(t, role, "name") != "n3x-runner" || str(t, profile, "name") != "n3x-runner" || str(t, profile, "role") != "n3x-runner" {
				t.Errorf("role %q, profile %q with role %q", str(t, role, "name"), str(t, profile, "name"), str(t, profile, "role"))
			}
			var trust policyDocument
			if err := json.Unmarshal([]byte(str(t, role, "assumeRolePolicy")), &trust); err != nil {
				t.Fatal(err)
			}
			wantTrust := policyStatement{Effect: "Allow", Principal: map[string]string{"Service": "ec2.amazonaws.com"}, Action: "sts:AssumeRole"}
			if len(trust.Statement) != 1 || !equalJSON(t, trust.Statement[0], wantTrust) {
				t.Errorf("trust %+v, want only %+v", trust.Statement, wantTrust)
			}
			policy := d.find(t, typeRolePolicy, "runner-role-permissions")
			if str(t, policy, "role") != role.id {
				t.Errorf("policy on %q", str(t, policy, "role"))
			}
			var permissions policyDocument
			if err := json.Unmarshal([]byte(str(t, policy, "policy")), &permissions); err != nil {
				t.Fatal(err)
			}
			arn := func(name string) string {
				return "arn:aws:ssm:us-east-1:" + testAccount + ":parameter/n3x-runner/" + name
			}
			want := []policyStatement{
				{Effect: "Allow", Action: []any{"ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
					"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"}, Resource: "*"},
				{Effect: "Allow", Action: []any{"ssm:GetParameter", "ssm:GetParameters"},
					Resource: []any{arn("cache-signing-key"), arn("gitlab-runner-token/arm64"), arn("gitlab-runner-token/x86_64")}},
			}
			if !equalJSON(t, permissions.Statement, want) {
				t.Errorf("the role may\n%+v\nwant\n%+v", permissions.Statement, want)
			}
			for _, s := range permissions.Statement {
				if actions := fmt.Sprint(s.Action); strings.Contains(actions, "GetParameter") && s.Resource == "*" {
					t.Errorf("parameters readable on *: %+v", s)
				}
			}
			typ := map[string]string{capacityOnDemand: typeInstance, capacitySpot: typeSpotRequest}[capacity]
			for _, runner := range d.ofType(typ) {
				if got := str(t, runner, "iamInstanceProfile"); got != "n3x-runner" {
					t.Errorf("%s iamInstanceProfile %q", runner.name, got)
				}
				if !hasDependency(runner, "runner-profile") {
					t.Errorf("%s does not wait for the instance profile", runner.name)
				}
			}
			if !hasDependency(profile, "runner-role-permissions") {
				t.Error("the profile does not wait for its role's permissions")
			}
		})
	}
}

// The secrets never enter the stack: the operator writes them to SSM, and the stack makes no
// parameter, grants the role read on exactly the names the runners read, and names them in
// its outputs; the cache's public key is plain configuration.
func TestSecretsStayOutOfTheStack(t *testing.T) {
	_, public := testSigningKey(t)
	d := mustDeploy(t, testConfig(keyCacheSigningPublicKey, public))
	if n := len(d.ofType(typeParameter)); n != 0 {
		t.Errorf("%d parameters made by the stack", n)
	}
	wantNames := map[string]any{"gitlab-runner-token/x86_64": "/n3x-runner/gitlab-runner-token/x86_64",
		"gitlab-runner-token/arm64": "/n3x-runner/gitlab-runner-token/arm64", "cache-signing-key": "/n3x-runner/cache-signing-key"}
	if !maps.Equal(d.outputs["runnerParameters"].(map[string]any), wantNames) {
		t.Errorf("runnerParameters %v, want %v", d.outputs["runnerParameters"], wantNames)
	}
	if d.outputs["cacheSigningPublicKey"] != public {
		t.Errorf("cacheSigningPublicKey %v", d.outputs["cacheSigningPublicKey"])
	}
	for _, w := range d.warnings {
		if strings.Contains(w, "keeps a secret") {
			t.Errorf("warns without a secret in the configuration: %s", w)
		}
	}
	x86Only := mustDeploy(t, testConfig(keyAmiArm64, ""))
	if _, ok := x86Only.outputs["runnerParameters"].(map[string]any)["gitlab-runner-token/arm64"]; ok {
		t.Error("an x86-only stack names a Graviton token")
	}
	if key, ok := x86Only.outputs["cacheSigningPublicKey"]; ok {
		t.Errorf("a public key %v without one configured", key)
	}
}

// A stack of an earlier version keeps its secrets in the configuration until the operator
// moves them: their parameters stay as they were, now retained on delete, so removing the key
// leaves the parameter (and its value) in SSM; each key warns with the move.
func TestLegacySecretsKeepTheirParametersUntilMoved(t *testing.T) {
	secret, public := testSigningKey(t)
	d := mustDeploy(t, testConfig(keyGitlabRunnerToken, "glrt-legacy", keyCacheSigningKey, secret))
	for _, p := range d.ofType(typeParameter) {
		if !p.rpc.GetRetainOnDelete() {
			t.Errorf("%s is not retained on delete: removing the key would delete the runners' secret", p.name)
		}
	}
	if n := len(d.ofType(typeParameter)); n != 3 {
		t.Errorf("%d legacy parameters, want the x86, Graviton and signing key ones", n)
	}
	wants := []string{
		"n3x:gitlabRunnerToken keeps a secret in this stack's configuration and state, which every preview decrypts, merge requests' too; " +
			"move it out: pulumi config rm n3x:gitlabRunnerToken && pulumi up (its SSM parameter stays, with its value: this version keeps it when the key goes), " +
			"then rotate it (docs/ci-iam.md, Stack secrets)",
		"n3x:cacheSigningKey keeps a secret in this stack's configuration and state, which every preview decrypts, merge requests' too; " +
			"move it out: pulumi config set n3x:cacheSigningPublicKey " + shellQuote(public) + " && pulumi config rm n3x:cacheSigningKey && pulumi up",
	}
	for _, want := range wants {
		if !slices.ContainsFunc(d.warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("warnings %q lack %q", d.warnings, want)
		}
	}
	if d.outputs["cacheSigningPublicKey"] != public {
		t.Errorf("cacheSigningPublicKey %v", d.outputs["cacheSigningPublicKey"])
	}
}

// The legacy secrets go into SecureString parameters under the stack's path, as secrets;
// the outputs name the parameters and give the cache's public key, and no secret is anywhere
// but in the parameters' values.
func TestLegacySecretsGoToParametersAndNeverOut(t *testing.T) {
	secret, public := testSigningKey(t)
	tokenX86, tokenArm := "glrt-x86-secret-token", "glrt-arm-secret-token"
	d := mustDeploy(t, testConfig(keyGitlabRunnerToken, tokenX86, keyGitlabRunnerTokenGraviton, tokenArm, keyCacheSigningKey, secret))
	want := map[string]string{
		"/n3x-runner/gitlab-runner-token/x86_64": tokenX86,
		"/n3x-runner/gitlab-runner-token/arm64":  tokenArm,
		"/n3x-runner/cache-signing-key":          secret,
	}
	got := map[string]string{}
	for _, p := range d.ofType(typeParameter) {
		if str(t, p, "type") != "SecureString" {
			t.Errorf("%s type %s", p.name, str(t, p, "type"))
		}
		value := prop(t, p, "value")
		if !value.IsSecret() {
			t.Errorf("%s value is not a secret", p.name)
			continue
		}
		got[str(t, p, "name")] = value.SecretValue().Element.StringValue()
	}
	if !maps.Equal(got, want) {
		t.Errorf("parameters %v, want %v", got, want)
	}
	if d.outputs["cacheSigningPublicKey"] != public {
		t.Errorf("cacheSigningPublicKey %v, want %s", d.outputs["cacheSigningPublicKey"], public)
	}
	wantNames := map[string]any{"gitlab-runner-token/x86_64": "/n3x-runner/gitlab-runner-token/x86_64",
		"gitlab-runner-token/arm64": "/n3x-runner/gitlab-runner-token/arm64", "cache-signing-key": "/n3x-runner/cache-signing-key"}
	if !maps.Equal(d.outputs["runnerParameters"].(map[string]any), wantNames) {
		t.Errorf("runnerParameters %v, want %v", d.outputs["runnerParameters"], wantNames)
	}
	leaks := func(where, text string) {
		for _, s := range []string{tokenX86, tokenArm, strings.SplitN(secret, ":", 2)[1]} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret", where)
			}
		}
	}
	leaks("outputs", fmt.Sprint(d.outputs))
	leaks("logs", strings.Join(slices.Concat(d.warnings, d.infos), "\n"))
	for _, r := range d.aws.registrations {
		if r.typ == typeParameter {
			continue
		}
		leaks(r.typ+" "+r.name, fmt.Sprint(r.inputs))
	}
	for _, p := range d.ofType(typeParameter) {
		leaks(p.name+" tags", fmt.Sprint(tags(t, p)))
	}
}

// Each runner's entry in runners has the command that opens a Session Manager session, so
// an operator needs no open SSH port.
func TestEveryRunnerHasASessionManagerCommand(t *testing.T) {
	d := mustDeploy(t, testConfig(keySSHCidrBlocks, "none", keyX86Count, "2"))
	for _, entry := range d.outputs["runners"].([]any) {
		r := entry.(map[string]any)
		if want := "aws ssm start-session --region us-east-1 --target " + r["instanceId"].(string); r["ssmSessionCommand"] != want {
			t.Errorf("%s ssmSessionCommand %v, want %s", r["name"], r["ssmSessionCommand"], want)
		}
	}
}
