package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// previousDeployment is what this stack's last successful update exported: its zone and
// each runner's instance and data volume ids. It is read from the stack's own state, through
// a StackReference to itself, so it names exactly the resources this stack manages, never
// those of another stack, another prefix, or a copy of this stack on another backend (which
// has a state of its own). Empty for a stack that never completed an update.
type previousDeployment struct {
	zone    string
	runners map[string]previousRunner // by runner name: x86, x86-2, graviton
}

// previousRunner is one runner as the last update left it.
type previousRunner struct {
	arch       string            // x86_64 or arm64
	instanceID string            // "" when unknown
	volumes    map[string]string // by role (cache, yocto): volume id
}

// readPreviousDeployment reads the stack's outputs of its last update. The stack's
// fully-qualified name is organization/project/stack on every backend (on the local and
// S3 backends the organization is "organization").
func readPreviousDeployment(ctx *pulumi.Context) (previousDeployment, error) {
	name := fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
	ref, err := pulumi.NewStackReference(ctx, "previous-deployment", &pulumi.StackReferenceArgs{Name: pulumi.String(name)})
	if err != nil {
		return previousDeployment{}, fmt.Errorf("reading this stack's previous outputs (%s): %w", name, err)
	}
	zone, err := ref.GetOutputDetails("availabilityZone")
	if err != nil {
		return previousDeployment{}, fmt.Errorf("reading this stack's previous outputs (%s): %w", name, err)
	}
	runners, err := ref.GetOutputDetails("runners")
	if err != nil {
		return previousDeployment{}, fmt.Errorf("reading this stack's previous outputs (%s): %w", name, err)
	}
	return parsePreviousDeployment(zone.Value, runners.Value), nil
}

// parsePreviousDeployment reads the availabilityZone and runners outputs as runner.listing
// writes them; anything else (an older stack, no outputs) reads as nothing.
func parsePreviousDeployment(zone, runners any) previousDeployment {
	prev := previousDeployment{runners: map[string]previousRunner{}}
	prev.zone, _ = zone.(string)
	list, _ := runners.([]any)
	for _, item := range list {
		entry, _ := item.(map[string]any)
		name, _ := entry["name"].(string)
		if name == "" {
			continue
		}
		r := previousRunner{volumes: map[string]string{}}
		r.arch, _ = entry["architecture"].(string)
		r.instanceID, _ = entry["instanceId"].(string)
		for _, role := range []string{"cache", "yocto"} {
			if id, _ := entry[role+"VolumeId"].(string); id != "" {
				r.volumes[role] = id
			}
		}
		prev.runners[name] = r
	}
	return prev
}

// names lists the previous runners by name.
func (p previousDeployment) names() []string { return slices.Sorted(maps.Keys(p.runners)) }

// instanceIDs lists every previous runner's instance id.
func (p previousDeployment) instanceIDs() []string {
	var ids []string
	for _, name := range p.names() {
		if id := p.runners[name].instanceID; id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// volumeIDs lists every previous data volume id.
func (p previousDeployment) volumeIDs() []string {
	var ids []string
	for _, name := range p.names() {
		for _, role := range []string{"cache", "yocto"} {
			if id := p.runners[name].volumes[role]; id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// volumeOwner names the runner and role of a previous volume id.
func (p previousDeployment) volumeOwner(id string) (runner, role string) {
	for name, r := range p.runners {
		for role, volume := range r.volumes {
			if volume == id {
				return name, role
			}
		}
	}
	return "", ""
}
