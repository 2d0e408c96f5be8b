// Command n3x is the Pulumi program for the n3x build-runner fleet on AWS.
package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		f, err := deployFleet(ctx)
		if err != nil {
			return err
		}
		for name, value := range f.outputs() {
			ctx.Export(name, value)
		}
		return nil
	})
}

// fleet is what one stack deploys.
type fleet struct {
	sharedResources
	runners []*runner
	cost    fleetCost
	region  string
}

// deployFleet validates the configuration, checks it against AWS and only then
// registers resources, so a broken stack creates nothing.
func deployFleet(ctx *pulumi.Context) (*fleet, error) {
	cfg, err := loadConfig(config.New(ctx, configNamespace).Get, ctx.Stack())
	if err != nil {
		return nil, err
	}
	cfg.Region = config.Get(ctx, "aws:region")
	p, warnings, err := preflight(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, warning := range warnings {
		if err := ctx.Log.Warn(warning, nil); err != nil {
			return nil, err
		}
	}

	f := &fleet{sharedResources: sharedResources{placement: p}, region: cfg.Region}
	if f.securityGroup, err = newRunnerSecurityGroup(ctx, cfg, p); err != nil {
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
	serving := map[string][]pulumi.Resource{} // by architecture: the previous runner serving again
	for _, spec := range runnerSpecs(cfg) {
		r, err := newRunner(ctx, cfg, spec, f.sharedResources, serving[spec.kind])
		if err != nil {
			return nil, err
		}
		f.runners, serving[spec.kind] = append(f.runners, r), r.serving
	}
	if err := newWorkingHoursSchedules(ctx, cfg, f.runners); err != nil {
		return nil, err
	}
	f.cost = estimateCost(cfg, lookupSpotPrices(ctx, cfg, p.Zone))
	if err := ctx.Log.Info(f.cost.String(), nil); err != nil {
		return nil, err
	}
	return f, nil
}

// keyPairName is the physical name of the shared key pair.
func keyPairName(cfg Config) string {
	return cfg.NamePrefix + "-runner-key"
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
	for _, r := range f.runners {
		for name, value := range r.outputs() {
			outputs[name] = value
		}
	}
	return outputs
}
