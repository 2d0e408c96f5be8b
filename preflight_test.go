package main

import (
	"net/netip"
	"strings"
	"testing"
)

// Everything preflight finds fails `pulumi preview` with the key to change, and
// registers nothing.
func TestPreflightRejectsWhatAWSWouldReject(t *testing.T) {
	cases := []struct {
		name      string
		account   func(*fakeAWS)
		overrides []string
		want      []string
	}{
		{"arm64 AMI as amiX86", nil, []string{keyAmiX86, testAmiArm64},
			[]string{"n3x:amiX86 is ami-0fedcba9876543210, an arm64 AMI, but the x86 runner needs an x86_64 AMI; fix: pulumi config set n3x:amiX86 ami-0123456789abcdef0"}},
		{"x86_64 AMI as amiArm64", nil, []string{keyAmiArm64, testAmiX86},
			[]string{"n3x:amiArm64 is ami-0123456789abcdef0, an x86_64 AMI, but the graviton runner needs an arm64 AMI"}},
		{"unknown AMI", nil, []string{keyAmiX86, "ami-0000000011111111a"},
			[]string{"n3x:amiX86 is ami-0000000011111111a, which this account cannot find in this region (Your query returned no results."}},
		{"root snapshot bigger than root volume", func(a *fakeAWS) { a.amis[testAmiArm64] = fakeAMI{arch: "arm64", rootSnapshotGiB: 64} }, nil,
			[]string{"n3x:rootVolumeSize is 50 GiB, smaller than the 64 GiB root snapshot of ami-0fedcba9876543210 (n3x:amiArm64); fix: pulumi config set n3x:rootVolumeSize 64"}},
		{"arm64 instance type for x86", nil, []string{keyInstanceTypeX86, "c7g.2xlarge"},
			[]string{"n3x:instanceTypeX86 is c7g.2xlarge, which runs arm64, but the x86 runner's AMI is x86_64; fix: pulumi config set n3x:instanceTypeX86 c6i.2xlarge"}},
		{"mac instance type for x86", nil, []string{keyInstanceTypeX86, "mac1.metal"},
			[]string{"n3x:instanceTypeX86 is mac1.metal, which runs x86_64_mac, but the x86 runner's AMI is x86_64"}},
		{"unknown instance type", nil, []string{keyInstanceTypeGraviton, "c7g.9xlarge"},
			[]string{"n3x:instanceTypeGraviton is c7g.9xlarge, which EC2 does not know in this region", "InvalidInstanceType"}},
		{"pinned zone without the type", nil, []string{keyAvailabilityZone, "us-east-1a"},
			[]string{"n3x:instanceTypeGraviton is c7g.2xlarge, which is not offered in us-east-1a (zones that do: us-east-1b, us-east-1c)"}},
		{"type offered in no standard zone", func(a *fakeAWS) {
			a.instanceTypes["c7gn.2xlarge"] = []string{"arm64"}
			a.offerings["c7gn.2xlarge"] = []string{"us-east-1-bos-1a"}
		}, []string{keyInstanceTypeGraviton, "c7gn.2xlarge"},
			[]string{"n3x:instanceTypeGraviton is c7gn.2xlarge, which is not offered in us-east-1b (no zone of this region offers it)"}},
		{"zone of another region", nil, []string{keyAvailabilityZone, "eu-west-1a"},
			[]string{"n3x:availabilityZone is eu-west-1a, not an available zone of this region (zones: us-east-1a, us-east-1b, us-east-1c, us-east-1d); fix: pulumi config set n3x:availabilityZone us-east-1a"}},
		{"local zone", nil, []string{keyAvailabilityZone, "us-east-1-bos-1a"},
			[]string{"n3x:availabilityZone is us-east-1-bos-1a, not an available zone of this region"}},
		{"no default VPC", func(a *fakeAWS) { a.defaultVPC = "" }, nil,
			[]string{"n3x:subnetId is unset and this region has no default VPC; name a public subnet for the runners; fix: pulumi config set n3x:subnetId subnet-0123456789abcdef0"}},
		{"unknown subnet", nil, []string{keySubnetID, "subnet-0000000011111111a", keyAvailabilityZone, ""},
			[]string{"n3x:subnetId names a subnet this account cannot read in this region (no matching EC2 Subnet found)"}},
		{"zone contradicts subnet", nil, []string{keySubnetID, testSubnet},
			[]string{"n3x:availabilityZone is us-east-1b but subnet subnet-0123456789abcdef0 is in us-east-1c; with n3x:subnetId set the zone follows the subnet; fix: pulumi config rm n3x:availabilityZone"}},
		{"auto zone impossible", func(a *fakeAWS) {
			a.instanceTypes["c7gn.2xlarge"] = []string{"arm64"}
			a.offerings["c7gn.2xlarge"] = []string{"us-east-1a"}
			a.offerings["c6i.2xlarge"] = []string{"us-east-1b"}
		}, []string{keyAvailabilityZone, "", keyInstanceTypeGraviton, "c7gn.2xlarge"},
			[]string{"n3x:availabilityZone is unset and no zone of the region offers all of c6i.2xlarge, c7gn.2xlarge"}},
		{"several problems at once", nil, []string{keyAmiX86, testAmiArm64, keyAmiArm64, testAmiX86, keyInstanceTypeX86, "c7g.2xlarge"},
			[]string{"(3 problems)", "n3x:amiX86 is ami-0fedcba9876543210, an arm64 AMI", "n3x:amiArm64 is ami-0123456789abcdef0, an x86_64 AMI",
				"n3x:instanceTypeX86 is c7g.2xlarge, which runs arm64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aws := newFakeAWS()
			if tc.account != nil {
				tc.account(aws)
			}
			d := deploy(t, aws, "dev", true, testConfig(tc.overrides...))
			if d.err == nil {
				t.Fatal("preview succeeded, want a preflight error")
			}
			for _, want := range tc.want {
				if !strings.Contains(d.err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, d.err)
				}
			}
			if len(aws.registrations) != 0 {
				t.Errorf("preflight failure registered %v", d.names())
			}
		})
	}
}

func TestPreflightWarnings(t *testing.T) {
	pinned := placement{Zone: "us-east-1b"}
	chosen := placement{Zone: "us-east-1b", ZoneChosen: true}
	cases := []struct {
		name  string
		cidrs string
		place placement
		want  []string // one substring per expected warning, in order
	}{
		{"restricted and pinned", "203.0.113.0/24,2001:db8::/32", pinned, nil},
		{"open IPv4", "0.0.0.0/0", pinned, []string{"n3x:sshCidrBlocks includes 0.0.0.0/0: SSH (22) is open to the whole internet (Security Hub EC2.13, EC2.19) and apt-cacher-ng (3142) is an open proxy (EC2.18); restrict it: pulumi config set n3x:sshCidrBlocks 203.0.113.0/24"}},
		{"open IPv6 beside a private range", "10.0.0.0/8,::/0", pinned, []string{"n3x:sshCidrBlocks includes ::/0"}},
		{"open both", "0.0.0.0/0,::/0", pinned, []string{"includes 0.0.0.0/0", "includes ::/0"}},
		{"zone not pinned", "203.0.113.0/24", chosen, []string{"n3x:availabilityZone is not set, so the runners and their volumes go to us-east-1b, the first zone offering c6i.2xlarge and c7g.2xlarge; " +
			"if AWS offerings change the choice could move and replace the volumes, so pin it: pulumi config set n3x:availabilityZone us-east-1b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{InstanceTypeX86: "c6i.2xlarge", InstanceTypeGraviton: "c7g.2xlarge", AmiArm64: testAmiArm64}
			for _, cidr := range strings.Split(tc.cidrs, ",") {
				cfg.SSHCidrBlocks = append(cfg.SSHCidrBlocks, netip.MustParsePrefix(cidr))
			}
			got := preflightWarnings(cfg, tc.place)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.Contains(got[i], want) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], want)
				}
			}
		})
	}
}

// The program's own run decides the warnings from what it resolved: an unpinned zone
// and the default open CIDR both warn.
func TestDefaultConfigWarns(t *testing.T) {
	required := map[string]string{keyAmiX86: testAmiX86, keySSHPublicKey: testSSHKey}
	d := mustDeploy(t, required)
	warnings := preflightWarnings(mustLoadConfig(t, required, "dev"), d.fleet.placement)
	if len(warnings) != 2 || !strings.Contains(warnings[0], "0.0.0.0/0") || !strings.Contains(warnings[1], "n3x:availabilityZone us-east-1a") {
		t.Errorf("default config warnings = %q", warnings)
	}
}
