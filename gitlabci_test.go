package main

import (
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// gitlabJob is the part of a GitLab CI job (or of `default:`) these tests read.
type gitlabJob struct {
	Extends     string            `yaml:"extends"`
	Stage       string            `yaml:"stage"`
	Tags        []string          `yaml:"tags"`
	Variables   map[string]string `yaml:"variables"`
	Script      []string          `yaml:"script"`
	AfterScript []string          `yaml:"after_script"`
	Only        any               `yaml:"only"`
	Except      any               `yaml:"except"`
	Cache       struct {
		Paths []string `yaml:"paths"`
	} `yaml:"cache"`
	Rules []struct {
		If   string `yaml:"if"`
		When string `yaml:"when"`
	} `yaml:"rules"`
}

// gitlabPipeline is .gitlab-ci.yml with its hidden template merged into the jobs that
// extend it (variables and lists as GitLab merges them for these jobs).
type gitlabPipeline struct {
	Stages    []string          `yaml:"stages"`
	Variables map[string]string `yaml:"variables"`
	Default   gitlabJob         `yaml:"default"`
	jobs      map[string]gitlabJob
}

// pulumiJobs are the jobs that run the Pulumi CLI against the stack.
var pulumiJobs = []string{"preview", "deploy"}

func loadGitlabCI(t *testing.T) gitlabPipeline {
	t.Helper()
	raw, err := os.ReadFile(".gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p gitlabPipeline
	var all map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatalf(".gitlab-ci.yml is not valid YAML: %v", err)
	}
	if err := yaml.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	p.jobs = map[string]gitlabJob{}
	for name, node := range all {
		if slices.Contains([]string{"workflow", "stages", "variables", "default"}, name) {
			continue
		}
		var j gitlabJob
		if err := node.Decode(&j); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
		p.jobs[name] = j
	}
	for name, j := range p.jobs {
		if j.Extends == "" {
			continue
		}
		template, ok := p.jobs[j.Extends]
		if !ok {
			t.Fatalf("job %s extends %q, which does not exist", name, j.Extends)
		}
		variables := map[string]string{}
		for k, v := range template.Variables {
			variables[k] = v
		}
		for k, v := range j.Variables {
			variables[k] = v
		}
		j.Variables = variables
		if j.AfterScript == nil {
			j.AfterScript = template.AfterScript
		}
		if j.Tags == nil {
			j.Tags = template.Tags
		}
		p.jobs[name] = j
	}
	return p
}

func TestGitlabPipeline(t *testing.T) {
	p := loadGitlabCI(t)
	if !slices.Equal(p.Stages, []string{"check", "preview", "deploy"}) {
		t.Errorf("stages = %v", p.Stages)
	}
	cases := []struct {
		job, script string
	}{
		{"check", "bash .ci/run"},
		{"preview", "pulumi preview --diff --non-interactive"},
		{"deploy", "pulumi up --diff --yes --non-interactive"},
	}
	for _, tc := range cases {
		job, ok := p.jobs[tc.job]
		if !ok {
			t.Errorf("no job %q", tc.job)
			continue
		}
		if !slices.Contains(job.Script, tc.script) {
			t.Errorf("%s script %q lacks %q", tc.job, job.Script, tc.script)
		}
	}
	for _, name := range pulumiJobs {
		if p.jobs[name].Extends != ".pulumi" {
			t.Errorf("%s does not extend .pulumi (login and stack selection)", name)
		}
	}
	if rules := p.jobs["preview"].Rules; len(rules) != 1 || rules[0].If != `$CI_PIPELINE_SOURCE == "merge_request_event"` {
		t.Errorf("preview rules = %+v, want merge requests only", rules)
	}
}

// A Pulumi job on one of the fleet's own runners would stop the machine it runs on.
func TestPulumiJobsRunOutsideTheFleet(t *testing.T) {
	p := loadGitlabCI(t)
	for _, name := range pulumiJobs {
		tags := p.jobs[name].Tags
		if tags == nil {
			tags = p.Default.Tags
		}
		if len(tags) == 0 {
			t.Errorf("%s has no runner tag: GitLab may hand it to a runner of the fleet it changes", name)
		}
		for _, tag := range tags {
			if variable, ok := strings.CutPrefix(tag, "$"); ok && p.Variables[variable] == "" {
				t.Errorf("%s is tagged %s, which has no default in variables:", name, tag)
			}
		}
	}
}

// Pulumi's home holds credentials.json after `pulumi login`, and the OIDC token file
// is a credential: neither may reach the cache, which every pipeline (and branch) reads.
func TestPipelineCachesNoCredentials(t *testing.T) {
	p := loadGitlabCI(t)
	inProject := func(value string) string {
		return strings.TrimPrefix(value, "$CI_PROJECT_DIR/")
	}
	credentials := []string{path.Join(inProject(p.Variables["PULUMI_HOME"]), "credentials.json")}
	for _, name := range pulumiJobs {
		credentials = append(credentials, inProject(p.jobs[name].Variables["AWS_WEB_IDENTITY_TOKEN_FILE"]))
	}
	for _, cached := range p.Default.Cache.Paths {
		for _, secret := range credentials {
			if secret == "" || strings.HasPrefix(secret+"/", strings.TrimSuffix(cached, "/")+"/") || cached == "." || cached == "./" {
				t.Errorf("cache path %q holds %q", cached, secret)
			}
		}
	}
	for _, dir := range []string{"GOCACHE", "GOMODCACHE"} {
		value := inProject(p.Variables[dir])
		if !slices.ContainsFunc(p.Default.Cache.Paths, func(cached string) bool { return strings.HasPrefix(value+"/", cached) }) {
			t.Errorf("%s = %q is not under a cached path %v", dir, value, p.Default.Cache.Paths)
		}
	}
	for _, name := range pulumiJobs {
		job := p.jobs[name]
		if job.Variables["AWS_WEB_IDENTITY_TOKEN_FILE"] == "" {
			t.Errorf("%s: AWS_WEB_IDENTITY_TOKEN_FILE is not a job variable, so after_script cannot find the token file", name)
		}
		if !slices.ContainsFunc(job.AfterScript, func(line string) bool {
			return strings.HasPrefix(line, "rm -f") && strings.Contains(line, `"$AWS_WEB_IDENTITY_TOKEN_FILE"`)
		}) {
			t.Errorf("%s after_script %q does not remove the OIDC token file", name, job.AfterScript)
		}
	}
	for name := range p.Variables {
		for _, secret := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "AWS_SESSION_TOKEN"} {
			if name == secret {
				t.Errorf("%s is set in .gitlab-ci.yml; nothing secret lives in the repository", name)
			}
		}
	}
}

// Only the default branch deploys, and only when someone starts it.
func TestDeployRunsOnlyOnTheDefaultBranchByHand(t *testing.T) {
	deploy := loadGitlabCI(t).jobs["deploy"]
	if len(deploy.Rules) == 0 || deploy.Only != nil || deploy.Except != nil {
		t.Fatalf("deploy rules %+v only %v except %v; want rules alone", deploy.Rules, deploy.Only, deploy.Except)
	}
	for _, rule := range deploy.Rules {
		if rule.If != "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" || rule.When != "manual" {
			t.Errorf("deploy rule %+v; every rule must be the default branch, when: manual", rule)
		}
	}
}

// The preview role is read-only and any pipeline may assume it; the deploy role is for the
// default branch alone. A job that picked the wrong one would undo that split.
func TestPreviewAndDeployAssumeDifferentRoles(t *testing.T) {
	p := loadGitlabCI(t)
	preview, deploy := p.jobs["preview"].Variables["AWS_ROLE_ARN"], p.jobs["deploy"].Variables["AWS_ROLE_ARN"]
	if preview != "$AWS_PREVIEW_ROLE_ARN" || deploy != "$AWS_DEPLOY_ROLE_ARN" {
		t.Errorf("AWS_ROLE_ARN: preview %q, deploy %q; want $AWS_PREVIEW_ROLE_ARN and $AWS_DEPLOY_ROLE_ARN", preview, deploy)
	}
	if p.Variables["AWS_ROLE_ARN"] != "" {
		t.Error("AWS_ROLE_ARN is set for the whole pipeline; each Pulumi job picks its own role")
	}
}

// The format step of .ci/run judges the repository's own Go files only: GitLab keeps the
// module cache inside the checkout (GOMODCACHE under .cache/), full of files gofmt would
// list, and that must not fail the check job.
func TestFormatCheckIgnoresTheModuleCacheInTheTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	script, err := os.ReadFile("scripts/check-format.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(path.Dir(path.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	write("scripts/check-format.sh", string(script))
	write("main.go", "package main\n\nfunc main() {}\n")
	write(".cache/go-mod/example.com/lib@v1.0.0/lib.go", "package lib\nfunc   Ugly( ) {}\n")
	write(".cache/go-mod/example.com/broken@v1.0.0/broken.go", "package broken\nfunc {\n")
	for _, args := range [][]string{{"git", "init", "-q"}, {"git", "add", "main.go", "scripts"}} {
		if out, err := run(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := run("bash", "scripts/check-format.sh"); err != nil {
		t.Errorf("the format check fails on the module cache in the tree:\n%s", out)
	}
	write("main.go", "package main\nfunc   main( ) {}\n")
	if out, err := run("bash", "scripts/check-format.sh"); err == nil || !strings.Contains(out, "main.go") {
		t.Errorf("an unformatted tracked file passes:\n%s", out)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil || !strings.Contains(string(ci), "bash scripts/check-format.sh") || strings.Contains(string(ci), "gofmt -l .") {
		t.Errorf(".ci/run does not run scripts/check-format.sh for its format step")
	}
}
