package main

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// requireTool skips a test whose tool this machine lacks, but for .ci/run, which sets
// N3X_REQUIRE_TOOLS and installs them: there a missing tool fails.
func requireTool(t *testing.T, name, install string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("N3X_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed (%s): %v", name, install, err)
		}
		t.Skipf("%s is not installed: %s", name, install)
	}
}

// The function's own tests, against a fake EC2, SSM and GitLab (wake/test_wake.py): every
// branch of the handler.
func TestWakeFunctionPassesItsTests(t *testing.T) {
	requireTool(t, "python3", "apt-get install python3")
	cmd := exec.Command("python3", "-m", "unittest", "-v", "test_wake")
	cmd.Dir = "wake"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cd wake && python3 -m unittest -v test_wake: %v\n%s", err, out)
	}
	// unittest passes when it finds no test at all (before Python 3.12): say how many ran.
	if ran := regexp.MustCompile(`(?m)^Ran (\d+) tests?`).FindSubmatch(out); ran == nil || string(ran[1]) == "0" {
		t.Fatalf("no test of wake/test_wake.py ran:\n%s", out)
	}
}

// With n3x:wakeOnJob, the stack makes the function with its code from wake/wake.py, on a
// runtime AWS maintains, told exactly which runners it may start; a public URL; a role that
// may start only this stack's instances and read only the two token parameters; a log group
// with a retention; the idle minutes for the runners, whose role may stop its own instance;
// and every runner waits for the function, so it learns of a replacement first.
func TestWakeOnJobResources(t *testing.T) {
	d := mustDeploy(t, testConfig(keyWakeOnJob, "true", keyX86Count, "2", keyIdleMinutes, "45",
		keyGitlabURL, "https://gitlab.example.com/", keyRunnerTagsGraviton, "n3x-build, arm64 ,arm64"))
	function := d.find(t, typeFunction, "runner-wake")
	for path, want := range map[string]string{"name": "n3x-runner-wake", "runtime": "python3.13", "handler": "wake.handler", "role": "arn:aws:iam::" + testAccount + ":role/n3x-runner-wake"} {
		if got := str(t, function, path); got != want {
			t.Errorf("function %s = %q, want %q", path, got, want)
		}
	}
	if num(t, function, "timeout") >= 10 || num(t, function, "memorySize") != 128 {
		t.Errorf("timeout %d s (GitLab waits 10 s), memory %d MB", num(t, function, "timeout"), num(t, function, "memorySize"))
	}
	if got := prop(t, function, "architectures").ArrayValue(); len(got) != 1 || got[0].StringValue() != "arm64" {
		t.Errorf("architectures %v", got)
	}
	code := prop(t, function, "code")
	source, _ := os.ReadFile("wake/wake.py")
	if !code.IsArchive() || len(code.ArchiveValue().Assets) != 2 {
		t.Fatalf("code %v, want an archive of wake.py and config.json", code)
	}
	if asset, ok := code.ArchiveValue().Assets["wake.py"].(*resource.Asset); !ok || asset.Path != "wake/wake.py" || len(source) == 0 {
		t.Errorf("code archive %v, want wake.py from wake/wake.py", code.ArchiveValue().Assets)
	}
	settingsAsset, ok := code.ArchiveValue().Assets["config.json"].(*resource.Asset)
	if !ok || !settingsAsset.IsText() {
		t.Fatalf("code archive %v, want config.json as text", code.ArchiveValue().Assets)
	}
	var settings wakeSettings
	if err := json.Unmarshal([]byte(settingsAsset.Text), &settings); err != nil {
		t.Fatal(err)
	}
	runner := wakeRunner{Arch: "x86_64", AMI: testAmiX86, KeyName: "n3x-runner-key", Zone: "us-east-1b", InstanceType: "c6i.2xlarge",
		SubnetID: "subnet-default-us-east-1b", Profile: "n3x-runner", Replacing: []string{}}
	x86, x862, graviton := runner, runner, runner
	x86.Name, x862.Name = "n3x-x86-runner", "n3x-x86-2-runner"
	graviton.Name, graviton.Arch, graviton.AMI, graviton.InstanceType = "n3x-graviton-runner", "arm64", testAmiArm64, "c7g.2xlarge"
	want := wakeSettings{StateID: testStateID, Runners: []wakeRunner{x86, x862, graviton}, GitlabURL: "https://gitlab.example.com",
		Tags:                  map[string][]string{"arm64": {"n3x-build", "arm64"}, "x86_64": {"n3x-build", "x86_64"}},
		WebhookTokenParameter: "/n3x-runner/gitlab-webhook-token", APITokenParameter: "/n3x-runner/gitlab-api-token"}
	if !equalJSON(t, settings, want) {
		t.Errorf("config.json %+v\nwant %+v", settings, want)
	}
	if env, ok := function.inputs["environment"]; ok {
		t.Errorf("environment %v: the settings are in config.json", env)
	}
	// wake.py reads config.json as the stack writes it.
	requireTool(t, "python3", "apt-get install python3")
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(settingsAsset.Text), 0o644); err != nil {
		t.Fatal(err)
	}
	read := "import json, sys; sys.path.insert(0, 'wake'); import wake; w = wake.Wake(json.load(open(sys.argv[1])), None, None, None); " +
		"print(w.state_id, [r['name'] for r in w.runners if w.unchanged({'InstanceId': 'i-1', 'ImageId': r['ami'], 'KeyName': r['keyName'], " +
		"'Placement': {'AvailabilityZone': r['zone']}, 'InstanceType': r['instanceType'], 'SubnetId': r['subnetId'], " +
		"'IamInstanceProfile': {'Arn': 'arn:aws:iam::1:instance-profile/' + r['profile']}}, r)], sorted(w.tags), w.gitlab_url)"
	if out, err := exec.Command("python3", "-c", read, file).CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != testStateID+" ['n3x-x86-runner', 'n3x-x86-2-runner', 'n3x-graviton-runner'] ['arm64', 'x86_64'] https://gitlab.example.com" {
		t.Errorf("wake.py reading config.json: %s %v", out, err)
	}
	for _, dep := range []string{"runner-wake-logs", "runner-wake-permissions"} {
		if !hasDependency(function, dep) {
			t.Errorf("the function does not wait for %s", dep)
		}
	}
	url := d.find(t, typeFunctionURL, "runner-wake-url")
	if str(t, url, "authorizationType") != "NONE" || str(t, url, "functionName") != "n3x-runner-wake" {
		t.Errorf("function URL %v", url.inputs)
	}
	invoke := d.find(t, typePermission, "runner-wake-invoke")
	if str(t, invoke, "action") != "lambda:InvokeFunction" || str(t, invoke, "principal") != "*" || str(t, invoke, "function") != "n3x-runner-wake" {
		t.Errorf("invoke permission %v", invoke.inputs)
	}
	logs := d.find(t, typeLogGroup, "runner-wake-logs")
	if str(t, logs, "name") != "/aws/lambda/n3x-runner-wake" || num(t, logs, "retentionInDays") != wakeLogRetentionDays {
		t.Errorf("log group %v", logs.inputs)
	}
	idle := d.find(t, typeParameter, "idle-minutes")
	value := prop(t, idle, "value") // the provider marks every parameter value secret
	if value.IsSecret() {
		value = value.SecretValue().Element
	}
	if str(t, idle, "name") != "/n3x-runner/idle-minutes" || str(t, idle, "type") != "String" || !value.IsString() || value.StringValue() != "45" {
		t.Errorf("idle minutes parameter %v", idle.inputs)
	}

	role := d.find(t, typeRole, "runner-wake-role")
	var trust policyDocument
	if err := json.Unmarshal([]byte(str(t, role, "assumeRolePolicy")), &trust); err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, trust.Statement, []policyStatement{{Effect: "Allow", Principal: map[string]string{"Service": "lambda.amazonaws.com"}, Action: "sts:AssumeRole"}}) {
		t.Errorf("wake role trust %+v", trust.Statement)
	}
	ssmARN := func(name string) string {
		return "arn:aws:ssm:us-east-1:" + testAccount + ":parameter/n3x-runner/" + name
	}
	wantWake := []policyStatement{
		{Effect: "Allow", Action: []any{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: "arn:aws:logs:us-east-1:" + testAccount + ":log-group:/aws/lambda/n3x-runner-wake:*"},
		{Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*"},
		{Effect: "Allow", Action: "ec2:StartInstances", Resource: "arn:aws:ec2:us-east-1:" + testAccount + ":instance/*",
			Condition: map[string]map[string]string{"StringEquals": {"aws:ResourceTag/n3x:state-id": testStateID}}},
		{Effect: "Allow", Action: "ssm:GetParameter", Resource: []any{ssmARN("gitlab-api-token"), ssmARN("gitlab-webhook-token")}},
	}
	if got := policyOf(t, d, "runner-wake-permissions"); !equalJSON(t, got, wantWake) {
		t.Errorf("the wake role may\n%+v\nwant\n%+v", got, wantWake)
	}
	runnerPolicy := policyOf(t, d, "runner-role-permissions")
	wantStop := policyStatement{Effect: "Allow", Action: "ec2:StopInstances", Resource: "arn:aws:ec2:us-east-1:" + testAccount + ":instance/*",
		Condition: map[string]map[string]string{"StringEquals": {"aws:ResourceTag/n3x:state-id": testStateID,
			"ec2:InstanceProfile": "arn:aws:iam::" + testAccount + ":instance-profile/n3x-runner"}}}
	if len(runnerPolicy) != 3 || !equalJSON(t, runnerPolicy[2], wantStop) || !strings.Contains(mustJSON(t, runnerPolicy[1]), ssmARN("idle-minutes")) {
		t.Errorf("the runner role may\n%+v\nwant its own stop and the idle minutes too", runnerPolicy)
	}
	for _, runner := range d.ofType(typeInstance) {
		if !hasDependency(runner, "runner-wake") {
			t.Errorf("%s does not wait for the wake function", runner.name)
		}
	}
	outputs := d.outputs
	if outputs["wakeWebhookUrl"] != "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/" {
		t.Errorf("wakeWebhookUrl %v", outputs["wakeWebhookUrl"])
	}
	if params, _ := outputs["wakeParameters"].(map[string]any); params["gitlab-webhook-token"] != "/n3x-runner/gitlab-webhook-token" || len(params) != 3 {
		t.Errorf("wakeParameters %v", outputs["wakeParameters"])
	}
}

// wakeSettingsOf is the function's config.json of a deployment.
func wakeSettingsOf(t *testing.T, d deployment) wakeSettings {
	t.Helper()
	asset, ok := prop(t, d.find(t, typeFunction, "runner-wake"), "code").ArchiveValue().Assets["config.json"].(*resource.Asset)
	var settings wakeSettings
	if !ok || json.Unmarshal([]byte(asset.Text), &settings) != nil {
		t.Fatalf("no config.json in the function's code")
	}
	return settings
}

// An update that replaces a runner (here a bigger root volume, which the function cannot see
// in DescribeInstances) tells the function the old instance's id first, so it never starts
// that one while it waits, stopped, for its volumes to move; the next update lists none.
func TestWakeNeverStartsAnInstanceThisUpdateReplaces(t *testing.T) {
	cfg := testConfig(keyWakeOnJob, "true", keyX86Count, "2")
	first := mustDeployOn(t, newFakeAWS(), cfg)
	old := first.find(t, typeInstance, "x86-runner").id
	for _, r := range wakeSettingsOf(t, first).Runners {
		if len(r.Replacing) != 0 {
			t.Errorf("first deploy: %s replacing %v", r.Name, r.Replacing)
		}
	}
	bigger := maps.Clone(cfg)
	bigger[keyRootVolumeSize] = "80"
	roll := mustDeployOn(t, first.next(), bigger)
	replacing := map[string][]string{}
	for _, r := range wakeSettingsOf(t, roll).Runners {
		replacing[r.Name] = r.Replacing
	}
	second := first.find(t, typeInstance, "x86-2-runner").id
	if old == "" || !slices.Equal(replacing["n3x-x86-runner"], []string{old}) || !slices.Equal(replacing["n3x-x86-2-runner"], []string{second}) {
		t.Errorf("replacing %v, want the held instances %s and %s", replacing, old, second)
	}
	if !hasDependency(roll.find(t, typeInstance, "x86-runner"), "runner-wake") {
		t.Error("the new instance does not wait for the function's update")
	}
}

// Without n3x:wakeOnJob: none of it, and a runner may not stop itself.
func TestWakeOnJobOffMakesNothing(t *testing.T) {
	d := mustDeploy(t, testConfig())
	for _, typ := range []string{typeFunction, typeFunctionURL, typePermission, typeLogGroup, typeParameter} {
		if n := len(d.ofType(typ)); n != 0 {
			t.Errorf("%d %s without wakeOnJob", n, typ)
		}
	}
	if s := mustJSON(t, policyOf(t, d, "runner-role-permissions")); strings.Contains(s, "StopInstances") || strings.Contains(s, "idle-minutes") {
		t.Errorf("runner role without wakeOnJob: %s", s)
	}
	if _, ok := d.outputs["wakeWebhookUrl"]; ok {
		t.Error("wakeWebhookUrl without wakeOnJob")
	}
}

// Bad wake-on-job keys get their own message and fix, also while wakeOnJob is off.
func TestWakeConfigProblems(t *testing.T) {
	cases := []struct {
		name, key, value, message, fix string
	}{
		{"not a boolean", keyWakeOnJob, "yes", `n3x:wakeOnJob must be true or false, got "yes"`, "pulumi config set n3x:wakeOnJob true"},
		{"no scheme", keyGitlabURL, "gitlab.example.com", `n3x:gitlabUrl must be the https URL of a GitLab instance`, "pulumi config set n3x:gitlabUrl https://<your-gitlab-host>"},
		{"plain http", keyGitlabURL, "http://gitlab.example.com", `n3x:gitlabUrl is "http://gitlab.example.com": the function sends a GitLab token to it, so it must be https`,
			"pulumi config set n3x:gitlabUrl https://gitlab.example.com"},
		{"a token in the URL", keyGitlabURL, "https://oauth2:glpat-x@gitlab.example.com", "n3x:gitlabUrl must be the https URL", "pulumi config set n3x:gitlabUrl https://<your-gitlab-host>"},
		{"an empty tag", keyRunnerTagsX86, "n3x-build,,x86_64", `n3x:runnerTagsX86 must be GitLab runner tags separated by commas (each 1-255 characters), got "n3x-build,,x86_64"`,
			"pulumi config set n3x:runnerTagsX86 <tag>,<tag>"},
		{"too few minutes", keyIdleMinutes, "5", "n3x:idleMinutes must be a whole number of minutes from 10 to 1440, got 5", "pulumi config set n3x:idleMinutes 10"},
		{"minutes with a unit", keyIdleMinutes, "30m", `n3x:idleMinutes must be a whole number of minutes from 10 to 1440, got "30m"`, "pulumi config set n3x:idleMinutes 30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(testSource(testConfig(tc.key, tc.value), "dev"))
			if err == nil || !strings.Contains(err.Error(), tc.message) || !strings.Contains(err.Error(), "fix: "+tc.fix) {
				t.Errorf("error %v\nwant %q with fix %q", err, tc.message, tc.fix)
			}
		})
	}
}

// policyOf is the statements of a registered role policy.
func policyOf(t *testing.T, d deployment, name string) []policyStatement {
	t.Helper()
	var doc policyDocument
	if err := json.Unmarshal([]byte(str(t, d.find(t, typeRolePolicy, name), "policy")), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Statement
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// The runner's idle stop (wake/idle-stop.sh), with fake IMDS, metrics, AWS CLI, systemctl
// and uptime: it stops only after n3x:idleMinutes without a job, counted from the boot, and
// then GitLab Runner first (gracefully: a job it took meanwhile runs to its end), the
// instance after. GitLab Runner up without metrics may have a job: never idle; GitLab
// Runner not running has none: idle, so the machine does not stay up, billed, for good. A
// stop of either that fails leaves GitLab Runner taking jobs.
func TestIdleStopNeverCutsAJob(t *testing.T) {
	requireTool(t, "jq", "apt-get install jq")
	dir := t.TempDir()
	bin, state, calls := filepath.Join(dir, "bin"), filepath.Join(dir, "run"), filepath.Join(dir, "calls")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	fakes := map[string]string{
		"curl": `for a; do url=$a; done
case $url in
*/api/token) echo tok ;;
*/meta-data/instance-id) echo i-0123456789abcdef0 ;;
*/meta-data/placement/region) echo us-east-1 ;;
*/meta-data/iam/info) echo '{"Code":"Success","InstanceProfileArn":"arn:aws:iam::123456789012:instance-profile/n3x-runner"}' ;;
*/metrics) [ -e "$FAKE/metrics" ] || exit 7; cat "$FAKE/metrics" ;;
esac`,
		"aws": `echo "aws $*" >> "$FAKE/calls"; case "$1 $2" in "ssm get-parameter") cat "$FAKE/minutes" ;;
"ec2 stop-instances") [ ! -e "$FAKE/fail-stop" ] || exit 254 ;; esac`,
		// As systemd: is-active prints the unit's state, and exits 3 unless it is active.
		"systemctl": `echo "systemctl $*" >> "$FAKE/calls"
case $1 in
is-active) s=$(cat "$FAKE/unit"); echo "$s"; [ "$s" = active ] || exit 3 ;;
stop) [ ! -e "$FAKE/fail-unit-stop" ] || exit 1 ;;
esac`,
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idle := "# HELP gitlab_runner_jobs The current number of running builds.\n" +
		`gitlab_runner_jobs{executor_stage="idle",runner="abc",stage="idle",state="idle",system_id="s_1"} 0` + "\n"
	busy := idle + `gitlab_runner_jobs{executor_stage="step_script",runner="abc",stage="build",state="running",system_id="s_1"} 1` + "\n"
	// A job that began and ended between two looks: only the counter moved.
	quick := idle + `gitlab_runner_jobs_total{runner="abc",system_id="s_1"} 1` + "\n"
	run := func(uptime int) (string, error) {
		write("uptime", strconv.Itoa(uptime)+".27 1234.56\n") // /proc/uptime: seconds since the boot, idle seconds
		os.Remove(calls)
		cmd := exec.Command("bash", "wake/idle-stop.sh")
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE="+dir, "N3X_IDLE_STATE="+state,
			"N3X_SYSTEMD_RUNTIME="+filepath.Join(dir, "units"), "N3X_UPTIME="+filepath.Join(dir, "uptime"))
		out, err := cmd.CombinedOutput()
		log, _ := os.ReadFile(calls)
		return strings.ReplaceAll(strings.TrimSpace(string(log)), "\n", "; "), errorWithOutput(err, out)
	}
	dropIn := filepath.Join(dir, "units", "gitlab-runner.service.d", "n3x-idle-stop.conf")
	getParameter := "aws ssm get-parameter --region us-east-1 --name /n3x-runner/idle-minutes --query Parameter.Value --output text"
	isActive := getParameter + "; systemctl is-active gitlab-runner.service"
	stopInstance := "aws ec2 stop-instances --region us-east-1 --instance-ids i-0123456789abcdef0"
	graceful := "systemctl daemon-reload; systemctl stop gitlab-runner.service"
	stopRunner := getParameter + "; " + graceful
	startRunner := "systemctl daemon-reload; systemctl start gitlab-runner.service"
	min := func(m int) int { return 1000 + m*60 }
	write("minutes", "30\n")
	steps := []struct {
		name    string
		metrics string // "" = GitLab Runner not answering
		unit    string // what systemctl is-active says of it
		file    string // a fault: fail-stop (EC2), fail-unit-stop (systemd)
		uptime  int
		want    string
		fails   bool
		dropIn  bool // the graceful stop's drop-in is there after the run
	}{
		{"first run after the boot: the idle time starts", idle, "active", "", min(0), getParameter, false, false},
		{"idle 29 minutes", idle, "active", "", min(29), getParameter, false, false},
		{"a job runs", busy, "active", "", min(29) + 30, getParameter, false, false},
		{"idle 29 minutes after the job", idle, "active", "", min(58) + 30, getParameter, false, false},
		{"a job between two looks", quick, "active", "", min(58) + 40, getParameter, false, false},
		{"idle 29 minutes after it", quick, "active", "", min(87) + 40, getParameter, false, false},
		// Without metrics, each state but inactive and failed may have a job: looked at
		// when it would otherwise have idled its 30 minutes, each restarts the idle time.
		{"GitLab Runner up without metrics, 30 minutes after the job", "", "active", "", min(88) + 40, isActive, false, false},
		{"starting, 30 minutes on", "", "activating", "", min(118) + 40, isActive, false, false},
		{"stopping, 30 minutes on: it may be finishing a job", "", "deactivating", "", min(148) + 40, isActive, false, false},
		{"reloading its configuration, 30 minutes on", "", "reloading", "", min(178) + 40, isActive, false, false},
		{"metrics back: the idle time counts from here", quick, "active", "", min(180), getParameter, false, false},
		{"idle 29 minutes", quick, "active", "", min(209), getParameter, false, false},
		{"idle 30 minutes: GitLab Runner stops first, then the instance", quick, "active", "", min(210), stopRunner + "; " + stopInstance, false, true},
		{"EC2 refuses the stop: GitLab Runner takes jobs again, its graceful stop undone", quick, "active", "fail-stop", min(211), stopRunner + "; " + stopInstance + "; " + startRunner, true, false},
		{"systemd fails GitLab Runner's stop: it takes jobs again, the instance stays", quick, "active", "fail-unit-stop", min(212), stopRunner + "; " + startRunner, true, false},
		{"GitLab Runner not running, EC2 refuses the stop: it is not started by the idle stop", "", "failed", "fail-stop", min(213), isActive + "; " + graceful + "; " + stopInstance + "; systemctl daemon-reload", true, false},
		// Its stop does nothing but cancel a start that is queued: none comes up to take a
		// job the shutdown would cut.
		{"GitLab Runner not running: no job, idle all along, the instance stops", "", "failed", "", min(214), isActive + "; " + graceful + "; " + stopInstance, false, true},
	}
	for _, s := range steps {
		for _, name := range []string{"metrics", "fail-stop", "fail-unit-stop"} {
			os.Remove(filepath.Join(dir, name))
		}
		if s.metrics != "" {
			write("metrics", s.metrics)
		}
		if s.file != "" {
			write(s.file, "")
		}
		write("unit", s.unit+"\n")
		got, err := run(s.uptime)
		if got != s.want || (err != nil) != s.fails {
			t.Errorf("%s: calls %q, %v\nwant %q (failing: %v)", s.name, got, err, s.want, s.fails)
		}
		content, readErr := os.ReadFile(dropIn)
		if (readErr == nil) != s.dropIn || (readErr == nil && string(content) != "[Service]\nKillSignal=SIGQUIT\nKillMode=process\nTimeoutStopSec=infinity\n") {
			t.Errorf("%s: the graceful stop's drop-in %q, %v; want it there: %v", s.name, content, readErr, s.dropIn)
		}
	}
	// After a boot (/run empty), GitLab Runner not running is idle from the boot on.
	os.RemoveAll(state)
	os.Remove(filepath.Join(dir, "metrics"))
	write("unit", "inactive\n")
	for _, s := range []struct {
		uptime int
		want   string
	}{{30, isActive}, {30 + 29*60, isActive}, {30 + 30*60, isActive + "; " + graceful + "; " + stopInstance}} {
		if got, err := run(s.uptime); err != nil || got != s.want {
			t.Errorf("GitLab Runner inactive since the boot, %d s up: calls %q, %v; want %q", s.uptime, got, err, s.want)
		}
	}
	// A busy-at from an earlier version's wall clock, after an update in place: the idle
	// time starts now, not never.
	write("metrics", idle)
	write("unit", "active\n")
	write("run/busy-at", "1764000000\n")
	write("run/taken", "0\n") // as the idle metrics count: only the clock differs
	for _, s := range []struct {
		uptime int
		want   string
	}{{100, getParameter}, {100 + 29*60, getParameter}, {100 + 30*60, stopRunner + "; " + stopInstance}} {
		if got, err := run(s.uptime); err != nil || got != s.want {
			t.Errorf("busy-at of the wall clock, %d s up: calls %q, %v; want %q", s.uptime, got, err, s.want)
		}
	}
	write("minutes", "thirty\n")
	if got, err := run(99999); err == nil || strings.Contains(got, "stop") {
		t.Errorf("a bad idle-minutes parameter: calls %q, %v; want a failure that stops nothing", got, err)
	}
}

// errorWithOutput adds a command's output to its error.
func errorWithOutput(err error, out []byte) error {
	if err == nil {
		return nil
	}
	return &commandError{err: err, out: string(out)}
}

type commandError struct {
	err error
	out string
}

func (e *commandError) Error() string { return e.err.Error() + ": " + e.out }
