package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSchedulesExistOnlyWithWorkingHours(t *testing.T) {
	d := mustDeploy(t, testConfig())
	for _, name := range []string{"runner-scheduler", "runner-scheduler-start-stop"} {
		if _, found := d.registration(typeRole, name); found {
			t.Errorf("always on, yet %s registered", name)
		}
		if _, found := d.registration(typeRolePolicy, name); found {
			t.Errorf("always on, yet %s registered", name)
		}
	}
	if found := d.ofType(typeSchedule); len(found) != 0 {
		t.Errorf("always on, yet %d schedules registered", len(found))
	}
}

func TestWorkingHoursSchedules(t *testing.T) {
	d := mustDeploy(t, testConfig(keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"))
	role := d.find(t, typeRole, "runner-scheduler")
	ids := []any{d.find(t, typeInstance, "x86-runner").id, d.find(t, typeInstance, "graviton-runner").id}
	// Each runner has its own schedules: EC2 refuses a whole StartInstances call when it
	// refuses one instance, so one interrupted or lost runner must not keep the others stopped.
	if n := len(d.ofType(typeSchedule)); n != 4 {
		t.Errorf("%d schedules, want a start and a stop per runner", n)
	}
	cases := []struct {
		runner, action, expression, target string
	}{
		{"x86", "start", "cron(0 7 ? * MON,TUE,WED,THU,FRI *)", "arn:aws:scheduler:::aws-sdk:ec2:startInstances"},
		{"x86", "stop", "cron(0 19 ? * MON,TUE,WED,THU,FRI *)", "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"},
		{"graviton", "start", "cron(0 7 ? * MON,TUE,WED,THU,FRI *)", "arn:aws:scheduler:::aws-sdk:ec2:startInstances"},
		{"graviton", "stop", "cron(0 19 ? * MON,TUE,WED,THU,FRI *)", "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"},
	}
	for _, tc := range cases {
		s := d.find(t, typeSchedule, tc.runner+"-runner-"+tc.action)
		checks := map[string][2]any{
			"name":                       {str(t, s, "name"), "n3x-" + tc.runner + "-runner-" + tc.action},
			"scheduleExpression":         {str(t, s, "scheduleExpression"), tc.expression},
			"scheduleExpressionTimezone": {str(t, s, "scheduleExpressionTimezone"), "Europe/Berlin"},
			"flexibleTimeWindow mode":    {str(t, s, "flexibleTimeWindow", "mode"), "OFF"},
			"target arn":                 {str(t, s, "target", "arn"), tc.target},
			"target roleArn":             {str(t, s, "target", "roleArn"), role.outputs["arn"].StringValue()},
		}
		for what, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s %s %s = %v, want %v", tc.runner, tc.action, what, c[0], c[1])
			}
		}
		var input map[string][]any
		want := []any{d.find(t, typeInstance, tc.runner+"-runner").id}
		if err := json.Unmarshal([]byte(str(t, s, "target", "input")), &input); err != nil || !slices.Equal(input["InstanceIds"], want) {
			t.Errorf("%s %s input %s, want InstanceIds %v (%v)", tc.runner, tc.action, str(t, s, "target", "input"), want, err)
		}
		if !hasDependency(s, "runner-scheduler-start-stop") {
			t.Errorf("%s %s does not wait for its role's permission", tc.runner, tc.action)
		}
	}

	var trust policyDocument
	if err := json.Unmarshal([]byte(str(t, role, "assumeRolePolicy")), &trust); err != nil {
		t.Fatal(err)
	}
	want := policyStatement{Effect: "Allow", Principal: map[string]string{"Service": "scheduler.amazonaws.com"}, Action: "sts:AssumeRole",
		Condition: map[string]map[string]string{"StringEquals": {"aws:SourceAccount": testAccount}}}
	if len(trust.Statement) != 1 || !equalJSON(t, trust.Statement[0], want) {
		t.Errorf("trust policy %+v, want only %+v", trust.Statement, want)
	}

	policy := d.find(t, typeRolePolicy, "runner-scheduler-start-stop")
	if str(t, policy, "role") != role.id {
		t.Errorf("policy is on role %q, want %q", str(t, policy, "role"), role.id)
	}
	var permissions policyDocument
	if err := json.Unmarshal([]byte(str(t, policy, "policy")), &permissions); err != nil {
		t.Fatal(err)
	}
	wantArns := []any{"arn:aws:ec2:us-east-1:" + testAccount + ":instance/" + ids[0].(string), "arn:aws:ec2:us-east-1:" + testAccount + ":instance/" + ids[1].(string)}
	wantStatement := policyStatement{Effect: "Allow", Action: []any{"ec2:StartInstances", "ec2:StopInstances"}, Resource: wantArns}
	if len(permissions.Statement) != 1 || !equalJSON(t, permissions.Statement[0], wantStatement) {
		t.Errorf("role may %+v, want only %+v", permissions.Statement, wantStatement)
	}
}

// An AMI upgrade replaces the instance: the schedules and the role's permission take the new
// id as an update, never a replacement of their own.
func TestSchedulesFollowAnAMIUpgradeInPlace(t *testing.T) {
	hours := []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin"}
	account := newFakeAWS()
	account.amis["ami-0aaaaaaaaaaaaaaaa"] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8}
	before := deploy(t, account, "dev", false, testConfig(hours...))
	after := deploy(t, before.next(), "dev", true, testConfig(append(hours, keyAmiX86, "ami-0aaaaaaaaaaaaaaaa")...))
	if before.err != nil || after.err != nil {
		t.Fatal(before.err, after.err)
	}
	replaced := plannedReplacements(t, before, after)
	for _, name := range []string{"x86-runner-start", "x86-runner-stop", "runner-scheduler", "runner-scheduler-start-stop"} {
		if slices.Contains(replaced, name) {
			t.Errorf("%s is replaced by an AMI upgrade", name)
		}
	}
	for _, name := range []string{"x86-runner-start", "x86-runner-stop"} {
		deps := after.find(t, typeSchedule, name).rpc.GetPropertyDependencies()["target"].GetUrns()
		if !slices.ContainsFunc(deps, func(urn string) bool { return urnName(urn) == "x86-runner" }) {
			t.Errorf("%s target does not follow the x86 instance: %v", name, deps)
		}
	}
}

func TestDaylightSavingGapsWarn(t *testing.T) {
	cases := []struct {
		hours string
		want  string // "" means no warning
	}{
		{"Mon-Fri 07:00-19:00 Europe/Berlin", ""},
		{"Sun 02:30-20:00 Europe/Berlin", "n3x:workingHours starts or stops at a time that Europe/Berlin skips when daylight saving time begins (02:30 on Sun 2"},
		{"Sat-Sun 06:00-02:15 America/New_York", ""}, // stop before start: rejected by config, not here
		{"Sun 01:00-02:10 America/New_York", "(02:10 on Sun "},
		{"Sun 02:30-20:00 UTC", ""},
	}
	for _, tc := range cases {
		hours, err := parseWorkingHours(tc.hours)
		if err != nil {
			if tc.want == "" {
				continue
			}
			t.Fatal(err)
		}
		warnings := configWarnings(Config{WorkingHours: hours}, placement{Zone: "us-east-1b"})
		got := strings.Join(warnings, "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warnings %q, want %q", tc.hours, got, tc.want)
		}
	}
	// Within any year from now, the Berlin gap is the last Sunday of March.
	hours, _ := parseWorkingHours("Sun 02:30-20:00 Europe/Berlin")
	if gaps := hours.gaps(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); !slices.Equal(gaps, []string{"02:30 on Sun 29 Mar 2026"}) {
		t.Errorf("gaps from 2026-01-01: %q", gaps)
	}
}

// equalJSON compares two values by their JSON.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(ja) == string(jb)
}
