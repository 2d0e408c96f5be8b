package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// authorizedKey generates a public key of the given kind, as one authorized_keys line.
func authorizedKey(t *testing.T, kind string) string {
	t.Helper()
	var public any
	switch kind {
	case "rsa1024", "rsa2048":
		bits := map[string]int{"rsa1024": 1024, "rsa2048": 2048}[kind]
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		public = &key.PublicKey
	case "ecdsa":
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		public = &key.PublicKey
	}
	sshKey, err := ssh.NewPublicKey(public)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshKey))) + " test@example"
}

// privateKeys are a private key in each armour an operator might paste.
func privateKeys(t *testing.T) map[string]string {
	t.Helper()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	openssh, err := ssh.MarshalPrivateKey(edKey, "operator@example")
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"OpenSSH private key": string(pem.EncodeToMemory(openssh)),
		"PEM RSA private key": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})),
		"PKCS#8 private key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
	}
}

// The RFC 8032 test vector 1, as a Nix binary-cache key: the secret key is the seed and the
// public key; the public key is computed independently of the program here.
const (
	rfc8032Seed   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfc8032Public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func testSigningKey(t *testing.T) (secret, public string) {
	t.Helper()
	seed, _ := hex.DecodeString(rfc8032Seed)
	pub, _ := hex.DecodeString(rfc8032Public)
	return "cache.example.org-1:" + base64.StdEncoding.EncodeToString(append(seed, pub...)),
		"cache.example.org-1:" + base64.StdEncoding.EncodeToString(pub)
}

// mismatchedSigningKey is a seed followed by another key's public half.
func mismatchedSigningKey(t *testing.T) string {
	t.Helper()
	seed, _ := hex.DecodeString(rfc8032Seed)
	other, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return "cache.example.org-1:" + base64.StdEncoding.EncodeToString(append(seed, other...))
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg := mustLoadConfig(t, map[string]string{keyAmiX86: testAmiX86, keySSHPublicKey: testSSHKey}, "dev")
	want := Config{
		AmiX86:               testAmiX86,
		SSHPublicKey:         testSSHKey,
		SSHCidrBlocks:        []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		InstanceTypeX86:      "c6i.2xlarge",
		InstanceTypeGraviton: "c7g.2xlarge",
		RootVolumeSize:       50,
		CacheVolume:          VolumeConfig{SizeGiB: 500, Iops: 3000, ThroughputMiBs: 125},
		YoctoVolume:          VolumeConfig{SizeGiB: 100, Iops: 3000, ThroughputMiBs: 125},
		NamePrefix:           "n3x",
		Capacity:             "on-demand",
		X86Count:             1,
		GravitonCount:        1,
		RunnerTokens:         map[string]string{},
		SnapshotRetention:    7,
		Wake:                 wakeConfig{GitlabURL: "https://gitlab.com", Tags: map[string][]string{"x86_64": {"n3x-build", "x86_64"}, "arm64": {"n3x-build", "arm64"}}, IdleMinutes: 30},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigAcceptsGoodValues(t *testing.T) {
	secret, public := testSigningKey(t)
	cases := []struct {
		name, key, value string
		check            func(Config) bool
	}{
		{"rsa 2048 key", keySSHPublicKey, authorizedKey(t, "rsa2048"), func(c Config) bool { return strings.HasPrefix(c.SSHPublicKey, "ssh-rsa ") }},
		{"cidr list with spaces, v4 and v6", keySSHCidrBlocks, " 10.0.0.0/8 , 2001:db8::/32",
			func(c Config) bool {
				return reflect.DeepEqual(c.SSHCidrBlocks, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")})
			}},
		{"no CIDR at all", keySSHCidrBlocks, "none", func(c Config) bool { return c.SSHCidrBlocks == nil }},
		{"8-digit AMI", keyAmiX86, "ami-0123abcd", func(c Config) bool { return c.AmiX86 == "ami-0123abcd" }},
		{"max gp3 throughput of the bundled provider", keyCacheVolumeThroughput, "1000", func(c Config) bool { return c.CacheVolume.ThroughputMiBs == 1000 }},
		{"protected volumes", keyProtectVolumes, "true", func(c Config) bool { return c.ProtectVolumes }},
		{"explicit prefix", keyNamePrefix, "ci.fleet_2", func(c Config) bool { return c.NamePrefix == "ci.fleet_2" }},
		{"spot", keyCapacity, "spot", func(c Config) bool { return c.Capacity == capacitySpot }},
		{"no snapshots", keySnapshotRetentionDays, "0", func(c Config) bool { return c.SnapshotRetention == 0 }},
		{"runner token for both architectures", keyGitlabRunnerToken, "glrt-abcdefghij_0123456789", func(c Config) bool {
			return reflect.DeepEqual(c.RunnerTokens, map[string]string{"x86_64": "glrt-abcdefghij_0123456789", "arm64": "glrt-abcdefghij_0123456789"})
		}},
		{"cache signing key", keyCacheSigningKey, secret, func(c Config) bool { return c.CacheSigningKey.publicKey() == public }},
		{"working hours", keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin", func(c Config) bool {
			w := c.WorkingHours
			return len(w.Days) == 5 && w.Days[0] == time.Monday && w.Days[4] == time.Friday && w.Start == clock{7, 0} &&
				w.Stop == clock{19, 0} && w.Zone.String() == "Europe/Berlin" && w.weeklyHours() == 60
		}},
		{"working hours, days listed and ranged", keyWorkingHours, "Sat,Mon-Wed 08:30-12:15 UTC", func(c Config) bool {
			w := c.WorkingHours
			return slices.Equal(w.Days, []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Saturday}) &&
				w.cron(w.Start) == "cron(30 8 ? * MON,TUE,WED,SAT *)" && w.weeklyHours() == 15
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustLoadConfig(t, testConfig(tc.key, tc.value, keyCacheVolumeIops, "8000"), "dev")
			if !tc.check(cfg) {
				t.Errorf("%s=%q read as %+v", tc.key, tc.value, cfg)
			}
		})
	}
}

func TestGravitonRunnersMayHaveTheirOwnToken(t *testing.T) {
	cfg := mustLoadConfig(t, testConfig(keyGitlabRunnerToken, "glrt-x86", keyGitlabRunnerTokenGraviton, "glrt-arm"), "dev")
	if want := map[string]string{"x86_64": "glrt-x86", "arm64": "glrt-arm"}; !reflect.DeepEqual(cfg.RunnerTokens, want) {
		t.Errorf("tokens %v, want %v", cfg.RunnerTokens, want)
	}
	x86Only := mustLoadConfig(t, testConfig(keyAmiArm64, "", keyGitlabRunnerToken, "glrt-x86", keyGitlabRunnerTokenGraviton, "glrt-arm"), "dev")
	if want := map[string]string{"x86_64": "glrt-x86"}; !reflect.DeepEqual(x86Only.RunnerTokens, want) {
		t.Errorf("tokens without Graviton %v, want %v", x86Only.RunnerTokens, want)
	}
}

// configCase is one bad value: what the message says, and the fix it prints.
type configCase struct {
	name      string
	overrides []string
	plain     []string // secret keys set without --secret
	want      []string // the message contains each
	fix       string   // the fix printed for the case's first key
}

func badConfigCases(t *testing.T) []configCase {
	secret, public := testSigningKey(t)
	keys := privateKeys(t)
	cases := []configCase{
		{"amiX86 missing", []string{keyAmiX86, ""}, nil,
			[]string{"n3x configuration: 1 problem\n  - n3x:amiX86 is required but not set"}, "pulumi config set n3x:amiX86 <your-ami-id>"},
		{"amiX86 blank", []string{keyAmiX86, "   "}, nil, []string{"n3x:amiX86 is required but not set"}, "pulumi config set n3x:amiX86 <your-ami-id>"},
		{"sshPublicKey missing", []string{keySSHPublicKey, ""}, nil, []string{"n3x:sshPublicKey is required but not set"},
			`pulumi config set n3x:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"`},
		{"amiX86 too short", []string{keyAmiX86, "ami-123"}, nil,
			[]string{`n3x:amiX86 must be an AMI id: ami- followed by 8 or 17 lowercase hex digits, got "ami-123"`}, "pulumi config set n3x:amiX86 <your-ami-id>"},
		{"amiX86 upper case", []string{keyAmiX86, "ami-0123456789ABCDEF0"}, nil, []string{`n3x:amiX86 must be an AMI id`},
			"pulumi config set n3x:amiX86 ami-0123456789abcdef0"},
		{"amiX86 without its prefix", []string{keyAmiX86, "0123456789abcdef0"}, nil, nil, "pulumi config set n3x:amiX86 ami-0123456789abcdef0"},
		{"amiArm64 not an id", []string{keyAmiArm64, "nixos-24.05-arm"}, nil, []string{`n3x:amiArm64 must be an AMI id`},
			"pulumi config set n3x:amiArm64 <your-ami-id>"},
		{"ssh key garbage", []string{keySSHPublicKey, "not a key"}, nil,
			[]string{"n3x:sshPublicKey is not an OpenSSH public key", "paste the one line of your id_ed25519.pub"}, `pulumi config set n3x:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"`},
		{"ssh key ecdsa", []string{keySSHPublicKey, authorizedKey(t, "ecdsa")}, nil,
			[]string{"n3x:sshPublicKey is a ecdsa-sha2-nistp256 key; EC2 imports only ssh-ed25519 and ssh-rsa keys"}, ""},
		{"ssh key rsa 1024", []string{keySSHPublicKey, authorizedKey(t, "rsa1024")}, nil,
			[]string{"n3x:sshPublicKey is a 1024-bit RSA key; EC2 key pairs need at least 2048 bits"}, ""},
		{"ssh key twice", []string{keySSHPublicKey, testSSHKey + "\n" + testSSHKey}, nil, []string{"n3x:sshPublicKey must hold exactly one public key"}, ""},
		{"ssh key with options", []string{keySSHPublicKey, `command="/bin/false" ` + testSSHKey}, nil, []string{"must be a bare public key, without authorized_keys options"}, ""},
		{"cidr host bits", []string{keySSHCidrBlocks, "10.1.2.3/8"}, nil,
			[]string{`n3x:sshCidrBlocks entry "10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?`}, "pulumi config set n3x:sshCidrBlocks 10.0.0.0/8"},
		{"ipv6 cidr host bits in a list", []string{keySSHCidrBlocks, "192.0.2.0/24,2001:db8::1/32"}, nil,
			[]string{`entry "2001:db8::1/32" has host bits set; did you mean 2001:db8::/32?`}, "pulumi config set n3x:sshCidrBlocks 192.0.2.0/24,2001:db8::/32"},
		{"a bare address", []string{keySSHCidrBlocks, "1.2.3.4"}, nil,
			[]string{`entry "1.2.3.4" is an address, not a network; for that one address write 1.2.3.4/32`}, "pulumi config set n3x:sshCidrBlocks 1.2.3.4/32"},
		{"a bare IPv6 address among networks", []string{keySSHCidrBlocks, "10.0.0.0/8, 2001:db8::7"}, nil, nil,
			"pulumi config set n3x:sshCidrBlocks 10.0.0.0/8,2001:db8::7/128"},
		{"cidr prefix too long", []string{keySSHCidrBlocks, "10.0.0.0/33"}, nil,
			[]string{`n3x:sshCidrBlocks entry "10.0.0.0/33" has a prefix length of 33, more than the 32 bits of its address`},
			"pulumi config set n3x:sshCidrBlocks <your-ip>/32"},
		{"cidr hostname", []string{keySSHCidrBlocks, "office.example.com/32"}, nil,
			[]string{`entry "office.example.com/32" is not an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32`},
			"pulumi config set n3x:sshCidrBlocks <your-ip>/32"},
		// The Quick start's address lookup printed nothing (no network, a proxy).
		{"cidr from a failed address lookup", []string{keySSHCidrBlocks, "/32"}, nil,
			[]string{`n3x:sshCidrBlocks entry "/32" has no address before the /: the command that looked up your address printed nothing (no network, or a proxy?); ` +
				"set your address yourself, or none to open nothing and use Session Manager"},
			"pulumi config set n3x:sshCidrBlocks <your-ip>/32"},
		{"cidr empty entry", []string{keySSHCidrBlocks, "10.0.0.0/8,,192.0.2.0/24"}, nil, []string{"n3x:sshCidrBlocks has an empty entry"},
			"pulumi config set n3x:sshCidrBlocks 10.0.0.0/8,192.0.2.0/24"},
		{"cidr listed twice", []string{keySSHCidrBlocks, "10.0.0.0/8, 10.0.0.0/8"}, nil, []string{"n3x:sshCidrBlocks lists 10.0.0.0/8 twice"},
			"pulumi config set n3x:sshCidrBlocks 10.0.0.0/8"},
		{"cidr ipv4-mapped", []string{keySSHCidrBlocks, "::ffff:10.0.0.0/104"}, nil, []string{"is an IPv4-mapped IPv6 network; write it as IPv4: 10.0.0.0/8"},
			"pulumi config set n3x:sshCidrBlocks 10.0.0.0/8"},
		{"instance type without size", []string{keyInstanceTypeX86, "c6i"}, nil,
			[]string{`n3x:instanceTypeX86 must be an EC2 instance type such as c6i.2xlarge, got "c6i"`}, "pulumi config set n3x:instanceTypeX86 c6i.2xlarge"},
		{"instance type upper case", []string{keyInstanceTypeGraviton, "C7G.4XLARGE"}, nil, []string{`n3x:instanceTypeGraviton must be an EC2 instance type`},
			"pulumi config set n3x:instanceTypeGraviton c7g.4xlarge"},
		{"root size zero", []string{keyRootVolumeSize, "0"}, nil,
			[]string{"n3x:rootVolumeSize must be a whole number of GiB from 1 to 65536, got 0"}, "pulumi config set n3x:rootVolumeSize 1"},
		{"root size with a unit", []string{keyRootVolumeSize, "80GB"}, nil, []string{`n3x:rootVolumeSize must be a whole number of GiB from 1 to 65536, got "80GB"`},
			"pulumi config set n3x:rootVolumeSize 80"},
		{"root size words", []string{keyRootVolumeSize, "fifty"}, nil, nil, "pulumi config set n3x:rootVolumeSize <1-65536>"},
		{"cache size too big", []string{keyCacheVolumeSize, "70000"}, nil, nil, "pulumi config set n3x:cacheVolumeSize 65536"},
		{"cache iops too low", []string{keyCacheVolumeIops, "2000"}, nil, []string{"n3x:cacheVolumeIops must be a whole number of IOPS from 3000 to 80000, got 2000"},
			"pulumi config set n3x:cacheVolumeIops 3000"},
		// AWS allows 2000 MiB/s, but the provider pulumi-aws v6 bundles refuses more than 1000.
		{"cache throughput above the provider's limit", []string{keyCacheVolumeThroughput, "1500", keyCacheVolumeIops, "6000"}, nil,
			[]string{"n3x:cacheVolumeThroughput must be a whole number of MiB/s from 125 to 1000, got 1500"}, "pulumi config set n3x:cacheVolumeThroughput 1000"},
		// The throughput's fix needs more IOPS too: both said at once.
		{"cache throughput above the provider's limit with the default IOPS", []string{keyCacheVolumeThroughput, "2000"}, nil,
			[]string{"n3x:cacheVolumeThroughput must be a whole number of MiB/s from 125 to 1000, got 2000",
				"n3x:cacheVolumeIops is 3000, too low for 1000 MiB/s: gp3 allows at most 0.25 MiB/s per IOPS, so at least 4000 IOPS",
				"pulumi config set n3x:cacheVolumeIops 4000"}, "pulumi config set n3x:cacheVolumeThroughput 1000"},
		{"yocto iops above the limit on a small volume", []string{keyYoctoVolumeSize, "100", keyYoctoVolumeIops, "90000"}, nil,
			[]string{"n3x:yoctoVolumeSize is 100 GiB, too small for 80000 IOPS: gp3 allows at most 500 IOPS per GiB, so at least 160 GiB"},
			"pulumi config set n3x:yoctoVolumeIops 80000"},
		{"yocto iops per GiB", []string{keyYoctoVolumeSize, "10", keyYoctoVolumeIops, "6000"}, nil,
			[]string{"n3x:yoctoVolumeSize is 10 GiB, too small for 6000 IOPS: gp3 allows at most 500 IOPS per GiB, so at least 12 GiB"}, "pulumi config set n3x:yoctoVolumeSize 12"},
		{"cache throughput per IOPS", []string{keyCacheVolumeThroughput, "1000"}, nil,
			[]string{"n3x:cacheVolumeIops is 3000, too low for 1000 MiB/s: gp3 allows at most 0.25 MiB/s per IOPS, so at least 4000 IOPS"}, "pulumi config set n3x:cacheVolumeIops 4000"},
		{"protectVolumes yes", []string{keyProtectVolumes, "yes"}, nil, []string{`n3x:protectVolumes must be true or false, got "yes"`},
			"pulumi config set n3x:protectVolumes true"},
		{"protectVolumes nonsense", []string{keyProtectVolumes, "maybe"}, nil, nil, "pulumi config set n3x:protectVolumes <true|false>"},
		{"zone upper case", []string{keyAvailabilityZone, "US-EAST-1B"}, nil, []string{`n3x:availabilityZone must be an availability zone name such as us-east-1b, got "US-EAST-1B"`},
			"pulumi config set n3x:availabilityZone us-east-1b"},
		{"zone id instead of name", []string{keyAvailabilityZone, "use1-az1"}, nil, nil, "pulumi config set n3x:availabilityZone <zone such as us-east-1b>"},
		{"subnet malformed", []string{keySubnetID, "subnet-xyz"}, nil, []string{`n3x:subnetId must be a subnet id`}, "pulumi config set n3x:subnetId <your-subnet-id>"},
		{"name prefix with spaces", []string{keyNamePrefix, "my fleet"}, nil, []string{`n3x:namePrefix must be letters, digits`}, "pulumi config set n3x:namePrefix my-fleet"},
		{"name prefix too long", []string{keyNamePrefix, strings.Repeat("p", 40)}, nil,
			[]string{"n3x:namePrefix is 40 characters long, so the schedule name " + strings.Repeat("p", 40) + "-graviton-10-runner-start is 65 characters, more than AWS's 64; use at most 39 characters"},
			"pulumi config set n3x:namePrefix " + strings.Repeat("p", 39)},
		{"working hours in lower case", []string{keyWorkingHours, "mon-fri 07:00-19:00 europe/berlin"}, nil, []string{`n3x:workingHours day "mon-fri" is not one of`},
			"pulumi config set n3x:workingHours 'Mon-Fri 07:00-19:00 Europe/Berlin'"},
		{"working hours unpadded", []string{keyWorkingHours, "Mon-Fri 7:00-19:00 UTC"}, nil, []string{`n3x:workingHours time "7:00" must be HH:MM on the 24-hour clock`},
			"pulumi config set n3x:workingHours 'Mon-Fri 07:00-19:00 UTC'"},
		{"working hours without minutes or zone", []string{keyWorkingHours, "mon-fri 7-19"}, nil, nil,
			"pulumi config set n3x:workingHours 'Mon-Fri 07:00-19:00 <IANA time zone>'"},
		{"working hours without minutes", []string{keyWorkingHours, "Mon-Fri 7-19 Europe/Berlin"}, nil, nil,
			"pulumi config set n3x:workingHours 'Mon-Fri 07:00-19:00 Europe/Berlin'"},
		{"working hours unknown day", []string{keyWorkingHours, "Mo-Fr 07:00-19:00 Europe/Berlin"}, nil, nil,
			"pulumi config set n3x:workingHours '<days> <HH:MM-HH:MM> <IANA time zone>'"},
		{"working hours backwards days", []string{keyWorkingHours, "Fri-Mon 07:00-19:00 UTC"}, nil, []string{`n3x:workingHours day range "Fri-Mon" runs backwards`}, ""},
		{"working hours stop before start", []string{keyWorkingHours, "Mon-Fri 19:00-07:00 UTC"}, nil,
			[]string{"n3x:workingHours stops at 07:00, which is not after its start 19:00; working hours end on the day they begin"}, ""},
		{"working hours unknown zone", []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Munich"}, nil,
			[]string{`n3x:workingHours time zone "Europe/Munich" is not an IANA time zone such as Europe/Berlin or UTC`}, ""},
		{"x86 count zero", []string{keyX86Count, "0"}, nil, []string{`n3x:x86Count must be a whole number of runners from 1 to 10, got 0`}, "pulumi config set n3x:x86Count 1"},
		{"x86 count above the limit", []string{keyX86Count, "11"}, nil, nil, "pulumi config set n3x:x86Count 10"},
		{"graviton count in words", []string{keyGravitonCount, "two"}, nil, nil, "pulumi config set n3x:gravitonCount <1-10>"},
		{"capacity capitalised", []string{keyCapacity, "Spot"}, nil, []string{`n3x:capacity must be on-demand or spot, got "Spot"`}, "pulumi config set n3x:capacity spot"},
		{"capacity run together", []string{keyCapacity, "OnDemand"}, nil, nil, "pulumi config set n3x:capacity on-demand"},
		{"capacity unknown", []string{keyCapacity, "reserved"}, nil, nil, "pulumi config set n3x:capacity <on-demand|spot>"},
		{"snapshot retention too long", []string{keySnapshotRetentionDays, "365"}, nil, nil, "pulumi config set n3x:snapshotRetentionDays 90"},
		{"runner token in plain text", []string{keyGitlabRunnerToken, "glrt-abcdef"}, []string{keyGitlabRunnerToken},
			[]string{"n3x:gitlabRunnerToken is a secret but was set in plain text, so it is readable in Pulumi.dev.yaml"},
			`pulumi config set --secret n3x:gitlabRunnerToken "$(pulumi config get n3x:gitlabRunnerToken)"`},
		{"legacy registration token", []string{keyGitlabRunnerToken, "GR1348941abcdefghijklmnop"}, nil,
			[]string{"n3x:gitlabRunnerToken is a runner registration token (GR1348941…), which GitLab deprecated in 16.0"},
			"pulumi config set n3x:gitlabRunnerToken --secret <glrt-token>"},
		{"not a runner token", []string{keyGitlabRunnerTokenGraviton, "abc"}, nil, []string{"n3x:gitlabRunnerTokenGraviton is not a GitLab runner authentication token"},
			"pulumi config set n3x:gitlabRunnerTokenGraviton --secret <glrt-token>"},
		{"signing key in plain text", []string{keyCacheSigningKey, secret}, []string{keyCacheSigningKey}, []string{"n3x:cacheSigningKey is a secret but was set in plain text"},
			`pulumi config set --secret n3x:cacheSigningKey "$(pulumi config get n3x:cacheSigningKey)"`},
		{"signing key without a name", []string{keyCacheSigningKey, strings.SplitN(secret, ":", 2)[1]}, nil,
			[]string{"n3x:cacheSigningKey is not a Nix binary-cache secret key (it must be a name, a colon and the base64 key"},
			`pulumi config set n3x:cacheSigningKey --secret "$(cat <cache-name>.sk)"`},
		{"public key as signing key", []string{keyCacheSigningKey, public}, nil, []string{"it holds 32 bytes: that is the public key (.pk), not the secret key (.sk)"},
			`pulumi config set n3x:cacheSigningKey --secret "$(cat <cache-name>.sk)"`},
		{"signing key whose halves do not match", []string{keyCacheSigningKey, mismatchedSigningKey(t)}, nil,
			[]string{"its public half does not belong to its seed"}, ""},
		// Keys the program does not know would be ignored: each is a problem, with the key it
		// likely stands for (case, punctuation, two edits at most) and what was typed moved there.
		{"a key in the wrong case", []string{"x86count", "2"}, nil,
			[]string{"n3x configuration: 1 problem\n  - n3x:x86count is not a setting of this program, which ignores it (did you mean n3x:x86Count?); " +
				"fix: pulumi config rm n3x:x86count && pulumi config set n3x:x86Count 2"},
			"pulumi config rm n3x:x86count && pulumi config set n3x:x86Count 2"},
		{"a key with underscores", []string{"instance_type_x86", "c6i.4xlarge"}, nil, []string{"(did you mean n3x:instanceTypeX86?)"},
			"pulumi config rm n3x:instance_type_x86 && pulumi config set n3x:instanceTypeX86 c6i.4xlarge"},
		{"a misspelled key", []string{"cacheVolumeIop", "4000"}, nil, []string{"n3x:cacheVolumeIop is not a setting of this program"},
			"pulumi config rm n3x:cacheVolumeIop && pulumi config set n3x:cacheVolumeIops 4000"},
		{"a misspelled key with a quoted value", []string{"workinghours", "Mon-Fri 07:00-19:00 UTC"}, nil, nil,
			"pulumi config rm n3x:workinghours && pulumi config set n3x:workingHours 'Mon-Fri 07:00-19:00 UTC'"},
		{"a key of no setting", []string{"runnerCount", "3"}, nil,
			[]string{"n3x:runnerCount is not a setting of this program, which ignores it; its settings are the n3x keys of README.md's Configuration table (and Pulumi.yaml); " +
				"fix: pulumi config rm n3x:runnerCount"},
			"pulumi config rm n3x:runnerCount"},
		{"a secret key in the wrong case", []string{"gitlabrunnertoken", "glrt-abcdef"}, nil, []string{"(did you mean n3x:gitlabRunnerToken?)"},
			`aws ssm put-parameter --region "$(pulumi config get aws:region)" --type SecureString --overwrite --name /n3x-runner/gitlab-runner-token/x86_64 --value "$(pulumi config get n3x:gitlabrunnertoken)" && pulumi config rm n3x:gitlabrunnertoken`},
		// A deprecated secret key's typo goes to its parameter, under the stack's prefix.
		{"a deprecated secret key misspelled", []string{"cacheSigningkey", "secret", keyNamePrefix, "ci"}, nil, []string{"(did you mean n3x:cacheSigningKey?)"},
			`aws ssm put-parameter --region "$(pulumi config get aws:region)" --type SecureString --overwrite --name /ci-runner/cache-signing-key --value "$(pulumi config get n3x:cacheSigningkey)" && pulumi config rm n3x:cacheSigningkey`},
		{"several problems at once", []string{keyAmiX86, "", keySSHCidrBlocks, "10.1.0.0/8", keyRootVolumeSize, "-1"}, nil,
			[]string{"n3x configuration: 3 problems\n  - n3x:amiX86 is required", "\n  - n3x:sshCidrBlocks entry", "\n  - n3x:rootVolumeSize must be"}, ""},
	}
	for kind, key := range keys {
		cases = append(cases,
			configCase{"sshPublicKey holds a " + kind, []string{keySSHPublicKey, key}, nil,
				[]string{"n3x:sshPublicKey holds " + article(kind) + " " + kind + ", not what this key takes; it is now stored in plain text in Pulumi.dev.yaml: remove it, " +
					"and if that file was committed or shared, treat the key as leaked and rotate it"},
				`pulumi config rm n3x:sshPublicKey && pulumi config set n3x:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"`},
			configCase{"amiArm64 holds a " + kind, []string{keyAmiArm64, key}, nil, []string{"n3x:amiArm64 holds " + article(kind) + " " + kind}, "pulumi config rm n3x:amiArm64"},
			configCase{"runner token holds a " + kind, []string{keyGitlabRunnerToken, key}, nil,
				[]string{"n3x:gitlabRunnerToken holds " + article(kind) + " " + kind + ", not what this key takes; it is now stored, encrypted, in Pulumi.dev.yaml"}, "pulumi config rm n3x:gitlabRunnerToken"})
	}
	return cases
}

// Every bad input fails the whole program before anything is registered or asked of AWS,
// with one diagnostic: a first line that counts the problems and a line per problem that
// names the key, what was wrong, and the command that fixes what was typed.
func TestBadConfigRegistersNothing(t *testing.T) {
	for _, tc := range badConfigCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			aws := newFakeAWS()
			values := testConfig(tc.overrides...)
			d := deployPlain(t, aws, values, tc.plain)
			if d.err == nil {
				t.Fatal("deploy succeeded, want a configuration error")
			}
			for _, want := range tc.want {
				if !strings.Contains(d.err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, d.err)
				}
			}
			// The operator's terms, never a Go function's (netip.ParsePrefix, ssh: ...).
			for _, internal := range []string{"netip.", "ParseAddr", "strconv.", "ssh: ", "illegal base64"} {
				if strings.Contains(d.err.Error(), internal) {
					t.Errorf("the message quotes Go internals (%s):\n%v", internal, d.err)
				}
			}
			if !strings.HasPrefix(d.err.Error(), "n3x configuration: ") || len(d.errors) != 1 {
				t.Errorf("want one logged diagnostic starting \"n3x configuration: \", got %q", d.errors)
			}
			if len(aws.registrations) != 0 || len(aws.invokes) != 0 || len(aws.stackReads) != 0 {
				t.Errorf("a bad config registered %v and invoked %v; want nothing", d.names(), aws.invokes)
			}
			for _, key := range []string{keyGitlabRunnerToken, keyGitlabRunnerTokenGraviton, keyCacheSigningKey} {
				if v := values[key]; v != "" && strings.Contains(d.err.Error(), v) {
					t.Errorf("the message shows the secret %s", key)
				}
			}
		})
	}
}

// deployPlain deploys with some secret keys set in plain text.
func deployPlain(t *testing.T, aws *fakeAWS, values map[string]string, plain []string) deployment {
	t.Helper()
	if len(plain) == 0 {
		return deploy(t, aws, "dev", false, values)
	}
	_, err := loadConfig(testSource(values, "dev", plain...))
	if err == nil {
		t.Fatal("the plain secret was accepted")
	}
	return deployment{aws: aws, err: err, errors: []string{err.Error()}}
}

// fixLine finds the fix printed for a key.
func fixLine(message, key string) (string, bool) {
	for _, line := range strings.Split(message, "\n") {
		if strings.Contains(line, "n3x:"+key+" ") {
			if _, fix, found := strings.Cut(line, "; fix: "); found {
				return fix, true
			}
		}
	}
	return "", false
}

// Each printed fix is derived from what was typed: pasted, it makes the key valid, or it
// holds a <placeholder> the shell refuses; it never repeats the value that failed.
func TestEveryFixFixesWhatWasTyped(t *testing.T) {
	for _, tc := range badConfigCases(t) {
		if tc.fix == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			key := regexp.MustCompile(`n3x:(\w+)`).FindStringSubmatch(tc.fix)[1]
			values := testConfig(tc.overrides...)
			_, err := loadConfig(testSource(values, "dev", tc.plain...))
			if err == nil {
				t.Fatal("accepted")
			}
			fix, ok := fixLine(err.Error(), key)
			if !ok || fix != tc.fix {
				t.Fatalf("fix for n3x:%s = %q, want %q\n%v", key, fix, tc.fix, err)
			}
			if strings.Contains(fix, "<") {
				return // a placeholder, which the shell refuses as it stands
			}
			plain := applyFix(t, values, slices.Clone(tc.plain), fix)
			if _, err := loadConfig(testSource(values, "dev", plain...)); err != nil {
				if again, found := fixLine(err.Error(), key); found || strings.Contains(err.Error(), "n3x:"+key+" ") {
					t.Errorf("after %s, n3x:%s still fails (fix %q):\n%v", fix, key, again, err)
				}
			}
		})
	}
}

// applyFix plays the pulumi config commands of a fix on values and returns the keys still
// set in plain text. "$(cat ~/.ssh/id_ed25519.pub)" reads the operator's key.
func applyFix(t *testing.T, values map[string]string, plain []string, fix string) []string {
	t.Helper()
	for _, command := range strings.Split(fix, " && ") {
		words := shellWords(t, command)
		if len(words) > 3 && words[0] == "aws" && words[1] == "ssm" && words[2] == "put-parameter" {
			continue // writes SSM, not the configuration
		}
		if len(words) < 4 || words[0] != "pulumi" || words[1] != "config" {
			t.Fatalf("not a pulumi config command: %q", command)
		}
		secret := slices.Contains(words, "--secret")
		words = slices.DeleteFunc(words, func(w string) bool { return w == "--secret" })
		key := strings.TrimPrefix(words[3], "n3x:")
		switch words[2] {
		case "rm":
			delete(values, key)
		case "set":
			value := words[4]
			if from, ok := strings.CutPrefix(value, "$(pulumi config get n3x:"); ok && strings.HasSuffix(from, ")") {
				value = values[strings.TrimSuffix(from, ")")]
			}
			if value == "$(cat ~/.ssh/id_ed25519.pub)" {
				value = testSSHKey
			}
			values[key] = value
		}
		if secret {
			plain = slices.DeleteFunc(plain, func(k string) bool { return k == key })
		}
	}
	return plain
}

// shellWords splits a command as a POSIX shell would, for the quoting the fixes use.
func shellWords(t *testing.T, command string) []string {
	t.Helper()
	var words []string
	for _, m := range regexp.MustCompile(`'((?:[^']|'\\'')*)'|"([^"]*)"|(\S+)`).FindAllStringSubmatch(command, -1) {
		switch {
		case m[1] != "" || strings.HasPrefix(m[0], "'"):
			words = append(words, strings.ReplaceAll(m[1], `'\''`, "'"))
		case strings.HasPrefix(m[0], `"`):
			words = append(words, m[2])
		default:
			words = append(words, m[3])
		}
	}
	return words
}

// Required keys get the program's own message, also when both are missing: Pulumi.yaml
// gives them an empty default so the CLI does not stop with its generic one first.
func TestMissingRequiredKeysGetTheProgramsMessage(t *testing.T) {
	_, err := loadConfig(testSource(map[string]string{}, "dev"))
	var problems configProblems
	if !errors.As(err, &problems) || len(problems) != 2 {
		t.Fatalf("want two problems, got %v", err)
	}
	for _, want := range []string{"n3x configuration: 2 problems", "n3x:amiX86 is required but not set", "fix: pulumi config set n3x:amiX86 <your-ami-id>",
		`n3x:sshPublicKey is required but not set; fix: pulumi config set n3x:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
}

func TestSigningKeyDerivesItsPublicKey(t *testing.T) {
	secret, public := testSigningKey(t)
	key, err := parseSigningKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := key.publicKey(); got != public {
		t.Errorf("public key %q, want %q (RFC 8032 test vector 1)", got, public)
	}
	if got := key.secretValue(); got != secret {
		t.Errorf("secret value does not round-trip")
	}
	if strings.Contains(key.String(), strings.SplitN(secret, ":", 2)[1]) {
		t.Error("String() shows the secret")
	}
}

func TestShellQuoting(t *testing.T) {
	for value, want := range map[string]string{
		"10.0.0.0/8,2001:db8::/32":          "10.0.0.0/8,2001:db8::/32",
		"Mon-Fri 07:00-19:00 Europe/Berlin": "'Mon-Fri 07:00-19:00 Europe/Berlin'",
		"it's":                              `'it'\''s'`,
	} {
		if got := shellQuote(value); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", value, got, want)
		}
		if words := shellWords(t, "x "+shellQuote(value)); len(words) != 2 || words[1] != value {
			t.Errorf("%s does not read back as %q: %q", shellQuote(value), value, words)
		}
	}
}

// The program lists the stack's keys from what the engine passes it, PULUMI_CONFIG; keys of
// other namespaces are not its own to check.
func TestStackConfigKeysAreTheEnginesN3xKeys(t *testing.T) {
	t.Setenv("PULUMI_CONFIG", `{"aws:region":"eu-west-1","pulumi:tags":"{}","n3x:x86count":"2","n3x:amiX86":"`+testAmiX86+`","n3xother:key":"v"}`)
	if got, want := stackConfigKeys(), []string{keyAmiX86, "x86count"}; !slices.Equal(got, want) {
		t.Errorf("stackConfigKeys() = %q, want %q", got, want)
	}
	t.Setenv("PULUMI_CONFIG", "")
	if got := stackConfigKeys(); len(got) != 0 {
		t.Errorf("stackConfigKeys() without PULUMI_CONFIG = %q", got)
	}
}

// Every key of configKeys is known, the deprecated ones too; a key that stands for a priced
// one keeps the estimate from pricing its default, one that stands for none does not.
func TestKnownKeysAndTheEstimate(t *testing.T) {
	values := testConfig()
	for _, k := range configKeys {
		if _, set := values[k.name]; !set {
			values[k.name] = ""
		}
	}
	if _, err := loadConfig(testSource(values, "dev")); err != nil {
		t.Errorf("every known key set: %v", err)
	}
	for typed, priced := range map[string]bool{"x86count": false, "gravitoncount": false, "runnerCount": true, "namePrefx": true} {
		_, err := loadConfig(testSource(testConfig(typed, "2"), "dev"))
		var problems configProblems
		if !errors.As(err, &problems) || pricedKeysValid(problems) != priced {
			t.Errorf("n3x:%s: priced %v, want %v (%v)", typed, !priced, priced, err)
		}
	}
	for typed, want := range map[string]string{"X86COUNT": keyX86Count, "amiX68": keyAmiX86, "sshCidrBlock": keySSHCidrBlocks, "runnerCount": "", "ami": ""} {
		if got := closestKey(typed); got != want {
			t.Errorf("closestKey(%q) = %q, want %q", typed, got, want)
		}
	}
}
