package main

import (
	"crypto/rsa"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// configNamespace is the Pulumi project name and so the namespace of every key below.
const configNamespace = "n3x"

// Config keys, named once so that validation messages and defaults cannot drift apart.
const (
	keyAmiX86                = "amiX86"
	keyAmiArm64              = "amiArm64"
	keySSHPublicKey          = "sshPublicKey"
	keySSHCidrBlocks         = "sshCidrBlocks"
	keyInstanceTypeX86       = "instanceTypeX86"
	keyInstanceTypeGraviton  = "instanceTypeGraviton"
	keyRootVolumeSize        = "rootVolumeSize"
	keyCacheVolumeSize       = "cacheVolumeSize"
	keyCacheVolumeIops       = "cacheVolumeIops"
	keyCacheVolumeThroughput = "cacheVolumeThroughput"
	keyYoctoVolumeSize       = "yoctoVolumeSize"
	keyYoctoVolumeIops       = "yoctoVolumeIops"
	keyYoctoVolumeThroughput = "yoctoVolumeThroughput"
	keyAvailabilityZone      = "availabilityZone"
	keySubnetID              = "subnetId"
	keyNamePrefix            = "namePrefix"
	keyProtectVolumes        = "protectVolumes"
	keyWorkingHours          = "workingHours"
	keyCapacity              = "capacity"
	keyX86Count              = "x86Count"
	keyGravitonCount         = "gravitonCount"
)

// configDefaults holds the default of every optional key, as the text `pulumi config get`
// would print. An empty default means "unset". Pulumi.yaml declares the same values; a
// test keeps the two equal.
var configDefaults = map[string]string{
	keyAmiArm64:              "",
	keySSHCidrBlocks:         "0.0.0.0/0",
	keyInstanceTypeX86:       "c6i.2xlarge",
	keyInstanceTypeGraviton:  "c7g.2xlarge",
	keyRootVolumeSize:        "50",
	keyCacheVolumeSize:       "500",
	keyCacheVolumeIops:       "3000",
	keyCacheVolumeThroughput: "125",
	keyYoctoVolumeSize:       "100",
	keyYoctoVolumeIops:       "3000",
	keyYoctoVolumeThroughput: "125",
	keyAvailabilityZone:      "",
	keySubnetID:              "",
	keyNamePrefix:            "",
	keyProtectVolumes:        "false",
	keyWorkingHours:          "",
	keyCapacity:              capacityOnDemand,
	keyX86Count:              "1",
	keyGravitonCount:         "1",
}

// configExamples are placeholder values for fixes of keys whose right value only the
// operator knows, the same ones the README uses.
var configExamples = map[string]string{
	keyAmiX86:           "ami-0123456789abcdef0",
	keyAmiArm64:         "ami-0fedcba9876543210",
	keySSHPublicKey:     `"$(cat ~/.ssh/id_ed25519.pub)"`,
	keySSHCidrBlocks:    "203.0.113.0/24",
	keyAvailabilityZone: "us-east-1a",
	keySubnetID:         "subnet-0123456789abcdef0",
	keyWorkingHours:     `"Mon-Fri 07:00-19:00 Europe/Berlin"`,
}

// Capacity types of n3x:capacity.
const (
	capacityOnDemand = "on-demand"
	capacitySpot     = "spot"
)

// gp3 limits from the EBS user guide (volume types, gp3), except throughput: the
// Terraform AWS provider v5 bundled in pulumi-aws v6 checks aws_ebs_volume's throughput
// against 125-1000 MiB/s (validation.IntBetween in its ebs_volume.go) before AWS sees it.
const (
	gp3MinSizeGiB          = 1
	gp3MaxSizeGiB          = 65536
	gp3BaselineIops        = 3000
	gp3MaxIops             = 80000
	gp3MaxIopsPerGiB       = 500
	gp3BaselineThroughput  = 125
	gp3MaxThroughput       = 1000
	gp3IopsPerMiBps        = 4 // at most 0.25 MiB/s of throughput per provisioned IOPS
	minRSAKeyBits          = 2048
	maxNamePrefixLength    = 64
	defaultNamePrefix      = "n3x"
	defaultNamePrefixStack = "dev"
	// maxRunnersPerArchitecture keeps a stack inside what AWS accounts get by default or on a
	// routine request: ten 8-vCPU runners per architecture need 160 vCPUs and 20 Elastic IPs
	// (defaults: often 64 vCPUs and 5 addresses per region), and each runner one more step
	// in the rolling AMI upgrade. A bigger fleet wants another design, not a longer chain.
	maxRunnersPerArchitecture = 10
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
	AmiX86               string
	AmiArm64             string // empty: no Graviton runner
	SSHPublicKey         string
	SSHCidrBlocks        []netip.Prefix
	InstanceTypeX86      string
	InstanceTypeGraviton string
	RootVolumeSize       int
	CacheVolume          VolumeConfig
	YoctoVolume          VolumeConfig
	AvailabilityZone     string // empty: chosen from the region at deploy time
	SubnetID             string // empty: the region's default VPC
	NamePrefix           string // prefix of every physical name
	ProtectVolumes       bool
	WorkingHours         workingHours // zero: always on
	Capacity             string       // capacityOnDemand or capacitySpot
	Region               string       // aws:region, for prices and ARNs
	X86Count             int
	GravitonCount        int // counts only with AmiArm64
}

// VolumeConfig is the size and gp3 performance of one data volume.
type VolumeConfig struct {
	SizeGiB        int
	Iops           int
	ThroughputMiBs int
}

// configError is one problem with one key, with the command that fixes it.
type configError struct {
	key     string
	problem string
	example string // the fix's value, ready for a shell; empty for "pulumi config rm"
}

func (e configError) Error() string {
	fix := fmt.Sprintf("pulumi config set %s:%s %s", configNamespace, e.key, e.example)
	if e.example == "" {
		fix = fmt.Sprintf("pulumi config rm %s:%s", configNamespace, e.key)
	}
	return fmt.Sprintf("%s:%s %s; fix: %s", configNamespace, e.key, e.problem, fix)
}

// problems reports several problems as one error, one per line.
type problems []error

func (p problems) Error() string {
	lines := make([]string, len(p))
	for i, problem := range p {
		lines[i] = "\n  - " + problem.Error()
	}
	return strings.Join(lines, "")
}

func (p problems) Unwrap() []error { return p }

// count says how many problems there are, in words.
func (p problems) count() string {
	if len(p) == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", len(p))
}

// configReader collects the problems found while reading keys, so that every
// problem of a config is reported at once.
type configReader struct {
	get    func(key string) string
	errors []error
}

func (r *configReader) fail(key, example, format string, args ...any) {
	r.errors = append(r.errors, configError{key: key, problem: fmt.Sprintf(format, args...), example: example})
}

// value returns the key's value, or its default when unset.
func (r *configReader) value(key string) string {
	if v := strings.TrimSpace(r.get(key)); v != "" {
		return v
	}
	return configDefaults[key]
}

func (r *configReader) required(key, example string) string {
	v := strings.TrimSpace(r.get(key))
	if v == "" {
		r.fail(key, example, "is required but not set")
	}
	return v
}

func (r *configReader) integer(key string, min, max int, unit string) int {
	raw := r.value(key)
	n, err := strconv.Atoi(raw)
	if err != nil {
		r.fail(key, configDefaults[key], "must be a whole number of %s, got %q", unit, raw)
		return 0
	}
	if n < min || n > max {
		r.fail(key, configDefaults[key], "must be between %d and %d %s for gp3, got %d", min, max, unit, n)
		return 0
	}
	return n
}

func (r *configReader) boolean(key string) bool {
	raw := r.value(key)
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.fail(key, "true", "must be true or false, got %q", raw)
	}
	return b
}

func (r *configReader) pattern(key, raw string, re *regexp.Regexp, what, example string) string {
	if raw != "" && !re.MatchString(raw) {
		r.fail(key, example, "must be %s, got %q", what, raw)
	}
	return raw
}

// loadConfig reads and validates every n3x key through get. It returns all problems
// together, so an operator fixes a broken stack in one round.
func loadConfig(get func(key string) string, stack string) (Config, error) {
	r := &configReader{get: get}
	amiWhat := "an AMI id: ami- followed by 8 or 17 lowercase hex digits"
	ex := configExamples
	cfg := Config{
		AmiX86:               r.pattern(keyAmiX86, r.required(keyAmiX86, ex[keyAmiX86]), amiIDPattern, amiWhat, ex[keyAmiX86]),
		AmiArm64:             r.pattern(keyAmiArm64, r.value(keyAmiArm64), amiIDPattern, amiWhat, ex[keyAmiArm64]),
		SSHPublicKey:         r.sshPublicKey(),
		SSHCidrBlocks:        r.cidrBlocks(),
		InstanceTypeX86:      r.instanceType(keyInstanceTypeX86),
		InstanceTypeGraviton: r.instanceType(keyInstanceTypeGraviton),
		RootVolumeSize:       r.integer(keyRootVolumeSize, gp3MinSizeGiB, gp3MaxSizeGiB, "GiB"),
		CacheVolume:          r.volume(keyCacheVolumeSize, keyCacheVolumeIops, keyCacheVolumeThroughput),
		YoctoVolume:          r.volume(keyYoctoVolumeSize, keyYoctoVolumeIops, keyYoctoVolumeThroughput),
		AvailabilityZone:     r.pattern(keyAvailabilityZone, r.value(keyAvailabilityZone), zonePattern, "an availability zone name such as us-east-1a", ex[keyAvailabilityZone]),
		SubnetID:             r.pattern(keySubnetID, r.value(keySubnetID), subnetIDPattern, "a subnet id: subnet- followed by 8 or 17 lowercase hex digits", ex[keySubnetID]),
		NamePrefix:           r.namePrefix(stack),
		ProtectVolumes:       r.boolean(keyProtectVolumes),
		WorkingHours:         r.workingHours(),
		Capacity:             r.oneOf(keyCapacity, capacityOnDemand, capacitySpot),
		X86Count:             r.count(keyX86Count),
		GravitonCount:        r.count(keyGravitonCount),
	}
	if len(r.errors) > 0 {
		found := problems(r.errors)
		return Config{}, fmt.Errorf("invalid configuration for stack %q (%s):%w", stack, found.count(), found)
	}
	return cfg, nil
}

// sshPublicKey accepts one OpenSSH public key of a type EC2 can import.
func (r *configReader) sshPublicKey() string {
	example := configExamples[keySSHPublicKey]
	raw := r.required(keySSHPublicKey, example)
	if raw == "" {
		return ""
	}
	key, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(raw))
	switch {
	case err != nil:
		r.fail(keySSHPublicKey, example, "is not an OpenSSH public key (%v); paste the one line of your id_ed25519.pub", err)
		return ""
	case len(options) > 0:
		r.fail(keySSHPublicKey, example, "must be a bare public key, without authorized_keys options %q", options)
		return ""
	case len(strings.TrimSpace(string(rest))) > 0:
		r.fail(keySSHPublicKey, example, "must hold exactly one public key, found more")
		return ""
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519:
	case ssh.KeyAlgoRSA:
		bits := key.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey).N.BitLen()
		if bits < minRSAKeyBits {
			r.fail(keySSHPublicKey, example, "is a %d-bit RSA key; EC2 key pairs need at least %d bits", bits, minRSAKeyBits)
		}
	default:
		r.fail(keySSHPublicKey, example, "is a %s key; EC2 imports only ssh-ed25519 and ssh-rsa keys", key.Type())
	}
	return raw
}

// cidrBlocks parses a comma-separated list of IPv4 and IPv6 networks.
func (r *configReader) cidrBlocks() []netip.Prefix {
	var blocks []netip.Prefix
	seen := map[netip.Prefix]bool{}
	fields := strings.Split(r.value(keySSHCidrBlocks), ",")
	for i, field := range fields {
		field = strings.TrimSpace(field)
		prefix, err := netip.ParsePrefix(field)
		switch {
		case field == "":
			r.fail(keySSHCidrBlocks, configExamples[keySSHCidrBlocks], "has an empty entry; separate CIDRs with single commas")
			continue
		case err != nil:
			r.fail(keySSHCidrBlocks, configExamples[keySSHCidrBlocks], "entry %q is not a CIDR block (%v)", field, err)
			continue
		case prefix.Addr().Is4In6():
			r.fail(keySSHCidrBlocks, configExamples[keySSHCidrBlocks], "entry %q is an IPv4-mapped IPv6 network; write it as IPv4", field)
			continue
		case prefix != prefix.Masked():
			corrected := slices.Clone(fields)
			corrected[i] = prefix.Masked().String()
			r.fail(keySSHCidrBlocks, strings.Join(corrected, ","), "entry %q has host bits set; did you mean %s?", field, prefix.Masked())
			continue
		case seen[prefix]:
			r.fail(keySSHCidrBlocks, configExamples[keySSHCidrBlocks], "lists %s twice", prefix)
			continue
		}
		seen[prefix] = true
		blocks = append(blocks, prefix)
	}
	return blocks
}

func (r *configReader) instanceType(key string) string {
	raw := r.value(key)
	return r.pattern(key, raw, instanceTypePattern, "an EC2 instance type such as "+configDefaults[key], configDefaults[key])
}

// volume reads one data volume's size and performance and checks gp3's ratios.
func (r *configReader) volume(sizeKey, iopsKey, throughputKey string) VolumeConfig {
	v := VolumeConfig{
		SizeGiB:        r.integer(sizeKey, gp3MinSizeGiB, gp3MaxSizeGiB, "GiB"),
		Iops:           r.integer(iopsKey, gp3BaselineIops, gp3MaxIops, "IOPS"),
		ThroughputMiBs: r.integer(throughputKey, gp3BaselineThroughput, gp3MaxThroughput, "MiB/s"),
	}
	if v.SizeGiB > 0 && v.Iops > gp3BaselineIops && v.Iops > v.SizeGiB*gp3MaxIopsPerGiB {
		need := (v.Iops + gp3MaxIopsPerGiB - 1) / gp3MaxIopsPerGiB
		r.fail(sizeKey, strconv.Itoa(need), "is %d GiB, too small for %d IOPS: gp3 allows at most %d IOPS per GiB, so at least %d GiB",
			v.SizeGiB, v.Iops, gp3MaxIopsPerGiB, need)
	}
	if v.Iops > 0 && v.ThroughputMiBs > gp3BaselineThroughput && v.ThroughputMiBs*gp3IopsPerMiBps > v.Iops {
		need := max(v.ThroughputMiBs*gp3IopsPerMiBps, gp3BaselineIops)
		r.fail(iopsKey, strconv.Itoa(need), "is %d, too low for %d MiB/s: gp3 allows at most 0.25 MiB/s per IOPS, so at least %d IOPS",
			v.Iops, v.ThroughputMiBs, need)
	}
	return v
}

// workingHours reads when the runners run; unset, they always do.
func (r *configReader) workingHours() workingHours {
	raw := r.value(keyWorkingHours)
	if raw == "" {
		return workingHours{}
	}
	hours, err := parseWorkingHours(raw)
	if err != nil {
		r.fail(keyWorkingHours, configExamples[keyWorkingHours], "%v", err)
	}
	return hours
}

// count reads how many runners of an architecture to run.
func (r *configReader) count(key string) int {
	raw := r.value(key)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxRunnersPerArchitecture {
		r.fail(key, configDefaults[key], "must be a whole number of runners from 1 to %d, got %q", maxRunnersPerArchitecture, raw)
		return 0
	}
	return n
}

// oneOf reads a key that takes one of a few words.
func (r *configReader) oneOf(key string, choices ...string) string {
	raw := r.value(key)
	if !slices.Contains(choices, raw) {
		r.fail(key, choices[0], "must be %s, got %q", strings.Join(choices, " or "), raw)
	}
	return raw
}

// namePrefix prefixes every physical AWS name. Unset, the dev stack keeps the spec's
// names (n3x-runner-sg) and any other stack gets its own (n3x-staging-runner-sg), so two
// stacks in one account and region never collide.
func (r *configReader) namePrefix(stack string) string {
	raw := r.value(keyNamePrefix)
	if raw == "" {
		if stack == defaultNamePrefixStack {
			return defaultNamePrefix
		}
		return defaultNamePrefix + "-" + stack
	}
	if len(raw) > maxNamePrefixLength || !namePrefixPattern.MatchString(raw) {
		r.fail(keyNamePrefix, defaultNamePrefix+"-"+stack, "must be 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit, got %q",
			maxNamePrefixLength, raw)
	}
	return raw
}
