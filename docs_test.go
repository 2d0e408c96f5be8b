package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readDoc reads a page of docs/.
func readDoc(t *testing.T, name string) string {
	t.Helper()
	text, err := os.ReadFile("docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// The facts the docs pages state are the program's.
func TestDocsStateTheProgramsFacts(t *testing.T) {
	// The longest prefix that fits every physical name.
	longest := 0
	for n := 1; n < 100; n++ {
		if name := tightestPhysicalName(strings.Repeat("p", n)); len(name.name) <= name.limit {
			longest = n
		}
	}
	cases := []struct {
		page string
		want []string
	}{
		{"operations.md", []string{
			"a prefix of at most " + strconv.Itoa(longest) + " characters always fits",
			"| L-1216C47A |", "| L-34B43A08 |", "| L-0263D0A3 |",
			securityGroupName(Config{NamePrefix: "<prefix>"}),
		}},
		{"hours-and-spot.md", []string{
			"valid until " + spotRequestValidUntil + " instead (`spotRequestValidUntil` in `machine.go`)",
			scheduleName(runnerPhysicalName("n3x", "x86"), "start"),
			"`" + schedulerRoleName(Config{NamePrefix: "<prefix>"}) + "`",
		}},
		{"snapshots.md", []string{
			"once a day at " + snapshotTime + " UTC",
			"(default " + lookupKey(keySnapshotRetentionDays).def + ", at most " + strconv.Itoa(maxSnapshotRetentionDays) + ")",
			"`" + snapshotTag + "=<prefix>`",
			"`" + snapshotRoleName(Config{NamePrefix: "<prefix>"}) + "`",
		}},
		{"ami.md", []string{
			"`/<prefix>-runner/gitlab-runner-token/x86_64`",
			"`/<prefix>-runner/cache-signing-key`",
			"(`/n3x-runner/` for the default\nprefix)",
			"--imds-support v2.0",
		}},
	}
	for _, tc := range cases {
		text := readDoc(t, tc.page)
		for _, want := range tc.want {
			if !strings.Contains(text, want) {
				t.Errorf("docs/%s lacks %q", tc.page, want)
			}
		}
	}
	if got := parameterPath(Config{NamePrefix: "n3x"}); got != "/n3x-runner/" {
		t.Errorf("parameter path %s, which docs/ami.md does not say", got)
	}
	for _, action := range sessionManagerActions {
		if short := strings.TrimPrefix(strings.TrimPrefix(action, "ssm:"), "ssmmessages:"); !strings.Contains(readDoc(t, "ami.md"), short) &&
			!strings.Contains(readDoc(t, "ami.md"), "four `ssmmessages` channel actions") {
			t.Errorf("docs/ami.md does not name the role's %s", action)
		}
	}
}

// The runner services table of docs/ami.md lists the boxes of the runner-services diagram.
func TestRunnerServicesTableMatchesTheDiagram(t *testing.T) {
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^\| ([A-Za-z][^|]*?) \| (?:-|:\d+) \|`).FindAllStringSubmatch(readDoc(t, "ami.md"), -1) {
		listed = append(listed, m[1])
	}
	labels := diagramLabels(t, "runner-services.drawio.svg")
	for _, service := range listed {
		if len(labelsStartingWith(labels, service)) == 0 {
			t.Errorf("docs/ami.md lists %q, which the runner-services diagram has no box for", service)
		}
	}
	if want := []string{"GitLab Runner", "Podman", "Caddy", "Harmonia", "apt-cacher-ng", "systemd-networkd", "Runner secrets", "first-boot-format"}; !slices.Equal(listed, want) {
		t.Errorf("services %q, want %q", listed, want)
	}
}

// The official NixOS AMI command of docs/ami.md is the Quick start's.
func TestOfficialAMICommandIsTheQuickStarts(t *testing.T) {
	for _, part := range []string{"--owners 427812963091", "'Name=name,Values=nixos/25.11*'", "--query 'sort_by(Images,&CreationDate)[-1].ImageId' --output text"} {
		script, err := os.ReadFile("scripts/configure.sh")
		if err != nil {
			t.Fatal(err)
		}
		quickStart := strings.Join(strings.Fields(readmeSection(t, "Quick start")), " ")
		if !strings.Contains(readDoc(t, "ami.md"), part) || !strings.Contains(string(script), part) || !strings.Contains(quickStart, part) {
			t.Errorf("docs/ami.md, scripts/configure.sh and the Quick start differ on %s", part)
		}
	}
}

// Every `pulumi stack output NAME` the README and docs/ tell the operator to run names an
// output the program exports.
func TestDocumentedStackOutputsExist(t *testing.T) {
	_, publicKey := testSigningKey(t)
	d := deploy(t, newFakeAWS(), "dev", false, testConfig(keyX86Count, "2", keyWakeOnJob, "true", keyCacheSigningPublicKey, publicKey))
	if d.err != nil {
		t.Fatal(d.err)
	}
	files, _ := filepath.Glob("docs/*.md")
	pattern := regexp.MustCompile(`pulumi stack output (?:--\S+ )*([A-Za-z0-9]+)`)
	seen := 0
	for _, file := range append(files, "README.md") {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pattern.FindAllStringSubmatch(string(text), -1) {
			seen++
			if _, ok := d.outputs[m[1]]; !ok {
				t.Errorf("%s: pulumi stack output %s, which the program does not export", file, m[1])
			}
		}
	}
	if seen == 0 {
		t.Fatal("no pulumi stack output command found")
	}
}
