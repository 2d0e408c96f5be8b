package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The fleet's shape: which runners exist, their names, tags and per-runner facts. Every
// other file builds from here.

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
		kind: "x86", arch: architectureOfKind("x86"), ami: cfg.AmiX86, instanceType: cfg.InstanceTypeX86, count: cfg.X86Count,
		amiKey: keyAmiX86, instanceTypeKey: keyInstanceTypeX86, countKey: keyX86Count,
	}}
	if cfg.AmiArm64 != "" {
		kinds = append(kinds, architecture{
			kind: "graviton", arch: architectureOfKind("graviton"), ami: cfg.AmiArm64, instanceType: cfg.InstanceTypeGraviton, count: cfg.GravitonCount,
			amiKey: keyAmiArm64, instanceTypeKey: keyInstanceTypeGraviton, countKey: keyGravitonCount,
		})
	}
	return kinds
}

// architectureOfKind is the EC2 architecture of a kind of runner, "" for no kind.
func architectureOfKind(kind string) string {
	return map[string]string{"x86": "x86_64", "graviton": "arm64"}[kind]
}

// runnerSpec is one runner: its architecture and its number within it.
type runnerSpec struct {
	architecture
	number int    // from 1
	name   string // logical-name prefix: "x86" for runner 1, as before counts, then "x86-2", …
}

// runnerName is the logical-name prefix of runner number n of a kind.
func runnerName(kind string, n int) string {
	if n == 1 {
		return kind
	}
	return fmt.Sprintf("%s-%d", kind, n)
}

// runnerSpecs lists every configured runner, in a stable order: x86_64 runners by
// number, then Graviton's.
func runnerSpecs(cfg Config) []runnerSpec {
	var specs []runnerSpec
	for _, a := range architectures(cfg) {
		for n := 1; n <= a.count; n++ {
			specs = append(specs, runnerSpec{architecture: a, number: n, name: runnerName(a.kind, n)})
		}
	}
	return specs
}

// physicalName is the runner's Name tag and the prefix of its volumes' names.
func (s runnerSpec) physicalName(cfg Config) string {
	return runnerPhysicalName(cfg.NamePrefix, s.name)
}

func runnerPhysicalName(prefix, runner string) string {
	return fmt.Sprintf("%s-%s-runner", prefix, runner)
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
	purpose string // Purpose tag, read by operators in the console and by snapshot lookups
	sizeKey string // config key of its size, for messages
	VolumeConfig
}

// dataVolumeRoles are the roles of the data volumes, in the order they are attached.
var dataVolumeRoles = []string{"cache", "yocto"}

func dataVolumeSpecs(cfg Config) []dataVolumeSpec {
	return []dataVolumeSpec{
		{role: "cache", device: "/dev/sdf", purpose: "nix-store-zfs-cache", sizeKey: keyCacheVolumeSize, VolumeConfig: cfg.CacheVolume},
		{role: "yocto", device: "/dev/sdg", purpose: "yocto-dl-dir-sstate", sizeKey: keyYoctoVolumeSize, VolumeConfig: cfg.YoctoVolume},
	}
}

// Physical names of the shared resources.
func securityGroupName(cfg Config) string { return cfg.NamePrefix + "-runner-sg" }
func keyPairName(cfg Config) string       { return cfg.NamePrefix + "-runner-key" }
func schedulerRoleName(cfg Config) string { return cfg.NamePrefix + "-runner-scheduler" }
func runnerRoleName(cfg Config) string    { return cfg.NamePrefix + "-runner" } // and its instance profile
func snapshotRoleName(cfg Config) string  { return cfg.NamePrefix + "-snapshots" }
func scheduleName(runner, action string) string {
	return runner + "-" + action // runner's physical name: n3x-x86-runner-start
}

// physicalNameLimit is one physical name and AWS's limit on its length.
type physicalNameLimit struct {
	what, name string
	limit      int
}

// tightestPhysicalName is, of every physical name the prefix becomes part of, the one
// with the least room left, counting the longest runner name a stack may have
// (graviton-10) and every optional resource, so a prefix that fits today fits any later
// configuration. Limits from the IAM (roles 64, instance profiles 128), EventBridge
// Scheduler (schedule names 64) and EC2 (security groups and key pairs 255) API references.
func tightestPhysicalName(prefix string) physicalNameLimit {
	cfg := Config{NamePrefix: prefix}
	longestRunner := runnerPhysicalName(prefix, runnerName("graviton", maxRunnersPerArchitecture))
	names := []physicalNameLimit{
		{"security group name", securityGroupName(cfg), 255},
		{"key pair name", keyPairName(cfg), 255},
		{"IAM role name", schedulerRoleName(cfg), 64},
		{"IAM role name", runnerRoleName(cfg), 64},
		{"IAM instance profile name", runnerRoleName(cfg), 128},
		{"IAM role name", snapshotRoleName(cfg), 64},
		{"schedule name", scheduleName(longestRunner, "start"), 64},
		{"schedule name", scheduleName(longestRunner, "stop"), 64},
	}
	return slices.MinFunc(names, func(a, b physicalNameLimit) int {
		return (a.limit - len(a.name)) - (b.limit - len(b.name))
	})
}

// Tags. Role=build-runner marks every runner resource; snapshotTag marks the data volumes
// the snapshot policy targets, and the snapshots they leave.
const (
	runnerRole  = "build-runner"
	snapshotTag = "n3x:snapshots" // value: the name prefix, unique per account and region
)

// sharedTags tag resources every runner uses. Operator-wide tags (cost centre, owner)
// belong in the provider's aws:defaultTags, which merges them into all of these.
func sharedTags(ctx *pulumi.Context, name string) pulumi.StringMap {
	return pulumi.StringMap{
		"Name":    pulumi.String(name),
		"Project": pulumi.String(ctx.Project()),
		"Stack":   pulumi.String(ctx.Stack()),
	}
}

// owned adds this stack's state id to the tags of what an update cancelled while AWS
// creates it can leave behind (leftovers.go): the security group, the instances, the data
// volumes, the addresses. Not a root volume, which goes with its instance.
func owned(cfg Config, tags pulumi.StringMap) pulumi.StringMap {
	tags[stateIDTag] = pulumi.String(cfg.StateID)
	return tags
}

// A root volume is tagged after its launch, on a volume with no tags of this stack (an
// on-demand one by the provider, from root_block_device's tags; a Spot one by ec2.Tag, the
// request keeping its tags, #38821), and EC2 has no condition key that ties a volume to its
// instance. So the deploy role may tag a volume that carries no stack's tags only with keys
// that say nothing of whose it is (iam/deploy-ec2-change-policy.json): not Project, Stack
// or n3x:*. rootTags are a root volume's: the runner's tags but those, and the provider's
// default tags but those too (the provider adds them to an on-demand root volume itself).
var unclaimingKeys = []string{"Name", "Arch", "Role", "Purpose"}

// claimsStack says whether a tag key says whose a resource is, which the deploy role may
// set only on a resource it creates or that is already this stack's.
func claimsStack(key string) bool {
	return key == "Project" || key == "Stack" || strings.HasPrefix(key, "n3x:")
}

// unclaimingTags are the tags among unclaimingKeys.
func unclaimingTags(tags pulumi.StringMap) pulumi.StringMap {
	kept := pulumi.StringMap{}
	for _, key := range unclaimingKeys {
		if value, ok := tags[key]; ok {
			kept[key] = value
		}
	}
	return kept
}

// spotRootTags are the tags ec2.Tag puts on a Spot runner's root volume: the unclaiming
// ones, and the default tags that claim nothing, as an on-demand root volume gets them.
func spotRootTags(cfg Config, tags pulumi.StringMap) pulumi.StringMap {
	all := withDefaultTags(cfg, unclaimingTags(tags))
	for key := range all {
		if claimsStack(key) {
			delete(all, key)
		}
	}
	return all
}

// withoutStateID is a copy of tags without the state id.
func withoutStateID(tags pulumi.StringMap) pulumi.StringMap {
	copied := maps.Clone(tags)
	delete(copied, stateIDTag)
	return copied
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

// dataVolumeTags are a data volume's tags: a runner's, its purpose, and the mark the
// snapshot policy and the snapshot lookups find it by.
func dataVolumeTags(ctx *pulumi.Context, cfg Config, spec runnerSpec, vol dataVolumeSpec) pulumi.StringMap {
	tags := owned(cfg, runnerTags(ctx, spec, spec.physicalName(cfg)+"-"+vol.role, vol.purpose))
	tags[snapshotTag] = pulumi.String(cfg.NamePrefix)
	return tags
}

// withDefaultTags adds the provider's default tags under the resource's own, as the
// provider does for tagsAll; for tags the program applies itself (ec2.Tag).
func withDefaultTags(cfg Config, tags pulumi.StringMap) pulumi.StringMap {
	all := pulumi.StringMap{}
	for key, value := range cfg.DefaultTags {
		all[key] = pulumi.String(value)
	}
	maps.Copy(all, tags)
	return all
}
