package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// stackState is what this stack's state holds: its state id, its security group and each
// runner's instance, data volumes and address. It is read from the state itself, through the
// engine's builtin invoke pulumi:pulumi:readStackResourceOutputs, which answers with every
// resource of the stack's latest checkpoint but those pending deletion (pulumi/pkg
// backend/backend.go, backendClient.GetStackResourceOutputs). The engine writes that
// checkpoint as each step completes, so it holds what a failed or cancelled update made,
// and it follows pulumi refresh, pulumi state delete and pulumi import: unlike the outputs
// of the last successful update, it is never older than the state the engine diffs
// against. One exception: up --refresh and preview --refresh refresh in memory before the
// program runs, so a resource their refresh drops is still read here (shown on the rig);
// that is why a volume counts as existing only when EC2 also has it (fleetFacts).
type stackState struct {
	stateID         string // the value of this stack's state-id Stash; "" before its first update
	securityGroupID string
	roleBoundary    string                 // the runner role's permissions boundary, "" for none (boundary.go)
	runners         map[string]stateRunner // by runner name: x86, x86-2, graviton
}

// stateRunner is one runner as the state holds it; a field is zero when the state does not
// hold that resource.
type stateRunner struct {
	arch       string // x86_64 or arm64
	instance   stateInstance
	volumes    map[string]stateVolume // by role: cache, yocto
	attached   map[string]bool        // by role: the state holds the volume's attachment
	stopsFirst map[string]bool        // by role: that attachment stops the instance before it detaches (an imported one does not)
	moveFrom   map[string]string      // by role: the volume a zone move snapshotted (its move snapshot is in the state), pending deletion until the move finishes
	addressID  string                 // the Elastic IP's allocation id
	associated bool                   // the state holds the address's association
}

// stateInstance is a runner's instance as the state holds it: an ec2.Instance, or the
// instance of an ec2.SpotInstanceRequest.
type stateInstance struct {
	id                                         string // "" when the state holds none, or a Spot request without an instance yet
	spot                                       bool
	ami, instanceType, zone, subnetID, keyName string
	profile                                    string // the instance profile's name
	rootSizeGiB                                int
}

// stateVolume is a data volume as the state holds it.
type stateVolume struct {
	id, zone      string
	finalSnapshot bool // the provider's final_snapshot, as the volume was created
}

// The logical names and types the state is read by; they have not changed since the first
// version of this program.
const (
	stateIDName           = "state-id"
	securityGroupLogical  = "runner-sg"
	typeNameStash         = "pulumi:index:Stash"
	typeNameSecurityGroup = "aws:ec2/securityGroup:SecurityGroup"
	typeNameInstance      = "aws:ec2/instance:Instance"
	typeNameSpotRequest   = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
	typeNameVolume        = "aws:ebs/volume:Volume"
	typeNameEip           = "aws:ec2/eip:Eip"
	typeNameAttachment    = "aws:ec2/volumeAttachment:VolumeAttachment"
	typeNameEipAssoc      = "aws:ec2/eipAssociation:EipAssociation"
	typeNameSnapshot      = "aws:ebs/snapshot:Snapshot"
	typeNameRole          = "aws:iam/role:Role"
	runnerRoleLogical     = "runner-role"
	readStateToken        = "pulumi:pulumi:readStackResourceOutputs"
)

// stateIDTag marks what this stack's state made (its security group, instances, data
// volumes and addresses) with the state's own random id, which only its state-id Stash
// holds: a resource that carries it but that the state does not hold is this stack's own
// leftover (leftovers.go), never another copy's, whose state has another id.
const stateIDTag = "n3x:state-id"

// stateStackName is how the program names its own stack to the backend: alone on the local
// and S3 backends ("organization" is their placeholder organization), which both their
// layouts resolve within the current project (the legacy layout refuses a qualified name),
// and organization/project/stack on Pulumi Cloud.
func stateStackName(ctx *pulumi.Context) string {
	if ctx.Organization() == "organization" {
		return ctx.Stack()
	}
	return fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
}

// readStackState reads this stack's resources from its state. The answer may hold secrets
// (the SSM parameters' values), which are never kept: only ids and placement are read.
func readStackState(ctx *pulumi.Context) (stackState, error) {
	name := stateStackName(ctx)
	var result struct {
		Outputs map[string]checkpointEntry `pulumi:"outputs"`
	}
	args := struct {
		StackName string `pulumi:"stackName"`
	}{name}
	if _, err := ctx.InvokePackageRaw(readStateToken, args, &result, ""); err != nil {
		return stackState{}, fmt.Errorf("reading this stack's state (%s): %w", name, err)
	}
	resources := map[string]any{}
	for urn, entry := range result.Outputs {
		resources[urn] = map[string]any{"type": entry.Type, "outputs": entry.Outputs.asMap()}
	}
	return parseStackState(resources), nil
}

// checkpointEntry is one resource of the checkpoint, with only the outputs the program reads.
type checkpointEntry struct {
	Type    string       `pulumi:"type"`
	Outputs stateOutputs `pulumi:"outputs"`
}

// stateOutputs are the outputs parseStackState reads, by the names the providers give them.
// Only these are decoded: an output the program never reads may hold what the SDK cannot
// decode, such as the wake function's code archive after a refresh (the engine sends a
// provider's Read the assets without their contents, provider_plugin.go, and the provider
// hands them back so).
type stateOutputs struct {
	Output                      any `pulumi:"output"`
	ID                          any `pulumi:"id"`
	ARN                         any `pulumi:"arn"`
	AMI                         any `pulumi:"ami"`
	InstanceType                any `pulumi:"instanceType"`
	AvailabilityZone            any `pulumi:"availabilityZone"`
	SubnetID                    any `pulumi:"subnetId"`
	KeyName                     any `pulumi:"keyName"`
	IamInstanceProfile          any `pulumi:"iamInstanceProfile"`
	SpotInstanceID              any `pulumi:"spotInstanceId"`
	RootBlockDevice             any `pulumi:"rootBlockDevice"`
	FinalSnapshot               any `pulumi:"finalSnapshot"`
	StopInstanceBeforeDetaching any `pulumi:"stopInstanceBeforeDetaching"`
	VolumeID                    any `pulumi:"volumeId"`
	AllocationID                any `pulumi:"allocationId"`
	PermissionsBoundary         any `pulumi:"permissionsBoundary"`
}

// asMap is the outputs that are set, by name.
func (o stateOutputs) asMap() map[string]any {
	m := map[string]any{}
	v := reflect.ValueOf(o)
	for i := range v.NumField() {
		if value := v.Field(i).Interface(); value != nil {
			m[v.Type().Field(i).Tag.Get("pulumi")] = value
		}
	}
	return m
}

// parseStackState reads the resources by URN, each {type, outputs}.
func parseStackState(resources map[string]any) stackState {
	s := stackState{runners: map[string]stateRunner{}}
	for _, urn := range slices.Sorted(maps.Keys(resources)) {
		entry, _ := resources[urn].(map[string]any)
		typ, _ := entry["type"].(string)
		outputs, _ := entry["outputs"].(map[string]any)
		name := urn[strings.LastIndex(urn, "::")+2:]
		switch typ {
		case typeNameStash:
			if name == stateIDName {
				s.stateID, _ = outputs["output"].(string)
			}
		case typeNameSecurityGroup:
			if name == securityGroupLogical {
				s.securityGroupID = resourceID(outputs)
			}
		case typeNameRole:
			if name == runnerRoleLogical {
				s.roleBoundary = text(outputs, "permissionsBoundary")
			}
		case typeNameInstance, typeNameSpotRequest:
			if runner, ok := strings.CutSuffix(name, "-runner"); ok && isRunnerName(runner) {
				r := s.runner(runner)
				r.instance = stateInstance{spot: typ == typeNameSpotRequest, id: resourceID(outputs),
					ami: text(outputs, "ami"), instanceType: text(outputs, "instanceType"), zone: text(outputs, "availabilityZone"),
					subnetID: text(outputs, "subnetId"), keyName: text(outputs, "keyName"), profile: text(outputs, "iamInstanceProfile")}
				if r.instance.spot {
					r.instance.id = text(outputs, "spotInstanceId")
				}
				if root, ok := outputs["rootBlockDevice"].(map[string]any); ok {
					r.instance.rootSizeGiB = number(root, "volumeSize")
				} else if roots, ok := outputs["rootBlockDevice"].([]any); ok && len(roots) == 1 {
					root, _ := roots[0].(map[string]any)
					r.instance.rootSizeGiB = number(root, "volumeSize")
				}
				s.runners[runner] = r
			}
		case typeNameVolume:
			for _, role := range dataVolumeRoles {
				if runner, ok := strings.CutSuffix(name, "-"+role); ok && isRunnerName(runner) {
					r := s.runner(runner)
					final, _ := outputs["finalSnapshot"].(bool)
					r.volumes[role] = stateVolume{id: resourceID(outputs), zone: text(outputs, "availabilityZone"), finalSnapshot: final}
					s.runners[runner] = r
				}
			}
		case typeNameAttachment:
			for _, role := range dataVolumeRoles {
				if runner, ok := strings.CutSuffix(name, "-"+role+"-attachment"); ok && isRunnerName(runner) {
					r := s.runner(runner)
					r.attached[role] = true
					r.stopsFirst[role], _ = outputs["stopInstanceBeforeDetaching"].(bool)
					s.runners[runner] = r
				}
			}
		case typeNameSnapshot:
			// A zone move's snapshot (runner.go newDataVolume): the volume it was taken of stays,
			// pending deletion, until the update that makes its replacement finishes, and the
			// state read leaves out what is pending deletion.
			for _, role := range dataVolumeRoles {
				if runner, ok := strings.CutSuffix(name, "-"+role+"-move-snapshot"); ok && isRunnerName(runner) {
					r := s.runner(runner)
					r.moveFrom[role] = text(outputs, "volumeId")
					s.runners[runner] = r
				}
			}
		case typeNameEip:
			if runner, ok := strings.CutSuffix(name, "-address"); ok && isRunnerName(runner) {
				r := s.runner(runner)
				r.addressID = text(outputs, "allocationId")
				s.runners[runner] = r
			}
		case typeNameEipAssoc:
			if runner, ok := strings.CutSuffix(name, "-address-association"); ok && isRunnerName(runner) {
				r := s.runner(runner)
				r.associated = true
				s.runners[runner] = r
			}
		}
	}
	return s
}

// runner is the state's runner of that name, empty if the state holds nothing of it yet.
func (s stackState) runner(name string) stateRunner {
	r, ok := s.runners[name]
	if !ok {
		kind, _, _ := strings.Cut(name, "-")
		r = stateRunner{arch: architectureOfKind(kind), volumes: map[string]stateVolume{}, attached: map[string]bool{},
			stopsFirst: map[string]bool{}, moveFrom: map[string]string{}}
	}
	return r
}

// resourceID is a resource's id from its outputs: the provider's id, which the bridged
// provider puts among them, else the last part of its ARN.
func resourceID(outputs map[string]any) string {
	if id := text(outputs, "id"); id != "" {
		return id
	}
	arn := text(outputs, "arn")
	return arn[strings.LastIndex(arn, "/")+1:]
}

func text(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func number(m map[string]any, key string) int {
	n, _ := m[key].(float64)
	return int(n)
}

// isRunnerName says whether a logical-name prefix is a runner's: x86, graviton, x86-2, ….
func isRunnerName(name string) bool {
	kind, _, numbered := strings.Cut(name, "-")
	if architectureOfKind(kind) == "" {
		return false
	}
	return !numbered || (runnerNumber(name) >= 2 && runnerName(kind, runnerNumber(name)) == name)
}

// names lists the runners the state holds anything of, sorted.
func (s stackState) names() []string { return slices.Sorted(maps.Keys(s.runners)) }

// removed lists, sorted, the runners the state holds that the configuration no longer has:
// those whose count was lowered, and the Graviton runners when n3x:amiArm64 was emptied.
func (s stackState) removed(cfg Config) []string {
	configured := map[string]bool{}
	for _, spec := range runnerSpecs(cfg) {
		configured[spec.name] = true
	}
	var removed []string
	for _, name := range s.names() {
		if !configured[name] {
			removed = append(removed, name)
		}
	}
	return removed
}

// instanceIDs lists the instance id of every runner the state holds.
func (s stackState) instanceIDs() []string {
	var ids []string
	for _, name := range s.names() {
		if id := s.runners[name].instance.id; id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// volumeIDs lists every data volume id the state holds.
func (s stackState) volumeIDs() []string {
	var ids []string
	for _, name := range s.names() {
		for _, role := range dataVolumeRoles {
			if v, ok := s.runners[name].volumes[role]; ok && v.id != "" {
				ids = append(ids, v.id)
			}
		}
	}
	return ids
}

// pendingMoves lists, by volume id, the volumes a zone move snapshotted and that the state
// holds no more than as pending deletion: "x86 cache".
func (s stackState) pendingMoves() map[string]string {
	moves := map[string]string{}
	for _, name := range s.names() {
		for role, id := range s.runners[name].moveFrom {
			if id != "" && id != s.runners[name].volumes[role].id {
				moves[id] = name + " " + role
			}
		}
	}
	return moves
}

// volumeOwner names the runner and role of a data volume id the state holds.
func (s stackState) volumeOwner(id string) (runner, role string) {
	for name, r := range s.runners {
		for role, v := range r.volumes {
			if v.id == id {
				return name, role
			}
		}
	}
	return "", ""
}

// zone is where the state's runners are: the zone of a data volume, else of an instance;
// "" for a state without either.
func (s stackState) zone() string {
	for _, name := range s.names() {
		for _, role := range dataVolumeRoles {
			if v := s.runners[name].volumes[role]; v.zone != "" {
				return v.zone
			}
		}
	}
	for _, name := range s.names() {
		if zone := s.runners[name].instance.zone; zone != "" {
			return zone
		}
	}
	return ""
}

// skipCheckpointsWarning warns when the CLI saves the state only at the end of an update
// (PULUMI_SKIP_CHECKPOINTS, pulumi/pkg backend/snapshot.go: no save per step): then a
// cancelled update leaves resources its state does not record, not even the state id, and
// this program cannot tell them from another copy's.
func skipCheckpointsWarning(getenv func(string) string) []string {
	if v := getenv("PULUMI_SKIP_CHECKPOINTS"); v == "" || v == "0" || strings.EqualFold(v, "false") {
		return nil
	}
	return []string{"PULUMI_SKIP_CHECKPOINTS is set, so the state is saved only when an update ends: one that is cancelled or killed records nothing it made, " +
		"and the next preview cannot tell what it left from another copy's resources; unset it for pulumi up"}
}

// stateIDOrNew is the state's id, or a new random one for a stack whose state has none yet.
func (s stackState) stateIDOrNew() (string, error) {
	if s.stateID != "" {
		return s.stateID, nil
	}
	return randomStateID()
}

// randomStateID is 16 hex digits from crypto/rand.
var randomStateID = func() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making this stack's state id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// newStateID records the state id in the state, first of all resources, so a resource the
// update goes on to create carries an id that its state already holds, even when the update
// is cancelled while AWS creates it. Its input stays the value it holds: a preview after an
// update plans nothing for it.
func newStateID(ctx *pulumi.Context, id string) (*pulumi.Stash, error) {
	stash, err := pulumi.NewStash(ctx, stateIDName, &pulumi.StashArgs{Input: pulumi.String(id)})
	if err != nil {
		return nil, fmt.Errorf("state id: %w", err)
	}
	return stash, nil
}
