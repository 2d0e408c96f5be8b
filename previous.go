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

// readPreviousDeployment reads the stack's outputs of its last update. On the local and S3
// backends ("organization" is their placeholder organization) the stack is named alone,
// which both their layouts resolve within the current project (the legacy layout refuses a
// qualified name); on Pulumi Cloud it is organization/project/stack.
func readPreviousDeployment(ctx *pulumi.Context) (previousDeployment, error) {
	name := fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
	if ctx.Organization() == "organization" {
		name = ctx.Stack()
	}
	ref, err := pulumi.NewStackReference(ctx, "previous-deployment", &pulumi.StackReferenceArgs{Name: pulumi.String(name)})
	if err != nil {
		return previousDeployment{}, fmt.Errorf("reading this stack's previous outputs (%s): %w", name, err)
	}
	outputs := map[string]any{}
	for _, key := range previousOutputKeys {
		details, err := ref.GetOutputDetails(key)
		if err != nil {
			return previousDeployment{}, fmt.Errorf("reading this stack's previous outputs (%s): %w", name, err)
		}
		outputs[key] = details.Value
	}
	return parsePreviousDeployment(outputs), nil
}

// previousOutputKeys are the outputs the previous deployment is read from: runners, and the
// per-architecture outputs of runner 1 that every version of this program exported, for a
// stack last updated before the runners output existed.
var previousOutputKeys = []string{"availabilityZone", "runners",
	"x86InstanceId", "x86CacheVolumeId", "x86YoctoVolumeId", "gravitonInstanceId", "gravitonCacheVolumeId", "gravitonYoctoVolumeId"}

// parsePreviousDeployment reads the outputs as runner.listing and runner.outputs write them;
// anything else (no outputs at all) reads as nothing.
func parsePreviousDeployment(outputs map[string]any) previousDeployment {
	prev := previousDeployment{runners: map[string]previousRunner{}}
	prev.zone, _ = outputs["availabilityZone"].(string)
	list, _ := outputs["runners"].([]any)
	for _, item := range list {
		entry, _ := item.(map[string]any)
		name, _ := entry["name"].(string)
		if name == "" {
			continue
		}
		arch, _ := entry["architecture"].(string)
		prev.runners[name] = previousRunnerOf(arch, entry["instanceId"], entry["cacheVolumeId"], entry["yoctoVolumeId"])
	}
	if len(prev.runners) > 0 {
		return prev
	}
	for kind, arch := range map[string]string{"x86": "x86_64", "graviton": "arm64"} {
		if id, _ := outputs[kind+"InstanceId"].(string); id != "" {
			prev.runners[kind] = previousRunnerOf(arch, id, outputs[kind+"CacheVolumeId"], outputs[kind+"YoctoVolumeId"])
		}
	}
	return prev
}

func previousRunnerOf(arch string, instanceID, cache, yocto any) previousRunner {
	r := previousRunner{arch: arch, volumes: map[string]string{}}
	r.instanceID, _ = instanceID.(string)
	for role, id := range map[string]any{"cache": cache, "yocto": yocto} {
		if id, _ := id.(string); id != "" {
			r.volumes[role] = id
		}
	}
	return r
}

// names lists the previous runners by name.
func (p previousDeployment) names() []string { return slices.Sorted(maps.Keys(p.runners)) }

// removed lists, sorted, the previous runners the configuration no longer has: those whose
// count was lowered, and the Graviton runners when n3x:amiArm64 was emptied.
func (p previousDeployment) removed(cfg Config) []string {
	configured := map[string]bool{}
	for _, spec := range runnerSpecs(cfg) {
		configured[spec.name] = true
	}
	var removed []string
	for _, name := range p.names() {
		if !configured[name] {
			removed = append(removed, name)
		}
	}
	return removed
}

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
