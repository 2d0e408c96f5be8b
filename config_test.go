package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"reflect"
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
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigAcceptsGoodValues(t *testing.T) {
	cases := []struct {
		name, key, value string
		check            func(Config) bool
	}{
		{"rsa 2048 key", keySSHPublicKey, authorizedKey(t, "rsa2048"), func(c Config) bool { return strings.HasPrefix(c.SSHPublicKey, "ssh-rsa ") }},
		{"cidr list with spaces, v4 and v6", keySSHCidrBlocks, " 10.0.0.0/8 , 2001:db8::/32",
			func(c Config) bool {
				return reflect.DeepEqual(c.SSHCidrBlocks, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")})
			}},
		{"8-digit AMI", keyAmiX86, "ami-0123abcd", func(c Config) bool { return c.AmiX86 == "ami-0123abcd" }},
		{"max gp3 throughput of the bundled provider", keyCacheVolumeThroughput, "1000", func(c Config) bool { return c.CacheVolume.ThroughputMiBs == 1000 }},
		{"protected volumes", keyProtectVolumes, "true", func(c Config) bool { return c.ProtectVolumes }},
		{"explicit prefix", keyNamePrefix, "ci.fleet_2", func(c Config) bool { return c.NamePrefix == "ci.fleet_2" }},
		{"spot", keyCapacity, "spot", func(c Config) bool { return c.Capacity == capacitySpot }},
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

// Every bad input fails the whole program before anything is registered, with a
// message that names the key and the command that fixes it.
func TestBadConfigRegistersNothing(t *testing.T) {
	cases := []struct {
		name      string
		overrides []string
		want      []string
	}{
		{"amiX86 missing", []string{keyAmiX86, ""},
			[]string{`invalid configuration for stack "dev" (1 problem):`, "\n  - n3x:amiX86 is required but not set; fix: pulumi config set n3x:amiX86 ami-0123456789abcdef0"}},
		{"amiX86 blank", []string{keyAmiX86, "   "}, []string{"n3x:amiX86 is required but not set"}},
		{"sshPublicKey missing", []string{keySSHPublicKey, ""},
			[]string{"n3x:sshPublicKey is required but not set; fix: pulumi config set n3x:sshPublicKey \"$(cat ~/.ssh/id_ed25519.pub)\""}},
		{"amiX86 too short", []string{keyAmiX86, "ami-123"},
			[]string{`n3x:amiX86 must be an AMI id: ami- followed by 8 or 17 lowercase hex digits, got "ami-123"`}},
		{"amiX86 16 digits", []string{keyAmiX86, "ami-0123456789abcdef"}, []string{`n3x:amiX86 must be an AMI id`}},
		{"amiX86 upper case", []string{keyAmiX86, "ami-0123456789ABCDEF0"}, []string{`n3x:amiX86 must be an AMI id`}},
		{"amiArm64 not an id", []string{keyAmiArm64, "nixos-24.05-arm"},
			[]string{`n3x:amiArm64 must be an AMI id`, "fix: pulumi config set n3x:amiArm64 ami-0fedcba9876543210"}},
		{"ssh key garbage", []string{keySSHPublicKey, "not a key"},
			[]string{"n3x:sshPublicKey is not an OpenSSH public key", "paste the one line of your id_ed25519.pub"}},
		{"ssh key truncated", []string{keySSHPublicKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDX3"}, []string{"n3x:sshPublicKey is not an OpenSSH public key"}},
		{"ssh key ecdsa", []string{keySSHPublicKey, authorizedKey(t, "ecdsa")},
			[]string{"n3x:sshPublicKey is a ecdsa-sha2-nistp256 key; EC2 imports only ssh-ed25519 and ssh-rsa keys"}},
		{"ssh key rsa 1024", []string{keySSHPublicKey, authorizedKey(t, "rsa1024")},
			[]string{"n3x:sshPublicKey is a 1024-bit RSA key; EC2 key pairs need at least 2048 bits"}},
		{"ssh key twice", []string{keySSHPublicKey, testSSHKey + "\n" + testSSHKey}, []string{"n3x:sshPublicKey must hold exactly one public key"}},
		{"ssh key with options", []string{keySSHPublicKey, `command="/bin/false" ` + testSSHKey}, []string{"must be a bare public key, without authorized_keys options"}},
		{"cidr host bits", []string{keySSHCidrBlocks, "10.1.2.3/8"},
			[]string{`n3x:sshCidrBlocks entry "10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?; fix: pulumi config set n3x:sshCidrBlocks 10.0.0.0/8`}},
		{"ipv6 cidr host bits in a list", []string{keySSHCidrBlocks, "192.0.2.0/24,2001:db8::1/32"},
			[]string{`entry "2001:db8::1/32" has host bits set; did you mean 2001:db8::/32?; fix: pulumi config set n3x:sshCidrBlocks 192.0.2.0/24,2001:db8::/32`}},
		{"cidr prefix too long", []string{keySSHCidrBlocks, "10.0.0.0/33"}, []string{`n3x:sshCidrBlocks entry "10.0.0.0/33" is not a CIDR block`}},
		{"cidr without length", []string{keySSHCidrBlocks, "10.0.0.0"}, []string{`n3x:sshCidrBlocks entry "10.0.0.0" is not a CIDR block`}},
		{"cidr hostname", []string{keySSHCidrBlocks, "office.example.com/32"}, []string{`entry "office.example.com/32" is not a CIDR block`}},
		{"cidr empty entry", []string{keySSHCidrBlocks, "10.0.0.0/8,,192.0.2.0/24"}, []string{"n3x:sshCidrBlocks has an empty entry"}},
		{"cidr listed twice", []string{keySSHCidrBlocks, "10.0.0.0/8, 10.0.0.0/8"}, []string{"n3x:sshCidrBlocks lists 10.0.0.0/8 twice"}},
		{"cidr ipv4-mapped", []string{keySSHCidrBlocks, "::ffff:10.0.0.0/104"}, []string{"is an IPv4-mapped IPv6 network; write it as IPv4"}},
		{"instance type without size", []string{keyInstanceTypeX86, "c6i"},
			[]string{`n3x:instanceTypeX86 must be an EC2 instance type such as c6i.2xlarge, got "c6i"; fix: pulumi config set n3x:instanceTypeX86 c6i.2xlarge`}},
		{"instance type upper case", []string{keyInstanceTypeGraviton, "C7G.2XLARGE"}, []string{`n3x:instanceTypeGraviton must be an EC2 instance type`}},
		{"root size zero", []string{keyRootVolumeSize, "0"},
			[]string{"n3x:rootVolumeSize must be between 1 and 65536 GiB for gp3, got 0; fix: pulumi config set n3x:rootVolumeSize 50"}},
		{"root size words", []string{keyRootVolumeSize, "fifty"}, []string{`n3x:rootVolumeSize must be a whole number of GiB, got "fifty"`}},
		{"cache size fraction", []string{keyCacheVolumeSize, "1.5"}, []string{`n3x:cacheVolumeSize must be a whole number of GiB, got "1.5"`}},
		{"cache size too big", []string{keyCacheVolumeSize, "70000"}, []string{"n3x:cacheVolumeSize must be between 1 and 65536 GiB for gp3, got 70000"}},
		{"cache iops too low", []string{keyCacheVolumeIops, "2000"}, []string{"n3x:cacheVolumeIops must be between 3000 and 80000 IOPS for gp3, got 2000"}},
		{"cache iops too high", []string{keyCacheVolumeIops, "90000"}, []string{"n3x:cacheVolumeIops must be between 3000 and 80000 IOPS for gp3, got 90000"}},
		{"yocto throughput too low", []string{keyYoctoVolumeThroughput, "100"}, []string{"n3x:yoctoVolumeThroughput must be between 125 and 1000 MiB/s for gp3, got 100"}},
		// AWS allows 2000 MiB/s, but the provider pulumi-aws v6 bundles refuses more than 1000.
		{"cache throughput above the provider's limit", []string{keyCacheVolumeThroughput, "1500", keyCacheVolumeIops, "6000"},
			[]string{"n3x:cacheVolumeThroughput must be between 125 and 1000 MiB/s for gp3, got 1500; fix: pulumi config set n3x:cacheVolumeThroughput 125"}},
		{"yocto throughput too high", []string{keyYoctoVolumeThroughput, "2500"}, []string{"n3x:yoctoVolumeThroughput must be between 125 and 1000 MiB/s for gp3, got 2500"}},
		{"yocto iops per GiB", []string{keyYoctoVolumeSize, "10", keyYoctoVolumeIops, "6000"},
			[]string{"n3x:yoctoVolumeSize is 10 GiB, too small for 6000 IOPS: gp3 allows at most 500 IOPS per GiB, so at least 12 GiB; fix: pulumi config set n3x:yoctoVolumeSize 12"}},
		{"cache throughput per IOPS", []string{keyCacheVolumeThroughput, "1000"},
			[]string{"n3x:cacheVolumeIops is 3000, too low for 1000 MiB/s: gp3 allows at most 0.25 MiB/s per IOPS, so at least 4000 IOPS; fix: pulumi config set n3x:cacheVolumeIops 4000"}},
		{"protectVolumes not a bool", []string{keyProtectVolumes, "yes please"},
			[]string{`n3x:protectVolumes must be true or false, got "yes please"; fix: pulumi config set n3x:protectVolumes true`}},
		{"zone malformed", []string{keyAvailabilityZone, "east"}, []string{`n3x:availabilityZone must be an availability zone name such as us-east-1a, got "east"`}},
		{"subnet malformed", []string{keySubnetID, "subnet-xyz"}, []string{`n3x:subnetId must be a subnet id`}},
		{"name prefix with spaces", []string{keyNamePrefix, "my fleet"}, []string{`n3x:namePrefix must be 1 to 64 letters, digits`, "fix: pulumi config set n3x:namePrefix n3x-dev"}},
		{"working hours unknown day", []string{keyWorkingHours, "Mo-Fr 07:00-19:00 Europe/Berlin"},
			[]string{`n3x:workingHours day "Mo-Fr" is not one of Mon, Tue, Wed, Thu, Fri, Sat, Sun or a range such as Mon-Fri; fix: pulumi config set n3x:workingHours "Mon-Fri 07:00-19:00 Europe/Berlin"`}},
		{"working hours backwards days", []string{keyWorkingHours, "Fri-Mon 07:00-19:00 UTC"}, []string{`n3x:workingHours day range "Fri-Mon" runs backwards`}},
		{"working hours day twice", []string{keyWorkingHours, "Mon-Fri,Wed 07:00-19:00 UTC"}, []string{`n3x:workingHours names Wed twice`}},
		{"working hours malformed time", []string{keyWorkingHours, "Mon-Fri 7:00-19:00 UTC"}, []string{`n3x:workingHours time "7:00" must be HH:MM on the 24-hour clock`}},
		{"working hours hour 24", []string{keyWorkingHours, "Mon-Fri 07:00-24:00 UTC"}, []string{`n3x:workingHours time "24:00" must be HH:MM`}},
		{"working hours without a range", []string{keyWorkingHours, "Mon-Fri 07:00 UTC"}, []string{`n3x:workingHours hours "07:00" must be start-stop`}},
		{"working hours stop before start", []string{keyWorkingHours, "Mon-Fri 19:00-07:00 UTC"},
			[]string{"n3x:workingHours stops at 07:00, which is not after its start 19:00; working hours end on the day they begin"}},
		{"working hours stop at start", []string{keyWorkingHours, "Mon-Fri 07:00-07:00 UTC"}, []string{"n3x:workingHours stops at 07:00, which is not after its start 07:00"}},
		{"working hours unknown zone", []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Munich"},
			[]string{`n3x:workingHours time zone "Europe/Munich" is not an IANA time zone such as Europe/Berlin or UTC`}},
		{"working hours without a zone", []string{keyWorkingHours, "Mon-Fri 07:00-19:00"}, []string{`n3x:workingHours must be days, hours and a time zone`}},
		{"x86 count zero", []string{keyX86Count, "0"},
			[]string{`n3x:x86Count must be a whole number of runners from 1 to 10, got "0"; fix: pulumi config set n3x:x86Count 1`}},
		{"x86 count above the limit", []string{keyX86Count, "11"}, []string{`n3x:x86Count must be a whole number of runners from 1 to 10, got "11"`}},
		{"graviton count negative", []string{keyGravitonCount, "-1"}, []string{`n3x:gravitonCount must be a whole number of runners from 1 to 10, got "-1"`}},
		{"graviton count in words", []string{keyGravitonCount, "two"}, []string{`n3x:gravitonCount must be a whole number of runners from 1 to 10, got "two"`}},
		{"x86 count fraction", []string{keyX86Count, "1.5"}, []string{`n3x:x86Count must be a whole number of runners from 1 to 10, got "1.5"`}},
		{"capacity unknown", []string{keyCapacity, "reserved"},
			[]string{`n3x:capacity must be on-demand or spot, got "reserved"; fix: pulumi config set n3x:capacity on-demand`}},
		{"capacity upper case", []string{keyCapacity, "Spot"}, []string{`n3x:capacity must be on-demand or spot, got "Spot"`}},
		{"several problems at once", []string{keyAmiX86, "", keySSHCidrBlocks, "10.1.0.0/8", keyRootVolumeSize, "-1"},
			[]string{"(3 problems)", "n3x:amiX86 is required", "n3x:sshCidrBlocks entry", "n3x:rootVolumeSize must be between"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aws := newFakeAWS()
			d := deploy(t, aws, "dev", false, testConfig(tc.overrides...))
			if d.err == nil {
				t.Fatal("deploy succeeded, want a configuration error")
			}
			for _, want := range tc.want {
				if !strings.Contains(d.err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, d.err)
				}
			}
			if len(aws.registrations) != 0 || len(aws.invokes) != 0 {
				t.Errorf("a bad config registered %v and invoked %v; want nothing", d.names(), aws.invokes)
			}
		})
	}
}
