package main

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// lookups runs data-source calls at once. Each concern has its own facts and a find
// function that starts its calls here and fills its facts; the caller reads them after
// wait. Preflight starts every call that needs only the configuration and the state, waits,
// then every call that needs the zone: a preview waits for two AWS round trips, whatever
// the number of architectures and runners.
type lookups struct {
	wg sync.WaitGroup
	mu sync.Mutex // guards the facts the calls fill in
}

// start runs call concurrently.
func (l *lookups) start(call func()) { l.wg.Go(call) }

// locked runs fill while no other call fills facts.
func (l *lookups) locked(fill func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fill()
}

func (l *lookups) wait() { l.wg.Wait() }

// callerFacts is the account and partition of the identity running Pulumi, for ARNs.
type callerFacts struct {
	accountID, partition string
	err                  error
}

func findCaller(ctx *pulumi.Context, l *lookups) *callerFacts {
	c := &callerFacts{}
	l.start(func() {
		caller, err := aws.GetCallerIdentity(ctx, nil)
		if c.err = err; err == nil {
			c.accountID, c.partition = caller.AccountId, strings.Split(caller.Arn, ":")[1]
		}
	})
	return c
}

// notTerminated are the instance states of an instance that still exists.
var notTerminated = []string{"pending", "running", "stopping", "stopped"}

// isNoResults says whether a data source found nothing, as the provider words it
// ("Your query returned no results. Please change your search criteria and try again.").
func isNoResults(err error) bool { return strings.Contains(strings.ToLower(err.Error()), "no results") }

// accessDenied says whether a data source failed because the caller's IAM policy refused
// the call: EC2 answers UnauthorizedOperation, Service Quotas and STS AccessDenied(Exception),
// all with HTTP status 403, which the provider's errors quote ("https response error
// StatusCode: 403, ..., api error UnauthorizedOperation: ...").
func accessDenied(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UnauthorizedOperation") || strings.Contains(s, "AccessDenied") || strings.Contains(s, "StatusCode: 403")
}

// deniedAction is the action AWS's refusal names ("is not authorized to perform:
// ec2:DescribeImages"), or fallback, the one the data source calls, when it names none.
func deniedAction(err error, fallback string) string {
	if m := deniedActionPattern.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return fallback
}

var deniedActionPattern = regexp.MustCompile(`not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)`)

// permissionError is a lookup the caller may not make. It is no configuration problem, so
// it offers no config fix: the value may well be right, the policy needs the action.
type permissionError struct {
	what   string // what was being read, with the config key it checks
	action string // the IAM action refused
	err    error
}

func (e permissionError) Error() string {
	return fmt.Sprintf("%s: the AWS identity running Pulumi may not call %s, so this cannot be checked (%s); "+
		"allow it (iam/preview-policy.json lists every action a preview calls)", e.what, e.action, firstLine(e.err))
}

func (e permissionError) Unwrap() error { return e.err }

// denied is a permissionError when err is a refusal, nil otherwise.
func denied(what, action string, err error) error {
	if err == nil || !accessDenied(err) {
		return nil
	}
	return permissionError{what: what, action: deniedAction(err, action), err: err}
}

// firstLine is an error's first line, for a message.
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
