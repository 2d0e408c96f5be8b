package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/scheduler"
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

// scheduleActions are the two schedules of n3x:workingHours: the EventBridge Scheduler
// universal target (aws-sdk:ec2:...) each calls, and the time of day it fires.
var scheduleActions = []struct {
	name, api string
	at        func(workingHours) clock
}{
	{"start", "startInstances", func(w workingHours) clock { return w.Start }},
	{"stop", "stopInstances", func(w workingHours) clock { return w.Stop }},
}

// newWorkingHoursSchedules starts the runners at the start of n3x:workingHours and stops
// them at its end, with AWS's own scheduler: nothing of ours runs to do it. The schedules'
// role can start and stop exactly this stack's runner instances; an AMI upgrade updates
// the instance ids in place.
func newWorkingHoursSchedules(ctx *pulumi.Context, cfg Config, runners []*runner) error {
	hours := cfg.WorkingHours
	if hours.alwaysOn() {
		return nil
	}
	caller, err := aws.GetCallerIdentity(ctx, nil)
	if err != nil {
		return fmt.Errorf("reading the account id for the scheduler role: %w", err)
	}
	partition := strings.Split(caller.Arn, ":")[1]
	var ids, arns []any
	for _, r := range runners {
		ids = append(ids, r.machine.id)
		arns = append(arns, pulumi.Sprintf("arn:%s:ec2:%s:%s:instance/%s", partition, cfg.Region, caller.AccountId, r.machine.id))
	}
	name := cfg.NamePrefix + "-runner-scheduler"
	trust, err := json.Marshal(policyDocument{Version: "2012-10-17", Statement: []policyStatement{{
		Effect: "Allow", Principal: map[string]string{"Service": "scheduler.amazonaws.com"}, Action: "sts:AssumeRole",
		// Only schedules of this account may use the role (the confused-deputy guard).
		Condition: map[string]map[string]string{"StringEquals": {"aws:SourceAccount": caller.AccountId}},
	}}})
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, "runner-scheduler", &iam.RoleArgs{
		Name:             pulumi.String(name),
		Description:      pulumi.String("EventBridge Scheduler starts and stops the n3x runners (n3x:workingHours)"),
		AssumeRolePolicy: pulumi.String(string(trust)),
		Tags:             sharedTags(ctx, name),
	})
	if err != nil {
		return fmt.Errorf("scheduler role %s: %w", name, err)
	}
	if _, err := iam.NewRolePolicy(ctx, "runner-scheduler-start-stop", &iam.RolePolicyArgs{
		Role: role.ID(),
		Name: pulumi.String("start-stop-runners"),
		Policy: pulumi.All(arns...).ApplyT(func(resources []any) (string, error) {
			policy, err := json.Marshal(policyDocument{Version: "2012-10-17", Statement: []policyStatement{{
				Effect: "Allow", Action: []string{"ec2:StartInstances", "ec2:StopInstances"}, Resource: resources,
			}}})
			return string(policy), err
		}).(pulumi.StringOutput),
	}); err != nil {
		return fmt.Errorf("scheduler role policy %s: %w", name, err)
	}
	input := pulumi.All(ids...).ApplyT(func(ids []any) (string, error) {
		body, err := json.Marshal(map[string][]any{"InstanceIds": ids})
		return string(body), err
	}).(pulumi.StringOutput)
	for _, action := range scheduleActions {
		scheduleName := fmt.Sprintf("%s-runners-%s", cfg.NamePrefix, action.name)
		if _, err := scheduler.NewSchedule(ctx, "runners-"+action.name, &scheduler.ScheduleArgs{
			Name:                       pulumi.String(scheduleName),
			Description:                pulumi.String(fmt.Sprintf("%s the n3x runners (n3x:workingHours)", action.name)),
			ScheduleExpression:         pulumi.String(hours.cron(action.at(hours))),
			ScheduleExpressionTimezone: pulumi.String(hours.Zone.String()),
			FlexibleTimeWindow:         &scheduler.ScheduleFlexibleTimeWindowArgs{Mode: pulumi.String("OFF")},
			Target: &scheduler.ScheduleTargetArgs{
				Arn:     pulumi.String(fmt.Sprintf("arn:%s:scheduler:::aws-sdk:ec2:%s", partition, action.api)),
				RoleArn: role.Arn,
				Input:   input,
			},
		}); err != nil {
			return fmt.Errorf("schedule %s: %w", scheduleName, err)
		}
	}
	return nil
}
