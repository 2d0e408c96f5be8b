package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The CI roles (iam/*.json) against what the provider does. providerActions is, per Pulumi
// type the program registers and per data source it invokes, the IAM actions that
// terraform-provider-aws v5 (bundled by pulumi-aws 6.83.4) needs for each operation, read
// in the provider's source (the v5.54-era source, compared with v5.5.0 and v5.14 of pulumi's
// fork; the version pulumi-aws 6.83.4 bundles could not be read whole). The tests check that the program uses nothing the table lacks,
// that the preview role allows every data source and nothing that changes the account, and
// that the deploy role allows every row.
//
// allows evaluates only Action (with IAM's * and ? wildcards, case-insensitive) of Allow
// statements; allowsOn adds Resource, for the IAM, SSM and Scheduler names the program
// makes (section e), and the aws:ResourceTag conditions are checked against the tags the
// program sets. Other conditions (iam:PassedToService, iam:AWSServiceName) and the ARNs
// EC2 authorizes an action on are NOT evaluated: such a mistake passes these tests and
// fails in AWS. Deny and NotAction statements are refused rather than half-evaluated.

// iamOperation is what one operation of a resource type (Diff, Create, Read, Update,
// Delete) or one data-source call (Invoke) needs.
type iamOperation struct {
	source  string   // provider file and function the calls were read from
	actions []string // IAM actions; "A@B": AWS authorizes action A inside call B
}

// providerActions maps each type token the program registers and each invoke token it
// calls to its operations. Create and Update end with the resource's Read, listed under
// Read. Only arguments the program sets count (no launch templates, user data, managed
// policies, custom KMS keys).
var providerActions = map[string]map[string]iamOperation{
	// ------------------------------------------------------------------ EC2 resources
	typeInstance: {
		// Only an instance type change of an existing instance calls AWS (errors ignored).
		"Diff": {"internal/service/ec2/ec2_instance.go ResourceInstance CustomizeDiff (ForceNewIf instance_type: findInstanceTypeByName)",
			[]string{"ec2:DescribeInstanceTypes"}},
		"Create": {"internal/service/ec2/ec2_instance.go resourceInstanceCreate", []string{
			"ec2:DescribeImages", // root_block_device: the AMI's root device name
			"ec2:RunInstances",
			"ec2:CreateTags@ec2:RunInstances",
			"iam:PassRole@ec2:RunInstances", // iam_instance_profile
			"ec2:DescribeInstances",         // waitInstanceCreated
			"ec2:CreateTags",                // root_block_device tags, after the launch (errors logged)
		}},
		"Read": {"internal/service/ec2/ec2_instance.go resourceInstanceRead", []string{
			"ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeTags",
			"ec2:DescribeVpcs",              // errors logged
			"ec2:DescribeInstanceAttribute", // disableApiStop, disableApiTermination, userData, shutdown behaviour
			"ec2:DescribeVolumes",
			"ec2:DescribeInstanceCreditSpecifications", // burstable types
			"ec2:DescribeSpotInstanceRequests",         // spot lifecycle
		}},
		"Update": {"internal/service/ec2/ec2_instance.go resourceInstanceUpdate", []string{
			"ec2:CreateTags", "ec2:DeleteTags", // tags and root_block_device tags
			"ec2:DescribeIamInstanceProfileAssociations", // iam_instance_profile
			"ec2:AssociateIamInstanceProfile", "iam:PassRole@ec2:AssociateIamInstanceProfile",
			"ec2:ReplaceIamInstanceProfileAssociation", "iam:PassRole@ec2:ReplaceIamInstanceProfileAssociation",
			"ec2:DisassociateIamInstanceProfile",
			"ec2:StopInstances", "ec2:DescribeInstances", "ec2:ModifyInstanceAttribute", "ec2:StartInstances", // instance_type
			"ec2:ModifyInstanceMetadataOptions", // metadata_options
			// No ModifyVolume: the root's size replaces the instance (newMachine), its type
			// never changes, and its IOPS and throughput are gp3's defaults, never set.
		}},
		// No CancelSpotInstanceRequests: these instances are on demand (Spot runners are
		// SpotInstanceRequests), and the v5 check of instance_lifecycle never matches anyway
		// (hashicorp/terraform-provider-aws#38142).
		"Delete": {"internal/service/ec2/ec2_instance.go resourceInstanceDelete", []string{
			"ec2:ModifyInstanceAttribute", // disable_api_termination off first (errors logged)
			"ec2:TerminateInstances", "ec2:DescribeInstances",
		}},
	},
	typeSpotRequest: {
		"Create": {"internal/service/ec2/ec2_spot_instance_request.go resourceSpotInstanceRequestCreate", []string{
			"ec2:DescribeImages", // root_block_device
			"ec2:RequestSpotInstances",
			"ec2:CreateTags@ec2:RequestSpotInstances",
			"iam:PassRole@ec2:RequestSpotInstances",
			"ec2:DescribeSpotInstanceRequests", // wait_for_fulfillment
		}},
		"Read": {"internal/service/ec2/ec2_spot_instance_request.go resourceSpotInstanceRequestRead (readInstance)", []string{
			"ec2:DescribeSpotInstanceRequests", "ec2:DescribeInstances", "ec2:DescribeVolumes",
			"ec2:DescribeVpcs", // errors logged
		}},
		"Update": {"internal/service/ec2/ec2_spot_instance_request.go resourceSpotInstanceRequestUpdate", []string{
			"ec2:CreateTags", "ec2:DeleteTags", // tags only
		}},
		"Delete": {"internal/service/ec2/ec2_spot_instance_request.go resourceSpotInstanceRequestDelete", []string{
			"ec2:CancelSpotInstanceRequests", "ec2:TerminateInstances", "ec2:DescribeInstances",
		}},
	},
	typeVolume: {
		"Create": {"internal/service/ec2/ebs_volume.go resourceEBSVolumeCreate", []string{
			"ec2:CreateVolume", "ec2:CreateTags@ec2:CreateVolume", "ec2:DescribeVolumes",
		}},
		"Read": {"internal/service/ec2/ebs_volume.go resourceEBSVolumeRead", []string{"ec2:DescribeVolumes"}},
		"Update": {"internal/service/ec2/ebs_volume.go resourceEBSVolumeUpdate", []string{
			"ec2:CreateTags", "ec2:DeleteTags", "ec2:ModifyVolume", "ec2:DescribeVolumes",
		}},
		"Delete": {"internal/service/ec2/ebs_volume.go resourceEBSVolumeDelete", []string{
			"ec2:CreateSnapshot", "ec2:CreateTags@ec2:CreateSnapshot", "ec2:DescribeSnapshots", // final_snapshot
			"ec2:DeleteVolume", "ec2:DescribeVolumes",
		}},
	},
	typeAttachment: { // no Update: every argument forces a new attachment
		"Create": {"internal/service/ec2/ebs_volume_attachment.go resourceVolumeAttachmentCreate", []string{
			"ec2:DescribeVolumes", "ec2:DescribeInstances", "ec2:AttachVolume",
		}},
		"Read": {"internal/service/ec2/ebs_volume_attachment.go resourceVolumeAttachmentRead", []string{"ec2:DescribeVolumes"}},
		"Delete": {"internal/service/ec2/ebs_volume_attachment.go resourceVolumeAttachmentDelete", []string{
			"ec2:StopInstances", "ec2:DescribeInstances", // stop_instance_before_detaching
			"ec2:DetachVolume", "ec2:DescribeVolumes",
		}},
	},
	typeEip: {
		"Create": {"internal/service/ec2/ec2_eip.go resourceEIPCreate", []string{
			"ec2:AllocateAddress", "ec2:CreateTags@ec2:AllocateAddress", "ec2:DescribeAddresses",
		}},
		"Read": {"internal/service/ec2/ec2_eip.go resourceEIPRead (findEIPDomainNameAttributeByAllocationID)", []string{
			"ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute",
		}},
		"Update": {"internal/service/ec2/ec2_eip.go resourceEIPUpdate", []string{"ec2:CreateTags", "ec2:DeleteTags"}},
		"Delete": {"internal/service/ec2/ec2_eip.go resourceEIPDelete", []string{"ec2:DisassociateAddress", "ec2:ReleaseAddress"}},
	},
	typeEipAssoc: { // no Update: every argument forces a new association
		"Create": {"internal/service/ec2/ec2_eip_association.go resourceEIPAssociationCreate", []string{
			"ec2:AssociateAddress", "ec2:DescribeAddresses",
		}},
		"Read":   {"internal/service/ec2/ec2_eip_association.go resourceEIPAssociationRead", []string{"ec2:DescribeAddresses"}},
		"Delete": {"internal/service/ec2/ec2_eip_association.go resourceEIPAssociationDelete", []string{"ec2:DisassociateAddress"}},
	},
	typeKeyPair: {
		"Create": {"internal/service/ec2/ec2_key_pair.go resourceKeyPairCreate", []string{"ec2:ImportKeyPair", "ec2:CreateTags@ec2:ImportKeyPair"}},
		"Read":   {"internal/service/ec2/ec2_key_pair.go resourceKeyPairRead", []string{"ec2:DescribeKeyPairs"}},
		"Update": {"internal/service/ec2/ec2_key_pair.go resourceKeyPairUpdate", []string{"ec2:CreateTags", "ec2:DeleteTags"}},
		"Delete": {"internal/service/ec2/ec2_key_pair.go resourceKeyPairDelete", []string{"ec2:DeleteKeyPair"}},
	},
	typeSecurityGroup: {
		"Create": {"internal/service/ec2/vpc_security_group.go resourceSecurityGroupCreate", []string{
			"ec2:CreateSecurityGroup", "ec2:CreateTags@ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups",
			"ec2:RevokeSecurityGroupEgress", // the default allow-all egress rules, IPv4 and IPv6
		}},
		"Read": {"internal/service/ec2/vpc_security_group.go resourceSecurityGroupRead", []string{"ec2:DescribeSecurityGroups"}},
		"Update": {"internal/service/ec2/vpc_security_group.go resourceSecurityGroupUpdate", []string{
			"ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeSecurityGroups",
		}},
		"Delete": {"internal/service/ec2/vpc_security_group.go resourceSecurityGroupDelete", []string{
			"ec2:DescribeNetworkInterfaces", // lingering ENIs
			"ec2:DeleteSecurityGroup", "ec2:DescribeSecurityGroups",
		}},
	},
	typeIngressRule: {
		// Tags go with the rule (TagSpecifications of AuthorizeSecurityGroupIngress).
		"Create": {"internal/service/ec2/vpc_security_group_ingress_rule.go securityGroupRuleResource.Create, securityGroupIngressRuleResource.create", []string{
			"ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags@ec2:AuthorizeSecurityGroupIngress",
		}},
		"Read": {"internal/service/ec2/vpc_security_group_ingress_rule.go securityGroupRuleResource.Read (securityGroupIngressRuleResource.findByID)", []string{
			"ec2:DescribeSecurityGroupRules",
		}},
		"Update": {"internal/service/ec2/vpc_security_group_ingress_rule.go securityGroupRuleResource.Update", []string{
			"ec2:ModifySecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags",
		}},
		"Delete": {"internal/service/ec2/vpc_security_group_ingress_rule.go securityGroupRuleResource.Delete, securityGroupIngressRuleResource.delete", []string{
			"ec2:RevokeSecurityGroupIngress",
		}},
	},
	typeEgressRule: {
		"Create": {"internal/service/ec2/vpc_security_group_egress_rule.go securityGroupEgressRuleResource.create (securityGroupRuleResource.Create)", []string{
			"ec2:AuthorizeSecurityGroupEgress", "ec2:CreateTags@ec2:AuthorizeSecurityGroupEgress",
		}},
		"Read": {"internal/service/ec2/vpc_security_group_egress_rule.go securityGroupEgressRuleResource.findByID (securityGroupRuleResource.Read)", []string{
			"ec2:DescribeSecurityGroupRules",
		}},
		"Update": {"internal/service/ec2/vpc_security_group_ingress_rule.go securityGroupRuleResource.Update", []string{
			"ec2:ModifySecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags",
		}},
		"Delete": {"internal/service/ec2/vpc_security_group_egress_rule.go securityGroupEgressRuleResource.delete (securityGroupRuleResource.Delete)", []string{
			"ec2:RevokeSecurityGroupEgress",
		}},
	},
	typeTag: {
		"Create": {"internal/service/ec2/tag_gen.go resourceTagCreate", []string{"ec2:CreateTags", "ec2:DescribeTags"}},
		"Read":   {"internal/service/ec2/tag_gen.go resourceTagRead", []string{"ec2:DescribeTags"}},
		"Update": {"internal/service/ec2/tag_gen.go resourceTagUpdate", []string{"ec2:CreateTags"}},
		"Delete": {"internal/service/ec2/tag_gen.go resourceTagDelete", []string{"ec2:DeleteTags"}},
	},
	typeSnapshot: { // retained on delete: the provider's Delete never runs for the program's snapshots
		"Create": {"internal/service/ec2/ebs_snapshot.go resourceEBSSnapshotCreate", []string{
			"ec2:CreateSnapshot", "ec2:CreateTags@ec2:CreateSnapshot", "ec2:DescribeSnapshots",
		}},
		"Read":   {"internal/service/ec2/ebs_snapshot.go resourceEBSSnapshotRead", []string{"ec2:DescribeSnapshots"}},
		"Update": {"internal/service/ec2/ebs_snapshot.go resourceEBSSnapshotUpdate", []string{"ec2:CreateTags", "ec2:DeleteTags"}},
		"Delete": {"internal/service/ec2/ebs_snapshot.go resourceEBSSnapshotDelete", []string{"ec2:DeleteSnapshot"}},
	},

	// ------------------------------------------------------------------ IAM, SSM, Scheduler, DLM
	typeRole: {
		"Create": {"internal/service/iam/role.go resourceRoleCreate", []string{"iam:CreateRole", "iam:TagRole@iam:CreateRole"}},
		"Read": {"internal/service/iam/role.go resourceRoleRead", []string{
			"iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies",
		}},
		"Update": {"internal/service/iam/role.go resourceRoleUpdate", []string{
			"iam:UpdateAssumeRolePolicy", "iam:UpdateRoleDescription", "iam:UpdateRole", "iam:TagRole", "iam:UntagRole",
			"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", // permissions_boundary
		}},
		// deleteRole lists and detaches managed policies (ListAttachedRolePolicies,
		// DetachRolePolicy) and inline ones (ListRolePolicies, DeleteRolePolicy) only with
		// force_detach_policies, managed_policy_arns or inline_policy, which the program
		// never sets: its inline policies are RolePolicy resources, deleted before the role.
		"Delete": {"internal/service/iam/role.go resourceRoleDelete (deleteRole, deleteRoleInstanceProfiles)", []string{
			"iam:ListInstanceProfilesForRole", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteRole",
		}},
	},
	typeRolePolicy: {
		"Create": {"internal/service/iam/role_policy.go resourceRolePolicyPut", []string{"iam:PutRolePolicy", "iam:GetRolePolicy"}},
		"Read":   {"internal/service/iam/role_policy.go resourceRolePolicyRead", []string{"iam:GetRolePolicy"}},
		"Update": {"internal/service/iam/role_policy.go resourceRolePolicyPut", []string{"iam:PutRolePolicy", "iam:GetRolePolicy"}},
		"Delete": {"internal/service/iam/role_policy.go resourceRolePolicyDelete", []string{"iam:DeleteRolePolicy"}},
	},
	typeInstanceProfile: {
		"Create": {"internal/service/iam/instance_profile.go resourceInstanceProfileCreate", []string{
			"iam:CreateInstanceProfile", "iam:TagInstanceProfile@iam:CreateInstanceProfile", "iam:GetInstanceProfile",
			"iam:AddRoleToInstanceProfile", "iam:PassRole@iam:AddRoleToInstanceProfile",
		}},
		"Read": {"internal/service/iam/instance_profile.go resourceInstanceProfileRead", []string{"iam:GetInstanceProfile", "iam:GetRole"}},
		"Update": {"internal/service/iam/instance_profile.go resourceInstanceProfileUpdate", []string{
			"iam:RemoveRoleFromInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:PassRole@iam:AddRoleToInstanceProfile",
			"iam:TagInstanceProfile", "iam:UntagInstanceProfile",
		}},
		"Delete": {"internal/service/iam/instance_profile.go resourceInstanceProfileDelete", []string{
			"iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile",
		}},
	},
	typeParameter: { // SecureString under the AWS managed aws/ssm key: no KMS permission of the caller
		"Create": {"internal/service/ssm/parameter.go resourceParameterCreate", []string{"ssm:PutParameter", "ssm:AddTagsToResource@ssm:PutParameter"}},
		"Read": {"internal/service/ssm/parameter.go resourceParameterRead", []string{
			"ssm:GetParameter", "ssm:DescribeParameters", "ssm:ListTagsForResource",
		}},
		"Update": {"internal/service/ssm/parameter.go resourceParameterUpdate", []string{
			"ssm:PutParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource",
		}},
		"Delete": {"internal/service/ssm/parameter.go resourceParameterDelete", []string{"ssm:DeleteParameter"}},
	},
	typeSchedule: {
		"Create": {"internal/service/scheduler/schedule.go resourceScheduleCreate", []string{"scheduler:CreateSchedule", "iam:PassRole@scheduler:CreateSchedule"}},
		"Read":   {"internal/service/scheduler/schedule.go resourceScheduleRead", []string{"scheduler:GetSchedule"}},
		"Update": {"internal/service/scheduler/schedule.go resourceScheduleUpdate", []string{"scheduler:UpdateSchedule", "iam:PassRole@scheduler:UpdateSchedule"}},
		"Delete": {"internal/service/scheduler/schedule.go resourceScheduleDelete", []string{"scheduler:DeleteSchedule"}},
	},
	typeLifecyclePolicy: {
		"Create": {"internal/service/dlm/lifecycle_policy.go resourceLifecyclePolicyCreate", []string{
			"dlm:CreateLifecyclePolicy", "dlm:TagResource@dlm:CreateLifecyclePolicy", "iam:PassRole@dlm:CreateLifecyclePolicy",
		}},
		"Read": {"internal/service/dlm/lifecycle_policy.go resourceLifecyclePolicyRead", []string{"dlm:GetLifecyclePolicy"}},
		"Update": {"internal/service/dlm/lifecycle_policy.go resourceLifecyclePolicyUpdate", []string{
			"dlm:UpdateLifecyclePolicy", "iam:PassRole@dlm:UpdateLifecyclePolicy", "dlm:TagResource", "dlm:UntagResource",
		}},
		"Delete": {"internal/service/dlm/lifecycle_policy.go resourceLifecyclePolicyDelete", []string{"dlm:DeleteLifecyclePolicy"}},
	},

	// ------------------------------------------------------------------ wake on job: Lambda, CloudWatch Logs
	typeFunction: {
		// Tags go with the create; GetFunction returns them only to a caller allowed
		// lambda:ListTags. No reserved concurrency, publish, code signing config or VPC.
		"Create": {"internal/service/lambda/function.go resourceFunctionCreate (retryFunctionOp, waitFunctionCreated)", []string{
			"lambda:CreateFunction", "lambda:TagResource@lambda:CreateFunction", "iam:PassRole@lambda:CreateFunction", "lambda:GetFunction",
		}},
		"Read": {"internal/service/lambda/function.go resourceFunctionRead (findFunction, findLatestFunctionVersionByName)", []string{
			"lambda:GetFunction", "lambda:ListTags", "lambda:ListVersionsByFunction", "lambda:GetFunctionCodeSigningConfig",
		}},
		"Update": {"internal/service/lambda/function.go resourceFunctionUpdate (needsFunctionConfigUpdate, needsFunctionCodeUpdate)", []string{
			"lambda:UpdateFunctionConfiguration", "iam:PassRole@lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode",
			"lambda:GetFunction", "lambda:TagResource", "lambda:UntagResource",
		}},
		"Delete": {"internal/service/lambda/function.go resourceFunctionDelete", []string{"lambda:DeleteFunction"}},
	},
	typeFunctionURL: {
		// For AuthType NONE the create adds the public lambda:InvokeFunctionUrl statement.
		"Create": {"internal/service/lambda/function_url.go resourceFunctionURLCreate", []string{
			"lambda:CreateFunctionUrlConfig", "lambda:AddPermission", "lambda:GetFunctionUrlConfig",
		}},
		"Read":   {"internal/service/lambda/function_url.go resourceFunctionURLRead", []string{"lambda:GetFunctionUrlConfig"}},
		"Update": {"internal/service/lambda/function_url.go resourceFunctionURLUpdate", []string{"lambda:UpdateFunctionUrlConfig", "lambda:GetFunctionUrlConfig"}},
		"Delete": {"internal/service/lambda/function_url.go resourceFunctionURLDelete", []string{"lambda:DeleteFunctionUrlConfig"}},
	},
	typePermission: { // every argument forces a new permission: no Update
		"Create": {"internal/service/lambda/permission.go resourcePermissionCreate", []string{"lambda:AddPermission", "lambda:GetPolicy"}},
		"Read":   {"internal/service/lambda/permission.go resourcePermissionRead (findPolicy)", []string{"lambda:GetPolicy"}},
		"Delete": {"internal/service/lambda/permission.go resourcePermissionDelete", []string{"lambda:RemovePermission", "lambda:GetPolicy"}},
	},
	typeLogGroup: {
		// Its tags are read and changed by the log-group actions in v5.42 and by the
		// resource ones later: both.
		"Create": {"internal/service/logs/group.go resourceGroupCreate", []string{
			"logs:CreateLogGroup", "logs:TagResource@logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DescribeLogGroups",
		}},
		"Read": {"internal/service/logs/group.go resourceGroupRead (findLogGroupByName, listLogGroupTags)", []string{
			"logs:DescribeLogGroups", "logs:ListTagsLogGroup", "logs:ListTagsForResource",
		}},
		"Update": {"internal/service/logs/group.go resourceGroupUpdate", []string{
			"logs:PutRetentionPolicy", "logs:TagLogGroup", "logs:UntagLogGroup", "logs:TagResource", "logs:UntagResource",
		}},
		"Delete": {"internal/service/logs/group.go resourceGroupDelete", []string{"logs:DeleteLogGroup"}},
	},

	// ------------------------------------------------------------------ data sources
	"aws:index/getAvailabilityZones:getAvailabilityZones": {"Invoke": {
		"internal/service/ec2/ec2_availability_zones_data_source.go dataSourceAvailabilityZonesRead", []string{"ec2:DescribeAvailabilityZones"}}},
	"aws:index/getCallerIdentity:getCallerIdentity": {"Invoke": { // AWS allows it whatever the policy says
		"internal/service/sts/caller_identity_data_source.go dataSourceCallerIdentity.Read", []string{"sts:GetCallerIdentity"}}},
	"aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {"Invoke": {
		"internal/service/ec2/ec2_instance_type_offerings_data_source.go dataSourceInstanceTypeOfferingsRead", []string{"ec2:DescribeInstanceTypeOfferings"}}},
	"aws:ec2/getInstanceType:getInstanceType": {"Invoke": {
		"internal/service/ec2/ec2_instance_type_data_source.go dataSourceInstanceTypeRead", []string{"ec2:DescribeInstanceTypes"}}},
	"aws:ec2/getAmi:getAmi": {"Invoke": {
		"internal/service/ec2/ec2_ami_data_source.go dataSourceAMIRead", []string{"ec2:DescribeImages"}}},
	"aws:ec2/getVpcs:getVpcs": {"Invoke": {
		"internal/service/ec2/vpc_vpcs_data_source.go dataSourceVPCsRead", []string{"ec2:DescribeVpcs"}}},
	"aws:ec2/getSubnets:getSubnets": {"Invoke": {
		"internal/service/ec2/vpc_subnets_data_source.go dataSourceSubnetsRead", []string{"ec2:DescribeSubnets"}}},
	"aws:ec2/getSubnet:getSubnet": {"Invoke": {
		"internal/service/ec2/vpc_subnet_data_source.go dataSourceSubnetRead", []string{"ec2:DescribeSubnets"}}},
	"aws:ec2/getRouteTable:getRouteTable": {"Invoke": { // network interfaces: routes to an ENI only, errors ignored
		"internal/service/ec2/vpc_route_table_data_source.go dataSourceRouteTableRead, dataSourceRoutesRead", []string{"ec2:DescribeRouteTables", "ec2:DescribeNetworkInterfaces"}}},
	"aws:ebs/getEbsVolumes:getEbsVolumes": {"Invoke": {
		"internal/service/ec2/ebs_volumes_data_source.go dataSourceEBSVolumesRead", []string{"ec2:DescribeVolumes"}}},
	"aws:ebs/getVolume:getVolume": {"Invoke": {
		"internal/service/ec2/ebs_volume_data_source.go dataSourceEBSVolumeRead", []string{"ec2:DescribeVolumes"}}},
	"aws:ec2/getInstances:getInstances": {"Invoke": {
		"internal/service/ec2/ec2_instances_data_source.go dataSourceInstancesRead", []string{"ec2:DescribeInstances"}}},
	"aws:ec2/getSpotPrice:getSpotPrice": {"Invoke": {
		"internal/service/ec2/ec2_spot_price_data_source.go dataSourceSpotPriceRead", []string{"ec2:DescribeSpotPriceHistory"}}},
	"aws:servicequotas/getServiceQuota:getServiceQuota": {"Invoke": { // by quota code: the default first, then the applied value
		"internal/service/servicequotas/service_quota_data_source.go dataSourceServiceQuotaRead", []string{"servicequotas:GetAWSDefaultServiceQuota", "servicequotas:GetServiceQuota"}}},
	"aws:ebs/getSnapshot:getSnapshot": {"Invoke": {
		"internal/service/ec2/ebs_snapshot_data_source.go dataSourceEBSSnapshotRead", []string{"ec2:DescribeSnapshots"}}},
	"aws:ec2/getSecurityGroups:getSecurityGroups": {"Invoke": {
		"internal/service/ec2/vpc_security_groups_data_source.go dataSourceSecurityGroupsRead", []string{"ec2:DescribeSecurityGroups"}}},
	"aws:iam/getPolicy:getPolicy": {"Invoke": { // by ARN: the policy, then its default version's document
		"internal/service/iam/policy_data_source.go dataSourcePolicyRead (FindPolicyByARN, findPolicyVersion)", []string{"iam:GetPolicy", "iam:GetPolicyVersion"}}},
	"aws:ec2/getEips:getEips": {"Invoke": {
		"internal/service/ec2/ec2_eips_data_source.go dataSourceEIPsRead (FindEIPs)", []string{"ec2:DescribeAddresses"}}},
	"aws:ec2/getElasticIp:getElasticIp": {"Invoke": { // a VPC address: its domain name attribute too, failing the read on an error
		"internal/service/ec2/ec2_eip_data_source.go dataSourceEIPRead (findEIP, findEIPDomainNameAttributeByAllocationID)", []string{"ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"}}},
}

// engineBuiltins are the program's types and invokes that the engine answers itself, with
// no provider and no AWS call (pulumi/pkg resource/deploy/builtins.go): the state id and the
// read of the stack's own state, which needs only the backend's own permissions.
var engineBuiltins = []string{typeStash, readStateToken}

// iamActionOf is the IAM action of a table entry ("A@B" -> "A").
func iamActionOf(entry string) string {
	action, _, _ := strings.Cut(entry, "@")
	return action
}

// What the state backend (S3) and the stack's awskms:// secrets provider need.
var (
	previewBackendActions = []string{"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
	deployBackendActions  = []string{"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject",
		"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
)

// ------------------------------------------------------------------ policy documents

// iamStrings is IAM's "a string or a list of strings".
type iamStrings []string

func (s *iamStrings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = iamStrings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

type iamPolicy struct {
	Version   string
	Statement []iamStatement
}

type iamStatement struct {
	Sid       string
	Effect    string
	Principal map[string]iamStrings
	Action    iamStrings
	NotAction iamStrings
	Resource  iamStrings
	Condition map[string]map[string]iamStrings // operator -> key -> values
}

var sidPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// readIAMPolicy parses a policy file strictly: unknown fields, a missing Sid or Version, a
// Deny or NotAction (which allows() would not evaluate) fail the test. trust says whether it
// is a trust policy (Principal, no Resource) or an identity policy (Resource, no Principal).
func readIAMPolicy(t *testing.T, path string, trust bool) iamPolicy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	var p iamPolicy
	if err := decoder.Decode(&p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if p.Version != "2012-10-17" {
		t.Errorf("%s: Version %q, want 2012-10-17", path, p.Version)
	}
	if len(p.Statement) == 0 {
		t.Fatalf("%s: no statements", path)
	}
	sids := map[string]bool{}
	for i, s := range p.Statement {
		switch {
		case !sidPattern.MatchString(s.Sid):
			t.Errorf("%s: statement %d: Sid %q must be letters and digits", path, i, s.Sid)
		case sids[s.Sid]:
			t.Errorf("%s: Sid %s twice", path, s.Sid)
		}
		sids[s.Sid] = true
		if s.Effect != "Allow" {
			t.Errorf("%s: %s: Effect %q; the matcher evaluates Allow statements only", path, s.Sid, s.Effect)
		}
		if len(s.Action) == 0 || len(s.NotAction) > 0 {
			t.Errorf("%s: %s: needs Action and no NotAction", path, s.Sid)
		}
		if trust != (len(s.Principal) > 0) || trust == (len(s.Resource) > 0) {
			t.Errorf("%s: %s: a %s policy statement has Principal %v and Resource %v", path, s.Sid,
				map[bool]string{true: "trust", false: "permission"}[trust], s.Principal, s.Resource)
		}
	}
	return p
}

// readDeployPolicy is the deploy role's managed policies in dir (deploy-*-policy.json), as
// the one policy IAM evaluates them as: every statement of each.
func readDeployPolicy(t *testing.T, dir string) iamPolicy {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "deploy-*-policy.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy policies in %s: %v", dir, err)
	}
	merged := iamPolicy{Version: "2012-10-17"}
	sids := map[string]string{}
	for _, file := range files {
		for _, s := range readIAMPolicy(t, file, false).Statement {
			if other, ok := sids[s.Sid]; ok {
				t.Errorf("Sid %s in %s and %s", s.Sid, other, file)
			}
			sids[s.Sid] = file
			merged.Statement = append(merged.Statement, s)
		}
	}
	return merged
}

// deployPolicyDocuments are the deploy policies as IAM documents, for the simulator.
func deployPolicyDocuments(t *testing.T) []any {
	t.Helper()
	files, _ := filepath.Glob("iam/deploy-*-policy.json")
	var docs []any
	for _, file := range files {
		var doc any
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(text, &doc); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// adminOnly are the provider's calls the deploy role is refused on purpose, by the roles
// they are refused on (nil: every one), each of them an administrator's (docs/ci-iam.md, What
// only an administrator does): creating and deleting a role (a new role's trust is anyone's
// to choose), a role's trust, taking its boundary off, and changing the snapshot role in any
// way (its policy, boundary, description, session length, tags), which needs more than the
// boundary allows and so carries none.
var adminOnly = map[string][]string{
	"iam:CreateRole":                    nil,
	"iam:DeleteRole":                    nil,
	"iam:UpdateAssumeRolePolicy":        nil,
	"iam:DeleteRolePermissionsBoundary": nil,
	"iam:PutRolePolicy":                 {"n3x-snapshots"},
	"iam:DeleteRolePolicy":              {"n3x-snapshots"},
	"iam:PutRolePermissionsBoundary":    {"n3x-snapshots"},
	// The snapshot role carries no boundary: its description, session length and tags too
	// (resourceRoleUpdate calls these when they change) are an administrator's.
	"iam:UpdateRole":            {"n3x-snapshots"},
	"iam:UpdateRoleDescription": {"n3x-snapshots"},
	"iam:TagRole":               {"n3x-snapshots"},
	"iam:UntagRole":             {"n3x-snapshots"},
}

// isAdminOnly says whether the deploy role is refused the action on the role (or, with
// role "", on every resource).
func isAdminOnly(action, role string) bool {
	roles, ok := adminOnly[action]
	return ok && (roles == nil || slices.Contains(roles, role))
}

// allows says whether some Allow statement's Action matches the action. Resource and
// Condition are not evaluated (see the top of this file).
func (p iamPolicy) allows(action string) bool {
	return slices.ContainsFunc(p.Statement, func(s iamStatement) bool { return s.grants(action) })
}

// grants says whether the statement allows the action, whatever its Resource.
func (s iamStatement) grants(action string) bool {
	return s.Effect == "Allow" && slices.ContainsFunc(s.Action, func(a string) bool {
		return iamGlob(strings.ToLower(a), strings.ToLower(action))
	})
}

// iamGlob matches IAM's wildcards: * any run of characters, ? exactly one.
func iamGlob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if iamGlob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && iamGlob(pattern[1:], s[1:])
	}
	return s != "" && pattern[0] == s[0] && iamGlob(pattern[1:], s[1:])
}

func TestIAMGlob(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"ec2:DescribeInstances", "ec2:describeinstances", true},
		{"ec2:Describe*", "ec2:DescribeVolumes", true},
		{"ec2:Describe*", "ec2:RunInstances", false},
		{"ec2:*Tags", "ec2:CreateTags", true},
		{"ec2:*Tags", "ec2:CreateTagsX", false},
		{"ec2:?topInstances", "ec2:StopInstances", true},
		{"ec2:?topInstances", "ec2:topInstances", false},
		{"*", "iam:PassRole", true},
		{"s3:GetObject", "s3:GetObjectAcl", false},
	}
	for _, c := range cases {
		p := iamPolicy{Statement: []iamStatement{{Effect: "Allow", Action: iamStrings{c.pattern}}}}
		if got := p.allows(c.action); got != c.want {
			t.Errorf("%s allows %s = %v, want %v", c.pattern, c.action, got, c.want)
		}
	}
}

// ------------------------------------------------------------------ (a) the table covers the program

// everyOptionalResource are the config overrides that add every optional resource: the
// schedules, the parameters and their secrets, the snapshot policy.
func everyOptionalResource(t *testing.T) []string {
	signingKey, _ := testSigningKey(t)
	return []string{keyWorkingHours, "Mon-Fri 07:00-19:00 Europe/Berlin", keyGitlabRunnerToken, "glrt-abc",
		keyCacheSigningKey, signingKey, keySnapshotRetentionDays, "7", keyWakeOnJob, "true"}
}

// TestIAMTableCoversEveryTypeAndInvoke deploys (with the mocks) every configuration that
// makes the program register a type or call a data source, and fails when one is missing
// from providerActions, or when a row is one the program no longer uses.
func TestIAMTableCoversEveryTypeAndInvoke(t *testing.T) {
	full := everyOptionalResource(t)
	up := func(t *testing.T, account *fakeAWS, cfg map[string]string) deployment {
		t.Helper()
		d := deploy(t, account, "dev", false, cfg)
		if d.err != nil {
			t.Fatalf("up: %v", d.err)
		}
		return d
	}
	getInstances := func(d deployment) int {
		n := 0
		for _, r := range d.aws.invokes {
			if r.token == "aws:ec2/getInstances:getInstances" {
				n++
			}
		}
		return n
	}
	scenarios := []struct {
		name   string
		run    func(t *testing.T) []deployment // every run, previous ones included
		covers []string                        // types and tokens the scenario must reach
	}{
		{"on demand, working hours, secrets, snapshots", func(t *testing.T) []deployment {
			first := up(t, newFakeAWS(), testConfig(full...))
			return []deployment{first, up(t, first.next(), testConfig(full...))}
		}, []string{typeInstance, typeSchedule, typeParameter, typeLifecyclePolicy, typeRolePolicy, typeInstanceProfile,
			"aws:ebs/getVolume:getVolume", "aws:ebs/getEbsVolumes:getEbsVolumes", "aws:ec2/getSubnets:getSubnets"}},
		{"Spot", func(t *testing.T) []deployment {
			return []deployment{up(t, newFakeAWS(), testConfig(append(full, keyCapacity, "spot")...))}
		}, []string{typeSpotRequest, typeTag, "aws:ec2/getSpotPrice:getSpotPrice"}},
		{"scale-down of volumes without final snapshots", func(t *testing.T) []deployment {
			before := up(t, newFakeAWS(), testConfig(keyX86Count, "2"))
			account := before.next()
			for _, role := range dataVolumeRoles {
				account.setStateOutput(typeVolume+"::x86-2-"+role, "finalSnapshot", false) // as an older version made them
			}
			return []deployment{before, up(t, account, testConfig())}
		}, []string{typeSnapshot}},
		{"zone move, then a new runner from the move's snapshots", func(t *testing.T) []deployment {
			before := up(t, newFakeAWS(), testConfig(keyAmiArm64, ""))
			moved := up(t, before.next(), testConfig(keyAmiArm64, "", keyAvailabilityZone, "us-east-1c"))
			grown := up(t, moved.next(), testConfig(keyAmiArm64, "", keyAvailabilityZone, "us-east-1c", keyX86Count, "2"))
			return []deployment{before, moved, grown}
		}, []string{typeSnapshot, "aws:ebs/getSnapshot:getSnapshot"}},
		{"leftovers the state lost: an address", func(t *testing.T) []deployment {
			account := up(t, newFakeAWS(), testConfig()).next()
			delete(account.state, typeEip+"::x86-address")
			return []deployment{deploy(t, account, "dev", true, testConfig())}
		}, []string{"aws:ec2/getEips:getEips", "aws:ec2/getElasticIp:getElasticIp", "aws:ec2/getSecurityGroups:getSecurityGroups"}},
		{"a subnet of its own", func(t *testing.T) []deployment {
			return []deployment{up(t, newFakeAWS(), testConfig(keySubnetID, testSubnet, keyAvailabilityZone, ""))}
		}, []string{"aws:ec2/getSubnet:getSubnet", "aws:ec2/getRouteTable:getRouteTable"}},
		{"an AMI gone that a runner still runs", func(t *testing.T) []deployment {
			account := up(t, newFakeAWS(), testConfig()).next()
			present := deploy(t, account.clone(), "dev", true, testConfig())
			delete(account.amis, testAmiX86)
			gone := deploy(t, account, "dev", true, testConfig())
			if present.err != nil || gone.err != nil {
				t.Fatalf("previews: %v, %v", present.err, gone.err)
			}
			if getInstances(gone) <= getInstances(present) {
				t.Errorf("getInstances %d times with the AMI gone, %d with it: the lookup of its runners did not run",
					getInstances(gone), getInstances(present))
			}
			return []deployment{present, gone}
		}, []string{"aws:ec2/getInstances:getInstances", "aws:ec2/getAmi:getAmi"}},
	}
	used := map[string]bool{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			reached := map[string]bool{}
			for _, d := range sc.run(t) {
				for _, r := range d.aws.registrations {
					reached[r.typ] = true
				}
				for _, r := range d.aws.invokes {
					reached[r.token] = true
				}
			}
			for _, want := range sc.covers {
				if !reached[want] {
					t.Errorf("the scenario no longer reaches %s", want)
				}
			}
			for _, token := range slices.Sorted(maps.Keys(reached)) {
				used[token] = true
				if _, ok := providerActions[token]; !ok && !slices.Contains(engineBuiltins, token) {
					t.Errorf("%s has no row in providerActions: read its provider source, add the row and the actions to iam/*-policy.json", token)
				}
			}
		})
	}
	for _, token := range slices.Sorted(maps.Keys(providerActions)) {
		if !used[token] {
			t.Errorf("providerActions has a row for %s, which no scenario reaches: drop it, or add the scenario", token)
		}
	}
}

// TestIAMTableRowsAreWellFormed: every operation names its source and only known
// operations, and every action is service:Action.
func TestIAMTableRowsAreWellFormed(t *testing.T) {
	action := regexp.MustCompile(`^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$`)
	for _, token := range slices.Sorted(maps.Keys(providerActions)) {
		invoke := strings.Contains(token, "/get")
		for op, o := range providerActions[token] {
			if invoke != (op == "Invoke") || !slices.Contains([]string{"Diff", "Create", "Read", "Update", "Delete", "Invoke"}, op) {
				t.Errorf("%s: operation %s", token, op)
			}
			if !strings.HasPrefix(o.source, "internal/service/") || !strings.Contains(o.source, ".go ") {
				t.Errorf("%s %s: source %q names no provider file and function", token, op, o.source)
			}
			if len(o.actions) == 0 {
				t.Errorf("%s %s: no actions", token, op)
			}
			for _, entry := range o.actions {
				a, call, inside := strings.Cut(entry, "@")
				if !action.MatchString(a) || (inside && !action.MatchString(call)) {
					t.Errorf("%s %s: %q is not service:Action[@service:Call]", token, op, entry)
				}
			}
		}
	}
}

// ------------------------------------------------------------------ (b) the preview role

// mutatingVerbs start the names of actions that change something. No action of the preview
// role may be one, nor may a wildcard of it reach one.
var mutatingVerbs = []string{"Create", "Delete", "Put", "Run", "Terminate", "Attach", "Detach", "Modify", "Update",
	"Request", "Cancel", "Associate", "Disassociate", "Replace", "Authorize", "Revoke", "Allocate", "Release", "Import",
	"Stop", "Start", "Pass", "Tag", "Untag", "Add", "Remove", "Set", "Enable", "Disable", "Encrypt", "GenerateDataKey",
	"ReEncrypt", "Restore", "Copy", "Send", "Invoke", "Upload", "Abort"}

// previewForbiddenReads are reads that would hand a merge request's pipeline the fleet's
// secrets (the runner tokens and the cache key are SSM SecureStrings).
var previewForbiddenReads = []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath",
	"ssm:GetParameterHistory", "ec2:GetPasswordData", "secretsmanager:GetSecretValue", "kms:CreateGrant"}

func TestPreviewPolicyAllowsDataSourcesAndChangesNothing(t *testing.T) {
	p := readIAMPolicy(t, "iam/preview-policy.json", false)
	// A preview calls the data sources and computes diffs; it creates, reads back or
	// deletes no resource (no --refresh in CI).
	for _, token := range slices.Sorted(maps.Keys(providerActions)) {
		for _, op := range []string{"Invoke", "Diff"} {
			o, ok := providerActions[token][op]
			if !ok {
				continue
			}
			for _, entry := range o.actions {
				if !p.allows(iamActionOf(entry)) {
					t.Errorf("preview role lacks %s (%s %s, %s)", iamActionOf(entry), token, op, o.source)
				}
			}
		}
	}
	for _, a := range previewBackendActions {
		if !p.allows(a) {
			t.Errorf("preview role lacks %s for the state backend", a)
		}
	}
	services := map[string]bool{"ec2": true, "iam": true, "ssm": true, "scheduler": true, "dlm": true, "s3": true, "kms": true,
		"sts": true, "servicequotas": true, "secretsmanager": true, "pricing": true}
	for _, s := range p.Statement {
		for _, pattern := range s.Action {
			service, name, _ := strings.Cut(pattern, ":")
			services[strings.ToLower(service)] = true
			switch strings.ToLower(service) {
			case "s3", "kms":
				if !slices.Contains(previewBackendActions, pattern) {
					t.Errorf("preview role: %s %s; the backend needs only %v", s.Sid, pattern, previewBackendActions)
				}
			default:
				if !regexp.MustCompile(`^(Describe|Get|List)[A-Za-z0-9]`).MatchString(name) {
					t.Errorf("preview role: %s allows %s, not a Describe/Get/List action", s.Sid, pattern)
				}
			}
		}
	}
	for service := range services {
		for _, verb := range mutatingVerbs {
			for _, action := range []string{service + ":" + verb, service + ":" + verb + "Anything"} {
				if p.allows(action) {
					t.Errorf("preview role allows %s", action)
				}
			}
		}
	}
	for _, a := range previewForbiddenReads {
		if p.allows(a) {
			t.Errorf("preview role allows %s: merge-request pipelines could read the fleet's secrets", a)
		}
	}
}

// ------------------------------------------------------------------ (c) the deploy role

func TestDeployPolicyAllowsEveryProviderAction(t *testing.T) {
	p := readDeployPolicy(t, "iam")
	for _, token := range slices.Sorted(maps.Keys(providerActions)) {
		for _, op := range slices.Sorted(maps.Keys(providerActions[token])) {
			o := providerActions[token][op]
			for _, entry := range o.actions {
				if !p.allows(iamActionOf(entry)) && !isAdminOnly(iamActionOf(entry), "") {
					t.Errorf("deploy role lacks %s (%s %s: %s)", entry, token, op, o.source)
				}
			}
		}
	}
	for _, a := range deployBackendActions {
		if !p.allows(a) {
			t.Errorf("deploy role lacks %s for the state backend and the stack's secrets", a)
		}
	}
	// Least privilege: no whole services, and nothing that attaches managed policies or
	// touches users and groups.
	for _, s := range p.Statement {
		for _, pattern := range s.Action {
			if strings.Contains(pattern, "*") || strings.Contains(pattern, "?") {
				t.Errorf("deploy role: %s uses the wildcard %s; name each action", s.Sid, pattern)
			}
		}
	}
	for _, a := range []string{"iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:CreateUser", "iam:CreateAccessKey", "iam:CreatePolicy",
		"iam:CreatePolicyVersion", "iam:UpdateAssumeRolePolicy", "iam:DeleteRolePermissionsBoundary", "ec2:GetPasswordData", "kms:CreateGrant"} {
		if p.allows(a) {
			t.Errorf("deploy role allows %s, which the program never needs", a)
		}
	}
}

// ------------------------------------------------------------------ (d) who may assume them

const (
	gitlabHost    = "gitlab.example.com"
	gitlabProject = "embedded/n3x-runner-infra"
)

func TestTrustPoliciesOnlyTrustGitLabPipelines(t *testing.T) {
	provider := "arn:aws:iam::" + testAccount + ":oidc-provider/" + gitlabHost
	sub := func(ref string) string { return "project_path:" + gitlabProject + ":ref_type:" + ref }
	cases := []struct {
		file        string
		subOperator string // the one operator that constrains sub
		accepts     []string
		refuses     []string
	}{
		{"iam/preview-trust.json", "StringLike",
			[]string{sub("branch:ref:feature/x"), sub("branch:ref:main"), sub("tag:ref:v1")},
			[]string{"project_path:" + gitlabProject + "-fork:ref_type:branch:ref:main", "project_path:embedded/other:ref_type:branch:ref:main"}},
		{"iam/deploy-trust.json", "StringEquals",
			[]string{sub("branch:ref:main")},
			[]string{sub("branch:ref:feature/x"), sub("branch:ref:main-old"), sub("tag:ref:main"),
				"project_path:" + gitlabProject + "-fork:ref_type:branch:ref:main"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			p := readIAMPolicy(t, c.file, true)
			if len(p.Statement) != 1 {
				t.Fatalf("%d statements, want 1", len(p.Statement))
			}
			s := p.Statement[0]
			if got := s.Principal["Federated"]; !slices.Equal(got, []string{provider}) || len(s.Principal) != 1 {
				t.Errorf("Principal %v, want only the GitLab OIDC provider %s", s.Principal, provider)
			}
			if !slices.Equal(s.Action, []string{"sts:AssumeRoleWithWebIdentity"}) {
				t.Errorf("Action %v", s.Action)
			}
			if got := s.Condition["StringEquals"][gitlabHost+":aud"]; !slices.Equal(got, []string{"sts.amazonaws.com"}) {
				t.Errorf("aud %v, want StringEquals sts.amazonaws.com", got)
			}
			var subs []string
			for operator, keys := range s.Condition {
				if v, ok := keys[gitlabHost+":sub"]; ok {
					if operator != c.subOperator {
						t.Errorf("sub under %s, want %s", operator, c.subOperator)
					}
					subs = v
				}
			}
			if len(subs) != 1 {
				t.Fatalf("sub conditions %v, want one", subs)
			}
			match := func(claim string) bool {
				if c.subOperator == "StringEquals" {
					return claim == subs[0]
				}
				return iamGlob(subs[0], claim) // StringLike is case-sensitive, as the claim is
			}
			for _, claim := range c.accepts {
				if !match(claim) {
					t.Errorf("refuses %s", claim)
				}
			}
			for _, claim := range c.refuses {
				if match(claim) {
					t.Errorf("accepts %s", claim)
				}
			}
		})
	}
}

// ------------------------------------------------------------------ (e) the deploy role's resources

// allowsOn says whether some Allow statement grants the action on the ARN, by its Action and
// Resource patterns. Conditions are not evaluated here: TestPoliciesHoldOnAWSsAuthorizationData
// evaluates them with AWS's Service Authorization Reference.
func (p iamPolicy) allowsOn(action, arn string) bool {
	return slices.ContainsFunc(p.Statement, func(s iamStatement) bool {
		return s.grants(action) && slices.ContainsFunc(s.Resource, func(r string) bool { return iamGlob(r, arn) })
	})
}

// stackARNs are the ARNs of the IAM roles, instance profile, SSM parameters and schedules
// one deployment registered, by the Pulumi type that makes them, each with the IAM actions
// the provider calls on that ARN (iam:GetRole of an instance profile's Read and
// iam:PassRole are calls on the role).
type scopedARN struct{ typ, arn string }

func stackARNs(t *testing.T, d deployment) []scopedARN {
	t.Helper()
	const region, account = "us-east-1", testAccount
	var arns []scopedARN
	for _, r := range d.aws.registrations {
		name := func() string { return str(t, r, "name") }
		var arn string
		switch r.typ {
		case typeRole:
			arn = "arn:aws:iam::" + account + ":role/" + name()
		case typeInstanceProfile:
			arn = "arn:aws:iam::" + account + ":instance-profile/" + name()
		case typeParameter: // parameter ARNs drop the name's leading slash
			arn = "arn:aws:ssm:" + region + ":" + account + ":parameter/" + strings.TrimPrefix(name(), "/")
		case typeSchedule:
			group := "default"
			if g, ok := r.inputs["groupName"]; ok && g.IsString() {
				group = g.StringValue()
			}
			arn = "arn:aws:scheduler:" + region + ":" + account + ":schedule/" + group + "/" + name()
		default:
			continue
		}
		arns = append(arns, scopedARN{r.typ, arn})
	}
	return arns
}

// actionsOnItsARN are the actions of a type's rows that AWS authorizes on the resource's
// own ARN: its service's actions, less those on another resource (the role of a profile)
// or on none (ssm:DescribeParameters).
func actionsOnItsARN(typ string) []string {
	service := map[string]string{typeRole: "iam:", typeInstanceProfile: "iam:", typeParameter: "ssm:", typeSchedule: "scheduler:"}[typ]
	onOthers := []string{"iam:GetRole", "iam:PassRole", "ssm:DescribeParameters"}
	rows := []string{typ}
	if typ == typeRole {
		rows = append(rows, typeRolePolicy) // inline policies are calls on their role
	}
	var actions []string
	for _, row := range rows {
		for _, o := range providerActions[row] {
			for _, entry := range o.actions {
				a := iamActionOf(entry)
				if strings.HasPrefix(a, service) && (typ == typeRole || !slices.Contains(onOthers, a)) && !slices.Contains(actions, a) {
					actions = append(actions, a)
				}
			}
		}
	}
	slices.Sort(actions)
	return actions
}

// TestDeployPolicyIsScopedToTheStacksNames: the deploy role may manage the dev stack's
// roles, instance profile, parameters and schedules (every action on each one's ARN, and
// passing each role), and none of another stack's in the same account, nor the CI roles
// themselves.
func TestDeployPolicyIsScopedToTheStacksNames(t *testing.T) {
	p := readDeployPolicy(t, "iam")
	cfg := testConfig(append(everyOptionalResource(t), keyX86Count, "10", keyGravitonCount, "10")...)
	account := func() *fakeAWS {
		a := newFakeAWS()
		a.quotas[quotaElasticIPs] = fakeQuota{"EC2-VPC Elastic IPs", 20}
		a.quotas[quotaOnDemandStandardVcpus] = fakeQuota{"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 176}
		return a
	}
	dev := deploy(t, account(), "dev", false, cfg)
	if dev.err != nil {
		t.Fatalf("up: %v", dev.err)
	}

	devARNs := stackARNs(t, dev)
	kinds := map[string]int{}
	for _, a := range devARNs {
		kinds[a.typ]++
		for _, action := range actionsOnItsARN(a.typ) {
			if !p.allowsOn(action, a.arn) && !isAdminOnly(action, a.arn[strings.LastIndex(a.arn, "/")+1:]) {
				t.Errorf("deploy role may not %s on %s", action, a.arn)
			}
		}
		if a.typ == typeRole && !p.allowsOn("iam:PassRole", a.arn) {
			t.Errorf("deploy role may not pass %s", a.arn)
		}
	}
	// 4 roles (runner, scheduler, snapshots, wake), 1 profile, the deprecated secrets' 3
	// parameters and the idle minutes, 2 schedules per runner.
	if want := map[string]int{typeRole: 4, typeInstanceProfile: 1, typeParameter: 4, typeSchedule: 40}; !maps.Equal(kinds, want) {
		t.Fatalf("dev stack's scoped resources %v, want %v: the test no longer sees them all", kinds, want)
	}

	// An upgrade from b0a90e2, which had one start and one stop schedule for all runners,
	// reads and deletes those.
	for _, action := range []string{"start", "stop"} {
		arn := "arn:aws:scheduler:us-east-1:" + testAccount + ":schedule/default/n3x-runners-" + action
		for _, call := range []string{"scheduler:GetSchedule", "scheduler:DeleteSchedule"} {
			if !p.allowsOn(call, arn) {
				t.Errorf("deploy role may not %s on %s, which an upgrade from an older version deletes", call, arn)
			}
		}
	}

	// Other stacks (default prefix n3x-<stack>), some named like a runner, and the CI roles.
	var foreign []scopedARN
	for _, stack := range []string{"staging", "x86-canary", "x86-2", "graviton-10", "runners"} {
		other := deploy(t, account(), stack, false, cfg)
		if other.err != nil {
			t.Fatalf("up %s: %v", stack, other.err)
		}
		foreign = append(foreign, stackARNs(t, other)...)
	}
	for _, role := range []string{"n3x-ci-preview", "n3x-ci-deploy"} {
		foreign = append(foreign, scopedARN{typeRole, "arn:aws:iam::" + testAccount + ":role/" + role})
	}
	for _, a := range foreign {
		for _, action := range append(actionsOnItsARN(a.typ), "iam:PassRole") {
			if p.allowsOn(action, a.arn) {
				t.Errorf("deploy role of the dev stack may %s on %s", action, a.arn)
			}
		}
	}
}

// ------------------------------------------------------------------ (f) the commands that create the roles

// TestCreatingTheRolesFillsInEveryPlaceholder pastes the docs' "Creating the roles" block
// with other values in its first two lines and a fake aws CLI: it creates the OIDC provider
// and the KMS key before the roles, names the roles after the stack's prefix, leaves iam/ as
// it is, and the policies it creates the roles from name the values typed and none of the
// placeholders. Pasted a second time it creates no second provider or key.
func TestCreatingTheRolesFillsInEveryPlaceholder(t *testing.T) {
	block := regexp.MustCompile("(?s)```bash\n(.*?)```").FindStringSubmatch(docSection(t, "docs/ci-iam.md", "Creating the roles"))
	if block == nil {
		t.Fatal("docs/ci-iam.md, Creating the roles: no bash block")
	}
	lines := strings.SplitN(block[1], "\n", 3)
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "account=") || !strings.HasPrefix(lines[1], "bucket=") {
		t.Fatalf("the block's first two lines should set the values: %q", lines[:2])
	}
	script := "account=210987654321 region=eu-central-1 gitlab=git.acme.io project=fw/ci-fleet branch=trunk\n" +
		"bucket=acme-state stack=prod prefix=acme-prod\n" + lines[2]

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	work := filepath.Join(dir, "repo")
	for _, d := range []string{bin, filepath.Join(work, "iam")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	originals := map[string]string{}
	files, _ := filepath.Glob("iam/*.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		originals[filepath.Base(f)] = string(data)
		if err := os.WriteFile(filepath.Join(work, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A fake aws CLI that keeps what exists, and fails to create it twice, as AWS does.
	calls, state := filepath.Join(dir, "aws-calls"), filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	fakeAWS := `#!/bin/sh
echo "$*" >> ` + calls + `
s=` + state + `
case "$1 $2" in
"iam get-open-id-connect-provider") [ -e $s/oidc ] || { echo NoSuchEntity >&2; exit 254; } ;;
"iam create-open-id-connect-provider") touch $s/oidc ;;
"kms describe-key") [ -e $s/alias ] || { echo NotFoundException >&2; exit 254; }; cat $s/alias ;;
"kms create-key") n=$(ls $s | grep -c '^key'); touch $s/key$n; echo 0a1b2c3d-aaaa-bbbb-cccc-00000000000$n | tee $s/newest ;;
"kms create-alias") [ -e $s/alias ] && { echo AlreadyExistsException >&2; exit 254; }; cp $s/newest $s/alias ;;
"iam create-role") [ -e "$s/role-$4" ] && { echo EntityAlreadyExists >&2; exit 254; }; touch "$s/role-$4" ;;
"iam get-policy") [ -e "$s/policy-${4##*/}" ] || { echo NoSuchEntity >&2; exit 254; } ;;
"iam create-policy") touch "$s/policy-$4" ;;
"iam list-policy-versions") echo v1 ;;
"iam delete-role-policy") echo NoSuchEntity >&2; exit 254 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	// paste runs the block: strict stops at the first failing command; otherwise it goes
	// on, as a shell does with pasted lines. It returns the calls' first two words, the
	// roles created, and the policy files they were given, by name.
	paste := func(strict bool) (verbs, roles []string, policies map[string]string) {
		t.Helper()
		os.Remove(calls)
		args := []string{"-c", script}
		if strict {
			args = append([]string{"-euo", "pipefail"}, args...)
		}
		cmd := exec.Command("bash", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil && strict {
			t.Fatalf("the block fails: %v\n%s", err, out)
		}
		log, err := os.ReadFile(calls)
		if err != nil {
			t.Fatal(err)
		}
		policies = map[string]string{}
		for _, call := range strings.Split(strings.TrimSpace(string(log)), "\n") {
			words := strings.Fields(call)
			verbs = append(verbs, words[0]+" "+words[1])
			if words[1] == "create-role" {
				roles = append(roles, words[3])
			}
			for _, w := range words {
				if path, ok := strings.CutPrefix(w, "file://"); ok {
					policies[filepath.Base(path)] = path
				}
			}
		}
		return verbs, roles, policies
	}

	verbs, roles, policies := paste(true)
	createPolicy := []string{"iam get-policy", "iam create-policy"}
	deployPart := append(slices.Clone(createPolicy), "iam attach-role-policy")
	if want := slices.Concat([]string{"iam get-open-id-connect-provider", "iam create-open-id-connect-provider", "kms describe-key", "kms create-key",
		"kms create-alias"}, createPolicy, []string{"iam create-role", "iam put-role-policy", "iam create-role", "iam delete-role-policy"},
		deployPart, deployPart, deployPart, deployPart, deployPart); !slices.Equal(verbs, want) {
		t.Errorf("aws calls %q, want %q", verbs, want)
	}
	if want := []string{"acme-prod-ci-preview", "acme-prod-ci-deploy"}; !slices.Equal(roles, want) {
		t.Errorf("roles %q, want %q: named after the stack's prefix, so another stack's commands cannot overwrite them", roles, want)
	}
	for name, original := range originals {
		if data, _ := os.ReadFile(filepath.Join(work, "iam", name)); string(data) != original {
			t.Errorf("the block changed iam/%s; it should write copies", name)
		}
		path, ok := policies[name]
		if !ok {
			t.Errorf("no role or policy is made from %s", name)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, placeholder := range []string{testAccount, "us-east-1", gitlabHost, gitlabProject, ":ref:main\"",
			"my-pulumi-state-bucket", "11111111-2222-3333-4444-555555555555", `Stack": "dev"`, "/n3x/dev", `snapshots": "n3x"`, "/n3x-", ":function:n3x-"} {
			if strings.Contains(string(data), placeholder) {
				t.Errorf("%s still names the placeholder %s", name, placeholder)
			}
		}
	}
	dir = filepath.Dir(policies["deploy-state-policy.json"])
	deployPolicy := readDeployPolicy(t, dir)
	for action, arn := range map[string]string{
		"iam:PutRolePolicy":            "arn:aws:iam::210987654321:role/acme-prod-runner",
		"iam:GetPolicy":                "arn:aws:iam::210987654321:policy/acme-prod-runner-boundary",
		"iam:AddRoleToInstanceProfile": "arn:aws:iam::210987654321:instance-profile/acme-prod-runner",
		"ssm:PutParameter":             "arn:aws:ssm:eu-central-1:210987654321:parameter/acme-prod-runner/cache-signing-key",
		"scheduler:CreateSchedule":     "arn:aws:scheduler:eu-central-1:210987654321:schedule/default/acme-prod-graviton-runner-stop",
		"s3:PutObject":                 "arn:aws:s3:::acme-state/.pulumi/stacks/n3x/prod.json",
		"kms:Encrypt":                  "arn:aws:kms:eu-central-1:210987654321:key/0a1b2c3d-aaaa-bbbb-cccc-000000000000",
	} {
		if !deployPolicy.allowsOn(action, arn) {
			t.Errorf("the filled-in deploy policy does not allow %s on %s", action, arn)
		}
	}
	for _, s := range deployPolicy.Statement {
		for operator, want := range map[string]map[string]string{
			"StringEquals":         {"aws:ResourceTag/Stack": "prod", "aws:RequestTag/Stack": "prod", "iam:PermissionsBoundary": "arn:aws:iam::210987654321:policy/acme-prod-runner-boundary"},
			"StringEqualsIfExists": {"aws:ResourceTag/Stack": "prod", "aws:RequestTag/Stack": "prod", "aws:RequestTag/n3x:snapshots": "acme-prod"},
		} {
			for key, value := range want {
				if v := s.Condition[operator][key]; v != nil && !slices.Equal(v, []string{value}) {
					t.Errorf("%s: %s %s %v, want %s", s.Sid, operator, key, v, value)
				}
			}
		}
	}
	if !deployPolicy.allowsOn("s3:PutObject", "arn:aws:s3:::acme-state/.pulumi/locks/organization/n3x/prod/1.json") ||
		deployPolicy.allowsOn("s3:PutObject", "arn:aws:s3:::acme-state/.pulumi/stacks/n3x/dev.json") {
		t.Error("the filled-in deploy policy does not hold to the prod stack's state objects")
	}
	previewPolicy := readIAMPolicy(t, filepath.Join(dir, "preview-policy.json"), false)
	for _, key := range []string{"prod.json", "prod.pulumi-tags"} {
		if !previewPolicy.allowsOn("s3:GetObject", "arn:aws:s3:::acme-state/.pulumi/stacks/n3x/"+key) {
			t.Errorf("the filled-in preview policy does not allow reading the prod stack's %s", key)
		}
	}
	trust := readIAMPolicy(t, filepath.Join(dir, "deploy-trust.json"), true)
	if got := trust.Statement[0].Condition["StringEquals"]["git.acme.io:sub"]; !slices.Equal(got, []string{"project_path:fw/ci-fleet:ref_type:branch:ref:trunk"}) {
		t.Errorf("deploy trust sub %v", got)
	}
	if got := trust.Statement[0].Principal["Federated"]; !slices.Equal(got, []string{"arn:aws:iam::210987654321:oidc-provider/git.acme.io"}) {
		t.Errorf("deploy trust principal %v", got)
	}

	// Pasted again, to apply a changed policy: no second provider nor key, and the policies
	// still name the key the alias points to.
	verbs, _, policies = paste(false)
	newVersion := []string{"iam get-policy", "iam list-policy-versions", "iam delete-policy-version", "iam create-policy-version"}
	deployPart = append(slices.Clone(newVersion), "iam attach-role-policy")
	if want := slices.Concat([]string{"iam get-open-id-connect-provider", "kms describe-key"}, newVersion,
		[]string{"iam create-role", "iam put-role-policy", "iam create-role", "iam delete-role-policy"}, deployPart, deployPart, deployPart, deployPart, deployPart); !slices.Equal(verbs, want) {
		t.Errorf("second paste: aws calls %q, want %q", verbs, want)
	}
	again := readDeployPolicy(t, filepath.Dir(policies["deploy-state-policy.json"]))
	if !again.allowsOn("kms:Decrypt", "arn:aws:kms:eu-central-1:210987654321:key/0a1b2c3d-aaaa-bbbb-cccc-000000000000") {
		t.Error("second paste: the deploy policy no longer names the stack's key")
	}
}

// Each policy fits IAM's limits once the Creating the roles commands have filled in long
// names (IAM quotas: a managed policy 6,144 characters, a role's inline policies 10,240, both
// without whitespace; 10 managed policies per role): a prefix of 39 characters, the most
// the program allows, a stack name of 30, a bucket name of 63, a long region.
func TestPoliciesFitIAMsSizeLimits(t *testing.T) {
	prefix := ""
	for n := 1; ; n++ { // the longest prefix every physical name has room for
		if name := tightestPhysicalName(strings.Repeat("p", n)); len(name.name) > name.limit {
			break
		}
		prefix = strings.Repeat("p", n)
	}
	stack := strings.Repeat("s", 30)
	fill := strings.NewReplacer(
		"us-east-1", "ap-southeast-4", "my-pulumi-state-bucket", strings.Repeat("b", 63),
		`Tag/Stack": "dev"`, `Tag/Stack": "`+stack+`"`, "/n3x/dev.", "/n3x/"+stack+".", "/n3x/dev/", "/n3x/"+stack+"/",
		`n3x:snapshots": "n3x"`, `n3x:snapshots": "`+prefix+`"`,
		":policy/n3x-", ":policy/"+prefix+"-", ":role/n3x-", ":role/"+prefix+"-", ":instance-profile/n3x-", ":instance-profile/"+prefix+"-",
		":parameter/n3x-", ":parameter/"+prefix+"-", ":schedule/default/n3x-", ":schedule/default/"+prefix+"-",
		":function:n3x-", ":function:"+prefix+"-", "/aws/lambda/n3x-", "/aws/lambda/"+prefix+"-",
	)
	size := func(file string) int {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal([]byte(fill.Replace(string(data))), &doc); err != nil {
			t.Fatal(err)
		}
		compact, _ := json.Marshal(doc)
		return len(compact)
	}
	managed, _ := filepath.Glob("iam/deploy-*-policy.json")
	if len(managed) > 10 {
		t.Errorf("%d managed policies on the deploy role; IAM attaches at most 10", len(managed))
	}
	for _, file := range append(managed, "iam/runner-boundary.json") {
		if n := size(file); n > 6144 {
			t.Errorf("%s is %d characters filled in, more than the 6,144 of a managed policy", file, n)
		}
	}
	if n := size("iam/preview-policy.json"); n > 10240 {
		t.Errorf("iam/preview-policy.json is %d characters filled in, more than the 10,240 of a role's inline policies", n)
	}
}
