package main

import (
	"strings"
	"testing"
)

// In an account the CI setup prepared, the roles the deploy role may change carry the
// boundary, which the deploy role requires of them; the snapshot role, an administrator's,
// does not. Without the policy, no role has one.
func TestRolesCarryTheBoundaryWhereTheAccountHasIt(t *testing.T) {
	cfg := testConfig(keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin")
	boundary := "arn:aws:iam::" + testAccount + ":policy/n3x-runner-boundary"
	for _, tc := range []struct {
		name     string
		account  bool
		bounded  []string
		unbounds []string
	}{
		{"CI setup done", true, []string{"runner-role", "runner-scheduler"}, []string{"snapshot-policy-role"}},
		{"no CI setup", false, nil, []string{"runner-role", "runner-scheduler", "snapshot-policy-role"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			account := newFakeAWS()
			account.boundary = tc.account
			d := mustDeployOn(t, account, cfg)
			for _, name := range tc.bounded {
				if got := str(t, d.find(t, typeRole, name), "permissionsBoundary"); got != boundary {
					t.Errorf("%s permissionsBoundary %q, want %q", name, got, boundary)
				}
			}
			for _, name := range tc.unbounds {
				if _, ok := d.find(t, typeRole, name).inputs["permissionsBoundary"]; ok {
					t.Errorf("%s has a permissions boundary", name)
				}
			}
		})
	}
}

// A preview that may not look the boundary up says which action it lacks; any other failure
// of the lookup warns, and the roles get none.
func TestABoundaryLookupThatFails(t *testing.T) {
	account := newFakeAWS()
	account.denied = map[string]string{"aws:iam/getPolicy:getPolicy": "iam:GetPolicy"}
	d := deploy(t, account, "dev", true, testConfig())
	if d.err == nil || !strings.Contains(strings.Join(d.errors, "\n"), "looking for the permissions boundary n3x-runner-boundary of the stack's roles: the AWS identity running Pulumi may not call iam:GetPolicy") {
		t.Errorf("errors %q, err %v", d.errors, d.err)
	}
	problems, warnings := (&boundaryFacts{err: errString("unknown token aws:iam/getPolicy:getPolicy")}).checks(mustLoadConfig(t, testConfig(), "dev"))
	if len(problems) != 0 {
		t.Errorf("a failure that is no refusal is a problem: %v", problems)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "could not look for the permissions boundary n3x-runner-boundary") {
		t.Errorf("warnings %q", warnings)
	}
	// ... and a failed lookup never takes a boundary off: the state's stays.
	prepared := newFakeAWS()
	prepared.boundary = true
	first := mustDeployOn(t, prepared, testConfig())
	again := first.next()
	again.boundaryFails = true
	d = deploy(t, again, "dev", false, testConfig())
	if got := str(t, d.find(t, typeRole, "runner-role"), "permissionsBoundary"); d.err != nil || got != "arn:aws:iam::"+testAccount+":policy/n3x-runner-boundary" {
		t.Errorf("after a failed lookup the runner role's boundary is %q (%v)", got, d.err)
	}
	failed := &boundaryFacts{err: errString("unknown token")}
	if got := failed.arnOr(stackState{roleBoundary: "arn:aws:iam::123456789012:policy/n3x-runner-boundary"}); got != "arn:aws:iam::123456789012:policy/n3x-runner-boundary" {
		t.Errorf("a failed lookup puts %q on the roles", got)
	}
	if got := (&boundaryFacts{arn: "x"}).arnOr(stackState{}); got != "x" {
		t.Errorf("a found boundary %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
