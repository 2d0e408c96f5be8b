package main

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// boundaryFacts is the permissions boundary of the roles the deploy role may create and
// change: the managed policy <prefix>-runner-boundary (iam/runner-boundary.json), which the
// CI setup creates (docs/ci-iam.md, Creating the roles). The deploy role may create a
// role, or put its inline policy, only with that boundary on it, so whatever a role's policy
// says, the role can do no more than start and stop this stack's runners and read this
// stack's parameters. An account without the policy (no CI roles) gets roles without one.
type boundaryFacts struct {
	arn string // "" when the account has no such policy
	err error  // the lookup was refused
}

func boundaryName(cfg Config) string { return cfg.NamePrefix + "-runner-boundary" }

// findBoundary looks the policy up by ARN (aws_iam_policy data source: iam:GetPolicy,
// iam:GetPolicyVersion); it needs the account, so it runs once the caller is known.
func findBoundary(ctx *pulumi.Context, l *lookups, cfg Config, caller *callerFacts) *boundaryFacts {
	b := &boundaryFacts{}
	if caller.err != nil {
		return b
	}
	arn := fmt.Sprintf("arn:%s:iam::%s:policy/%s", caller.partition, caller.accountID, boundaryName(cfg))
	l.start(func() {
		_, err := iam.LookupPolicy(ctx, &iam.LookupPolicyArgs{Arn: pulumi.StringRef(arn)})
		switch {
		case err == nil:
			b.arn = arn
		case isNoSuchPolicy(err):
		default:
			b.err = err
		}
	})
	return b
}

// isNoSuchPolicy says whether IAM has no policy of that ARN: GetPolicy answers
// NoSuchEntity, which the data source reports as a resource it couldn't find
// (policy_data_source.go, dataSourcePolicyRead; FindPolicyByARN).
func isNoSuchPolicy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "NoSuchEntity") || strings.Contains(s, "couldn't find resource")
}

// arnOr is the boundary to put on the roles: the one found, or, when the lookup failed for
// another reason than a refusal, the one the state's runner role has, so that a failed
// lookup never takes a boundary off.
func (b *boundaryFacts) arnOr(state stackState) string {
	if b.err != nil {
		return state.roleBoundary
	}
	return b.arn
}

// checks are the refused lookup as a problem (it cannot be told whether the roles need the
// boundary), any other failure as a warning: the roles get no boundary.
func (b *boundaryFacts) checks(cfg Config) (problems []error, warnings []string) {
	if b.err == nil {
		return nil, nil
	}
	what := "looking for the permissions boundary " + boundaryName(cfg) + " of the stack's roles"
	if err := denied(what, "iam:GetPolicy", b.err); err != nil {
		return []error{err}, nil
	}
	return nil, []string{fmt.Sprintf("could not look for the permissions boundary %s (%s): the stack's roles keep the one they have, if any "+
		"(docs/ci-iam.md)", boundaryName(cfg), firstLine(b.err))}
}
