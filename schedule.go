package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/scheduler"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

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
// them at its end, with AWS's own scheduler: nothing of ours runs to do it. Each runner has
// its own start and stop schedule, because EC2 refuses a whole StartInstances call when it
// refuses one of its instances (a Spot runner stopped by an interruption, which only EC2 may
// restart; a terminated one): one runner's trouble never keeps the others stopped. The
// schedules' role can start and stop exactly this stack's runner instances; an AMI upgrade
// updates the instance ids in place.
func newWorkingHoursSchedules(ctx *pulumi.Context, cfg Config, account *callerFacts, boundary string, runners []*runner) error {
	hours := cfg.WorkingHours
	if hours.alwaysOn() {
		return nil
	}
	var arns []any
	for _, r := range runners {
		arns = append(arns, pulumi.Sprintf("arn:%s:ec2:%s:%s:instance/%s", account.partition, cfg.Region, account.accountID, r.machine.id))
	}
	policy := pulumi.All(arns...).ApplyT(func(resources []any) (string, error) {
		return policyJSON(policyStatement{Effect: "Allow", Action: []string{"ec2:StartInstances", "ec2:StopInstances"}, Resource: resources})
	}).(pulumi.StringOutput)
	role, permission, err := newServiceRole(ctx, serviceRole{
		logical: "runner-scheduler", name: schedulerRoleName(cfg), service: "scheduler.amazonaws.com",
		description: "EventBridge Scheduler starts and stops the n3x runners (n3x:workingHours)",
		// Only schedules of this account may use the role (the confused-deputy guard).
		condition:     map[string]map[string]string{"StringEquals": {"aws:SourceAccount": account.accountID}},
		policyLogical: "runner-scheduler-start-stop", policyName: "start-stop-runners", policy: policy, boundary: boundary,
	})
	if err != nil {
		return err
	}
	for _, r := range runners {
		input := r.machine.id.ApplyT(func(id string) (string, error) {
			body, err := json.Marshal(map[string][]string{"InstanceIds": {id}})
			return string(body), err
		}).(pulumi.StringOutput)
		for _, action := range scheduleActions {
			schedule := scheduleName(r.spec.physicalName(cfg), action.name)
			if _, err := scheduler.NewSchedule(ctx, r.spec.name+"-runner-"+action.name, &scheduler.ScheduleArgs{
				Name:                       pulumi.String(schedule),
				Description:                pulumi.String(fmt.Sprintf("%s the n3x runner %s (n3x:workingHours)", action.name, r.spec.name)),
				ScheduleExpression:         pulumi.String(hours.cron(action.at(hours))),
				ScheduleExpressionTimezone: pulumi.String(hours.Zone.String()),
				FlexibleTimeWindow:         &scheduler.ScheduleFlexibleTimeWindowArgs{Mode: pulumi.String("OFF")},
				Target: &scheduler.ScheduleTargetArgs{
					Arn:     pulumi.String(fmt.Sprintf("arn:%s:scheduler:::aws-sdk:ec2:%s", account.partition, action.api)),
					RoleArn: role.Arn,
					Input:   input,
				},
			}, pulumi.DependsOn([]pulumi.Resource{permission})); err != nil {
				return fmt.Errorf("schedule %s: %w", schedule, err)
			}
		}
	}
	return nil
}
