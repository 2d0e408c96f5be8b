package main

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Resource type tokens the program registers.
const (
	typeSecurityGroup = "aws:ec2/securityGroup:SecurityGroup"
	typeIngressRule   = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	typeEgressRule    = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	typeKeyPair       = "aws:ec2/keyPair:KeyPair"
	typeInstance      = "aws:ec2/instance:Instance"
	typeVolume        = "aws:ebs/volume:Volume"
	typeAttachment    = "aws:ec2/volumeAttachment:VolumeAttachment"
	typeEip           = "aws:ec2/eip:Eip"
	typeEipAssoc      = "aws:ec2/eipAssociation:EipAssociation"
	typeSpotRequest   = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
	typeTag           = "aws:ec2/tag:Tag"
	typeRole          = "aws:iam/role:Role"
	typeRolePolicy    = "aws:iam/rolePolicy:RolePolicy"
	typeSchedule      = "aws:scheduler/schedule:Schedule"
	testAccount       = "123456789012"
)

// The sample account: a region with four standard zones and one Local Zone, where
// c7g is not offered in the first zone.
const (
	testAmiX86   = "ami-0123456789abcdef0"
	testAmiArm64 = "ami-0fedcba9876543210"
	testSSHKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDX3eJIHQTCo1g2n2pMtwxmeUiuNFPW5VYnZdGRj0ZNW operator@example"
	// testSSHKeyRotated is the operator's next key.
	testSSHKeyRotated = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2iG3GgioBDGaj52Gs7+Eg/PAtH1/QlYAgFMjMyY2V0 operator@example"
	testVPC           = "vpc-0aaaabbbbccccdddd"
	testSubnet        = "subnet-0123456789abcdef0"
)

// registration is one resource the program registered, with its full request.
type registration struct {
	typ     string
	name    string
	id      string
	inputs  resource.PropertyMap
	outputs resource.PropertyMap // what the mock answered, inputs plus computed values
	rpc     *pulumirpc.RegisterResourceRequest
}

type fakeAMI struct {
	arch            string
	rootSnapshotGiB int
	state           string // "" is available
	noENA           bool
	rootDeviceType  string // "" is ebs
	deprecationTime string
}

// fakeQuota is an EC2 service quota; a negative value denies reading it.
type fakeQuota struct {
	name  string
	value float64
}

type fakeSubnet struct {
	zone, vpc  string
	routeTable string // "" uses the main route table of its VPC
}

// fakeVolume and fakeInstance are what an earlier `pulumi up` left in the account.
type fakeVolume struct {
	id, zone string
	tags     map[string]string
}

type fakeInstance struct {
	id, ami string
	tags    map[string]string
}

// fakeAWS is a mock resource monitor that records every registration and answers the
// data-source invokes the way AWS does: unknown things are errors, not empty results.
type fakeAWS struct {
	zones         []string            // standard zones
	localZones    []string            // opt-in zones, hidden by the opt-in-status filter
	offerings     map[string][]string // instance type -> zones offering it
	instanceTypes map[string][]string // instance type -> supported architectures
	amis          map[string]fakeAMI
	defaultVPC    string
	defaultZones  []string // zones where the default VPC has a default subnet
	subnets       map[string]fakeSubnet
	routes        map[string][]string // route table -> 0.0.0.0/0 targets; "main" is the VPCs' main table
	volumes       []fakeVolume
	instances     []fakeInstance
	spotPrices    map[string]string // instance type -> current price, as EC2 prints it
	quotas        map[string]fakeQuota

	mu            sync.Mutex
	registrations []registration
	invokes       []string
}

func newFakeAWS() *fakeAWS {
	all := []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1-bos-1a"}
	return &fakeAWS{
		zones:      []string{"us-east-1c", "us-east-1a", "us-east-1d", "us-east-1b"},
		localZones: []string{"us-east-1-bos-1a"},
		offerings: map[string][]string{
			"c6i.2xlarge": all, "c6i.4xlarge": all,
			"c7g.2xlarge": {"us-east-1b", "us-east-1c", "us-east-1-bos-1a"},
			"c7g.4xlarge": {"us-east-1b", "us-east-1c"},
			"c6g.2xlarge": {"us-east-1d"},
		},
		instanceTypes: map[string][]string{
			"c6i.2xlarge": {"x86_64"}, "c6i.4xlarge": {"x86_64"},
			"c7g.2xlarge": {"arm64"}, "c7g.4xlarge": {"arm64"}, "c6g.2xlarge": {"arm64"},
			"mac1.metal": {"x86_64_mac"}, "t2.xlarge": {"x86_64"},
		},
		amis: map[string]fakeAMI{
			testAmiX86:   {arch: "x86_64", rootSnapshotGiB: 8},
			testAmiArm64: {arch: "arm64", rootSnapshotGiB: 8},
		},
		defaultVPC:   testVPC,
		defaultZones: []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"},
		subnets: map[string]fakeSubnet{
			testSubnet:                 {zone: "us-east-1c", vpc: "vpc-0123456789abcdef0"},
			"subnet-0aaaaaaaaaaaaaaaa": {zone: "us-east-1c", vpc: "vpc-0123456789abcdef0", routeTable: "rtb-private"},
		},
		routes:     map[string][]string{"main": {"igw-0123456789abcdef0"}, "rtb-private": {"nat-0123456789abcdef0"}},
		spotPrices: map[string]string{"c6i.2xlarge": "0.137200", "c7g.2xlarge": "0.112600"},
		quotas: map[string]fakeQuota{
			quotaOnDemandStandardVcpus: {"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 64},
			quotaSpotStandardVcpus:     {"All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 64},
			quotaElasticIPs:            {"EC2-VPC Elastic IPs", 5},
		},
	}
}

// nameOctet derives an address octet from a logical name, so addresses are stable across runs.
func nameOctet(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 10 + int(h.Sum32()%240)
}

// afterUp is the account as the recorded run left it, ready for the next run: its data
// volumes and instances exist, with their ids, zones and tags.
func (f *fakeAWS) afterUp() *fakeAWS {
	next := &fakeAWS{
		zones: f.zones, localZones: f.localZones, offerings: maps.Clone(f.offerings), instanceTypes: maps.Clone(f.instanceTypes),
		amis: maps.Clone(f.amis), defaultVPC: f.defaultVPC, defaultZones: f.defaultZones, subnets: maps.Clone(f.subnets),
		routes: maps.Clone(f.routes), volumes: slices.Clone(f.volumes), instances: slices.Clone(f.instances),
		spotPrices: maps.Clone(f.spotPrices), quotas: maps.Clone(f.quotas),
	}
	for _, r := range f.registrations {
		tags := map[string]string{}
		if t, ok := r.inputs["tags"]; ok {
			for k, v := range t.ObjectValue() {
				tags[string(k)] = v.StringValue()
			}
		}
		switch r.typ {
		case typeVolume:
			next.volumes = append(next.volumes, fakeVolume{id: r.id, zone: r.inputs["availabilityZone"].StringValue(), tags: tags})
		case typeInstance:
			next.instances = append(next.instances, fakeInstance{id: r.id, ami: r.inputs["ami"].StringValue(), tags: tags})
		}
	}
	return next
}

// matchesTags says whether tags hold every wanted pair and, for each "tag:KEY" filter,
// one of its values.
func matchesTags(tags map[string]string, want resource.PropertyValue, args resource.PropertyMap) bool {
	if want.IsObject() {
		for k, v := range want.ObjectValue() {
			if tags[string(k)] != v.StringValue() {
				return false
			}
		}
	}
	for _, name := range filterNames(args) {
		if key, ok := strings.CutPrefix(name, "tag:"); ok && !slices.Contains(filterValues(args, name), tags[key]) {
			return false
		}
	}
	return true
}

func (f *fakeAWS) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id := args.Name + "-id"
	outputs := args.Inputs.Copy()
	switch args.TypeToken {
	case typeEip:
		// Each address gets its own documentation-range IP, the same in every run.
		octet := nameOctet(args.Name)
		outputs["allocationId"] = resource.NewStringProperty("eipalloc-" + args.Name)
		outputs["publicIp"] = resource.NewStringProperty(fmt.Sprintf("198.51.100.%d", octet))
		outputs["publicDns"] = resource.NewStringProperty(fmt.Sprintf("ec2-198-51-100-%d.compute-1.amazonaws.com", octet))
	case typeInstance, typeSpotRequest:
		outputs["publicIp"] = resource.NewStringProperty("192.0.2.10") // ephemeral: must not be exported
		octet := nameOctet(args.Name)
		outputs["privateIp"] = resource.NewStringProperty(fmt.Sprintf("172.31.0.%d", octet))
		outputs["privateDns"] = resource.NewStringProperty(fmt.Sprintf("ip-172-31-0-%d.ec2.internal", octet))
		if args.TypeToken == typeSpotRequest {
			outputs["spotInstanceId"] = resource.NewStringProperty("i-spot-" + args.Name)
		}
	case typeRole:
		outputs["arn"] = resource.NewStringProperty("arn:aws:iam::" + testAccount + ":role/" + args.Inputs["name"].StringValue())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registrations = append(f.registrations, registration{
		typ: args.TypeToken, name: args.Name, id: id, inputs: args.Inputs, outputs: outputs, rpc: args.RegisterRPC,
	})
	return id, outputs, nil
}

func (f *fakeAWS) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	f.mu.Lock()
	f.invokes = append(f.invokes, args.Token)
	f.mu.Unlock()
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		names := slices.Clone(f.zones)
		if len(filterValues(args.Args, "opt-in-status")) == 0 {
			names = append(names, f.localZones...)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "names": names}), nil
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		var types, locations []string
		for _, t := range filterValues(args.Args, "instance-type") {
			for _, zone := range f.offerings[t] {
				types, locations = append(types, t), append(locations, zone)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "instanceTypes": types, "locations": locations}), nil
	case "aws:ec2/getVpcs:getVpcs":
		ids := []string{}
		if f.defaultVPC != "" && slices.Equal(filterValues(args.Args, "is-default"), []string{"true"}) {
			ids = append(ids, f.defaultVPC)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	case "aws:ec2/getSubnet:getSubnet":
		id := args.Args["id"].StringValue()
		subnet, ok := f.subnets[id]
		if !ok {
			return nil, errors.New("no matching EC2 Subnet found")
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": id, "availabilityZone": subnet.zone, "vpcId": subnet.vpc}), nil
	case "aws:ec2/getSubnets:getSubnets":
		ids := []string{}
		zone := filterValues(args.Args, "availability-zone")
		if slices.Equal(filterValues(args.Args, "vpc-id"), []string{f.defaultVPC}) && slices.Equal(filterValues(args.Args, "default-for-az"), []string{"true"}) &&
			len(zone) == 1 && slices.Contains(f.defaultZones, zone[0]) {
			ids = append(ids, "subnet-default-"+zone[0])
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	case "aws:ec2/getRouteTable:getRouteTable":
		// Only explicit associations answer by subnet, as in EC2; the rest use the main table.
		table := "main"
		if subnet, ok := args.Args["subnetId"]; ok {
			if table = f.subnets[subnet.StringValue()].routeTable; table == "" {
				return nil, errors.New("query returned no results. Please change your search criteria and try again")
			}
		} else if !slices.Equal(filterValues(args.Args, "association.main"), []string{"true"}) {
			return nil, fmt.Errorf("fakeAWS: unexpected route table query %v", args.Args)
		}
		routes := []any{}
		for _, target := range f.routes[table] {
			route := map[string]any{"cidrBlock": "0.0.0.0/0"}
			if strings.HasPrefix(target, "igw-") {
				route["gatewayId"] = target
			} else {
				route["natGatewayId"] = target
			}
			routes = append(routes, route)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": table, "routeTableId": table, "routes": routes}), nil
	case "aws:ec2/getAmi:getAmi":
		id := strings.Join(filterValues(args.Args, "image-id"), ",")
		ami, ok := f.amis[id]
		if !ok {
			return nil, errors.New("Your query returned no results. Please change your search criteria and try again.")
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "imageId": id, "architecture": ami.arch, "rootDeviceName": "/dev/xvda",
			"state": cmp.Or(ami.state, "available"), "enaSupport": !ami.noENA, "rootDeviceType": cmp.Or(ami.rootDeviceType, "ebs"),
			"deprecationTime": ami.deprecationTime,
			"blockDeviceMappings": []any{map[string]any{
				"deviceName": "/dev/xvda",
				"ebs":        map[string]any{"volume_size": fmt.Sprint(ami.rootSnapshotGiB), "volume_type": "gp3"},
			}},
		}), nil
	case "aws:ec2/getInstanceType:getInstanceType":
		name := args.Args["instanceType"].StringValue()
		archs, ok := f.instanceTypes[name]
		if !ok {
			return nil, fmt.Errorf("reading EC2 Instance Type (%s): InvalidInstanceType: The following supplied instance types do not exist: [%s]", name, name)
		}
		ena := "required"
		if strings.HasPrefix(name, "t2.") {
			ena = "unsupported"
		}
		vcpus := map[string]int{"xlarge": 4, "2xlarge": 8, "4xlarge": 16, "metal": 12}[strings.SplitN(name, ".", 2)[1]]
		return resource.NewPropertyMapFromMap(map[string]any{"id": name, "instanceType": name, "supportedArchitectures": archs, "enaSupport": ena,
			"defaultVcpus": vcpus}), nil
	case "aws:servicequotas/getServiceQuota:getServiceQuota":
		code := args.Args["quotaCode"].StringValue()
		quota, ok := f.quotas[code]
		if !ok || quota.value < 0 || args.Args["serviceCode"].StringValue() != "ec2" {
			return nil, fmt.Errorf("reading Service Quota (%s): AccessDeniedException: User is not authorized to perform: servicequotas:GetServiceQuota", code)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "ec2/" + code, "quotaCode": code, "quotaName": quota.name, "serviceCode": "ec2",
			"value": quota.value}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{"id": testAccount, "accountId": testAccount,
			"arn": "arn:aws:sts::" + testAccount + ":assumed-role/deployer/ci", "userId": "AROAEXAMPLE:ci"}), nil
	case "aws:ec2/getSpotPrice:getSpotPrice":
		name := args.Args["instanceType"].StringValue()
		price, ok := f.spotPrices[name]
		if !ok || !slices.Contains(f.offerings[name], args.Args["availabilityZone"].StringValue()) {
			return nil, errors.New("no EC2 Spot Price History found matching criteria; try different search")
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": name, "spotPrice": price}), nil
	case "aws:ebs/getEbsVolumes:getEbsVolumes":
		ids := []string{}
		for _, v := range f.volumes {
			if matchesTags(v.tags, args.Args["tags"], args.Args) {
				ids = append(ids, v.id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	case "aws:ebs/getVolume:getVolume":
		for _, v := range f.volumes {
			if slices.Equal(filterValues(args.Args, "volume-id"), []string{v.id}) {
				return resource.NewPropertyMapFromMap(map[string]any{"id": v.id, "volumeId": v.id, "availabilityZone": v.zone, "tags": v.tags}), nil
			}
		}
		return nil, errors.New("your query returned no results")
	case "aws:ec2/getInstances:getInstances":
		ids := []string{}
		for _, i := range f.instances {
			if matchesTags(i.tags, args.Args["instanceTags"], args.Args) && slices.Contains(filterValues(args.Args, "image-id"), i.ami) {
				ids = append(ids, i.id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	}
	return nil, fmt.Errorf("fakeAWS: unexpected invoke %s", args.Token)
}

// filterNames returns the names of an invoke's "filters" entries.
func filterNames(args resource.PropertyMap) []string {
	var names []string
	if filters, ok := args["filters"]; ok && filters.IsArray() {
		for _, filter := range filters.ArrayValue() {
			names = append(names, filter.ObjectValue()["name"].StringValue())
		}
	}
	return names
}

// filterValues returns the values of the named entry of an invoke's "filters" argument.
func filterValues(args resource.PropertyMap, name string) []string {
	filters, ok := args["filters"]
	if !ok || !filters.IsArray() {
		return nil
	}
	var values []string
	for _, filter := range filters.ArrayValue() {
		if filter.ObjectValue()["name"].StringValue() == name {
			for _, v := range filter.ObjectValue()["values"].ArrayValue() {
				values = append(values, v.StringValue())
			}
		}
	}
	return values
}

// mustLoadConfig reads the given n3x keys (unset ones take their defaults) for a stack.
func mustLoadConfig(t *testing.T, values map[string]string, stack string) Config {
	t.Helper()
	cfg, err := loadConfig(func(key string) string { return values[key] }, stack)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// deployment is the result of running the program once against fakeAWS.
type deployment struct {
	aws      *fakeAWS
	fleet    *fleet
	outputs  map[string]any
	warnings []string // what the program logged as warnings, in order
	infos    []string // and as information
	err      error
}

// recordingLog records warnings and information; the mock engine would drop them.
type recordingLog struct {
	pulumi.Log
	warnings, infos *[]string
}

func (l recordingLog) Warn(msg string, _ *pulumi.LogArgs) error {
	*l.warnings = append(*l.warnings, msg)
	return nil
}

func (l recordingLog) Info(msg string, _ *pulumi.LogArgs) error {
	*l.infos = append(*l.infos, msg)
	return nil
}

// testConfig is a complete, valid configuration with both runners; tests change keys.
func testConfig(overrides ...string) map[string]string {
	cfg := map[string]string{
		keyAmiX86:           testAmiX86,
		keyAmiArm64:         testAmiArm64,
		keySSHPublicKey:     testSSHKey,
		keySSHCidrBlocks:    "203.0.113.0/24",
		keyAvailabilityZone: "us-east-1b",
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		cfg[overrides[i]] = overrides[i+1]
	}
	return cfg
}

// deploy runs the whole program, as `pulumi up` (or `pulumi preview` with dryRun) would,
// for the given stack and n3x config keys, and resolves its outputs.
func deploy(t *testing.T, aws *fakeAWS, stack string, dryRun bool, cfg map[string]string) deployment {
	t.Helper()
	d := deployment{aws: aws}
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = map[string]string{"aws:region": "us-east-1"}
		for key, value := range cfg {
			info.Config[configNamespace+":"+key] = value
		}
		info.DryRun = dryRun
	}
	d.err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		ctx.Log = recordingLog{Log: ctx.Log, warnings: &d.warnings, infos: &d.infos}
		f, err := deployFleet(ctx)
		if err != nil {
			return err
		}
		d.fleet = f
		d.outputs = resolveAll(f.outputs())
		return nil
	}, pulumi.WithMocks(configNamespace, stack, aws), withConfig)
	return d
}

// mustDeploy is deploy for configurations that must work.
func mustDeploy(t *testing.T, cfg map[string]string) deployment {
	t.Helper()
	d := deploy(t, newFakeAWS(), "dev", false, cfg)
	if d.err != nil {
		t.Fatalf("deploy failed: %v", d.err)
	}
	return d
}

// resolveAll waits for every output and returns the plain values.
func resolveAll(outputs map[string]pulumi.Input) map[string]any {
	names := make([]string, 0, len(outputs))
	inputs := make([]any, 0, len(outputs))
	for name, value := range outputs {
		names, inputs = append(names, name), append(inputs, value)
	}
	done := make(chan map[string]any)
	pulumi.All(inputs...).ApplyT(func(values []any) error {
		resolved := map[string]any{}
		for i, v := range values {
			if id, ok := v.(pulumi.ID); ok {
				v = string(id)
			}
			resolved[names[i]] = v
		}
		done <- resolved
		return nil
	})
	return <-done
}

// find returns the one registration of a type and logical name.
func (d deployment) find(t *testing.T, typ, name string) registration {
	t.Helper()
	for _, r := range d.aws.registrations {
		if r.typ == typ && r.name == name {
			return r
		}
	}
	t.Fatalf("no %s named %q registered; have %v", typ, name, d.names())
	return registration{}
}

// ofType returns every registration of a type, sorted by name.
func (d deployment) ofType(typ string) []registration {
	var found []registration
	for _, r := range d.aws.registrations {
		if r.typ == typ {
			found = append(found, r)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
	return found
}

// names lists "type name" of every registration, sorted.
func (d deployment) names() []string {
	var names []string
	for _, r := range d.aws.registrations {
		names = append(names, r.typ+" "+r.name)
	}
	sort.Strings(names)
	return names
}

// str, num and obj read an input property, failing the test when it is absent.
func str(t *testing.T, r registration, path ...string) string {
	t.Helper()
	v := prop(t, r, path...)
	if !v.IsString() {
		t.Fatalf("%s %s: %v is %v, not a known string", r.typ, r.name, path, v)
	}
	return v.StringValue()
}

func num(t *testing.T, r registration, path ...string) int {
	t.Helper()
	v := prop(t, r, path...)
	if !v.IsNumber() {
		t.Fatalf("%s %s: %v is %v, not a number", r.typ, r.name, path, v)
	}
	return int(v.NumberValue())
}

func boolean(t *testing.T, r registration, path ...string) bool {
	t.Helper()
	v := prop(t, r, path...)
	if !v.IsBool() {
		t.Fatalf("%s %s: %v is %v, not a bool", r.typ, r.name, path, v)
	}
	return v.BoolValue()
}

func prop(t *testing.T, r registration, path ...string) resource.PropertyValue {
	t.Helper()
	current := resource.NewObjectProperty(r.inputs)
	for _, key := range path {
		if !current.IsObject() {
			t.Fatalf("%s %s: %v: %v is not an object", r.typ, r.name, path, current)
		}
		next, ok := current.ObjectValue()[resource.PropertyKey(key)]
		if !ok {
			t.Fatalf("%s %s: input %v is not set", r.typ, r.name, path)
		}
		current = next
	}
	return current
}

// tags returns a registration's tags (or the tags under path) as plain strings.
func tags(t *testing.T, r registration, path ...string) map[string]string {
	t.Helper()
	v := prop(t, r, append(path, "tags")...)
	result := map[string]string{}
	for key, value := range v.ObjectValue() {
		result[string(key)] = value.StringValue()
	}
	return result
}
