package main

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// architecture is one kind of runner and the keys that configure it.
type architecture struct {
	kind            string // "x86", "graviton": the logical names and outputs of its runner 1
	arch            string // EC2 architecture of AMI and instance type: "x86_64", "arm64"
	ami             string
	instanceType    string
	count           int
	amiKey          string // config keys, for messages
	instanceTypeKey string
	countKey        string
}

// architectures lists the configured kinds of runner: x86_64 always, Graviton when its
// AMI is set.
func architectures(cfg Config) []architecture {
	kinds := []architecture{{
		kind: "x86", arch: "x86_64", ami: cfg.AmiX86, instanceType: cfg.InstanceTypeX86, count: cfg.X86Count,
		amiKey: keyAmiX86, instanceTypeKey: keyInstanceTypeX86, countKey: keyX86Count,
	}}
	if cfg.AmiArm64 != "" {
		kinds = append(kinds, architecture{
			kind: "graviton", arch: "arm64", ami: cfg.AmiArm64, instanceType: cfg.InstanceTypeGraviton, count: cfg.GravitonCount,
			amiKey: keyAmiArm64, instanceTypeKey: keyInstanceTypeGraviton, countKey: keyGravitonCount,
		})
	}
	return kinds
}

// runnerSpec is one runner: its architecture and its number within it.
type runnerSpec struct {
	architecture
	number int    // from 1
	name   string // logical-name prefix: "x86" for runner 1, as before counts, then "x86-2", …
}

// runnerSpecs lists every configured runner, in a stable order: x86_64 runners by
// number, then Graviton's.
func runnerSpecs(cfg Config) []runnerSpec {
	var specs []runnerSpec
	for _, a := range architectures(cfg) {
		for n := 1; n <= a.count; n++ {
			name := a.kind
			if n > 1 {
				name = fmt.Sprintf("%s-%d", a.kind, n)
			}
			specs = append(specs, runnerSpec{architecture: a, number: n, name: name})
		}
	}
	return specs
}

// physicalName is the runner's Name tag and the prefix of its volumes' names.
func (s runnerSpec) physicalName(cfg Config) string {
	return fmt.Sprintf("%s-%s-runner", cfg.NamePrefix, s.name)
}

// instanceTypes lists the configured runners' instance types, each once.
func instanceTypes(cfg Config) []string {
	var types []string
	for _, a := range architectures(cfg) {
		if !slices.Contains(types, a.instanceType) {
			types = append(types, a.instanceType)
		}
	}
	return types
}

// dataVolumeSpec is one of the EBS volumes that outlive the runner's instance.
type dataVolumeSpec struct {
	role    string // "cache" or "yocto": logical names and outputs
	device  string // EBS device name; NixOS finds it by this name's udev link, never by nvmeN
	purpose string // Purpose tag, read by operators in the console
	VolumeConfig
}

func dataVolumeSpecs(cfg Config) []dataVolumeSpec {
	return []dataVolumeSpec{
		{role: "cache", device: "/dev/sdf", purpose: "nix-store-zfs-cache", VolumeConfig: cfg.CacheVolume},
		{role: "yocto", device: "/dev/sdg", purpose: "yocto-dl-dir-sstate", VolumeConfig: cfg.YoctoVolume},
	}
}

// dataVolumeNames are the Name tags of every configured runner's data volumes.
func dataVolumeNames(cfg Config) []string {
	var names []string
	for _, spec := range runnerSpecs(cfg) {
		for _, vol := range dataVolumeSpecs(cfg) {
			names = append(names, spec.physicalName(cfg)+"-"+vol.role)
		}
	}
	return names
}

// runnerRole is the Role tag of every runner resource; preflight finds this stack's
// instances by it.
const runnerRole = "build-runner"

// sharedTags tag resources every runner uses. Operator-wide tags (cost centre, owner)
// belong in the provider's aws:defaultTags, which merges them into all of these.
func sharedTags(ctx *pulumi.Context, name string) pulumi.StringMap {
	return pulumi.StringMap{
		"Name":    pulumi.String(name),
		"Project": pulumi.String(ctx.Project()),
		"Stack":   pulumi.String(ctx.Stack()),
	}
}

// runnerTags add the runner's architecture and role, and a volume's purpose.
func runnerTags(ctx *pulumi.Context, spec runnerSpec, name, purpose string) pulumi.StringMap {
	tags := sharedTags(ctx, name)
	tags["Arch"] = pulumi.String(spec.arch)
	tags["Role"] = pulumi.String(runnerRole)
	if purpose != "" {
		tags["Purpose"] = pulumi.String(purpose)
	}
	return tags
}
