package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// ingress is the part of a rule that decides who gets in.
type ingress struct {
	port        int
	cidr4       string
	cidr6       string
	fromGroup   string
	description string
}

// ingressRules reads the deployment's ingress rules, checking what every rule shares.
func ingressRules(t *testing.T, d deployment, groupID string) []ingress {
	t.Helper()
	var got []ingress
	for _, rule := range d.ofType(typeIngressRule) {
		if str(t, rule, "securityGroupId") != groupID || str(t, rule, "ipProtocol") != "tcp" || num(t, rule, "fromPort") != num(t, rule, "toPort") {
			t.Errorf("rule %s: group %q protocol %q ports %d-%d", rule.name, str(t, rule, "securityGroupId"),
				str(t, rule, "ipProtocol"), num(t, rule, "fromPort"), num(t, rule, "toPort"))
		}
		in := ingress{port: num(t, rule, "fromPort"), description: str(t, rule, "description")}
		for key, field := range map[string]*string{"cidrIpv4": &in.cidr4, "cidrIpv6": &in.cidr6, "referencedSecurityGroupId": &in.fromGroup} {
			if _, ok := rule.inputs[resource.PropertyKey(key)]; ok {
				*field = str(t, rule, key)
			}
		}
		got = append(got, in)
	}
	slices.SortFunc(got, func(a, b ingress) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return got
}

var portDescriptions = map[int]string{
	22:   "SSH for operators",
	443:  "Caddy TLS proxy to the Harmonia Nix binary cache",
	3142: "apt-cacher-ng Debian package proxy",
}

func TestSecurityGroupRules(t *testing.T) {
	cases := []struct {
		name, cidrs string
		sources     []ingress // per port, the CIDR sources
	}{
		{"three CIDRs", "203.0.113.0/24, 198.51.100.7/32,2001:db8::/32",
			[]ingress{{cidr4: "203.0.113.0/24"}, {cidr4: "198.51.100.7/32"}, {cidr6: "2001:db8::/32"}}},
		// Only the runners reach each other; operators come in through Session Manager.
		{"none", "none", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDeploy(t, testConfig(keySSHCidrBlocks, tc.cidrs))
			group := d.find(t, typeSecurityGroup, "runner-sg")
			if got := str(t, group, "vpcId"); got != testVPC {
				t.Errorf("security group vpcId = %q, want the default VPC %q", got, testVPC)
			}
			if _, inline := group.inputs["ingress"]; inline {
				t.Error("security group has inline ingress rules; rules must be separate resources")
			}
			var want []ingress
			for _, port := range []int{22, 443, 3142} {
				for _, source := range tc.sources {
					source.port, source.description = port, portDescriptions[port]
					want = append(want, source)
				}
				if port != 22 {
					want = append(want, ingress{port: port, fromGroup: group.id, description: portDescriptions[port] + ", between runners"})
				}
			}
			slices.SortFunc(want, func(a, b ingress) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			if got := ingressRules(t, d, group.id); !slices.Equal(got, want) {
				t.Errorf("ingress rules:\n got %+v\nwant %+v", got, want)
			}
			var egressTo []string
			for _, rule := range d.ofType(typeEgressRule) {
				if str(t, rule, "ipProtocol") != "-1" || str(t, rule, "securityGroupId") != group.id {
					t.Errorf("egress %s: protocol %q group %q", rule.name, str(t, rule, "ipProtocol"), str(t, rule, "securityGroupId"))
				}
				for _, key := range []string{"cidrIpv4", "cidrIpv6"} {
					if _, ok := rule.inputs[resource.PropertyKey(key)]; ok {
						egressTo = append(egressTo, str(t, rule, key))
					}
				}
			}
			if slices.Sort(egressTo); !slices.Equal(egressTo, []string{"0.0.0.0/0", "::/0"}) {
				t.Errorf("egress to %v, want 0.0.0.0/0 and ::/0", egressTo)
			}
		})
	}
}

func TestSecurityGroupShape(t *testing.T) {
	d := mustDeploy(t, testConfig())
	group := d.find(t, typeSecurityGroup, "runner-sg")
	want := map[string]string{"Name": "n3x-runner-sg", "Project": "n3x", "Stack": "dev", stateIDTag: testStateID}
	if got := tags(t, group); !maps.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	if str(t, group, "name") != "n3x-runner-sg" || str(t, group, "description") == "" {
		t.Errorf("name %q description %q", str(t, group, "name"), str(t, group, "description"))
	}
	for _, rule := range slices.Concat(d.ofType(typeIngressRule), d.ofType(typeEgressRule)) {
		if !hasDependency(rule, "runner-sg") {
			t.Errorf("rule %s does not depend on the group: %v", rule.name, rule.rpc.GetDependencies())
		}
	}
}

func TestSubnetPlacement(t *testing.T) {
	d := mustDeploy(t, testConfig(keySubnetID, testSubnet, keyAvailabilityZone, ""))
	if got := str(t, d.find(t, typeSecurityGroup, "runner-sg"), "vpcId"); got != "vpc-0123456789abcdef0" {
		t.Errorf("security group vpcId = %q, want the subnet's VPC", got)
	}
	for _, instance := range d.ofType(typeInstance) {
		if str(t, instance, "subnetId") != testSubnet || str(t, instance, "availabilityZone") != "us-east-1c" {
			t.Errorf("%s: subnet %q zone %q, want %s in us-east-1c", instance.name, str(t, instance, "subnetId"),
				str(t, instance, "availabilityZone"), testSubnet)
		}
	}
	for _, volume := range d.ofType(typeVolume) {
		if got := str(t, volume, "availabilityZone"); got != "us-east-1c" {
			t.Errorf("%s zone = %q, want the subnet's us-east-1c", volume.name, got)
		}
	}
	if d.outputs["availabilityZone"] != "us-east-1c" {
		t.Errorf("availabilityZone output = %v", d.outputs["availabilityZone"])
	}
}

func TestZoneIsChosenFromOfferings(t *testing.T) {
	cases := []struct {
		name     string
		account  func(*fakeAWS)
		amiArm64 string
		want     string
	}{
		// c7g.2xlarge is not offered in us-east-1a: both stacks go to the first zone
		// that offers both types, so adding Graviton later finds its type there.
		{"x86 only", nil, "", "us-east-1b"},
		{"both runners", nil, testAmiArm64, "us-east-1b"},
		// With no zone offering both, an x86-only stack takes the first zone offering c6i;
		// the Local Zone is never picked.
		{"x86 only, Graviton offered nowhere", func(a *fakeAWS) { delete(a.offerings, "c7g.2xlarge") }, "", "us-east-1a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			account := newFakeAWS()
			if tc.account != nil {
				tc.account(account)
			}
			d := deploy(t, account, "dev", true, testConfig(keyAvailabilityZone, "", keyAmiArm64, tc.amiArm64))
			if d.err != nil {
				t.Fatal(d.err)
			}
			if d.outputs["availabilityZone"] != tc.want {
				t.Errorf("zone = %v, want %s", d.outputs["availabilityZone"], tc.want)
			}
			if !d.fleet.placement.ZoneChosen {
				t.Error("placement does not record that the zone was chosen afresh")
			}
		})
	}
}

// A new stack pinned to a zone that lacks a configured type is told a zone that has them
// all, never to set the type it already has (the first-hour trap: us-east-1a lacks c7g).
func TestPinnedZoneWithoutATypeSuggestsAZoneThatHasThemAll(t *testing.T) {
	d := deploy(t, newFakeAWS(), "dev", true, testConfig(keyAvailabilityZone, "us-east-1a"))
	want := "n3x:availabilityZone is us-east-1a, which does not offer c7g.2xlarge (n3x:instanceTypeGraviton; zones that do: us-east-1b, us-east-1c); " +
		"zones that offer every configured type: us-east-1b, us-east-1c; fix: pulumi config set n3x:availabilityZone us-east-1b"
	if d.err == nil || !strings.Contains(d.err.Error(), want) {
		t.Fatalf("err = %v\nwant %q", d.err, want)
	}
	if fix, _ := fixLine(d.err.Error(), keyAvailabilityZone); strings.Contains(fix, "instanceTypeGraviton") {
		t.Errorf("fix sets the type: %s", fix)
	}
	fixed := deploy(t, newFakeAWS(), "dev", true, testConfig(keyAvailabilityZone, "us-east-1b"))
	if fixed.err != nil {
		t.Errorf("the fix does not work: %v", fixed.err)
	}
}

// Once a stack has data volumes, an unpinned zone is theirs, whatever the offerings now
// say; a type not offered there fails preflight instead of moving the caches.
func TestZoneFollowsTheStacksDataVolumes(t *testing.T) {
	account := newFakeAWS()
	delete(account.offerings, "c7g.2xlarge")
	x86Only := testConfig(keyAvailabilityZone, "", keyAmiArm64, "")
	first := deploy(t, account, "dev", false, x86Only)
	if first.err != nil || first.outputs["availabilityZone"] != "us-east-1a" {
		t.Fatalf("first up: zone %v, err %v", first.outputs["availabilityZone"], first.err)
	}
	later := first.next()
	later.offerings["c7g.2xlarge"] = []string{"us-east-1b"} // AWS now offers Graviton, elsewhere
	later.offerings["c6i.2xlarge"] = []string{"us-east-1b"} // and stops offering c6i in us-east-1a

	same := deploy(t, later.clone(), "dev", true, x86Only)
	if same.err == nil || !strings.Contains(same.err.Error(), "n3x:instanceTypeX86 is c6i.2xlarge, which is not offered in us-east-1a, the zone of this stack's runners and caches") {
		t.Errorf("a type gone from the stack's zone: err = %v, want it to name the zone and keep it", same.err)
	}
	if same.err != nil && len(same.aws.registrations) != 0 {
		t.Errorf("a failed preflight registered %v", same.names())
	}
	if fix, _ := fixLine(same.err.Error(), keyInstanceTypeX86); fix != "pulumi config set n3x:instanceTypeX86 <x86_64 instance type>" {
		t.Errorf("fix %q", fix)
	}
	later.offerings["c6i.2xlarge"] = []string{"us-east-1a", "us-east-1b"}
	addGraviton := deploy(t, later.clone(), "dev", true, testConfig(keyAvailabilityZone, ""))
	if addGraviton.err == nil || !strings.Contains(addGraviton.err.Error(), "n3x:instanceTypeGraviton is c7g.2xlarge, which is not offered in us-east-1a") {
		t.Errorf("adding Graviton where its type is not offered: err = %v", addGraviton.err)
	}
	stays := deploy(t, later.clone(), "dev", true, testConfig(keyAvailabilityZone, "", keyAmiArm64, "", keyCacheVolumeSize, "600"))
	if stays.err != nil || stays.fleet.placement.Zone != "us-east-1a" || stays.fleet.placement.ZoneChosen {
		t.Errorf("zone %v (chosen afresh: %v), err %v; want us-east-1a, where the volumes are", stays.fleet.placement.Zone, stays.fleet.placement.ZoneChosen, stays.err)
	}
	if len(stays.warnings) != 0 {
		t.Errorf("a stack that stays where its volumes are warns %q", stays.warnings)
	}
}

// Only the operator moves the zone; preview says which volumes move and how.
func TestZoneMoveWarnsWhichVolumesItReplaces(t *testing.T) {
	account := mustDeploy(t, testConfig(keyAmiArm64, "")).next()
	cases := []struct {
		name      string
		overrides []string
		want      string
	}{
		{"new zone", []string{keyAvailabilityZone, "us-east-1c"}, "n3x:availabilityZone moves the runners to us-east-1c: pulumi up snapshots the data volumes " +
			"x86-cache-id (x86 cache, in us-east-1b), x86-yocto-id (x86 yocto, in us-east-1b), creates their replacements there from those snapshots " +
			"(slow to read at first, as EBS loads their blocks), and deletes the old ones, keeping a final snapshot of each; to stay: pulumi config set n3x:availabilityZone us-east-1b"},
		{"subnet in another zone", []string{keySubnetID, testSubnet, keyAvailabilityZone, ""}, "n3x:subnetId moves the runners to us-east-1c: pulumi up snapshots the data volumes x86-cache-id"},
		{"subnet in another zone, the way back", []string{keySubnetID, testSubnet, keyAvailabilityZone, ""},
			"keeping a final snapshot of each; to stay: pulumi config set n3x:subnetId <a subnet in us-east-1b>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := deploy(t, account.clone(), "dev", true, testConfig(append([]string{keyAmiArm64, ""}, tc.overrides...)...))
			if d.err != nil {
				t.Fatal(d.err)
			}
			if !slices.ContainsFunc(d.warnings, func(w string) bool { return strings.Contains(w, tc.want) }) {
				t.Errorf("warnings %q lack %q", d.warnings, tc.want)
			}
		})
	}
}

// Volumes split over two zones (an interrupted move) leave the choice to the operator: the
// message says what each zone keeps, and the fix keeps the zone the most volumes are in.
func TestSplitVolumesNameWhatEachZoneKeeps(t *testing.T) {
	split := mustDeploy(t, testConfig()).next()
	for i := range split.volumes {
		if split.volumes[i].id == "x86-yocto-id" {
			split.volumes[i].zone = "us-east-1c"
		}
	}
	d := deploy(t, split, "dev", true, testConfig(keyAvailabilityZone, ""))
	want := "n3x:availabilityZone is unset and this stack's data volumes are in several zones: us-east-1b keeps graviton-cache-id (graviton cache), " +
		"graviton-yocto-id (graviton yocto), x86-cache-id (x86 cache); us-east-1c keeps x86-yocto-id (x86 yocto); pin the zone whose volumes to keep " +
		"(the others are replaced by volumes there); fix: pulumi config set n3x:availabilityZone us-east-1b"
	if d.err == nil || !strings.Contains(d.err.Error(), want) {
		t.Errorf("split volumes: err = %v\nwant %q", d.err, want)
	}
}

// Volumes and instances of another copy of the stack, tagged exactly like this stack's
// (same Project, Stack, Name, Purpose), in another zone, decide nothing: the zone, the
// removals and the drift checks come from this stack's own previous deployment.
func TestAnotherCopysResourcesDecideNothing(t *testing.T) {
	team := mustDeploy(t, testConfig(keyAvailabilityZone, "")).next()
	for _, v := range slices.Clone(team.volumes) {
		v.id, v.zone, v.attachedTo = "vol-laptop-"+v.id, "us-east-1c", ""
		v.tags = maps.Clone(v.tags)
		v.tags[stateIDTag] = "0ther5tate0f1ap7" // the copy's own state made them
		team.volumes = append(team.volumes, v)
	}
	d := deploy(t, team, "dev", true, testConfig(keyAvailabilityZone, ""))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if d.fleet.placement.Zone != "us-east-1b" {
		t.Errorf("zone %s, want the team's us-east-1b", d.fleet.placement.Zone)
	}
	for _, w := range d.warnings {
		if strings.Contains(w, "vol-laptop") {
			t.Errorf("a warning names the other copy's volume: %s", w)
		}
	}
}

// A second copy of the stack (another backend, or the stack file used on a laptop) finds
// the security group name taken by a group that does not carry its state id: preview, and
// an up, stop before anything is registered.
func TestSecondCopyOfTheStackStopsAtItsSecurityGroup(t *testing.T) {
	team := mustDeploy(t, testConfig(keyAvailabilityZone, "")).next()
	laptop := team.clone()
	laptop.state = map[string]stateEntry{} // a state of its own, empty
	want := "n3x:namePrefix gives this stack the security group name n3x-runner-sg, which runner-sg-id in vpc-0aaaabbbbccccdddd already has, but this stack's state does not: " +
		"probably this stack was deployed from another backend (log in to that one: pulumi login <its URL>), or its stack file was copied; " +
		"to run a second fleet here instead, give it a prefix of its own"
	// Where the group cannot be looked up, the instances tagged as this stack's runners tell.
	noGroups := laptop.clone()
	noGroups.groups = nil
	if d := deploy(t, noGroups, "dev", true, testConfig(keyAvailabilityZone, "")); d.err == nil ||
		!strings.Contains(d.err.Error(), "n3x:namePrefix gives this stack the runners' names, and instances tagged with them (graviton-runner-id, x86-runner-id) already run here, but this stack's state does not") {
		t.Errorf("copy without the group: err = %v", d.err)
	}
	for _, dryRun := range []bool{true, false} {
		d := deploy(t, laptop.clone(), "dev", dryRun, testConfig(keyAvailabilityZone, ""))
		if d.err == nil || !strings.Contains(d.err.Error(), want) || !strings.HasSuffix(d.err.Error(), "fix: pulumi config set n3x:namePrefix <another-prefix>") {
			t.Errorf("dryRun=%v: err = %v\nwant %q", dryRun, d.err, want)
		}
		if names := d.names(); len(names) > 0 {
			t.Errorf("dryRun=%v: registered %q, want nothing", dryRun, names)
		}
	}
	// The team's own stack, and another prefix on the laptop, go ahead.
	if d := deploy(t, team.clone(), "dev", true, testConfig(keyAvailabilityZone, "")); d.err != nil {
		t.Errorf("the team's stack: %v", d.err)
	}
	if d := deploy(t, laptop.clone(), "dev", true, testConfig(keyAvailabilityZone, "", keyNamePrefix, "n3x-laptop")); d.err != nil {
		t.Errorf("another prefix: %v", d.err)
	}
}
