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

func TestSecurityGroupRules(t *testing.T) {
	d := mustDeploy(t, testConfig(keySSHCidrBlocks, "203.0.113.0/24, 198.51.100.7/32,2001:db8::/32"))
	group := d.find(t, typeSecurityGroup, "runner-sg")
	if got := str(t, group, "vpcId"); got != testVPC {
		t.Errorf("security group vpcId = %q, want the default VPC %q", got, testVPC)
	}
	if _, inline := group.inputs["ingress"]; inline {
		t.Error("security group has inline ingress rules; rules must be separate resources")
	}

	var got []ingress
	for _, rule := range d.ofType(typeIngressRule) {
		if str(t, rule, "securityGroupId") != group.id || str(t, rule, "ipProtocol") != "tcp" || num(t, rule, "fromPort") != num(t, rule, "toPort") {
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
	descriptions := map[int]string{
		22:   "SSH for operators",
		443:  "Caddy TLS proxy to the Harmonia Nix binary cache",
		3142: "apt-cacher-ng Debian package proxy",
	}
	var want []ingress
	for _, port := range []int{22, 443, 3142} {
		want = append(want,
			ingress{port: port, cidr4: "203.0.113.0/24", description: descriptions[port]},
			ingress{port: port, cidr4: "198.51.100.7/32", description: descriptions[port]},
			ingress{port: port, cidr6: "2001:db8::/32", description: descriptions[port]})
		if port != 22 {
			want = append(want, ingress{port: port, fromGroup: group.id, description: descriptions[port] + ", between runners"})
		}
	}
	sortRules := func(rules []ingress) {
		slices.SortFunc(rules, func(a, b ingress) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	}
	sortRules(got)
	sortRules(want)
	if !slices.Equal(got, want) {
		t.Errorf("ingress rules:\n got %+v\nwant %+v", got, want)
	}

	egress := d.ofType(typeEgressRule)
	var egressTo []string
	for _, rule := range egress {
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
}

func TestSecurityGroupShape(t *testing.T) {
	d := mustDeploy(t, testConfig())
	group := d.find(t, typeSecurityGroup, "runner-sg")
	want := map[string]string{"Name": "n3x-runner-sg", "Project": "n3x", "Stack": "dev"}
	if got := tags(t, group); !maps.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	if str(t, group, "name") != "n3x-runner-sg" || str(t, group, "description") == "" {
		t.Errorf("name %q description %q", str(t, group, "name"), str(t, group, "description"))
	}
	for _, rule := range slices.Concat(d.ofType(typeIngressRule), d.ofType(typeEgressRule)) {
		if deps := rule.rpc.GetDependencies(); !slices.ContainsFunc(deps, func(urn string) bool { return urnName(urn) == "runner-sg" }) {
			t.Errorf("rule %s does not depend on the group: %v", rule.name, deps)
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
	later := first.aws.afterUp()
	later.offerings["c7g.2xlarge"] = []string{"us-east-1b"} // AWS now offers Graviton, elsewhere
	later.offerings["c6i.2xlarge"] = []string{"us-east-1b"} // and stops offering c6i in us-east-1a

	same := deploy(t, later.afterUp(), "dev", true, x86Only)
	if same.err == nil || !strings.Contains(same.err.Error(), "n3x:instanceTypeX86 is c6i.2xlarge, which is not offered in us-east-1a, the zone of this stack's runners and caches") {
		t.Errorf("a type gone from the stack's zone: err = %v, want it to name the zone and keep it", same.err)
	}
	if same.err != nil && len(same.aws.registrations) != 0 {
		t.Errorf("a failed preflight registered %v", same.names())
	}
	later.offerings["c6i.2xlarge"] = []string{"us-east-1a", "us-east-1b"}
	addGraviton := deploy(t, later.afterUp(), "dev", true, testConfig(keyAvailabilityZone, ""))
	if addGraviton.err == nil || !strings.Contains(addGraviton.err.Error(), "n3x:instanceTypeGraviton is c7g.2xlarge, which is not offered in us-east-1a") {
		t.Errorf("adding Graviton where its type is not offered: err = %v", addGraviton.err)
	}
	stays := deploy(t, later.afterUp(), "dev", true, testConfig(keyAvailabilityZone, "", keyAmiArm64, "", keyCacheVolumeSize, "600"))
	if stays.err != nil || stays.outputs["availabilityZone"] != "us-east-1a" || stays.fleet.placement.ZoneChosen {
		t.Errorf("zone %v (chosen afresh: %v), err %v; want us-east-1a, where the volumes are", stays.outputs["availabilityZone"], stays.fleet.placement.ZoneChosen, stays.err)
	}
	if len(stays.warnings) != 0 {
		t.Errorf("a stack that stays where its volumes are warns %q", stays.warnings)
	}
}

// Only the operator moves the zone, and preview says which caches that empties.
func TestZoneMoveWarnsWhichVolumesItEmpties(t *testing.T) {
	account := mustDeploy(t, testConfig(keyAmiArm64, "")).aws.afterUp()
	cases := []struct {
		name      string
		overrides []string
		want      string
	}{
		{"new zone", []string{keyAvailabilityZone, "us-east-1c"}, "n3x:availabilityZone moves the runners to us-east-1c: pulumi up replaces the data volumes " +
			"x86-cache-id (n3x-x86-runner-cache, in us-east-1b), x86-yocto-id (n3x-x86-runner-yocto, in us-east-1b) with new, empty ones there and deletes the old ones " +
			"with their caches (protected volumes make it fail instead); to keep them: pulumi config set n3x:availabilityZone us-east-1b"},
		{"subnet in another zone", []string{keySubnetID, testSubnet, keyAvailabilityZone, ""}, "n3x:subnetId moves the runners to us-east-1c: pulumi up replaces the data volumes x86-cache-id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := deploy(t, account.afterUp(), "dev", true, testConfig(append([]string{keyAmiArm64, ""}, tc.overrides...)...))
			if d.err != nil {
				t.Fatal(d.err)
			}
			if !slices.ContainsFunc(d.warnings, func(w string) bool { return strings.Contains(w, tc.want) }) {
				t.Errorf("warnings %q lack %q", d.warnings, tc.want)
			}
		})
	}
	// Volumes split over two zones (an interrupted move) leave the choice to the operator.
	split := account.afterUp()
	for i := range split.volumes {
		if split.volumes[i].id == "x86-yocto-id" {
			split.volumes[i].zone = "us-east-1c"
		}
	}
	d := deploy(t, split, "dev", true, testConfig(keyAmiArm64, "", keyAvailabilityZone, ""))
	if d.err == nil || !strings.Contains(d.err.Error(), "n3x:availabilityZone is unset and this stack's data volumes are in several zones (x86-cache-id in us-east-1b, x86-yocto-id in us-east-1c); pin the zone whose volumes to keep") {
		t.Errorf("split volumes: err = %v", d.err)
	}
}
