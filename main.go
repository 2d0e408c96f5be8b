// Command n3x is the Pulumi program for the n3x build-runner fleet on AWS.
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/constant"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

func main() {
	err := pulumi.RunErr(program)
	switch {
	case err == nil:
	case errors.Is(err, pulumi.ErrPlugins):
		pulumi.Run(program) // prints the plugins the program needs, as the CLI asked
	default:
		if !errors.Is(err, errLogged) {
			fmt.Fprintln(os.Stderr, err)
		}
		// The exit status of a program that has logged its error: the CLI shows the
		// diagnostics without its "unhandled error" wrapper.
		os.Exit(constant.ExitStatusLoggedError)
	}
}

// errLogged says the program has already logged why it stopped.
var errLogged = errors.New("the n3x program logged its error")

// program deploys the fleet and exports its outputs. What it finds wrong itself (the
// configuration, or the configuration against the account) it logs as one diagnostic whose
// first line says how many problems there are, each on a line of its own.
func program(ctx *pulumi.Context) error {
	_, err := deployAndExport(ctx)
	return err
}

// deployAndExport is program, returning the fleet it deployed.
func deployAndExport(ctx *pulumi.Context) (*fleet, error) {
	f, err := deployFleet(ctx)
	if err != nil {
		if logErr := ctx.Log.Error(err.Error(), nil); logErr != nil {
			return nil, errors.Join(err, logErr)
		}
		return nil, errLogged
	}
	for name, value := range f.outputs() {
		ctx.Export(name, value)
	}
	return f, nil
}

// fleet is what one stack deploys.
type fleet struct {
	sharedResources
	runners []*runner
	cost    fleetCost
}

// deployFleet validates the configuration, checks it against AWS and only then
// registers resources, so a broken stack creates nothing.
func deployFleet(ctx *pulumi.Context) (*fleet, error) {
	cfg, err := loadConfig(configSource{get: config.New(ctx, configNamespace).Get, secret: ctx.IsConfigSecret, stack: ctx.Stack()})
	cfg.Region = config.Get(ctx, "aws:region")
	if problems, ok := err.(configProblems); ok && pricedKeysValid(problems) {
		return nil, cmp.Or(logCost(ctx, estimateCost(cfg, nil)), err)
	}
	if err != nil {
		return nil, err
	}
	if cfg.DefaultTags, err = defaultTags(config.Get(ctx, "aws:defaultTags")); err != nil {
		return nil, err
	}
	state, err := readStackState(ctx)
	if err != nil {
		return nil, err
	}
	checked, err := preflight(ctx, cfg, state)
	for _, warning := range checked.warnings {
		if err := ctx.Log.Warn(warning, nil); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, cmp.Or(logCost(ctx, estimateCost(cfg, checked.spotPrices)), err)
	}
	p := checked.placement
	for _, note := range checked.notes {
		if err := ctx.Log.Info(note, nil); err != nil {
			return nil, err
		}
	}

	if cfg.StateID, err = state.stateIDOrNew(); err != nil {
		return nil, err
	}
	stateID, err := newStateID(ctx, cfg.StateID)
	if err != nil {
		return nil, err
	}
	f := &fleet{sharedResources: sharedResources{placement: p, sources: checked.sources, region: cfg.Region}}
	if f.securityGroup, err = newRunnerSecurityGroup(ctx, cfg, p, stateID); err != nil {
		return nil, err
	}
	// A new public key replaces the key pair under the same name, which EC2 allows only
	// once the old one is gone.
	keyName := keyPairName(cfg)
	f.keyPair, err = ec2.NewKeyPair(ctx, "runner-key", &ec2.KeyPairArgs{
		KeyName:   pulumi.String(keyName),
		PublicKey: pulumi.String(cfg.SSHPublicKey),
		Tags:      sharedTags(ctx, keyName),
	}, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, fmt.Errorf("key pair %s: %w", keyName, err)
	}
	if f.identity, err = newRunnerIdentity(ctx, cfg, checked.caller, checked.boundary); err != nil {
		return nil, err
	}
	if f.wake, err = newWakeFunction(ctx, cfg, p, state, checked.caller, checked.boundary); err != nil {
		return nil, err
	}
	serving := map[string][]pulumi.Resource{} // by architecture: the previous runner serving again
	for _, spec := range runnerSpecs(cfg) {
		r, err := newRunner(ctx, cfg, spec, f.sharedResources, serving[spec.kind])
		if err != nil {
			return nil, err
		}
		f.runners, serving[spec.kind] = append(f.runners, r), r.serving
	}
	if err := newDepartureSnapshots(ctx, cfg, departures(cfg, state, checked.live)); err != nil {
		return nil, err
	}
	if err := newWorkingHoursSchedules(ctx, cfg, checked.caller, checked.boundary, f.runners); err != nil {
		return nil, err
	}
	if err := newSnapshotPolicy(ctx, cfg, checked.caller); err != nil {
		return nil, err
	}
	f.cost = estimateCost(cfg, checked.spotPrices)
	if err := logCost(ctx, f.cost); err != nil {
		return nil, err
	}
	if err := warnOrphans(ctx, cfg, state, checked.live, checked.leftovers, f.runners); err != nil {
		return nil, err
	}
	return f, nil
}

// logCost prints the estimate as one info line, in every preview and update, also one that
// stops on a problem.
func logCost(ctx *pulumi.Context, cost fleetCost) error { return ctx.Log.Info(cost.String(), nil) }

// defaultTags reads the provider's aws:defaultTags ({"tags": {...}}), which the provider
// adds to every resource it tags, so the program can add them where it tags by itself.
func defaultTags(raw string) (map[string]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var value struct {
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(raw), &value); err != nil {
		return nil, configProblems{fmt.Errorf("aws:defaultTags must be an object with a tags map, such as {\"tags\": {\"CostCenter\": \"ci\"}} (%v); "+
			"fix: pulumi config rm aws:defaultTags && pulumi config set --path 'aws:defaultTags.tags.<key>' <value>", err)}
	}
	return value.Tags, nil
}

// outputs are the stack outputs: shared ones plus each configured runner's.
func (f *fleet) outputs() map[string]pulumi.Input {
	outputs := map[string]pulumi.Input{
		"securityGroupId":  f.securityGroup.ID(),
		"keyPairName":      f.keyPair.KeyName,
		"availabilityZone": pulumi.String(f.placement.Zone),
		"monthlyCost":      f.cost.output(),
	}
	var ids []any
	var runners pulumi.Array
	for _, r := range f.runners {
		ids, runners = append(ids, r.machine.id), append(runners, r.listing())
	}
	outputs["runners"] = runners
	// Starts the runners now, outside n3x:workingHours: $(pulumi stack output startRunnersCommand)
	outputs["startRunnersCommand"] = pulumi.All(ids...).ApplyT(func(ids []any) string {
		command := "aws ec2 start-instances --region " + f.region + " --instance-ids"
		for _, id := range ids {
			command += " " + id.(string)
		}
		return command
	}).(pulumi.StringOutput)
	for name, value := range f.identity.outputs() {
		outputs[name] = value
	}
	for name, value := range f.wake.outputs() {
		outputs[name] = value
	}
	for _, r := range f.runners {
		for name, value := range r.outputs() {
			outputs[name] = value
		}
	}
	return outputs
}
