package main

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
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
			[]string{"n3x:amiX86 is ami-0fedcba9876543210, an arm64 AMI, but the x86 runners need an x86_64 AMI; fix: pulumi config set n3x:amiX86 <your-ami-id>"}},
		{"x86_64 AMI as amiArm64", nil, []string{keyAmiArm64, testAmiX86},
			[]string{"n3x:amiArm64 is ami-0123456789abcdef0, an x86_64 AMI, but the graviton runners need an arm64 AMI"}},
		{"unknown AMI", nil, []string{keyAmiX86, "ami-0000000011111111a"},
			[]string{"n3x:amiX86 is ami-0000000011111111a, which this account cannot find in this region (Your query returned no results."}},
		{"root snapshot bigger than root volume", func(a *fakeAWS) { a.amis[testAmiArm64] = fakeAMI{arch: "arm64", rootSnapshotGiB: 64} }, nil,
			[]string{"n3x:rootVolumeSize is 50 GiB, smaller than the 64 GiB root snapshot of ami-0fedcba9876543210 (n3x:amiArm64); fix: pulumi config set n3x:rootVolumeSize 64"}},
		{"arm64 instance type for x86", nil, []string{keyInstanceTypeX86, "c7g.2xlarge"},
			[]string{"n3x:instanceTypeX86 is c7g.2xlarge, which runs arm64, but the x86 runners' AMI is x86_64; fix: pulumi config set n3x:instanceTypeX86 <x86_64 instance type>"}},
		{"mac instance type for x86", nil, []string{keyInstanceTypeX86, "mac1.metal"},
			[]string{"n3x:instanceTypeX86 is mac1.metal, which runs x86_64_mac, but the x86 runners' AMI is x86_64"}},
		{"unknown instance type", nil, []string{keyInstanceTypeGraviton, "c7g.9xlarge"},
			[]string{"n3x:instanceTypeGraviton is c7g.9xlarge, which EC2 does not know in this region", "InvalidInstanceType"}},
		{"type offered in no standard zone", func(a *fakeAWS) {
			a.instanceTypes["c7gn.2xlarge"] = []string{"arm64"}
			a.offerings["c7gn.2xlarge"] = []string{"us-east-1-bos-1a"}
		}, []string{keyInstanceTypeGraviton, "c7gn.2xlarge"},
			[]string{"n3x:instanceTypeGraviton is c7gn.2xlarge, which is not offered in us-east-1b, the zone of this stack's runners and caches (no zone of this region offers it)",
				"fix: pulumi config set n3x:instanceTypeGraviton <arm64 instance type>"}},
		{"zone of another region", nil, []string{keyAvailabilityZone, "eu-west-1a"},
			[]string{"n3x:availabilityZone is eu-west-1a, not an available zone of this region (zones: us-east-1a, us-east-1b, us-east-1c, us-east-1d); fix: pulumi config set n3x:availabilityZone us-east-1b"}},
		{"local zone", nil, []string{keyAvailabilityZone, "us-east-1-bos-1a"},
			[]string{"n3x:availabilityZone is us-east-1-bos-1a, not an available zone of this region"}},
		{"no default VPC", func(a *fakeAWS) { a.defaultVPC = "" }, nil,
			[]string{"n3x:subnetId is unset and this region has no default VPC; name a public subnet for the runners; fix: pulumi config set n3x:subnetId <your-subnet-id>"}},
		{"unknown subnet", nil, []string{keySubnetID, "subnet-0000000011111111a", keyAvailabilityZone, ""},
			[]string{"n3x:subnetId is subnet-0000000011111111a, a subnet this account cannot read in this region (no matching EC2 Subnet found)"}},
		{"zone contradicts subnet", nil, []string{keySubnetID, testSubnet},
			[]string{"n3x:availabilityZone is us-east-1b but subnet subnet-0123456789abcdef0 is in us-east-1c; with n3x:subnetId set the zone follows the subnet; fix: pulumi config rm n3x:availabilityZone"}},
		{"auto zone impossible", func(a *fakeAWS) {
			a.instanceTypes["c7gn.2xlarge"] = []string{"arm64"}
			a.offerings["c7gn.2xlarge"] = []string{"us-east-1a"}
			a.offerings["c6i.2xlarge"] = []string{"us-east-1b"}
		}, []string{keyAvailabilityZone, "", keyInstanceTypeGraviton, "c7gn.2xlarge"},
			[]string{"n3x:availabilityZone is unset and no zone of the region offers all of c6i.2xlarge, c7gn.2xlarge"}},
		{"pending AMI", func(a *fakeAWS) { a.amis[testAmiX86] = fakeAMI{arch: "x86_64", state: "pending"} }, nil,
			[]string{"n3x:amiX86 is ami-0123456789abcdef0, which is pending, not available (a fresh import takes minutes; wait with: aws ec2 wait image-available --image-ids ami-0123456789abcdef0); fix: pulumi config set n3x:amiX86 <your-ami-id>"}},
		{"AMI without ENA", func(a *fakeAWS) { a.amis[testAmiArm64] = fakeAMI{arch: "arm64", noENA: true} }, nil,
			[]string{"n3x:amiArm64 is ami-0fedcba9876543210, which has no ENA support, and c7g.2xlarge launches only from AMIs with the ENA driver; register it with --ena-support"}},
		{"instance-store AMI", func(a *fakeAWS) { a.amis[testAmiX86] = fakeAMI{arch: "x86_64", rootDeviceType: "instance-store"} }, nil,
			[]string{"n3x:amiX86 is ami-0123456789abcdef0, whose root device is instance-store; the runners need an EBS-backed AMI"}},
		{"no default subnet in the pinned zone", func(a *fakeAWS) { a.defaultZones = []string{"us-east-1a"} }, nil,
			[]string{"n3x:availabilityZone places the runners in us-east-1b, where the default VPC vpc-0aaaabbbbccccdddd has no default subnet; create it (aws ec2 create-default-subnet --availability-zone us-east-1b) or pin a zone that has one"}},
		{"no default subnet in the chosen zone", func(a *fakeAWS) { a.defaultZones = nil }, []string{keyAvailabilityZone, "", keyAmiArm64, ""},
			[]string{"n3x:availabilityZone places the runners in us-east-1b, where the default VPC"}},
		{"subnet without a route to the internet", nil, []string{keySubnetID, "subnet-0aaaaaaaaaaaaaaaa", keyAvailabilityZone, ""},
			[]string{"n3x:subnetId is subnet-0aaaaaaaaaaaaaaaa, whose route table rtb-private has no 0.0.0.0/0 route to an internet gateway; the Elastic IPs and the runners' downloads need one"}},
		{"main route table without an internet gateway", func(a *fakeAWS) { a.routes["main"] = nil }, []string{keySubnetID, testSubnet, keyAvailabilityZone, ""},
			[]string{"n3x:subnetId is subnet-0123456789abcdef0, whose route table main has no 0.0.0.0/0 route to an internet gateway"}},
		{"Spot from an AMI that allows IMDSv1", func(a *fakeAWS) { a.amis[testAmiX86] = fakeAMI{arch: "x86_64", rootSnapshotGiB: 8} }, []string{keyCapacity, "spot"},
			[]string{`n3x:amiX86 is ami-0123456789abcdef0, which does not require IMDSv2 (imdsSupport ""), and a Spot runner gets its metadata options only from its AMI; ` +
				"mark the AMI (aws ec2 modify-image-attribute --image-id ami-0123456789abcdef0 --imds-support v2.0, which cannot be undone) or register it with --imds-support v2.0"}},
		{"AMI lookup refused", func(a *fakeAWS) { a.denied = map[string]string{"aws:ec2/getAmi:getAmi": "ec2:DescribeImages"} }, nil,
			[]string{"reading n3x:amiX86 (ami-0123456789abcdef0): the AWS identity running Pulumi may not call ec2:DescribeImages, so this cannot be checked",
				"allow it (iam/preview-policy.json lists every action a preview calls)"}},
		{"instance type lookup refused", func(a *fakeAWS) {
			a.denied = map[string]string{"aws:ec2/getInstanceType:getInstanceType": "ec2:DescribeInstanceTypes"}
		}, nil,
			[]string{"n3x configuration: 2 problems", "reading n3x:instanceTypeX86 (c6i.2xlarge): the AWS identity running Pulumi may not call ec2:DescribeInstanceTypes",
				"reading n3x:instanceTypeGraviton (c7g.2xlarge): the AWS identity running Pulumi may not call ec2:DescribeInstanceTypes"}},
		{"subnet lookup refused", func(a *fakeAWS) { a.denied = map[string]string{"aws:ec2/getSubnet:getSubnet": "ec2:DescribeSubnets"} },
			[]string{keySubnetID, testSubnet, keyAvailabilityZone, ""},
			[]string{"reading n3x:subnetId (subnet-0123456789abcdef0): the AWS identity running Pulumi may not call ec2:DescribeSubnets"}},
		{"several problems at once", nil, []string{keyAmiX86, testAmiArm64, keyAmiArm64, testAmiX86, keyInstanceTypeX86, "c7g.2xlarge"},
			[]string{"n3x configuration: 3 problems", "n3x:amiX86 is ami-0fedcba9876543210, an arm64 AMI", "n3x:amiArm64 is ami-0123456789abcdef0, an x86_64 AMI",
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
			if aws.denied != nil && strings.Contains(d.err.Error(), "fix: pulumi config") {
				t.Errorf("a refused lookup offers a config fix, though the value may be right:\n%v", d.err)
			}
		})
	}
}

func TestPreflightWarnings(t *testing.T) {
	pinned := placement{Zone: "us-east-1b"}
	chosen := placement{Zone: "us-east-1b", ZoneChosen: true}
	open := "n3x:sshCidrBlocks opens all of 0.0.0.0/0: SSH (22) is open to the whole internet (Security Hub EC2.13, EC2.19), " +
		"Harmonia behind Caddy (443) serves the whole /nix/store, build outputs included, to anyone, " +
		"and apt-cacher-ng (3142) is an open proxy (EC2.18); restrict it to your address, or to none and use Session Manager: pulumi config set n3x:sshCidrBlocks <your-ip>/32"
	cases := []struct {
		name  string
		cidrs string
		place placement
		want  []string // one substring per expected warning, in order
	}{
		{"restricted and pinned", "203.0.113.0/24,2001:db8::/32", pinned, nil},
		{"half the internet", "0.0.0.0/1", pinned, nil},
		{"open IPv4", "0.0.0.0/0", pinned, []string{open}},
		{"open IPv4 in two halves", "0.0.0.0/1,128.0.0.0/1", pinned, []string{open}},
		{"open IPv4 in uneven pieces", "128.0.0.0/1,0.0.0.0/2,64.0.0.0/3,96.0.0.0/3", pinned, []string{open}},
		{"IPv4 pieces with a gap", "128.0.0.0/1,0.0.0.0/2,64.0.0.0/3,96.0.0.0/4", pinned, nil},
		{"open IPv6 beside a private range", "10.0.0.0/8,::/0", pinned, []string{"n3x:sshCidrBlocks opens all of ::/0"}},
		{"open IPv6 in halves", "::/1,8000::/1", pinned, []string{"n3x:sshCidrBlocks opens all of ::/0"}},
		{"open both", "0.0.0.0/0,::/0", pinned, []string{"opens all of 0.0.0.0/0", "opens all of ::/0"}},
		{"zone not pinned", "203.0.113.0/24", chosen, []string{"n3x:availabilityZone is not set, so this new stack goes to us-east-1b, chosen by the instance types it offers; " +
			"later runs keep the zone of its data volumes, but pin it to make that explicit: pulumi config set n3x:availabilityZone us-east-1b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{InstanceTypeX86: "c6i.2xlarge", InstanceTypeGraviton: "c7g.2xlarge", AmiArm64: testAmiArm64}
			for _, cidr := range strings.Split(tc.cidrs, ",") {
				cfg.SSHCidrBlocks = append(cfg.SSHCidrBlocks, netip.MustParsePrefix(cidr))
			}
			got := configWarnings(cfg, tc.place)
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

// Graviton settings without its AMI make nothing: said, with both ways out.
func TestGravitonSettingsWithoutItsAMIWarn(t *testing.T) {
	d := mustDeploy(t, testConfig(keyAmiArm64, "", keyGravitonCount, "2", keyInstanceTypeGraviton, "c7g.4xlarge"))
	want := "n3x:gravitonCount, n3x:instanceTypeGraviton set, but n3x:amiArm64 is not, so this stack makes no Graviton runner: " +
		"set its AMI (pulumi config set n3x:amiArm64 <ami-id>, docs/ami.md), or remove them: pulumi config rm n3x:gravitonCount && pulumi config rm n3x:instanceTypeGraviton"
	if !slices.Contains(d.warnings, want) {
		t.Errorf("warnings %q\nwant %q", d.warnings, want)
	}
	if n := len(d.fleet.runners); n != 1 {
		t.Errorf("%d runners, want the x86 one", n)
	}
	// As the engine passes them: Pulumi.yaml's defaults set, the stack's values over them.
	withDefaults := map[string]string{}
	for _, k := range configKeys {
		if k.def != "" {
			withDefaults[k.name] = k.def
		}
	}
	maps.Copy(withDefaults, testConfig(keyAmiArm64, ""))
	for name, cfg := range map[string]map[string]string{"with its AMI": testConfig(keyGravitonCount, "2"), "x86 only, as the engine passes it": withDefaults} {
		for _, w := range mustDeploy(t, cfg).warnings {
			if strings.Contains(w, "no Graviton runner") {
				t.Errorf("%s: %s", name, w)
			}
		}
	}
}

// The program logs what preflight warns of: an unpinned zone and the default open CIDR.
func TestDefaultConfigWarns(t *testing.T) {
	d := mustDeploy(t, map[string]string{keyAmiX86: testAmiX86, keySSHPublicKey: testSSHKey})
	if len(d.warnings) != 2 || !strings.Contains(d.warnings[0], "opens all of 0.0.0.0/0") || !strings.Contains(d.warnings[1], "n3x:availabilityZone us-east-1b") {
		t.Errorf("default config logged warnings %q", d.warnings)
	}
}

// Every fix a preflight problem prints either makes that problem go away when pasted, or
// holds a placeholder.
func TestPreflightFixesWork(t *testing.T) {
	cases := []struct {
		name      string
		account   func(*fakeAWS)
		overrides []string
		key       string
	}{
		{"pinned zone without the Graviton type", nil, []string{keyAvailabilityZone, "us-east-1a"}, keyAvailabilityZone},
		{"zone of another region", nil, []string{keyAvailabilityZone, "eu-west-1a"}, keyAvailabilityZone},
		{"zone contradicts subnet", nil, []string{keySubnetID, testSubnet}, keyAvailabilityZone},
		{"root snapshot bigger than root volume", func(a *fakeAWS) { a.amis[testAmiArm64] = fakeAMI{arch: "arm64", rootSnapshotGiB: 64} }, nil, keyRootVolumeSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := newFakeAWS()
			if tc.account != nil {
				tc.account(account)
			}
			values := testConfig(tc.overrides...)
			d := deploy(t, account.clone(), "dev", true, values)
			if d.err == nil {
				t.Fatal("no problem")
			}
			fix, ok := fixLine(d.err.Error(), tc.key)
			if !ok {
				t.Fatalf("no fix for n3x:%s in %v", tc.key, d.err)
			}
			applyFix(t, values, nil, fix)
			if again := deploy(t, account.clone(), "dev", true, values); again.err != nil && strings.Contains(again.err.Error(), "n3x:"+tc.key+" ") {
				t.Errorf("after %s: %v", fix, again.err)
			}
		})
	}
}

// An AMI that a runner of this stack still runs only warns when it is gone or
// deprecated, so an urgent unrelated change still goes through.
func TestAMIsInUseOnlyWarn(t *testing.T) {
	cases := []struct {
		name    string
		account func(*fakeAWS)
		want    string
	}{
		{"deregistered", func(a *fakeAWS) { delete(a.amis, testAmiX86) },
			"n3x:amiX86 is ami-0123456789abcdef0, which this account can no longer find (deregistered?), but x86-runner-id still runs it; " +
				"it keeps running, but anything that replaces it will fail until you register a current AMI: pulumi config set n3x:amiX86 <your-ami-id>"},
		{"deprecated", func(a *fakeAWS) {
			a.amis[testAmiArm64] = fakeAMI{arch: "arm64", rootSnapshotGiB: 8, deprecationTime: "2025-01-31T00:00:00Z", imdsSupport: "v2.0"}
		}, "n3x:amiArm64 is ami-0fedcba9876543210, deprecated since 2025-01-31T00:00:00Z; it still launches for its owner, but register a current AMI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := mustDeploy(t, testConfig()).next()
			tc.account(account)
			d := deploy(t, account, "dev", true, testConfig(keySSHCidrBlocks, "198.51.100.0/24"))
			if d.err != nil {
				t.Fatalf("an AMI in use blocked the change: %v", d.err)
			}
			if !slices.ContainsFunc(d.warnings, func(w string) bool { return strings.Contains(w, tc.want) }) {
				t.Errorf("warnings %q lack %q", d.warnings, tc.want)
			}
			if got := str(t, d.find(t, typeIngressRule, "ssh-from-198.51.100.0-24"), "cidrIpv4"); got != "198.51.100.0/24" {
				t.Errorf("the urgent change did not go through: %s", got)
			}
		})
	}
	// An AMI nobody runs yet must exist.
	account := newFakeAWS()
	delete(account.amis, testAmiX86)
	if d := deploy(t, account, "dev", true, testConfig()); d.err == nil || !strings.Contains(d.err.Error(), "n3x:amiX86 is ami-0123456789abcdef0, which this account cannot find") {
		t.Errorf("a missing AMI that no runner uses: err = %v", d.err)
	}
}

// An instance type that does not need ENA (a Xen type) launches from an AMI without it.
func TestENAIsRequiredOnlyWhereTheTypeNeedsIt(t *testing.T) {
	account := newFakeAWS()
	account.amis[testAmiX86] = fakeAMI{arch: "x86_64", noENA: true}
	account.offerings["t2.xlarge"] = []string{"us-east-1b"}
	if d := deploy(t, account, "dev", true, testConfig(keyInstanceTypeX86, "t2.xlarge")); d.err != nil {
		t.Errorf("t2.xlarge with an ENA-less AMI: %v", d.err)
	}
}

// Refusals are told from "not found" by AWS's error codes, and name the refused action.
func TestAccessDenied(t *testing.T) {
	cases := []struct {
		err        string
		denied     bool
		wantAction string
	}{
		{"reading EC2 AMIs: operation error EC2: DescribeImages, https response error StatusCode: 403, RequestID: r, api error UnauthorizedOperation: You are not authorized to perform this operation.",
			true, "ec2:DescribeImages"}, // the message names no action: the data source's call
		{"reading Service Quota (L-1216C47A): operation error Service Quotas: GetServiceQuota, https response error StatusCode: 400, RequestID: r, AccessDeniedException: " +
			"User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to perform: servicequotas:GetServiceQuota", true, "servicequotas:GetServiceQuota"},
		{"Your query returned no results. Please change your search criteria and try again.", false, ""},
		{"reading EC2 Instance Type (c7g.9xlarge): InvalidInstanceType: The following supplied instance types do not exist: [c7g.9xlarge]", false, ""},
		{"no matching EC2 Subnet found", false, ""},
	}
	for _, c := range cases {
		err := errors.New(c.err)
		if got := accessDenied(err); got != c.denied {
			t.Errorf("accessDenied(%q) = %v", c.err, got)
		}
		if c.denied {
			if got := deniedAction(err, "ec2:DescribeImages"); got != c.wantAction {
				t.Errorf("deniedAction(%q) = %s, want %s", c.err, got, c.wantAction)
			}
		}
	}
}
