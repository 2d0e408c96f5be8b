package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// gitlabJob is the part of a GitLab CI job these tests read.
type gitlabJob struct {
	Extends string   `yaml:"extends"`
	Stage   string   `yaml:"stage"`
	Script  []string `yaml:"script"`
	Rules   []struct {
		If   string `yaml:"if"`
		When string `yaml:"when"`
	} `yaml:"rules"`
}

func loadGitlabCI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(".gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf(".gitlab-ci.yml is not valid YAML: %v", err)
	}
	return doc
}

// pipelineJob decodes one job of the pipeline.
func pipelineJob(t *testing.T, doc map[string]any, name string) (gitlabJob, bool) {
	t.Helper()
	raw, ok := doc[name]
	if !ok {
		return gitlabJob{}, false
	}
	encoded, err := yaml.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var j gitlabJob
	if err := yaml.Unmarshal(encoded, &j); err != nil {
		t.Fatalf("job %s: %v", name, err)
	}
	return j, true
}

func TestGitlabPipeline(t *testing.T) {
	doc := loadGitlabCI(t)
	if got := doc["stages"]; !slices.Equal(toStrings(got), []string{"check", "preview", "deploy"}) {
		t.Errorf("stages = %v", got)
	}
	cases := []struct {
		job, script, ruleIf, when string
	}{
		{"check", "bash .ci/run", "", ""},
		{"preview", "pulumi preview --diff --non-interactive", `$CI_PIPELINE_SOURCE == "merge_request_event"`, ""},
		{"deploy", "pulumi up --diff --yes --non-interactive", "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "manual"},
	}
	for _, tc := range cases {
		job, ok := pipelineJob(t, doc, tc.job)
		if !ok {
			t.Errorf("no job %q", tc.job)
			continue
		}
		if !slices.Contains(job.Script, tc.script) {
			t.Errorf("%s script %q lacks %q", tc.job, job.Script, tc.script)
		}
		if tc.ruleIf == "" {
			continue
		}
		if len(job.Rules) != 1 || job.Rules[0].If != tc.ruleIf || job.Rules[0].When != tc.when {
			t.Errorf("%s rules = %+v, want if %q when %q", tc.job, job.Rules, tc.ruleIf, tc.when)
		}
		if job.Extends != ".pulumi" {
			t.Errorf("%s does not extend .pulumi (login and stack selection)", tc.job)
		}
	}
}

func TestGitlabPipelineCachesGoAndHoldsNoSecrets(t *testing.T) {
	doc := loadGitlabCI(t)
	variables, _ := doc["variables"].(map[string]any)
	cache := doc["default"].(map[string]any)["cache"].(map[string]any)
	cached := toStrings(cache["paths"])
	for _, dir := range []string{"GOCACHE", "GOMODCACHE"} {
		value, _ := variables[dir].(string)
		inCache := slices.ContainsFunc(cached, func(path string) bool {
			return strings.HasPrefix(strings.TrimPrefix(value, "$CI_PROJECT_DIR/"), strings.TrimSuffix(path, "/"))
		})
		if value == "" || !inCache {
			t.Errorf("%s = %q is not under a cached path %v", dir, value, cached)
		}
	}
	for name := range variables {
		for _, secret := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "AWS_SESSION_TOKEN"} {
			if name == secret {
				t.Errorf("%s is set in .gitlab-ci.yml; it belongs in masked CI/CD variables", name)
			}
		}
	}
}

func toStrings(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, item := range items {
		s, _ := item.(string)
		out = append(out, s)
	}
	return out
}
