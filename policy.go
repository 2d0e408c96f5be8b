package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// policyDocument is an IAM policy, marshalled to the JSON IAM takes.
type policyDocument struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Effect    string
	Principal map[string]string            `json:",omitempty"`
	Action    any                          // one action or a list
	Resource  any                          `json:",omitempty"`
	Condition map[string]map[string]string `json:",omitempty"`
}

// policyJSON is a policy of the given statements, as IAM takes it.
func policyJSON(statements ...policyStatement) (string, error) {
	raw, err := json.Marshal(policyDocument{Version: "2012-10-17", Statement: statements})
	return string(raw), err
}

// serviceRole is an IAM role that one AWS service assumes, with its one inline policy.
type serviceRole struct {
	logical, name, description string
	service                    string                       // the principal, such as dlm.amazonaws.com
	condition                  map[string]map[string]string // on the trust, or nil
	policyLogical, policyName  string
	policy                     pulumi.StringInput // the inline policy's JSON
	boundary                   string             // the permissions boundary's ARN, "" for none (boundary.go)
}

// newServiceRole creates the role, which only its service may assume, and its inline policy.
func newServiceRole(ctx *pulumi.Context, r serviceRole) (*iam.Role, *iam.RolePolicy, error) {
	trust, err := policyJSON(policyStatement{Effect: "Allow", Principal: map[string]string{"Service": r.service}, Action: "sts:AssumeRole", Condition: r.condition})
	if err != nil {
		return nil, nil, err
	}
	args := &iam.RoleArgs{
		Name:             pulumi.String(r.name),
		Description:      pulumi.String(r.description),
		AssumeRolePolicy: pulumi.String(trust),
		Tags:             sharedTags(ctx, r.name),
	}
	if r.boundary != "" {
		args.PermissionsBoundary = pulumi.String(r.boundary)
	}
	role, err := iam.NewRole(ctx, r.logical, args)
	if err != nil {
		return nil, nil, fmt.Errorf("role %s: %w", r.name, err)
	}
	policy, err := iam.NewRolePolicy(ctx, r.policyLogical, &iam.RolePolicyArgs{Role: role.ID(), Name: pulumi.String(r.policyName), Policy: r.policy})
	if err != nil {
		return nil, nil, fmt.Errorf("policy of role %s: %w", r.name, err)
	}
	return role, policy, nil
}
