package main

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeSection returns the README text from a "## title" heading to the next one.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "\n## "+title+"\n")
	if !found {
		t.Fatalf("README has no %q section", title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

func TestReadmeConfigurationTableMatchesTheCode(t *testing.T) {
	row := regexp.MustCompile("(?m)^\\| `n3x:(\\w+)` \\| ([^|]+) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(readmeSection(t, "Configuration"), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	want := map[string]string{}
	for key, value := range configDefaults {
		want[key] = "`" + value + "`"
		if value == "" {
			want[key] = "(unset)"
		}
	}
	for _, key := range requiredKeys {
		want[key] = "(required)"
	}
	if !maps.Equal(documented, want) {
		t.Errorf("README configuration table:\n got %v\nwant %v", documented, want)
	}
}

func TestReadmeOutputsTableMatchesTheCode(t *testing.T) {
	row := regexp.MustCompile(`(?m)^\| (\w+) \| `)
	var documented []string
	for _, m := range row.FindAllStringSubmatch(readmeSection(t, "Outputs"), -1) {
		if m[1] != "Output" {
			documented = append(documented, m[1])
		}
	}
	d := mustDeploy(t, testConfig())
	if got, want := slices.Sorted(slices.Values(documented)), slices.Sorted(maps.Keys(d.outputs)); !slices.Equal(got, want) {
		t.Errorf("README outputs %q, program exports %q", got, want)
	}
}

// CI must run the very test command the README gives.
func TestCIRunsTheReadmeTestCommand(t *testing.T) {
	quickStart := readmeSection(t, "Quick start")
	command := regexp.MustCompile(`(?m)^go test .*$`).FindString(quickStart)
	if command == "" {
		t.Fatal("README quick start gives no go test command")
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(command) + `\s*$`).Match(ci) {
		t.Errorf(".ci/run does not run the README's test command %q", command)
	}
}
