package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	_, publicKey := testSigningKey(t)
	d := mustDeploy(t, testConfig(keyWakeOnJob, "true", keyCacheSigningPublicKey, publicKey)) // every output
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

// quickStartBlocks are the Quick start's bash blocks, in order.
func quickStartBlocks(t *testing.T) []string {
	t.Helper()
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(readmeSection(t, "Quick start"), -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) != 2 {
		t.Fatalf("the Quick start has %d bash blocks, want the setup and the deploy", len(blocks))
	}
	return blocks
}

// quickStartFakes are the commands the Quick start runs, as shell scripts that log their
// calls: pulumi keeps the stack and the keys set, and answers config get as the CLI does,
// with the stack's value or else Pulumi.yaml's; aws and curl answer as the case says.
var quickStartFakes = map[string]string{
	"pulumi": `echo "pulumi $*" >> "$QS_LOG"
case "$1 $2" in
"stack init")
	if [ -e "$QS_STACK" ]; then echo "error: stack 'dev' already exists" >&2; exit 255; fi
	touch "$QS_STACK" ;;
"stack select")
	if [ ! -e "$QS_STACK" ]; then
		case " $* " in
		*" --create "* | *" -c "*) touch "$QS_STACK" ;;
		*) echo "error: no stack named 'dev' found" >&2; exit 255 ;;
		esac
	fi ;;
"config get")
	v=$(grep -F "$3=" "$QS_CONFIG" 2>/dev/null | grep "^$3=" | tail -n 1)
	[ -n "$v" ] || v=$(grep "^$3=" "$QS_DEFAULTS" | tail -n 1)
	[ -n "$v" ] || { echo "error: configuration key '$3' not found for stack 'dev'" >&2; exit 255; }
	echo "${v#*=}" ;;
"config set") echo "$3=$4" >> "$QS_CONFIG" ;;
"stack output") echo true ;;
esac`,
	"aws": `echo "aws $*" >> "$QS_LOG"
case "$QS_AWS" in
fail) echo "Unable to locate credentials. You can configure credentials by running \"aws configure\"." >&2; exit 255 ;;
none) echo None ;;
*) echo ami-0123456789abcdef0 ;;
esac`,
	"curl": `echo "curl $*" >> "$QS_LOG"
case "$QS_CURL" in
fail) echo "curl: (6) Could not resolve host: checkip.amazonaws.com" >&2; exit 6 ;;
proxy) echo "<html><body>Proxy login</body></html>" ;;
*) echo 203.0.113.7 ;;
esac`,
	"go": `echo "go $*" >> "$QS_LOG"`,
}

// quickStartRig is an operator's machine for the Quick start: the fakes first on PATH, HOME
// in a temporary directory that holds the operator's public key unless noKey, and the fake
// stack, which outlives a paste.
type quickStartRig struct {
	t                   *testing.T
	bin, home, dir      string
	logFile, configFile string
	calls               int // log lines of earlier pastes
}

func newQuickStartRig(t *testing.T, noKey bool) *quickStartRig {
	t.Helper()
	dir := t.TempDir()
	r := &quickStartRig{t: t, dir: dir, bin: filepath.Join(dir, "bin"), home: filepath.Join(dir, "home"),
		logFile: filepath.Join(dir, "log"), configFile: filepath.Join(dir, "config")}
	for _, d := range []string{r.bin, filepath.Join(r.home, ".ssh")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range quickStartFakes {
		if err := os.WriteFile(filepath.Join(r.bin, name), []byte("#!/usr/bin/env bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if !noKey {
		if err := os.WriteFile(filepath.Join(r.home, ".ssh", "id_ed25519.pub"), []byte(testSSHKey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What pulumi config get answers for a key the stack does not set: Pulumi.yaml's value
	// or default (the CLI's ApplyProjectConfig).
	var defaults strings.Builder
	for key, decl := range loadProject(t).Config {
		if !strings.Contains(key, ":") {
			key = configNamespace + ":" + key
		}
		value := decl.Value
		if value == nil {
			value = decl.Default
		}
		fmt.Fprintf(&defaults, "%s=%v\n", key, value)
	}
	if err := os.WriteFile(filepath.Join(dir, "defaults"), []byte(defaults.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// set sets keys in the stack, as an earlier pulumi config set did.
func (r *quickStartRig) set(keyValues ...string) {
	f, err := os.OpenFile(r.configFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i+1 < len(keyValues); i += 2 {
		fmt.Fprintf(f, "n3x:%s=%s\n", keyValues[i], keyValues[i+1])
	}
}

// paste runs a block as a terminal runs a paste: line by line, each whatever the one before
// did. It returns the calls this paste made, every key the stack sets (key=value, in order)
// and what was printed.
func (r *quickStartRig) paste(block string, env []string) (calls, set []string, stdout, stderr string) {
	r.t.Helper()
	cmd := exec.Command("bash")
	cmd.Stdin = strings.NewReader(block)
	cmd.Env = append(os.Environ(), "PATH="+r.bin+":"+os.Getenv("PATH"), "HOME="+r.home, "QS_LOG="+r.logFile, "QS_CONFIG="+r.configFile,
		"QS_DEFAULTS="+filepath.Join(r.dir, "defaults"), "QS_STACK="+filepath.Join(r.dir, "stack"))
	cmd.Env = append(cmd.Env, env...)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	_ = cmd.Run() // a paste has no exit status of its own; what it did is in the logs
	read := func(file string) []string {
		text, _ := os.ReadFile(file)
		return slices.DeleteFunc(strings.Split(strings.TrimSpace(string(text)), "\n"), func(s string) bool { return s == "" })
	}
	all := read(r.logFile)
	calls, r.calls = all[r.calls:], len(all)
	return calls, read(r.configFile), out.String(), errs.String()
}

// pasteQuickStart pastes a block on a new machine.
func pasteQuickStart(t *testing.T, block string, env []string, noKey bool) (calls, set []string, stderr string) {
	t.Helper()
	calls, set, _, stderr = newQuickStartRig(t, noKey).paste(block, env)
	return calls, set, stderr
}

// The Quick start, pasted, works: it logs in to the local backend, sets the passphrase,
// builds the program once with its progress, creates the stack, sets the two required keys
// (the official NixOS AMI the AWS CLI finds, the operator's public key) and their address,
// and previews; nothing pins a zone before preview has told which one; the configuration it
// sets previews cleanly against the mock account; and the deploy block deploys and connects.
func TestQuickStartWorksWhenPasted(t *testing.T) {
	blocks := quickStartBlocks(t)
	calls, set, stderr := pasteQuickStart(t, blocks[0], nil, false)
	want := []string{"pulumi login --local", "go build -v -o /dev/null .", "pulumi stack select --create dev --secrets-provider passphrase",
		"pulumi config get aws:region", "pulumi config get n3x:amiX86",
		"aws ec2 describe-images --region us-east-1 --owners 427812963091 --filters Name=name,Values=nixos/25.11* Name=architecture,Values=x86_64 " +
			"--query sort_by(Images,&CreationDate)[-1].ImageId --output text",
		"pulumi config get n3x:sshPublicKey", "pulumi config get n3x:sshCidrBlocks",
		"curl -fsS --max-time 10 https://checkip.amazonaws.com",
		"pulumi config set n3x:amiX86 ami-0123456789abcdef0", "pulumi config set n3x:sshPublicKey " + testSSHKey,
		"pulumi config set n3x:sshCidrBlocks 203.0.113.7/32", "pulumi preview"}
	if !slices.Equal(calls, want) {
		t.Errorf("the pasted Quick start ran\n%q\nwant\n%q\n(stderr %s)", calls, want, stderr)
	}
	values := map[string]string{}
	for _, kv := range set {
		key, value, _ := strings.Cut(kv, "=")
		values[strings.TrimPrefix(key, "n3x:")] = value
	}
	if _, pinned := values[keyAvailabilityZone]; pinned {
		t.Error("the Quick start pins the zone before preview has told which one")
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
	if got := strings.Fields(strings.TrimSpace(blocks[1])); !slices.Equal(got, []string{"pulumi", "up", "$(pulumi", "stack", "output", "x86SshCommand)"}) {
		t.Errorf("the deploy block is %q", blocks[1])
	}
}

// Every lookup of the Quick start that fails stops it loudly: nothing is set, the preview
// does not run, and the message says what to do instead.
func TestQuickStartLookupsFailLoudly(t *testing.T) {
	block := quickStartBlocks(t)[0]
	cases := []struct {
		name  string
		env   []string
		noKey bool
		want  string
	}{
		{"no AWS credentials", []string{"QS_AWS=fail"}, false,
			"scripts/configure.sh: could not list the NixOS AMIs in us-east-1 with the AWS CLI (its message is above): check your credentials " +
				"(aws sts get-caller-identity), or set an AMI yourself: pulumi config set n3x:amiX86 <ami-id>"},
		{"no AMI found", []string{"QS_AWS=none"}, false,
			"scripts/configure.sh: found no NixOS 25.11 x86_64 AMI in us-east-1 (the AWS CLI answered 'None'); set one yourself: pulumi config set n3x:amiX86 <ami-id>"},
		{"no SSH key", nil, true, "ssh-keygen -t ed25519"},
		{"no network", []string{"QS_CURL=fail"}, false,
			"could not look up your public address (curl's message is above; no network, or a proxy?): set it yourself, pulumi config set n3x:sshCidrBlocks <your-ip>/32, " +
				"or open nothing from outside and use Session Manager: pulumi config set n3x:sshCidrBlocks none"},
		{"a proxy's page", []string{"QS_CURL=proxy"}, false, "not an IPv4 address (a proxy's page?)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls, set, stderr := pasteQuickStart(t, block, tc.env, tc.noKey)
			if len(set) != 0 {
				t.Errorf("set %q although a lookup failed", set)
			}
			if slices.Contains(calls, "pulumi preview") {
				t.Error("the preview ran although a lookup failed")
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
		})
	}
}

// The Quick start pasted again, after a failure's fix or by accident, does what is left:
// the stack it made is selected, not made again, and every key it set is kept, not looked up.
func TestQuickStartPastedTwice(t *testing.T) {
	block := quickStartBlocks(t)[0]
	rig := newQuickStartRig(t, false)
	_, first, _, _ := rig.paste(block, nil)
	calls, set, stdout, stderr := rig.paste(block, []string{"QS_AWS=fail", "QS_CURL=fail"})
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("the second paste printed errors: %s", stderr)
	}
	if !slices.Equal(set, first) || len(first) != 3 {
		t.Errorf("the second paste set %q, after %q", set, first)
	}
	if !slices.Contains(calls, "pulumi preview") || slices.ContainsFunc(calls, func(c string) bool {
		return strings.HasPrefix(c, "aws ") || strings.HasPrefix(c, "curl ") || strings.HasPrefix(c, "pulumi config set")
	}) {
		t.Errorf("the second paste ran %q", calls)
	}
	for _, key := range []string{keyAmiX86, keySSHPublicKey, keySSHCidrBlocks} {
		if want := "n3x:" + key + " is already set ("; !strings.Contains(stdout, want) {
			t.Errorf("the second paste does not say n3x:%s is kept: %s", key, stdout)
		}
	}
}

// scripts/configure.sh keeps what the stack sets, such as the fix a failure's message gave,
// and looks up only the rest: run again after that fix, it does not fail the same way.
func TestConfigureKeepsWhatTheStackSets(t *testing.T) {
	block := quickStartBlocks(t)[0]
	cases := []struct {
		name   string
		preset []string
		env    []string // the lookup that failed, and would again
		noKey  bool
		skip   string // the lookup not made
		sets   []string
	}{
		{"the address set to none", []string{keySSHCidrBlocks, "none"}, []string{"QS_CURL=fail"}, false, "curl ",
			[]string{"n3x:amiX86=ami-0123456789abcdef0", "n3x:sshPublicKey=" + testSSHKey}},
		{"an address set by hand", []string{keySSHCidrBlocks, "198.51.100.0/24"}, []string{"QS_CURL=proxy"}, false, "curl ",
			[]string{"n3x:amiX86=ami-0123456789abcdef0", "n3x:sshPublicKey=" + testSSHKey}},
		{"an AMI set by hand", []string{keyAmiX86, testAmiArm64}, []string{"QS_AWS=fail"}, false, "aws ",
			[]string{"n3x:sshPublicKey=" + testSSHKey, "n3x:sshCidrBlocks=203.0.113.7/32"}},
		{"a key set by hand", []string{keySSHPublicKey, testSSHKeyRotated}, nil, true, "",
			[]string{"n3x:amiX86=ami-0123456789abcdef0", "n3x:sshCidrBlocks=203.0.113.7/32"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rig := newQuickStartRig(t, tc.noKey)
			rig.set(tc.preset...)
			calls, set, stdout, stderr := rig.paste(block, tc.env)
			if strings.Contains(stderr, "scripts/configure.sh:") || !slices.Contains(calls, "pulumi preview") {
				t.Fatalf("configure.sh failed although the stack sets n3x:%s: %s", tc.preset[0], stderr)
			}
			if tc.skip != "" && slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, tc.skip) }) {
				t.Errorf("configure.sh looked up n3x:%s although the stack sets it: %q", tc.preset[0], calls)
			}
			if got := set[1:]; !slices.Equal(got, tc.sets) {
				t.Errorf("configure.sh set %q, want %q", got, tc.sets)
			}
			want := fmt.Sprintf("n3x:%s is already set (%s), kept; to look it up again: pulumi config rm n3x:%[1]s && scripts/configure.sh", tc.preset[0], tc.preset[1])
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout %q lacks %q", stdout, want)
			}
		})
	}
}

// Every Pulumi.<stack>.yaml holds only what the README says: TestStackFileHoldsValidConfig
// checks its keys and values; the README promises that and no more of the operator's file.
func TestReadmeSaysWhatTheStackFileTestChecks(t *testing.T) {
	quickStart := strings.Join(strings.Fields(readmeSection(t, "Quick start")), " ")
	for _, claim := range []string{
		"The repository ships that file without settings (`config: {}`)",
		"a team may commit its own so CI can preview",
		"`go test ./...` checks every `Pulumi.<stack>.yaml` there is, the repository's or yours: each n3x key in it must be one the program reads, with a valid value.",
	} {
		if !strings.Contains(quickStart, claim) {
			t.Errorf("the Quick start lacks %q", claim)
		}
	}
	if strings.Contains(quickStart, "stays so") {
		t.Error("the Quick start promises the stack file stays empty, which the operator's own does not")
	}
}

// With n3x:sshCidrBlocks none, port 22 is closed and ssh would wait for its timeout: the
// connect line the Quick start gives runs the Session Manager session instead, as it says.
func TestConnectLineWithoutAnSSHPort(t *testing.T) {
	d := mustDeploy(t, testConfig(keySSHCidrBlocks, "none"))
	runners := d.outputs["runners"].([]any)
	for _, prefix := range []string{"x86", "graviton"} {
		want := "aws ssm start-session --region us-east-1 --target " + d.outputs[prefix+"InstanceId"].(string)
		if got := d.outputs[prefix+"SshCommand"]; got != want {
			t.Errorf("%sSshCommand = %v, want %s", prefix, got, want)
		}
	}
	for _, r := range runners {
		r := r.(map[string]any)
		if r["sshCommand"] != r["ssmSessionCommand"] {
			t.Errorf("runner %s: sshCommand %v, want its Session Manager command %v", r["name"], r["sshCommand"], r["ssmSessionCommand"])
		}
	}
	quickStart := strings.Join(strings.Fields(readmeSection(t, "Quick start")), " ")
	claim := "`x86SshCommand` is `ssh root@<x86PublicIp>`; with `n3x:sshCidrBlocks none` port 22 is closed to everyone, and it is the runner's Session Manager command " +
		"instead, `aws ssm start-session --region <region> --target <x86InstanceId>`"
	if !strings.Contains(quickStart, claim) {
		t.Errorf("the Quick start lacks %q", claim)
	}
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
	// The wake-on-job rows' assumptions and the function's cost, as cost.go states them.
	wake := costs[3].cost
	for _, claim := range []string{
		fmt.Sprintf("assume %.0f building\nhours a month and one wake a day", wakeBuildHours),
		fmt.Sprintf("%s\ninstance hours", strconv.FormatFloat(wake.instanceHours, 'f', -1, 64)),
		fmt.Sprintf("about %s at 10,000 jobs a month", dollars(wake.wake.function)),
		fmt.Sprintf("the volumes and addresses,\n%s a runner", dollars(sum(wake.runners[0].volumes, wake.runners[0].publicIPv4))),
	} {
		if flat := strings.Join(strings.Fields(section), " "); !strings.Contains(flat, strings.Join(strings.Fields(claim), " ")) {
			t.Errorf("README cost estimate lacks %q", claim)
		}
	}
	page := strings.Join(strings.Fields(readDoc(t, "hours-and-spot.md")), " ")
	if claim := fmt.Sprintf("are %s instance hours, %.0f %% of the fleet always on (%.0f %% on Spot)", strconv.FormatFloat(wake.instanceHours, 'f', -1, 64),
		*wake.total()/always*100, *costs[4].cost.total()/always*100); !strings.Contains(page, claim) {
		t.Errorf("docs/hours-and-spot.md lacks %q", claim)
	}
	if claim := fmt.Sprintf("about %s a month at 10,000 jobs", dollars(wake.wake.function)); !strings.Contains(page, claim) {
		t.Errorf("docs/hours-and-spot.md lacks %q", claim)
	}
	// The working-hours target (at most half of always on) and the Spot target (at most 35 %).
	if share := *costs[1].cost.total() / always; share > 0.50 {
		t.Errorf("working hours cost %.0f%% of always on, want at most 50%%", share*100)
	}
	if share := *costs[2].cost.total() / always; share > 0.35 {
		t.Errorf("working hours on Spot cost %.0f%% of always on, want at most 35%%", share*100)
	}
}

// The Quick start's build step states the cold build's time and memory as docs/build-cost.md
// measured them (scripts/measure-build.sh), rounded: minutes and GB.
func TestQuickStartStatesTheMeasuredBuild(t *testing.T) {
	row := regexp.MustCompile("\\| program build, empty `GOCACHE` \\| (\\d+) s \\([^)]*\\) \\| ([\\d.]+) GiB \\|").FindStringSubmatch(readDoc(t, "build-cost.md"))
	if row == nil {
		t.Fatal("docs/build-cost.md has no cold-build row")
	}
	seconds, _ := strconv.Atoi(row[1])
	gib, _ := strconv.ParseFloat(row[2], 64)
	want := fmt.Sprintf("go build -v -o /dev/null .    # once: builds the program, about %d minutes on 2 cores and %.0f GB of memory",
		int(math.Round(float64(seconds)/60)), gib)
	if !strings.Contains(quickStartBlocks(t)[0], want) {
		t.Errorf("the Quick start's build step lacks %q", want)
	}
}
