package main

import (
	"fmt"
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
	return docSection(t, "README.md", title)
}

// docSection returns a Markdown file's text from a "## title" heading to the next one.
func docSection(t *testing.T, file, title string) string {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(text), "\n## "+title+"\n")
	if !found {
		t.Fatalf("%s has no %q section", file, title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

func TestReadmeConfigurationTableMatchesTheCode(t *testing.T) {
	row := regexp.MustCompile("(?m)^\\| `n3x:(\\w+)` \\| ([^|]+) \\|")
	documented := map[string]string{}
	var order []string
	for _, m := range row.FindAllStringSubmatch(readmeSection(t, "Configuration"), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
		order = append(order, m[1])
	}
	want := map[string]string{}
	var wantOrder []string
	for _, k := range configKeys {
		want[k.name], wantOrder = "`"+k.def+"`", append(wantOrder, k.name)
		switch {
		case k.required:
			want[k.name] = "(required)"
		case k.def == "":
			want[k.name] = "(unset)"
		}
	}
	if !maps.Equal(documented, want) || !slices.Equal(order, wantOrder) {
		t.Errorf("README configuration table:\n got %v %q\nwant %v %q", documented, order, want, wantOrder)
	}
	for _, k := range configKeys {
		if line := regexp.MustCompile("(?m)^\\| `n3x:" + k.name + "` .*$").FindString(readmeSection(t, "Configuration")); k.secret != strings.Contains(line, "Secret") {
			t.Errorf("README row of n3x:%s says Secret=%v, the code %v", k.name, !k.secret, k.secret)
		}
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
	command := regexp.MustCompile(`(?m)^go test \S+`).FindString(readmeSection(t, "Development"))
	if command == "" {
		t.Fatal("README Development gives no go test command")
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^step "tests" ` + regexp.QuoteMeta(command) + `\s*$`).Match(ci) {
		t.Errorf(".ci/run does not run the README's test command %q", command)
	}
}

// Every page the docs link to exists, and so does every section a link names.
func TestDocLinksLeadSomewhere(t *testing.T) {
	files := []string{"README.md", "docs/operations.md", "docs/hours-and-spot.md", "docs/snapshots.md", "docs/ami.md", "docs/ci-iam.md", "docs/build-cost.md"}
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dir := strings.TrimSuffix(file, "README.md")
		dir = dir[:strings.LastIndex(dir, "/")+1]
		for _, m := range regexp.MustCompile(`\]\(([^)#:]*)(?:#([^)]+))?\)`).FindAllStringSubmatch(string(text), -1) {
			target := file
			if m[1] != "" {
				target = dir + m[1]
			}
			linked, err := os.ReadFile(target)
			if err != nil {
				t.Errorf("%s links to %s, which does not exist", file, m[0])
				continue
			}
			if m[2] != "" && !slices.Contains(anchors(string(linked)), m[2]) {
				t.Errorf("%s links to %s, which has no section #%s", file, target, m[2])
			}
		}
	}
}

// anchors are the GitHub anchors of a Markdown file's headings.
func anchors(text string) []string {
	var found []string
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(text, -1) {
		anchor := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
				return r
			case r >= 'A' && r <= 'Z':
				return r + 'a' - 'A'
			}
			return -1
		}, m[1])
		found = append(found, anchor)
	}
	return found
}

// quickStartCommands are the Quick start's shell commands, continuation lines joined.
func quickStartCommands(t *testing.T) []string {
	t.Helper()
	block := regexp.MustCompile("(?s)```bash\n(.*?)```").FindStringSubmatch(readmeSection(t, "Quick start"))
	if block == nil {
		t.Fatal("the Quick start has no bash block")
	}
	return strings.Split(strings.TrimSpace(strings.ReplaceAll(block[1], "\\\n", "")), "\n")
}

// The Quick start, pasted, works: it logs in to the local backend, sets the passphrase,
// creates the stack, sets the two required keys (the official NixOS AMI found by the AWS
// CLI, the operator's public key) and an address of their own, previews, deploys and
// connects; nothing pins a zone before preview has told the operator which one; and the
// configuration it sets previews cleanly against the mock account.
func TestQuickStartWorksWhenPasted(t *testing.T) {
	commands := quickStartCommands(t)
	var steps []string
	values := map[string]string{}
	for _, command := range commands {
		command = strings.Join(strings.Fields(command), " ")
		switch {
		case strings.HasPrefix(command, "pulumi config set "):
			words := strings.SplitN(strings.TrimPrefix(command, "pulumi config set "), " ", 2)
			key := strings.TrimPrefix(words[0], "n3x:")
			if slices.Contains(steps, "pulumi preview") == false && key == keyAvailabilityZone {
				t.Errorf("the Quick start pins the zone before preview: %s", command)
			}
			values[key] = quickStartValue(t, words[1])
			steps = append(steps, "pulumi config set n3x:"+key)
		default:
			steps = append(steps, command)
		}
	}
	want := []string{"pulumi login --local", "export PULUMI_CONFIG_PASSPHRASE='choose-a-passphrase'", "pulumi stack init dev --secrets-provider passphrase",
		"pulumi config set n3x:amiX86", "pulumi config set n3x:sshPublicKey", "pulumi config set n3x:sshCidrBlocks",
		"pulumi preview", "pulumi up", "$(pulumi stack output x86SshCommand)"}
	if !slices.Equal(steps, want) {
		t.Errorf("Quick start steps:\n got %q\nwant %q", steps, want)
	}
	d := deploy(t, newFakeAWS(), "dev", true, values)
	if d.err != nil {
		t.Fatalf("the Quick start's configuration fails: %v", d.err)
	}
	if !slices.ContainsFunc(d.warnings, func(w string) bool {
		return strings.Contains(w, "pin it to make that explicit: pulumi config set n3x:availabilityZone us-east-1b")
	}) {
		t.Errorf("the preview does not tell which zone to pin: %q", d.warnings)
	}
}

// quickStartValue evaluates the shell expressions the Quick start sets: the AWS CLI's
// newest official NixOS AMI, the operator's public key, the operator's address.
func quickStartValue(t *testing.T, expression string) string {
	t.Helper()
	switch {
	case strings.HasPrefix(expression, `"$(aws ec2 describe-images`):
		for _, part := range []string{"--owners 427812963091", "'Name=name,Values=nixos/25.11*'", "'Name=architecture,Values=x86_64'",
			"--query 'sort_by(Images,&CreationDate)[-1].ImageId' --output text"} {
			if !strings.Contains(expression, part) {
				t.Errorf("the AMI command lacks %s: %s", part, expression)
			}
		}
		return testAmiX86
	case expression == `"$(cat ~/.ssh/id_ed25519.pub)"`:
		return testSSHKey
	case expression == `"$(curl -fsS https://checkip.amazonaws.com)/32"`:
		return "203.0.113.7/32"
	}
	t.Fatalf("the Quick start sets %s, which this test cannot evaluate", expression)
	return ""
}

func TestReadmeCostsComeFromTheCode(t *testing.T) {
	section := readmeSection(t, "Cost estimate")
	costs := documentedCosts(t)
	always := *costs[0].cost.total()
	for _, c := range costs {
		row := fmt.Sprintf("| %s | %s | %s | %s | %.0f %% |", c.label, dollars(c.cost.runners[0].total()), dollars(c.cost.runners[1].total()),
			dollars(c.cost.total()), *c.cost.total()/always*100)
		if !strings.Contains(section, row) {
			t.Errorf("README cost table lacks the row\n%s", row)
		}
	}
	x86, graviton := costs[0].cost.runners[0], costs[0].cost.runners[1]
	breakdown := fmt.Sprintf("(x86 %s, Graviton %s),\nits volumes (%s) and its public IPv4 (%s)", dollars(x86.instance), dollars(graviton.instance),
		dollars(x86.volumes), dollars(x86.publicIPv4))
	if !strings.Contains(section, breakdown) {
		t.Errorf("README cost breakdown lacks %q", breakdown)
	}
	snapshots := fmt.Sprintf("at most %s per runner with the default %s days", dollars(x86.snapshots), lookupKey(keySnapshotRetentionDays).def)
	if !strings.Contains(section, snapshots) || !strings.Contains(section, fmt.Sprintf("%.0f %% of it changes", snapshotDailyChange*100)) {
		t.Errorf("README snapshot cost lacks %q and the daily change", snapshots)
	}
	// The working-hours target (at most half of always on) and the Spot target (at most 35 %).
	if share := *costs[1].cost.total() / always; share > 0.50 {
		t.Errorf("working hours cost %.0f%% of always on, want at most 50%%", share*100)
	}
	if share := *costs[2].cost.total() / always; share > 0.35 {
		t.Errorf("working hours on Spot cost %.0f%% of always on, want at most 35%%", share*100)
	}
}
