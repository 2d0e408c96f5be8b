package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// configNamespace is the Pulumi project name and so the namespace of every key below.
const configNamespace = "n3x"

// Config keys, named once so that validation messages and defaults cannot drift apart.
const (
	keyAmiX86                                       = "amiX86"
	keyAmiArm64                                     = "amiArm64"
	keySSHPublicKey                                 = "sshPublicKey"
	keySSHCidrBlocks                                = "sshCidrBlocks"
	keyInstanceTypeX86                              = "instanceTypeX86"
	keyInstanceTypeGraviton                         = "instanceTypeGraviton"
	keyRootVolumeSize                               = "rootVolumeSize"
	keyCacheVolumeSize                              = "cacheVolumeSize"
	keyCacheVolumeIops                              = "cacheVolumeIops"
	keyCacheVolumeThroughput                        = "cacheVolumeThroughput"
	keyYoctoVolumeSize                              = "yoctoVolumeSize"
	keyYoctoVolumeIops                              = "yoctoVolumeIops"
	keyYoctoVolumeThroughput                        = "yoctoVolumeThroughput"
	keyAvailabilityZone                             = "availabilityZone"
	keySubnetID                                     = "subnetId"
	keyNamePrefix                                   = "namePrefix"
	keyProtectVolumes                               = "protectVolumes"
	keyWorkingHours                                 = "workingHours"
	keyCapacity                                     = "capacity"
	keyX86Count                                     = "x86Count"
	keyGravitonCount                                = "gravitonCount"
	keyGitlabRunnerToken                            = "gitlabRunnerToken"
	keyGitlabRunnerTokenGraviton                    = "gitlabRunnerTokenGraviton"
	keyCacheSigningKey                              = "cacheSigningKey"
	keyCacheSigningPublicKey                        = "cacheSigningPublicKey"
	keySnapshotRetentionDays                        = "snapshotRetentionDays"
	defaultSnapshotRetentionDays                    = 7
	maxSnapshotRetentionDays                        = 90
	capacityOnDemand                                = "on-demand"
	capacitySpot                                    = "spot"
	sshCidrBlocksNone                               = "none"
	defaultNamePrefix                               = "n3x"
	defaultNamePrefixStack                          = "dev"
	minRSAKeyBits                                   = 2048
	maxRunnersPerArchitecture                       = 10
	configTypeString, configTypeInt, configTypeBool = "string", "integer", "boolean"
)

// configKey is one row of the configuration: everything Pulumi.yaml, the README and the
// validation messages say about a key. Adding a key is adding a row here and its reader in
// loadConfig; tests hold Pulumi.yaml and the README's table to these rows.
type configKey struct {
	name        string
	typ         string // what the program parses: configTypeString, configTypeInt or configTypeBool; Pulumi.yaml declares every key a string
	def         string // default, as `pulumi config get` prints it; "" means unset
	required    bool
	secret      bool   // must be set with `pulumi config set --secret`
	description string // Pulumi.yaml's description
}

// configKeys are all n3x keys, in the order Pulumi.yaml and the README list them.
var configKeys = append([]configKey{
	{name: keyAmiX86, typ: configTypeString, required: true,
		description: "NixOS AMI of the x86_64 runners (official NixOS or your own, see docs/ami.md). Required."},
	{name: keySSHPublicKey, typ: configTypeString, required: true,
		description: "OpenSSH public key (ssh-ed25519, or ssh-rsa of at least 2048 bits) for the runner key pair. Required."},
	{name: keyAmiArm64, typ: configTypeString,
		description: "NixOS AMI of the Graviton (arm64) runners. Empty means no Graviton runners."},
	{name: keySSHCidrBlocks, typ: configTypeString, def: "0.0.0.0/0",
		description: "Comma-separated IPv4/IPv6 CIDR blocks allowed to reach ports 22, 443 and 3142; none opens nothing from outside (use Session Manager)."},
	{name: keyInstanceTypeX86, typ: configTypeString, def: "c6i.2xlarge", description: "EC2 instance type of the x86_64 runners."},
	{name: keyInstanceTypeGraviton, typ: configTypeString, def: "c7g.2xlarge", description: "EC2 instance type of the Graviton runners."},
	{name: keyRootVolumeSize, typ: configTypeInt, def: "50",
		description: "Root (NixOS system) gp3 volume size in GiB; at least the AMI's snapshot size. A change replaces the runners, keeping their data volumes and addresses."},
	{name: keyCacheVolumeSize, typ: configTypeInt, def: "500",
		description: "ZFS /nix/store cache gp3 volume size in GiB (/dev/sdf). Can grow, never shrink."},
	{name: keyCacheVolumeIops, typ: configTypeInt, def: "3000",
		description: "Provisioned IOPS of the cache volume (gp3, 3000-80000, at most 500 per GiB)."},
	{name: keyCacheVolumeThroughput, typ: configTypeInt, def: "125",
		description: "Provisioned throughput of the cache volume in MiB/s (gp3, 125-1000 as the bundled provider allows, at most IOPS/4)."},
	{name: keyYoctoVolumeSize, typ: configTypeInt, def: "100",
		description: "Yocto DL_DIR + SSTATE_DIR gp3 volume size in GiB (/dev/sdg). Can grow, never shrink."},
	{name: keyYoctoVolumeIops, typ: configTypeInt, def: "3000",
		description: "Provisioned IOPS of the Yocto volume (gp3, 3000-80000, at most 500 per GiB)."},
	{name: keyYoctoVolumeThroughput, typ: configTypeInt, def: "125",
		description: "Provisioned throughput of the Yocto volume in MiB/s (gp3, 125-1000 as the bundled provider allows, at most IOPS/4)."},
	{name: keyAvailabilityZone, typ: configTypeString,
		description: "Zone of the runners and their volumes. Empty keeps the zone of this stack's data volumes, or for a new stack picks the first zone offering both instance types."},
	{name: keySubnetID, typ: configTypeString,
		description: "Subnet for the runners, for accounts without a default VPC. Empty uses the default VPC. The zone follows the subnet."},
	{name: keyNamePrefix, typ: configTypeString,
		description: "Prefix of physical AWS names. Empty means n3x for the dev stack and n3x-<stack> for any other stack."},
	{name: keyProtectVolumes, typ: configTypeBool, def: "false",
		description: "Protect the cache and Yocto volumes from deletion by pulumi destroy or a config change."},
	{name: keyWorkingHours, typ: configTypeString,
		description: `When the runners run, such as "Mon-Fri 07:00-19:00 Europe/Berlin" (days, start-stop on the 24-hour clock, IANA time zone); EventBridge Scheduler stops them outside. Empty means always on.`},
	{name: keyCapacity, typ: configTypeString, def: capacityOnDemand,
		description: "on-demand, or spot for persistent Spot requests that stop (not terminate) on interruption."},
	{name: keyX86Count, typ: configTypeInt, def: "1",
		description: "Number of x86_64 runners (1-10). Runner 1 keeps the names and outputs of a stack without counts."},
	{name: keyGravitonCount, typ: configTypeInt, def: "1",
		description: "Number of Graviton runners (1-10); counts only when amiArm64 is set."},
	{name: keyCacheSigningPublicKey, typ: configTypeString,
		description: "Public half of the Nix binary-cache signing key (name:base64, the .pk of nix-store --generate-binary-cache-key), for the cacheSigningPublicKey output; the secret half goes in SSM (docs/ci-iam.md). Empty: none."},
	{name: keyGitlabRunnerToken, typ: configTypeString, secret: true,
		description: "Deprecated, for stacks of earlier versions: keeps the GitLab runner token in the stack's config and state, which every preview decrypts. Put it in SSM instead (docs/ci-iam.md)."},
	{name: keyGitlabRunnerTokenGraviton, typ: configTypeString, secret: true,
		description: "Deprecated, like gitlabRunnerToken: the Graviton runners' own token. Put it in SSM instead (docs/ci-iam.md)."},
	{name: keyCacheSigningKey, typ: configTypeString, secret: true,
		description: "Deprecated, like gitlabRunnerToken: the Nix binary-cache secret key. Put it in SSM and its public half in cacheSigningPublicKey instead (docs/ci-iam.md)."},
	{name: keySnapshotRetentionDays, typ: configTypeInt, def: strconv.Itoa(defaultSnapshotRetentionDays),
		description: "Days of daily snapshots of every data volume (Amazon Data Lifecycle Manager), 0-90; 0 turns the policy off."},
}, wakeKeys...)

// lookupKey returns the row of a key.
func lookupKey(name string) configKey {
	for _, k := range configKeys {
		if k.name == name {
			return k
		}
	}
	panic("unknown config key " + name)
}

// gp3 limits from the EBS user guide (volume types, gp3), except throughput: the
// Terraform AWS provider v5 bundled in pulumi-aws v6 checks aws_ebs_volume's throughput
// against 125-1000 MiB/s (validation.IntBetween in its ebs_volume.go) before AWS sees it.
const (
	gp3MinSizeGiB         = 1
	gp3MaxSizeGiB         = 65536
	gp3BaselineIops       = 3000
	gp3MaxIops            = 80000
	gp3MaxIopsPerGiB      = 500
	gp3BaselineThroughput = 125
	gp3MaxThroughput      = 1000
	gp3IopsPerMiBps       = 4 // at most 0.25 MiB/s of throughput per provisioned IOPS
)

var (
	amiIDPattern        = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetIDPattern     = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	zonePattern         = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+[a-z]$`)
	namePrefixPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// Config is the whole, validated n3x configuration of one stack.
type Config struct {
	AmiX86                string
	AmiArm64              string // empty: no Graviton runner
	SSHPublicKey          string
	SSHCidrBlocks         []netip.Prefix // empty: nothing from outside (n3x:sshCidrBlocks none)
	InstanceTypeX86       string
	InstanceTypeGraviton  string
	RootVolumeSize        int
	CacheVolume           VolumeConfig
	YoctoVolume           VolumeConfig
	AvailabilityZone      string // empty: chosen from the region at deploy time
	SubnetID              string // empty: the region's default VPC
	NamePrefix            string // prefix of every physical name
	ProtectVolumes        bool
	WorkingHours          workingHours // zero: always on
	Capacity              string       // capacityOnDemand or capacitySpot
	X86Count              int
	GravitonCount         int               // counts only with AmiArm64
	RunnerTokens          map[string]string // deprecated config secrets, by EC2 architecture (x86_64, arm64); absent: none
	CacheSigningKey       *signingKey       // deprecated config secret; nil: none
	CacheSigningPublicKey string            // name:base64 for nix.conf, "" without a key
	LegacySecretKeys      []string          // the deprecated secret keys that are set
	unusedGravitonKeys    []string          // Graviton keys set without n3x:amiArm64, which makes no Graviton runner
	publicKeySet          bool              // n3x:cacheSigningPublicKey is set, not derived
	SnapshotRetention     int               // days; 0: no snapshot policy
	Wake                  wakeConfig        // wake on job; zero: off
	Region                string            // aws:region, for prices and ARNs
	DefaultTags           map[string]string // aws:defaultTags.tags, which the provider adds to every resource
	StateID               string            // this stack's state id (state.go), which the resources it can leave behind carry
}

// VolumeConfig is the size and gp3 performance of one data volume.
type VolumeConfig struct {
	SizeGiB        int
	Iops           int
	ThroughputMiBs int
}

// configSource is what loadConfig reads: the stack's n3x keys by bare name, whether each
// was set as a secret, and the stack.
type configSource struct {
	get    func(key string) string
	secret func(key string) bool
	stack  string
	// keys lists the bare names of every n3x key the stack sets, the unknown ones too;
	// nil reads them as the engine passes them (stackConfigKeys).
	keys func() []string
}

// stackConfigKeys are the bare names of the stack's n3x keys, as the engine passes them to
// the program. The Go SDK's Context reads a key it is given (GetConfig, IsConfigSecret) but
// lists none; the whole configuration reaches the program as the JSON object of
// "namespace:key" to value in the environment variable pulumi.EnvConfig (PULUMI_CONFIG),
// which the SDK itself reads into RunInfo.Config (sdk/go/pulumi/run.go, getEnvInfo).
func stackConfigKeys() []string {
	var all map[string]string
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &all); err != nil {
		return nil
	}
	var keys []string
	for key := range all {
		if name, ok := strings.CutPrefix(key, configNamespace+":"); ok {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

// loadConfig reads and validates every n3x key. It returns all problems together, as a
// configProblems error, so an operator fixes a broken stack in one round; with them, the
// configuration as far as it could be read (a key with a problem reads as its zero value),
// for what can still be told about it (pricedKeysValid).
func loadConfig(src configSource) (Config, error) {
	r := &configReader{src: src}
	r.unknownKeys()
	cfg := Config{
		AmiX86:               r.ami(keyAmiX86),
		AmiArm64:             r.ami(keyAmiArm64),
		SSHPublicKey:         r.sshPublicKey(),
		SSHCidrBlocks:        r.cidrBlocks(),
		InstanceTypeX86:      r.instanceType(keyInstanceTypeX86),
		InstanceTypeGraviton: r.instanceType(keyInstanceTypeGraviton),
		RootVolumeSize:       r.integer(keyRootVolumeSize, gp3MinSizeGiB, gp3MaxSizeGiB, "GiB"),
		CacheVolume:          r.volume(keyCacheVolumeSize, keyCacheVolumeIops, keyCacheVolumeThroughput),
		YoctoVolume:          r.volume(keyYoctoVolumeSize, keyYoctoVolumeIops, keyYoctoVolumeThroughput),
		AvailabilityZone:     r.optionalID(keyAvailabilityZone, zonePattern, "an availability zone name such as us-east-1b", "<zone such as us-east-1b>"),
		SubnetID:             r.optionalID(keySubnetID, subnetIDPattern, "a subnet id: subnet- followed by 8 or 17 lowercase hex digits", "<your-subnet-id>"),
		ProtectVolumes:       r.boolean(keyProtectVolumes),
		WorkingHours:         r.workingHours(),
		Capacity:             r.capacity(),
		X86Count:             r.integer(keyX86Count, 1, maxRunnersPerArchitecture, "runners"),
		GravitonCount:        r.integer(keyGravitonCount, 1, maxRunnersPerArchitecture, "runners"),
		SnapshotRetention:    r.integer(keySnapshotRetentionDays, 0, maxSnapshotRetentionDays, "days"),
		CacheSigningKey:      r.cacheSigningKey(),
		Wake:                 r.wake(),
	}
	cfg.RunnerTokens = r.runnerTokens(cfg.AmiArm64 != "")
	cfg.CacheSigningPublicKey = r.cacheSigningPublicKey(cfg.CacheSigningKey)
	cfg.publicKeySet = r.raw(keyCacheSigningPublicKey) != ""
	for _, key := range []string{keyGitlabRunnerToken, keyGitlabRunnerTokenGraviton, keyCacheSigningKey} {
		if r.raw(key) != "" {
			cfg.LegacySecretKeys = append(cfg.LegacySecretKeys, key)
		}
	}
	// The engine passes Pulumi.yaml's defaults as set values: only another value was typed.
	for _, key := range []string{keyGravitonCount, keyInstanceTypeGraviton, keyRunnerTagsGraviton} {
		if raw := r.raw(key); raw != "" && raw != lookupKey(key).def && cfg.AmiArm64 == "" {
			cfg.unusedGravitonKeys = append(cfg.unusedGravitonKeys, key)
		}
	}
	cfg.NamePrefix = r.namePrefix(src.stack)
	if len(r.problems) > 0 {
		return cfg, r.problems
	}
	return cfg, nil
}

// pricedKeys are the keys the cost estimate reads.
var pricedKeys = []string{keyAmiArm64, keyInstanceTypeX86, keyInstanceTypeGraviton, keyRootVolumeSize, keyCacheVolumeSize, keyCacheVolumeIops,
	keyCacheVolumeThroughput, keyYoctoVolumeSize, keyYoctoVolumeIops, keyYoctoVolumeThroughput, keyWorkingHours, keyCapacity, keyX86Count,
	keyGravitonCount, keySnapshotRetentionDays, keyWakeOnJob, keyIdleMinutes}

// pricedKeysValid says whether none of the problems is with a key the estimate reads, so
// the configuration as typed can be priced before its problems are fixed.
func pricedKeysValid(problems configProblems) bool {
	for _, problem := range problems {
		if e, ok := problem.(configError); ok && slices.Contains(pricedKeys, e.key) {
			return false
		}
		if e, ok := problem.(unknownKeyError); ok && slices.Contains(pricedKeys, e.meant) {
			return false // the estimate would price the default of the key meant
		}
	}
	return true
}

// configReader collects the problems found while reading keys.
type configReader struct {
	src      configSource
	problems configProblems
}

// raw is what the operator typed, trimmed; "" when unset.
func (r *configReader) raw(key string) string { return strings.TrimSpace(r.src.get(key)) }

// value is the key's value, or its default when unset.
func (r *configReader) value(key string) string { return cmp.Or(r.raw(key), lookupKey(key).def) }

func (r *configReader) fail(key, fix, format string, args ...any) {
	r.problems = append(r.problems, configError{key: key, problem: fmt.Sprintf(format, args...), fix: fix})
}

// unknownKeys fails every n3x key the stack sets that is not one of configKeys, such as
// n3x:x86count or n3x:runnerCount, which the program would otherwise ignore: the fix moves
// what was typed to the key it likely stands for, or removes it.
func (r *configReader) unknownKeys() {
	keys := stackConfigKeys
	if r.src.keys != nil {
		keys = r.src.keys
	}
	for _, name := range slices.Sorted(slices.Values(keys())) {
		if slices.ContainsFunc(configKeys, func(k configKey) bool { return k.name == name }) {
			continue
		}
		raw := r.src.get(name)
		if r.privateKey(name, raw) {
			continue
		}
		meant := closestKey(name)
		if meant == "" {
			r.fail(name, rmFix(name), "is not a setting of this program, which ignores it; its settings are the n3x keys of README.md's Configuration table (and Pulumi.yaml)")
			continue
		}
		fix := rmFix(name) + " && " + setFix(meant, raw)
		if parameter, deprecated := deprecatedSecretParameters[meant]; deprecated {
			// Not into the deprecated key, which would keep the secret in the stack: into the
			// SSM parameter the runners read, as the key's own deprecation warning says.
			prefix := namePrefixOf(r.raw(keyNamePrefix), r.src.stack)
			fix = fmt.Sprintf(`aws ssm put-parameter --region "$(pulumi config get aws:region)" --type SecureString --overwrite --name %s --value "$(pulumi config get %s:%s)" && %s`,
				parameterPath(Config{NamePrefix: prefix})+parameter, configNamespace, name, rmFix(name))
		} else if secret := lookupKey(meant).secret; secret || r.src.secret(configNamespace+":"+name) {
			// The value is not printed: it moves by pulumi config get, before the key goes.
			flag := ""
			if secret {
				flag = "--secret "
			}
			fix = fmt.Sprintf(`pulumi config set %s%s:%s "$(pulumi config get %[2]s:%[4]s)" && %s`, flag, configNamespace, meant, name, rmFix(name))
		}
		r.problems = append(r.problems, unknownKeyError{meant: meant, configError: configError{key: name, fix: fix,
			problem: fmt.Sprintf("is not a setting of this program, which ignores it (did you mean %s:%s?)", configNamespace, meant)}})
	}
}

// deprecatedSecretParameters are the SSM parameters, under parameterPath, that hold what
// each deprecated secret key held.
var deprecatedSecretParameters = map[string]string{
	keyGitlabRunnerToken:         runnerTokenParameter("x86_64"),
	keyGitlabRunnerTokenGraviton: runnerTokenParameter("arm64"),
	keyCacheSigningKey:           cacheSigningKeyParameter,
}

// closestKey is the one key of configKeys a typed name likely stands for: the same but for
// case and punctuation, or else at most two edits away; "" when none or several are.
func closestKey(typed string) string {
	fold := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'A' && r <= 'Z':
				return r + 'a' - 'A'
			case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				return r
			}
			return -1
		}, s)
	}
	best, bestDistance, ties := "", 3, 0
	for _, k := range configKeys {
		switch d := editDistance(fold(typed), fold(k.name)); {
		case d < bestDistance:
			best, bestDistance, ties = k.name, d, 1
		case d == bestDistance:
			ties++
		}
	}
	if ties != 1 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of two strings, in bytes.
func editDistance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diagonal := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			diagonal, row[j] = row[j], min(row[j]+1, row[j-1]+1, diagonal+cost)
		}
	}
	return row[len(b)]
}

// privateKey fails a key whose value is a private key, which must never be in a stack file.
func (r *configReader) privateKey(key, raw string) bool {
	kind := privateKeyKind(raw)
	if kind == "" {
		return false
	}
	where := "is now stored in plain text in Pulumi." + r.src.stack + ".yaml"
	if r.src.secret(configNamespace + ":" + key) {
		where = "is now stored, encrypted, in Pulumi." + r.src.stack + ".yaml"
	}
	problem := fmt.Sprintf("holds %s, not what this key takes; it %s: remove it, and if that file was committed or shared, "+
		"treat the key as leaked and rotate it (ssh-keygen -t ed25519)", article(kind)+" "+kind, where)
	fix := rmFix(key)
	if key == keySSHPublicKey {
		fix += " && " + setFix(key, publicKeyExpression)
	}
	r.fail(key, fix, "%s", problem)
	return true
}

// article is "a" or "an" for a word.
func article(word string) string {
	if strings.ContainsRune("AEIOUaeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// ami reads an AMI id; only amiX86 is required.
func (r *configReader) ami(key string) string {
	raw := r.raw(key)
	switch {
	case raw == "":
		if lookupKey(key).required {
			r.fail(key, placeholderFix(key, "<your-ami-id>"), "is required but not set; see the Quick start for the official NixOS AMI command")
		}
		return ""
	case r.privateKey(key, raw):
		return ""
	case !amiIDPattern.MatchString(raw):
		r.fail(key, derivedFix(key, fixAMI(raw), amiIDPattern, "<your-ami-id>"),
			"must be an AMI id: ami- followed by 8 or 17 lowercase hex digits, got %q", raw)
		return ""
	}
	return raw
}

// sshPublicKey accepts one OpenSSH public key of a type EC2 can import.
func (r *configReader) sshPublicKey() string {
	raw := r.raw(keySSHPublicKey)
	fix := setFix(keySSHPublicKey, publicKeyExpression)
	switch {
	case raw == "":
		r.fail(keySSHPublicKey, fix, "is required but not set")
		return ""
	case r.privateKey(keySSHPublicKey, raw):
		return ""
	}
	if problem := checkSSHPublicKey(raw); problem != "" {
		r.fail(keySSHPublicKey, fix, "%s", problem)
		return ""
	}
	return raw
}

// cidrBlocks parses a comma-separated list of IPv4 and IPv6 networks, or none.
func (r *configReader) cidrBlocks() []netip.Prefix {
	raw := r.value(keySSHCidrBlocks)
	if raw == sshCidrBlocksNone {
		return nil
	}
	blocks, problem, corrected := parseCidrBlocks(raw)
	if problem != "" {
		r.fail(keySSHCidrBlocks, derivedListFix(keySSHCidrBlocks, corrected, "<your-ip>/32"), "%s", problem)
		return nil
	}
	return blocks
}

func (r *configReader) instanceType(key string) string {
	raw := r.value(key)
	if !instanceTypePattern.MatchString(raw) {
		r.fail(key, derivedFix(key, strings.ToLower(strings.ReplaceAll(raw, " ", "")), instanceTypePattern, lookupKey(key).def),
			"must be an EC2 instance type such as %s, got %q", lookupKey(key).def, raw)
		return ""
	}
	return raw
}

// integer reads a whole number within [min, max]; unit says what it counts.
func (r *configReader) integer(key string, lo, hi int, unit string) int {
	raw := r.value(key)
	n, err := strconv.Atoi(raw)
	if err != nil {
		r.fail(key, fixInteger(key, raw, lo, hi), "must be a whole number of %s from %d to %d, got %q", unit, lo, hi, raw)
		return 0
	}
	if n < lo || n > hi {
		r.fail(key, setFix(key, strconv.Itoa(clamp(n, lo, hi))), "must be a whole number of %s from %d to %d, got %d", unit, lo, hi, n)
		return 0
	}
	return n
}

func (r *configReader) boolean(key string) bool {
	raw := r.value(key)
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.fail(key, fixBoolean(key, raw), "must be true or false, got %q", raw)
	}
	return b
}

// volume reads one data volume's size and performance and checks gp3's ratios.
func (r *configReader) volume(sizeKey, iopsKey, throughputKey string) VolumeConfig {
	v := VolumeConfig{
		SizeGiB:        r.integer(sizeKey, gp3MinSizeGiB, gp3MaxSizeGiB, "GiB"),
		Iops:           r.integer(iopsKey, gp3BaselineIops, gp3MaxIops, "IOPS"),
		ThroughputMiBs: r.integer(throughputKey, gp3BaselineThroughput, gp3MaxThroughput, "MiB/s"),
	}
	// The ratios are checked against what a range problem's fix sets, so a volume's
	// problems are all listed at once, not one after another's fix.
	iops := cmp.Or(v.Iops, clampedInteger(r.value(iopsKey), gp3BaselineIops, gp3MaxIops))
	throughput := cmp.Or(v.ThroughputMiBs, clampedInteger(r.value(throughputKey), gp3BaselineThroughput, gp3MaxThroughput))
	if v.SizeGiB > 0 && iops > gp3BaselineIops && iops > v.SizeGiB*gp3MaxIopsPerGiB {
		need := (iops + gp3MaxIopsPerGiB - 1) / gp3MaxIopsPerGiB
		r.fail(sizeKey, setFix(sizeKey, strconv.Itoa(need)), "is %d GiB, too small for %d IOPS: gp3 allows at most %d IOPS per GiB, so at least %d GiB",
			v.SizeGiB, iops, gp3MaxIopsPerGiB, need)
	}
	if v.Iops > 0 && throughput > gp3BaselineThroughput && throughput*gp3IopsPerMiBps > v.Iops {
		need := max(throughput*gp3IopsPerMiBps, gp3BaselineIops)
		r.fail(iopsKey, setFix(iopsKey, strconv.Itoa(need)), "is %d, too low for %d MiB/s: gp3 allows at most 0.25 MiB/s per IOPS, so at least %d IOPS",
			v.Iops, throughput, need)
	}
	return v
}

// clampedInteger is the whole number raw brought into lo..hi, as integer's fix sets it, or
// 0 for no number.
func clampedInteger(raw string, lo, hi int) int {
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0
	}
	return clamp(n, lo, hi)
}

// optionalID reads a key that is unset or matches pattern; a value in the wrong case is
// fixed by lowering it.
func (r *configReader) optionalID(key string, pattern *regexp.Regexp, what, placeholder string) string {
	raw := r.raw(key)
	if raw != "" && !pattern.MatchString(raw) {
		r.fail(key, derivedFix(key, strings.ToLower(raw), pattern, placeholder), "must be %s, got %q", what, raw)
		return ""
	}
	return raw
}

// workingHours reads when the runners run; unset, they always do.
func (r *configReader) workingHours() workingHours {
	raw := r.raw(keyWorkingHours)
	if raw == "" {
		return workingHours{}
	}
	hours, err := parseWorkingHours(raw)
	if err != nil {
		fix := placeholderFix(keyWorkingHours, "'<days> <HH:MM-HH:MM> <IANA time zone>'")
		if normalized, ok := normalizeWorkingHours(raw); ok {
			fix = setFix(keyWorkingHours, normalized)
		} else if days, hours, ok := normalizeDaysAndHours(raw); ok {
			fix = placeholderFix(keyWorkingHours, "'"+days+" "+hours+" <IANA time zone>'") // the zone left out: only the operator knows it
		}
		r.fail(keyWorkingHours, fix, "%v", err)
	}
	return hours
}

func (r *configReader) capacity() string {
	raw := r.value(keyCapacity)
	choices := []string{capacityOnDemand, capacitySpot}
	if !slices.Contains(choices, raw) {
		fix := placeholderFix(keyCapacity, "<on-demand|spot>")
		if choice := closestChoice(raw, choices); choice != "" {
			fix = setFix(keyCapacity, choice)
		}
		r.fail(keyCapacity, fix, "must be on-demand or spot, got %q", raw)
		return ""
	}
	return raw
}

// runnerTokens reads the GitLab runner authentication tokens, by EC2 architecture: the
// Graviton runners use their own when set, else the x86_64 one.
func (r *configReader) runnerTokens(graviton bool) map[string]string {
	tokens := map[string]string{}
	if token := r.runnerToken(keyGitlabRunnerToken); token != "" {
		tokens["x86_64"], tokens["arm64"] = token, token
	}
	if token := r.runnerToken(keyGitlabRunnerTokenGraviton); token != "" {
		tokens["arm64"] = token
	}
	if !graviton {
		delete(tokens, "arm64")
	}
	return tokens
}

// runnerToken reads one secret runner authentication token. Its value never appears in a
// message: the fixes re-set what is there without printing it.
func (r *configReader) runnerToken(key string) string {
	raw := r.raw(key)
	switch {
	case raw == "":
		return ""
	case r.privateKey(key, raw):
		return ""
	case strings.HasPrefix(raw, "GR1348941"):
		r.fail(key, placeholderFix(key, "--secret <glrt-token>"), "is a runner registration token (GR1348941…), which GitLab deprecated in 16.0 and removes; "+
			"create a runner in GitLab (Settings > CI/CD > Runners > New project runner) and use its runner authentication token (glrt-…)")
		return ""
	case !strings.HasPrefix(raw, "glrt-") || strings.ContainsAny(raw, " \t\n"):
		r.fail(key, placeholderFix(key, "--secret <glrt-token>"), "is not a GitLab runner authentication token: those start with glrt- and have no spaces")
		return ""
	case r.plainSecret(key):
		return ""
	}
	return raw
}

// plainSecret fails a secret key that was set in plain text.
func (r *configReader) plainSecret(key string) bool {
	if r.src.secret(configNamespace + ":" + key) {
		return false
	}
	r.fail(key, secretFix(key), "is a secret but was set in plain text, so it is readable in Pulumi.%s.yaml; set it again as a secret", r.src.stack)
	return true
}

// cacheSigningKey reads the Nix binary-cache secret key. Its value never appears in a message.
func (r *configReader) cacheSigningKey() *signingKey {
	raw := r.raw(keyCacheSigningKey)
	switch {
	case raw == "":
		return nil
	case r.privateKey(keyCacheSigningKey, raw):
		return nil
	}
	key, err := parseSigningKey(raw)
	switch {
	case err != nil:
		r.fail(keyCacheSigningKey, placeholderFix(keyCacheSigningKey, `--secret "$(cat <cache-name>.sk)"`),
			"is not a Nix binary-cache secret key (%v); make one with: nix-store --generate-binary-cache-key <cache-name> <cache-name>.sk <cache-name>.pk", err)
		return nil
	case r.plainSecret(keyCacheSigningKey):
		return nil
	}
	return key
}

// cacheSigningPublicKey reads the cache's public key, for clients' nix.conf: the key set,
// or the public half of the deprecated secret key; both set must agree.
func (r *configReader) cacheSigningPublicKey(secret *signingKey) string {
	raw := r.raw(keyCacheSigningPublicKey)
	if raw == "" {
		if secret != nil {
			return secret.publicKey()
		}
		return ""
	}
	if r.privateKey(keyCacheSigningPublicKey, raw) {
		return ""
	}
	if problem := checkSigningPublicKey(raw); problem != "" {
		fix := placeholderFix(keyCacheSigningPublicKey, `"$(cat <cache-name>.pk)"`)
		if strings.Contains(problem, "secret key") {
			fix = rmFix(keyCacheSigningPublicKey) + " && " + fix
		}
		r.fail(keyCacheSigningPublicKey, fix, "%s", problem)
		return ""
	}
	if secret != nil && secret.publicKey() != raw {
		r.fail(keyCacheSigningPublicKey, setFix(keyCacheSigningPublicKey, secret.publicKey()),
			"is not the public half of n3x:%s; set the one that is", keyCacheSigningKey)
		return ""
	}
	return raw
}

// namePrefixOf is the prefix n3x:namePrefix set to raw gives the stack, unchecked.
func namePrefixOf(raw, stack string) string {
	switch {
	case raw != "":
		return raw
	case stack == defaultNamePrefixStack:
		return defaultNamePrefix
	}
	return defaultNamePrefix + "-" + stack
}

// namePrefix prefixes every physical AWS name. Unset, the dev stack keeps the spec's
// names (n3x-runner-sg) and any other stack gets its own (n3x-staging-runner-sg), so two
// stacks in one account and region never collide. Every name it becomes part of must fit
// AWS's limit for that name.
func (r *configReader) namePrefix(stack string) string {
	raw := r.raw(keyNamePrefix)
	prefix := namePrefixOf(raw, stack)
	key := keyNamePrefix
	if raw != "" && !namePrefixPattern.MatchString(raw) {
		r.fail(key, derivedFix(key, sanitizeNamePrefix(raw), namePrefixPattern, "<prefix>"),
			"must be letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", raw)
		return ""
	}
	if longest := tightestPhysicalName(prefix); len(longest.name) > longest.limit {
		allowed := len(prefix) - (len(longest.name) - longest.limit)
		fix := setFix(key, strings.TrimRight(prefix[:max(allowed, 1)], ".-_"))
		what := "is"
		if raw == "" {
			what = "is unset, so the prefix is " + prefix + " (from the stack name), which is"
		}
		r.fail(key, fix, "%s %d characters long, so the %s %s is %d characters, more than AWS's %d; use at most %d characters",
			what, len(prefix), longest.what, longest.name, len(longest.name), longest.limit, allowed)
		return ""
	}
	return prefix
}

// configError is one problem with one key, with the command that fixes it.
type configError struct {
	key     string
	problem string
	fix     string // a command ready to paste, or one with a <placeholder>; "" when there is none
}

// unknownKeyError is a key the program does not know, with the key it likely stands for.
type unknownKeyError struct {
	configError
	meant string
}

func (e configError) Error() string {
	msg := fmt.Sprintf("%s:%s %s", configNamespace, e.key, e.problem)
	if e.fix != "" {
		msg += "; fix: " + e.fix
	}
	return msg
}

// configProblems are every problem found in one configuration; the first line says how
// many, each problem has a line of its own.
type configProblems []error

func (p configProblems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "n3x configuration: %s", p.count())
	for _, problem := range p {
		b.WriteString("\n  - " + problem.Error())
	}
	return b.String()
}

func (p configProblems) Unwrap() []error { return p }

// count says how many problems there are, in words.
func (p configProblems) count() string {
	if len(p) == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", len(p))
}
