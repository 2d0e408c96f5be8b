package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Resource type tokens the program registers.
const (
	typeSecurityGroup   = "aws:ec2/securityGroup:SecurityGroup"
	typeIngressRule     = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	typeEgressRule      = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	typeKeyPair         = "aws:ec2/keyPair:KeyPair"
	typeInstance        = "aws:ec2/instance:Instance"
	typeVolume          = "aws:ebs/volume:Volume"
	typeAttachment      = "aws:ec2/volumeAttachment:VolumeAttachment"
	typeEip             = "aws:ec2/eip:Eip"
	typeEipAssoc        = "aws:ec2/eipAssociation:EipAssociation"
	typeSpotRequest     = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
	typeTag             = "aws:ec2/tag:Tag"
	typeRole            = "aws:iam/role:Role"
	typeRolePolicy      = "aws:iam/rolePolicy:RolePolicy"
	typeInstanceProfile = "aws:iam/instanceProfile:InstanceProfile"
	typeSchedule        = "aws:scheduler/schedule:Schedule"
	typeParameter       = "aws:ssm/parameter:Parameter"
	typeSnapshot        = "aws:ebs/snapshot:Snapshot"
	typeLifecyclePolicy = "aws:dlm/lifecyclePolicy:LifecyclePolicy"
	typeStash           = "pulumi:index:Stash"
	typeFunction        = "aws:lambda/function:Function"
	typeFunctionURL     = "aws:lambda/functionUrl:FunctionUrl"
	typePermission      = "aws:lambda/permission:Permission"
	typeLogGroup        = "aws:cloudwatch/logGroup:LogGroup"
	testAccount         = "123456789012"
	testStateID         = "5eed5eed5eed5eed" // the state id every test stack gets (randomStateID)
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
	id      string // "" when unknown: a preview of a resource the state does not hold
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
	imdsSupport     string // "v2.0" or ""
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

// fakeVolume, fakeInstance, fakeGroup and fakeSnapshot are what the account holds.
type fakeVolume struct {
	id, zone, snapshotID string
	sizeGiB              int
	tags                 map[string]string
	attachedTo           string // instance id, "" when detached
}

type fakeInstance struct {
	id, ami, zone string
	state         string // running, stopped, terminated
	httpTokens    string // required or optional
	tags          map[string]string
}

type fakeGroup struct {
	id, name, vpc string
	tags          map[string]string
}

// fakeAddress is an allocated Elastic IP.
type fakeAddress struct {
	allocationID              string
	instanceID, associationID string // "" when not associated
	tags                      map[string]string
}

// stateEntry is one resource the stack's state holds: its id and its outputs, which carry
// the id too, as the bridged provider records them.
type stateEntry struct {
	id      string
	outputs resource.PropertyMap
}

type fakeSnapshot struct {
	id, volumeID, state, start string
	sizeGiB                    int
	tags                       map[string]string
}

// fakeAWS is a mock resource monitor that records every registration and answers the
// data-source invokes the way AWS does: unknown things are errors, not empty results. It
// also plays the stack's state: resources the state holds keep their ids (known in a
// preview, as the engine gives them), new ones have none in a preview, and the state answers
// the engine's pulumi:pulumi:readStackResourceOutputs, as the backend's latest checkpoint.
type fakeAWS struct {
	boundary      bool                // the account has the roles' permissions boundary policy (the CI setup made it)
	boundaryFails bool                // looking it up fails, but not as a refusal
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
	groups        []fakeGroup
	addresses     []fakeAddress
	snapshots     []fakeSnapshot
	spotPrices    map[string]string // instance type -> current price, as EC2 prints it
	quotas        map[string]fakeQuota
	state         map[string]stateEntry // "type::name" -> what the state holds
	invokeDelay   time.Duration         // each invoke sleeps this long, to count rounds
	denied        map[string]string     // invoke token -> the IAM action the caller's policy refuses it
	throttled     map[string]bool       // invoke tokens EC2 answers RequestLimitExceeded

	mu            sync.Mutex
	dryRun        bool
	registrations []registration
	invokes       []invokeRecord
	stackReads    []string // the stacks the program read the state of
}

// invokeRecord is one data-source call and when it ran, in the mock's own sequence.
type invokeRecord struct {
	token      string
	start, end int
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
			testAmiX86:   {arch: "x86_64", rootSnapshotGiB: 8, imdsSupport: "v2.0"},
			testAmiArm64: {arch: "arm64", rootSnapshotGiB: 8, imdsSupport: "v2.0"},
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
		state: map[string]stateEntry{},
	}
}

// Every new stack of the tests gets the same state id, so two runs' inputs can be compared.
func init() { randomStateID = func() (string, error) { return testStateID, nil } }

// nameOctet derives an address octet from a logical name, so addresses are stable across runs.
func nameOctet(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 10 + int(h.Sum32()%240)
}

// subnetZone is the zone of a subnet id the mock knows, default subnets included.
func (f *fakeAWS) subnetZone(id string) string {
	if zone, ok := strings.CutPrefix(id, "subnet-default-"); ok {
		return zone
	}
	return f.subnets[id].zone
}

// next is the account as this run left it, ready for the next run: the resources it
// registered exist with their ids, zones and tags, the state holds them, and its outputs
// are the previous outputs. A preview leaves the account as it was.
func (d deployment) next() *fakeAWS {
	f := d.aws
	next := &fakeAWS{
		zones: f.zones, localZones: f.localZones, offerings: maps.Clone(f.offerings), instanceTypes: maps.Clone(f.instanceTypes),
		amis: maps.Clone(f.amis), defaultVPC: f.defaultVPC, defaultZones: f.defaultZones, subnets: maps.Clone(f.subnets),
		routes: maps.Clone(f.routes), snapshots: slices.Clone(f.snapshots),
		spotPrices: maps.Clone(f.spotPrices), quotas: maps.Clone(f.quotas), state: map[string]stateEntry{},
	}
	if f.dryRun {
		panic("next() of a preview")
	}
	tagsOf := func(m resource.PropertyMap) map[string]string {
		tags := map[string]string{}
		if t, ok := m["tags"]; ok && t.IsObject() {
			for k, v := range t.ObjectValue() {
				tags[string(k)] = v.StringValue()
			}
		}
		return tags
	}
	attached := map[string]string{}   // volume id -> instance id
	associated := map[string]string{} // allocation id -> instance id
	ec2Tags := map[string]map[string]string{}
	for _, r := range f.registrations {
		outputs := r.outputs.Copy()
		if r.typ != typeStash {
			outputs["id"] = resource.NewStringProperty(r.id)
		}
		next.state[r.typ+"::"+r.name] = stateEntry{id: r.id, outputs: outputs}
		switch r.typ {
		case typeAttachment:
			attached[r.inputs["volumeId"].StringValue()] = r.inputs["instanceId"].StringValue()
		case typeEipAssoc:
			associated[r.inputs["allocationId"].StringValue()] = r.inputs["instanceId"].StringValue()
		case typeTag:
			id := r.inputs["resourceId"].StringValue()
			if ec2Tags[id] == nil {
				ec2Tags[id] = map[string]string{}
			}
			ec2Tags[id][r.inputs["key"].StringValue()] = r.inputs["value"].StringValue()
		}
	}
	for _, r := range f.registrations {
		switch r.typ {
		case typeVolume:
			snapshot := ""
			if s, ok := r.inputs["snapshotId"]; ok && s.IsString() {
				snapshot = s.StringValue()
			}
			next.volumes = append(next.volumes, fakeVolume{id: r.id, zone: r.inputs["availabilityZone"].StringValue(), snapshotID: snapshot,
				sizeGiB: int(r.inputs["size"].NumberValue()), tags: tagsOf(r.inputs), attachedTo: attached[r.id]})
		case typeInstance:
			next.instances = append(next.instances, fakeInstance{id: r.id, ami: r.inputs["ami"].StringValue(), zone: r.inputs["availabilityZone"].StringValue(),
				state: "running", httpTokens: r.inputs["metadataOptions"].ObjectValue()["httpTokens"].StringValue(), tags: tagsOf(r.inputs)})
			// Its root volume, with the root device's tags.
			root := r.inputs["rootBlockDevice"].ObjectValue()
			next.volumes = append(next.volumes, fakeVolume{id: "vol-root-" + r.name, zone: r.inputs["availabilityZone"].StringValue(),
				sizeGiB: int(root["volumeSize"].NumberValue()), tags: tagsOf(root), attachedTo: r.id})
		case typeSpotRequest:
			id := r.outputs["spotInstanceId"].StringValue()
			next.instances = append(next.instances, fakeInstance{id: id, ami: r.inputs["ami"].StringValue(), zone: r.outputs["launchedZone"].StringValue(),
				state: "running", httpTokens: r.outputs["launchedHttpTokens"].StringValue(), tags: ec2Tags[id]})
		case typeSecurityGroup:
			next.groups = append(next.groups, fakeGroup{id: r.id, name: r.inputs["name"].StringValue(), vpc: r.inputs["vpcId"].StringValue(), tags: tagsOf(r.inputs)})
		case typeEip:
			allocation := r.outputs["allocationId"].StringValue()
			a := fakeAddress{allocationID: allocation, instanceID: associated[allocation], tags: tagsOf(r.inputs)}
			if a.instanceID != "" {
				a.associationID = "eipassoc-" + r.name
			}
			next.addresses = append(next.addresses, a)
		case typeSnapshot:
			next.snapshots = append(next.snapshots, fakeSnapshot{id: r.id, volumeID: r.inputs["volumeId"].StringValue(), state: "completed",
				start: "2026-11-30T12:00:00Z", sizeGiB: next.volumeSize(r.inputs["volumeId"].StringValue(), f), tags: tagsOf(r.inputs)})
		}
	}
	return next
}

// setStateID makes the state hold the resource under another id, as after an update that
// replaced it and failed before its dependents moved.
func (f *fakeAWS) setStateID(key, id string) {
	held := f.state[key]
	held.id, held.outputs = id, held.outputs.Copy()
	held.outputs["id"] = resource.NewStringProperty(id)
	f.state[key] = held
}

// setStateOutput changes one output of a resource the state holds.
func (f *fakeAWS) setStateOutput(key, output string, value any) {
	held := f.state[key]
	held.outputs = held.outputs.Copy()
	held.outputs[resource.PropertyKey(output)] = resource.NewPropertyValue(value)
	f.state[key] = held
}

// clone copies an account, its state and previous outputs, for another run from the same point.
func (f *fakeAWS) clone() *fakeAWS {
	return &fakeAWS{
		zones: f.zones, localZones: f.localZones, offerings: maps.Clone(f.offerings), instanceTypes: maps.Clone(f.instanceTypes),
		amis: maps.Clone(f.amis), defaultVPC: f.defaultVPC, defaultZones: f.defaultZones, subnets: maps.Clone(f.subnets),
		routes: maps.Clone(f.routes), volumes: slices.Clone(f.volumes), instances: slices.Clone(f.instances), groups: slices.Clone(f.groups),
		addresses: slices.Clone(f.addresses), snapshots: slices.Clone(f.snapshots), spotPrices: maps.Clone(f.spotPrices), quotas: maps.Clone(f.quotas),
		state: maps.Clone(f.state), invokeDelay: f.invokeDelay,
	}
}

// volumeSize is the size of a volume of the previous account.
func (f *fakeAWS) volumeSize(id string, previous *fakeAWS) int {
	for _, v := range previous.volumes {
		if v.id == id {
			return v.sizeGiB
		}
	}
	return 0
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

// matchesFilter says whether a value passes the named filter; absent filters pass.
func matchesFilter(args resource.PropertyMap, name, value string) bool {
	values := filterValues(args, name)
	return values == nil || slices.Contains(values, value)
}

func (f *fakeAWS) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	f.mu.Lock()
	held, inState := f.state[args.TypeToken+"::"+args.Name]
	id, dryRun := held.id, f.dryRun
	f.mu.Unlock()
	if !inState {
		id = args.Name + "-id"
		if dryRun {
			id = "" // to be created: unknown in a preview, and so are its computed outputs
		}
	}
	if !inState && !dryRun && args.TypeToken == typeSecurityGroup {
		for _, g := range f.groups {
			if g.name == args.Inputs["name"].StringValue() && g.vpc == args.Inputs["vpcId"].StringValue() {
				return "", nil, fmt.Errorf("creating Security Group (%s): InvalidGroup.Duplicate: The security group '%s' already exists for VPC '%s'", g.name, g.name, g.vpc)
			}
		}
	}
	outputs := args.Inputs.Copy()
	if args.TypeToken == typeStash {
		// The engine's Stash keeps the value it was created with (builtins.go, Update).
		outputs["output"] = args.Inputs["input"]
		if inState {
			outputs["output"] = held.outputs["output"]
		}
	}
	if id != "" {
		f.computeOutputs(args, outputs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registrations = append(f.registrations, registration{
		typ: args.TypeToken, name: args.Name, id: id, inputs: args.Inputs, outputs: outputs, rpc: args.RegisterRPC,
	})
	return id, outputs, nil
}

// computeOutputs adds what AWS decides to a resource's outputs.
func (f *fakeAWS) computeOutputs(args pulumi.MockResourceArgs, outputs resource.PropertyMap) {
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
			f.launchSpot(args, outputs)
		}
	case typeRole:
		outputs["arn"] = resource.NewStringProperty("arn:aws:iam::" + testAccount + ":role/" + args.Inputs["name"].StringValue())
	case typeInstanceProfile:
		outputs["arn"] = resource.NewStringProperty("arn:aws:iam::" + testAccount + ":instance-profile/" + args.Inputs["name"].StringValue())
	case typeFunction:
		outputs["arn"] = resource.NewStringProperty("arn:aws:lambda:us-east-1:" + testAccount + ":function:" + args.Inputs["name"].StringValue())
	case typeFunctionURL:
		outputs["functionUrl"] = resource.NewStringProperty("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/")
	case typeLogGroup:
		outputs["arn"] = resource.NewStringProperty("arn:aws:logs:us-east-1:" + testAccount + ":log-group:" + args.Inputs["name"].StringValue())
	}
}

// launchSpot answers as the provider's spot request does: the instance's id and root volume,
// and, for the tests' eyes only (launched*), where EC2 put it and what its metadata options
// are. RequestSpotInstances sends no Placement with interruption behaviour stop and no
// metadata options (ec2_spot_instance_request.go, resourceSpotInstanceRequestCreate): the
// zone is the subnet's, or EC2's pick without one; tokens are required only when the AMI says so.
func (f *fakeAWS) launchSpot(args pulumi.MockResourceArgs, outputs resource.PropertyMap) {
	outputs["spotInstanceId"] = resource.NewStringProperty("i-spot-" + args.Name)
	root := outputs["rootBlockDevice"].ObjectValue().Copy()
	root["volumeId"] = resource.NewStringProperty("vol-root-" + args.Name)
	outputs["rootBlockDevice"] = resource.NewObjectProperty(root)
	zone := "us-east-1d" // EC2's choice
	if subnet, ok := args.Inputs["subnetId"]; ok && subnet.IsString() {
		zone = f.subnetZone(subnet.StringValue())
	}
	tokens := "optional"
	if f.amis[args.Inputs["ami"].StringValue()].imdsSupport == "v2.0" {
		tokens = "required"
	}
	outputs["launchedZone"] = resource.NewStringProperty(zone)
	outputs["launchedHttpTokens"] = resource.NewStringProperty(tokens)
}

func (f *fakeAWS) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	f.mu.Lock()
	record := len(f.invokes)
	f.invokes = append(f.invokes, invokeRecord{token: args.Token, start: f.tick()})
	f.mu.Unlock()
	time.Sleep(f.invokeDelay)
	defer func() {
		f.mu.Lock()
		f.invokes[record].end = f.tick()
		f.mu.Unlock()
	}()
	if action, ok := f.denied[args.Token]; ok {
		// As the provider quotes EC2's refusal (SDK v2 operation error, HTTP 403).
		service, call, _ := strings.Cut(action, ":")
		return nil, fmt.Errorf("reading: operation error %s: %s, https response error StatusCode: 403, RequestID: 6f1c0e4a-0000-4000-8000-000000000000, "+
			"api error UnauthorizedOperation: You are not authorized to perform this operation. User: arn:aws:sts::%s:assumed-role/deployer/ci "+
			"is not authorized to perform: %s because no identity-based policy allows the %s action", strings.ToUpper(service), call, testAccount, action, action)
	}
	if f.throttled[args.Token] {
		return nil, fmt.Errorf("reading: operation error EC2: DescribeAddresses, exceeded maximum number of attempts, 3, https response error StatusCode: 503, " +
			"RequestID: 6f1c0e4a-0000-4000-8000-000000000001, api error RequestLimitExceeded: Request limit exceeded.")
	}
	return f.answer(args)
}

// tick is the mock's sequence counter; call with mu held.
func (f *fakeAWS) tick() int {
	n := 0
	for _, r := range f.invokes {
		n = max(n, r.start, r.end)
	}
	return n + 1
}

func (f *fakeAWS) answer(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case readStateToken:
		name := args.Args["stackName"].StringValue()
		f.mu.Lock()
		f.stackReads = append(f.stackReads, name)
		f.mu.Unlock()
		stack := name[strings.LastIndex(name, "/")+1:]
		resources := resource.PropertyMap{}
		for key, held := range f.state {
			typ, logical, _ := strings.Cut(key, "::")
			urn := fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", stack, configNamespace, typ, logical)
			resources[resource.PropertyKey(urn)] = resource.NewObjectProperty(resource.PropertyMap{
				"type": resource.NewStringProperty(typ), "outputs": resource.NewObjectProperty(held.outputs)})
		}
		return resource.PropertyMap{"name": resource.NewStringProperty(name), "outputs": resource.NewObjectProperty(resources)}, nil
	case "aws:iam/getPolicy:getPolicy":
		arn := args.Args["arn"].StringValue()
		if f.boundaryFails {
			return nil, errors.New("reading IAM Policy: operation error IAM: GetPolicy, exceeded maximum number of attempts, 3, https response error StatusCode: 0, RequestID: , request send failed")
		}
		if !f.boundary || arn != "arn:aws:iam::"+testAccount+":policy/n3x-runner-boundary" {
			return nil, fmt.Errorf("reading IAM Policy (%s): couldn't find resource", arn)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": arn, "arn": arn, "name": "n3x-runner-boundary", "policy": "{}"}), nil
	case "aws:ec2/getEips:getEips":
		ids := []string{}
		for _, a := range f.addresses {
			if matchesTags(a.tags, args.Args["tags"], args.Args) {
				ids = append(ids, a.allocationID)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "allocationIds": ids, "publicIps": []string{}}), nil
	case "aws:ec2/getElasticIp:getElasticIp":
		for _, a := range f.addresses {
			if a.allocationID == args.Args["id"].StringValue() {
				return resource.NewPropertyMapFromMap(map[string]any{"id": a.allocationID, "tags": a.tags, "instanceId": a.instanceID,
					"associationId": a.associationID}), nil
			}
		}
		return nil, errors.New("no matching EC2 EIP found")
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
			"deprecationTime": ami.deprecationTime, "imdsSupport": ami.imdsSupport,
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
			return nil, fmt.Errorf("reading Service Quota (%s): AccessDeniedException: User is not authorized to perform: servicequotas:GetAWSDefaultServiceQuota", code)
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
			attachedOnly := filterValues(args.Args, "attachment.instance-id") != nil || filterValues(args.Args, "attachment.status") != nil
			if matchesTags(v.tags, args.Args["tags"], args.Args) && matchesFilter(args.Args, "volume-id", v.id) &&
				(!attachedOnly || (v.attachedTo != "" && matchesFilter(args.Args, "attachment.instance-id", v.attachedTo))) {
				ids = append(ids, v.id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	case "aws:ebs/getVolume:getVolume":
		for _, v := range f.volumes {
			if slices.Equal(filterValues(args.Args, "volume-id"), []string{v.id}) {
				return resource.NewPropertyMapFromMap(map[string]any{"id": v.id, "volumeId": v.id, "availabilityZone": v.zone, "tags": v.tags,
					"size": v.sizeGiB, "snapshotId": v.snapshotID}), nil
			}
		}
		return nil, errors.New("Your query returned no results. Please change your search criteria and try again.")
	case "aws:ec2/getInstances:getInstances":
		states := []string{"running"}
		if s, ok := args.Args["instanceStateNames"]; ok {
			states = nil
			for _, v := range s.ArrayValue() {
				states = append(states, v.StringValue())
			}
		}
		ids := []string{}
		for _, i := range f.instances {
			if slices.Contains(states, i.state) && matchesTags(i.tags, args.Args["instanceTags"], args.Args) && matchesFilter(args.Args, "image-id", i.ami) &&
				matchesFilter(args.Args, "instance-id", i.id) && matchesFilter(args.Args, "metadata-options.http-tokens", i.httpTokens) {
				ids = append(ids, i.id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	case "aws:ec2/getSecurityGroups:getSecurityGroups":
		ids, vpcs := []string{}, []string{}
		for _, g := range f.groups {
			if matchesFilter(args.Args, "group-name", g.name) && matchesTags(g.tags, args.Args["tags"], args.Args) {
				ids, vpcs = append(ids, g.id), append(vpcs, g.vpc)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids, "vpcIds": vpcs}), nil
	case "aws:ebs/getSnapshotIds:getSnapshotIds":
		var found []fakeSnapshot
		for _, s := range f.snapshots {
			if matchesTags(s.tags, resource.PropertyValue{}, args.Args) && matchesFilter(args.Args, "status", s.state) {
				found = append(found, s)
			}
		}
		slices.SortFunc(found, func(a, b fakeSnapshot) int { return strings.Compare(b.start, a.start) })
		ids := []string{}
		for _, s := range found {
			ids = append(ids, s.id)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": "us-east-1", "ids": ids}), nil
	case "aws:ebs/getSnapshot:getSnapshot":
		// As ebs_snapshot_data_source.go: the ids and filters select, most_recent picks the
		// newest by start time, and none, or several without most_recent, fail.
		var found []fakeSnapshot
		for _, s := range f.snapshots {
			byID := true
			if ids, ok := args.Args["snapshotIds"]; ok {
				byID = slices.ContainsFunc(ids.ArrayValue(), func(v resource.PropertyValue) bool { return v.StringValue() == s.id })
			}
			if byID && matchesTags(s.tags, resource.PropertyValue{}, args.Args) && matchesFilter(args.Args, "status", s.state) {
				found = append(found, s)
			}
		}
		slices.SortStableFunc(found, func(a, b fakeSnapshot) int { return strings.Compare(b.start, a.start) })
		mostRecent := args.Args["mostRecent"].IsBool() && args.Args["mostRecent"].BoolValue()
		switch {
		case len(found) == 0:
			return nil, errors.New("Your query returned no results. Please change your search criteria and try again.")
		case len(found) > 1 && !mostRecent:
			return nil, errors.New("Your query returned more than one result. Please try a more specific search criteria, or set `most_recent` attribute to true.")
		}
		newest := found[0]
		return resource.NewPropertyMapFromMap(map[string]any{"id": newest.id, "snapshotId": newest.id, "volumeSize": newest.sizeGiB,
			"state": newest.state, "startTime": newest.start, "tags": newest.tags}), nil
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

// filterValues returns the values of the named entry of an invoke's "filters" argument,
// nil when there is no such filter.
func filterValues(args resource.PropertyMap, name string) []string {
	filters, ok := args["filters"]
	if !ok || !filters.IsArray() {
		return nil
	}
	var values []string
	for _, filter := range filters.ArrayValue() {
		if filter.ObjectValue()["name"].StringValue() == name {
			values = []string{}
			for _, v := range filter.ObjectValue()["values"].ArrayValue() {
				values = append(values, v.StringValue())
			}
		}
	}
	return values
}

// testSource is a configSource for the given n3x keys of a stack, with the secret keys set
// as secrets, as `pulumi config set --secret` would, except those named plain.
func testSource(values map[string]string, stack string, plain ...string) configSource {
	return configSource{
		get: func(key string) string { return values[key] },
		secret: func(key string) bool {
			name := strings.TrimPrefix(key, configNamespace+":")
			return secretKey(name) && !slices.Contains(plain, name)
		},
		stack: stack,
		keys:  func() []string { return slices.Collect(maps.Keys(values)) },
	}
}

// secretKey says whether a test sets a key with --secret: the program's secret keys, and
// of the keys it does not know, those whose name says secret (n3x:gitlabrunnertoken).
func secretKey(name string) bool {
	for _, k := range configKeys {
		if k.name == name {
			return k.secret
		}
	}
	return strings.Contains(strings.ToLower(name), "token")
}

// mustLoadConfig reads the given n3x keys (unset ones take their defaults) for a stack.
func mustLoadConfig(t *testing.T, values map[string]string, stack string) Config {
	t.Helper()
	cfg, err := loadConfig(testSource(values, stack))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// deployment is the result of running the program once against fakeAWS.
type deployment struct {
	aws      *fakeAWS
	fleet    *fleet
	outputs  map[string]any // resolved; unknowns of a preview are absent
	warnings []string       // what the program logged as warnings, in order
	infos    []string       // and as information
	errors   []string       // and as errors
	err      error          // what the program returned
	// the provider's default tags (aws:defaultTags), which it adds to what it tags
	defaultTags map[string]string
}

// recordingLog records what the program logs; the mock engine would drop it.
type recordingLog struct {
	pulumi.Log
	mu                      *sync.Mutex
	warnings, infos, errors *[]string
}

func (l recordingLog) Warn(msg string, _ *pulumi.LogArgs) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.warnings = append(*l.warnings, msg)
	return nil
}

func (l recordingLog) Info(msg string, _ *pulumi.LogArgs) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.infos = append(*l.infos, msg)
	return nil
}

func (l recordingLog) Error(msg string, _ *pulumi.LogArgs) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.errors = append(*l.errors, msg)
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
// for the given stack and n3x config keys, and resolves its outputs. extra holds other
// namespaces' keys, such as aws:defaultTags, and "@organization" for Pulumi Cloud's.
func deploy(t *testing.T, aws *fakeAWS, stack string, dryRun bool, cfg map[string]string, extra ...string) deployment {
	t.Helper()
	d := deployment{aws: aws}
	aws.dryRun = dryRun
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "aws:defaultTags" {
			var value struct{ Tags map[string]string }
			if err := json.Unmarshal([]byte(extra[i+1]), &value); err != nil {
				t.Fatal(err)
			}
			d.defaultTags = value.Tags
		}
	}
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = map[string]string{"aws:region": "us-east-1"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i] == "@organization" { // the Pulumi Cloud organization the CLI passes
				info.Organization = extra[i+1]
				continue
			}
			info.Config[extra[i]] = extra[i+1]
		}
		for key, value := range cfg {
			info.Config[configNamespace+":"+key] = value
			if secretKey(key) {
				info.ConfigSecretKeys = append(info.ConfigSecretKeys, configNamespace+":"+key)
			}
		}
		info.DryRun = dryRun
		// The engine passes the configuration in the environment too, where the program
		// lists the stack's keys (stackConfigKeys).
		passed, err := json.Marshal(info.Config)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(pulumi.EnvConfig, string(passed))
	}
	var mu sync.Mutex
	d.err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		ctx.Log = recordingLog{Log: ctx.Log, mu: &mu, warnings: &d.warnings, infos: &d.infos, errors: &d.errors}
		f, err := deployAndExport(ctx)
		d.fleet = f
		return err
	}, pulumi.WithMocks(configNamespace, stack, aws), withConfig)
	switch {
	case d.err == nil:
		d.outputs = resolveAll(t, d.fleet.outputs())
	case len(d.errors) > 0:
		d.err = errors.New(d.errors[0]) // what the operator reads, not the SDK's wrapper
	}
	return d
}

// mustDeploy is deploy for configurations that must work.
func mustDeploy(t *testing.T, cfg map[string]string) deployment {
	t.Helper()
	return mustDeployOn(t, newFakeAWS(), cfg)
}

// mustDeployOn is mustDeploy on a given account.
func mustDeployOn(t *testing.T, aws *fakeAWS, cfg map[string]string) deployment {
	t.Helper()
	d := deploy(t, aws, "dev", false, cfg)
	if d.err != nil {
		t.Fatalf("deploy failed: %v", d.err)
	}
	return d
}

// resolveAll waits for every output and returns the plain values of the known ones. A
// null one is left out, as the engine leaves it out of the stack's outputs (the checkpoint
// keeps no null property), so pulumi stack output says the stack has none of that name.
func resolveAll(t *testing.T, outputs map[string]pulumi.Input) map[string]any {
	t.Helper()
	resolved := map[string]any{}
	for name, value := range outputs {
		if value == nil {
			continue
		}
		result := awaitInput(t, value)
		if !result.known || result.value == nil {
			continue
		}
		resolved[name] = result.value
	}
	return resolved
}

type awaited struct {
	value any
	known bool
}

// awaitInput resolves one input outside the program.
func awaitInput(t *testing.T, input pulumi.Input) awaited {
	t.Helper()
	result, err := internals.UnsafeAwaitOutput(context.Background(), pulumi.ToOutput(input))
	if err != nil {
		t.Fatal(err)
	}
	return awaited{plain(result.Value), result.Known}
}

// plain turns resolved Pulumi values (pulumi.ID inside maps and slices) into plain ones.
func plain(v any) any {
	switch v := v.(type) {
	case pulumi.ID:
		return string(v)
	case map[string]string:
		m := map[string]any{}
		for k, e := range v {
			m[k] = e
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = plain(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = plain(e)
		}
		return s
	}
	return v
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

// hasDependency says whether the registration waits for the named resource.
func hasDependency(r registration, name string) bool {
	return slices.ContainsFunc(r.rpc.GetDependencies(), func(urn string) bool { return urnName(urn) == name })
}
