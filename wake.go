package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Wake on job: a Lambda function behind a function URL, for GitLab's Job events webhook,
// starts a stopped runner for a pending job of its tags (wake/wake.py); a runner that has
// run no job for n3x:idleMinutes stops itself (wake/idle-stop.sh, on the AMI). The
// function's runtime is python3.13 (AWS's boto3 in it; deprecated 2029-06-30, Lambda
// runtimes page), one the bundled provider's runtime list knows.
const (
	keyWakeOnJob          = "wakeOnJob"
	keyGitlabURL          = "gitlabUrl"
	keyRunnerTagsX86      = "runnerTagsX86"
	keyRunnerTagsGraviton = "runnerTagsGraviton"
	keyIdleMinutes        = "idleMinutes"
	wakeRuntime           = "python3.13"
	wakeTimeoutSeconds    = 8  // GitLab waits 10 s for a webhook's answer (GitLab.com limits)
	wakeLogRetentionDays  = 14 // one of CloudWatch Logs' retention values
	minIdleMinutes        = 10
	maxIdleMinutes        = 1440
)

// wakeConfig is the validated wake-on-job configuration; the zero value is off.
type wakeConfig struct {
	Enabled     bool
	GitlabURL   string              // https://host[:port][/path], without a trailing slash
	Tags        map[string][]string // GitLab runner tags by EC2 architecture (x86_64, arm64)
	IdleMinutes int
}

// wakeKeys are the rows of configKeys for wake on job.
var wakeKeys = []configKey{
	{name: keyWakeOnJob, typ: configTypeBool, def: "false",
		description: "Start a stopped runner for each pending GitLab job of its tags (a Lambda function URL for the Job events webhook) and stop runners idle for idleMinutes (docs/hours-and-spot.md)."},
	{name: keyGitlabURL, typ: configTypeString, def: "https://gitlab.com",
		description: "GitLab instance whose jobs wake the runners (wakeOnJob); the function reads each job's tags from its API."},
	{name: keyRunnerTagsX86, typ: configTypeString, def: "n3x-build,x86_64",
		description: "Comma-separated tags of the x86_64 runners in GitLab: a pending job whose tags they all carry wakes one (wakeOnJob)."},
	{name: keyRunnerTagsGraviton, typ: configTypeString, def: "n3x-build,arm64",
		description: "Comma-separated tags of the Graviton runners in GitLab, likewise."},
	{name: keyIdleMinutes, typ: configTypeInt, def: "30",
		description: "With wakeOnJob, a runner that has run no job for this many minutes (10-1440) stops itself."},
}

// wake reads the wake-on-job keys; with wakeOnJob off, the others are still checked, so a
// typo shows before the switch is turned on.
func (r *configReader) wake() wakeConfig {
	w := wakeConfig{
		Enabled:     r.boolean(keyWakeOnJob),
		GitlabURL:   r.gitlabURL(),
		Tags:        map[string][]string{"x86_64": r.runnerTags(keyRunnerTagsX86), "arm64": r.runnerTags(keyRunnerTagsGraviton)},
		IdleMinutes: r.integer(keyIdleMinutes, minIdleMinutes, maxIdleMinutes, "minutes"),
	}
	return w
}

// gitlabURL reads the GitLab instance's https URL.
func (r *configReader) gitlabURL() string {
	raw := r.value(keyGitlabURL)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		r.fail(keyGitlabURL, placeholderFix(keyGitlabURL, "https://<your-gitlab-host>"), "must be the https URL of a GitLab instance, such as https://gitlab.com, got %q", raw)
		return ""
	}
	if u.Scheme == "http" {
		u.Scheme = "https"
		r.fail(keyGitlabURL, setFix(keyGitlabURL, u.String()), "is %q: the function sends a GitLab token to it, so it must be https", raw)
		return ""
	}
	return strings.TrimRight(u.String(), "/")
}

// runnerTags reads a comma-separated list of GitLab runner tags.
func (r *configReader) runnerTags(key string) []string {
	raw := r.value(key)
	var tags []string
	for _, tag := range strings.Split(raw, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "" || len(tag) > 255 {
			r.fail(key, placeholderFix(key, "<tag>,<tag>"), "must be GitLab runner tags separated by commas (each 1-255 characters), got %q", raw)
			return nil
		}
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	return tags
}

// wakeName is the function's and its role's name.
func wakeName(cfg Config) string { return cfg.NamePrefix + "-runner-wake" }

// wakeParameterNames are the SSM parameters of wake on job, by what each holds. The operator
// writes the two tokens (aws ssm put-parameter --type SecureString); the stack writes the
// idle minutes, which a runner reads.
func wakeParameterNames(cfg Config) map[string]string {
	return map[string]string{
		"gitlab-webhook-token": parameterPath(cfg) + "gitlab-webhook-token",
		"gitlab-api-token":     parameterPath(cfg) + "gitlab-api-token",
		"idle-minutes":         parameterPath(cfg) + "idle-minutes",
	}
}

// wakeRunner is what the function knows of one runner it may start: an instance that
// differs in any of these, or that this update replaces (Replacing, by id, from the
// state), is being replaced, changed or removed, and is never started.
type wakeRunner struct {
	Name         string   `json:"name"`
	Arch         string   `json:"arch"`
	AMI          string   `json:"ami"`
	KeyName      string   `json:"keyName"`
	Zone         string   `json:"zone"`
	InstanceType string   `json:"instanceType"`
	SubnetID     string   `json:"subnetId"` // "" when the zone's default subnet is not known at preview
	Spot         bool     `json:"spot"`
	Profile      string   `json:"profile"` // the instance profile's name
	Replacing    []string `json:"replacing"`
}

// wakeSettings is the function's config.json (wake/wake.py reads it): in the code, not the
// environment, whose 4 KB limit ten runners of each kind with long names would pass.
type wakeSettings struct {
	StateID               string              `json:"stateId"`
	Runners               []wakeRunner        `json:"runners"`
	Tags                  map[string][]string `json:"tags"`
	GitlabURL             string              `json:"gitlabUrl"`
	WebhookTokenParameter string              `json:"webhookTokenParameter"`
	APITokenParameter     string              `json:"apiTokenParameter"`
}

// newWakeSettings is what the function is told: every configured runner as this update
// makes it, with the instance the state holds for it when this update replaces that
// (launchReason), so the old one is never started while it is being replaced.
func newWakeSettings(cfg Config, p placement, state stackState) wakeSettings {
	parameters := wakeParameterNames(cfg)
	w := wakeSettings{StateID: cfg.StateID, Tags: map[string][]string{}, GitlabURL: cfg.Wake.GitlabURL,
		WebhookTokenParameter: parameters["gitlab-webhook-token"], APITokenParameter: parameters["gitlab-api-token"]}
	for _, spec := range runnerSpecs(cfg) {
		r := wakeRunner{Name: spec.physicalName(cfg), Arch: spec.arch, AMI: spec.ami, KeyName: keyPairName(cfg), Zone: p.Zone,
			InstanceType: spec.instanceType, SubnetID: p.SubnetID, Spot: cfg.Capacity == capacitySpot, Profile: runnerRoleName(cfg), Replacing: []string{}}
		if held := state.runners[spec.name].instance; held.id != "" && launchReason(cfg, spec, held, p) != "" {
			r.Replacing = append(r.Replacing, held.id)
		}
		w.Runners = append(w.Runners, r)
	}
	for _, a := range architectures(cfg) {
		w.Tags[a.arch] = cfg.Wake.Tags[a.arch]
	}
	return w
}

// wakeFunction is the deployed function: the runners wait for it, so its list of runners
// is updated before any of them is replaced or removed.
type wakeFunction struct {
	function   *lambda.Function
	url        *lambda.FunctionUrl
	parameters map[string]string // wakeParameterNames
}

// newWakeFunction creates, with n3x:wakeOnJob, the function, its role, its log group, its
// public URL and the idle-minutes parameter; nil without. The role may describe
// instances, start this stack's (aws:ResourceTag/n3x:state-id), read the two token
// parameters and write its own log group; nothing else.
func newWakeFunction(ctx *pulumi.Context, cfg Config, p placement, state stackState, account *callerFacts, boundary string) (*wakeFunction, error) {
	if !cfg.Wake.Enabled {
		return nil, nil
	}
	settings := newWakeSettings(cfg, p, state)
	name := wakeName(cfg)
	parameters := wakeParameterNames(cfg)
	if _, err := ssm.NewParameter(ctx, "idle-minutes", &ssm.ParameterArgs{
		Name:        pulumi.String(parameters["idle-minutes"]),
		Type:        pulumi.String("String"),
		Value:       pulumi.String(strconv.Itoa(cfg.Wake.IdleMinutes)),
		Description: pulumi.String("n3x runners: minutes without a job before a runner stops itself (n3x:idleMinutes)"),
		Tags:        sharedTags(ctx, parameters["idle-minutes"]),
	}); err != nil {
		return nil, fmt.Errorf("parameter %s: %w", parameters["idle-minutes"], err)
	}
	logGroupName := "/aws/lambda/" + name
	// Made before the function, so Lambda never creates it with no retention.
	logGroup, err := cloudwatch.NewLogGroup(ctx, "runner-wake-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(logGroupName),
		RetentionInDays: pulumi.Int(wakeLogRetentionDays),
		Tags:            sharedTags(ctx, logGroupName),
	})
	if err != nil {
		return nil, fmt.Errorf("log group %s: %w", logGroupName, err)
	}
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", account.partition, service, cfg.Region, account.accountID, resource)
	}
	permissions, err := policyJSON(
		policyStatement{Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: arn("logs", "log-group:"+logGroupName+":*")},
		policyStatement{Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*"},
		policyStatement{Effect: "Allow", Action: "ec2:StartInstances", Resource: arn("ec2", "instance/*"),
			Condition: map[string]map[string]string{"StringEquals": {"aws:ResourceTag/" + stateIDTag: cfg.StateID}}},
		policyStatement{Effect: "Allow", Action: "ssm:GetParameter", Resource: []string{
			arn("ssm", "parameter"+parameters["gitlab-api-token"]), arn("ssm", "parameter"+parameters["gitlab-webhook-token"])}},
	)
	if err != nil {
		return nil, err
	}
	role, policy, err := newServiceRole(ctx, serviceRole{
		logical: "runner-wake-role", name: name, service: "lambda.amazonaws.com",
		description:   "The n3x wake function: start this stack's stopped runners, read the webhook's tokens",
		policyLogical: "runner-wake-permissions", policyName: "wake", policy: pulumi.String(permissions), boundary: boundary,
	})
	if err != nil {
		return nil, err
	}
	settingsJSON, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return nil, err
	}
	function, err := lambda.NewFunction(ctx, "runner-wake", &lambda.FunctionArgs{
		Name:          pulumi.String(name),
		Description:   pulumi.String("n3x: starts a stopped runner for a pending GitLab job (docs/hours-and-spot.md)"),
		Runtime:       pulumi.String(wakeRuntime),
		Architectures: pulumi.StringArray{pulumi.String("arm64")},
		Handler:       pulumi.String("wake.handler"),
		Code: pulumi.NewAssetArchive(map[string]any{
			"wake.py": pulumi.NewFileAsset("wake/wake.py"), "config.json": pulumi.NewStringAsset(string(settingsJSON) + "\n")}),
		Role:       role.Arn,
		MemorySize: pulumi.Int(128),
		Timeout:    pulumi.Int(wakeTimeoutSeconds),
		Tags:       sharedTags(ctx, name),
		// The policy first: a function that cannot read its secrets answers 503.
	}, pulumi.DependsOn([]pulumi.Resource{logGroup, policy}))
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	// Public, as GitLab calls it without AWS credentials: the function checks the token.
	// The provider adds the lambda:InvokeFunctionUrl statement for AuthType NONE itself
	// (function_url.go, resourceFunctionURLCreate); function URLs made since October 2025 also
	// need lambda:InvokeFunction, which pulumi-aws 6.83.4 cannot limit to the URL
	// (no invoked_via_function_url): any AWS principal may so invoke it directly, which the
	// function answers like any request without the token.
	functionURL, err := lambda.NewFunctionUrl(ctx, "runner-wake-url", &lambda.FunctionUrlArgs{
		FunctionName: function.Name, AuthorizationType: pulumi.String("NONE"),
	})
	if err != nil {
		return nil, fmt.Errorf("function URL of %s: %w", name, err)
	}
	if _, err := lambda.NewPermission(ctx, "runner-wake-invoke", &lambda.PermissionArgs{
		Function: function.Name, Action: pulumi.String("lambda:InvokeFunction"), Principal: pulumi.String("*"),
	}); err != nil {
		return nil, fmt.Errorf("invoke permission of %s: %w", name, err)
	}
	return &wakeFunction{function: function, url: functionURL, parameters: parameters}, nil
}

// wakeRunnerPermissions are what a runner's role needs for its idle stop: read the idle
// minutes, and stop an instance of this stack that has the runners' profile, its own.
func wakeRunnerPermissions(cfg Config, account *callerFacts) []policyStatement {
	if !cfg.Wake.Enabled {
		return nil
	}
	return []policyStatement{{
		Effect: "Allow", Action: "ec2:StopInstances",
		Resource: fmt.Sprintf("arn:%s:ec2:%s:%s:instance/*", account.partition, cfg.Region, account.accountID),
		Condition: map[string]map[string]string{"StringEquals": {
			"aws:ResourceTag/" + stateIDTag: cfg.StateID,
			"ec2:InstanceProfile":           fmt.Sprintf("arn:%s:iam::%s:instance-profile/%s", account.partition, account.accountID, runnerRoleName(cfg)),
		}},
	}}
}

// outputs are the webhook's URL and the parameters of wake on job, by what each holds.
func (w *wakeFunction) outputs() map[string]pulumi.Input {
	if w == nil {
		return nil
	}
	return map[string]pulumi.Input{"wakeWebhookUrl": w.url.FunctionUrl, "wakeParameters": pulumi.ToStringMap(w.parameters)}
}
