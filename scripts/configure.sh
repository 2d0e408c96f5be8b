#!/usr/bin/env bash
# The Quick start's three settings, each looked up and checked before it is set: the newest
# official NixOS AMI, your SSH public key, your public address. A lookup that fails stops the
# script with what to do instead; nothing half-set is left behind, since each key is set only
# once every lookup has worked. A key the stack already sets (as a failure's message said, or
# an earlier run) is kept and not looked up, so the script runs again after any fix. Run from
# the repository, after `pulumi stack select --create`.
#
#   scripts/configure.sh                 # all three
#   SSH_PUBLIC_KEY=~/.ssh/other.pub scripts/configure.sh
set -euo pipefail

fail() {
	printf 'scripts/configure.sh: %s\n' "$*" >&2
	exit 1
}

# stack_value KEY DEFAULT prints the stack's own value of n3x:KEY, or nothing. `pulumi config
# get` answers with Pulumi.yaml's default too (the CLI applies the project's config to the
# stack's), so that default counts as not set.
stack_value() {
	local value
	value=$(pulumi config get "n3x:$1" 2>/dev/null) || return 0
	[[ "$value" == "$2" ]] || printf '%s' "$value"
}

# kept KEY VALUE says that the stack's value of n3x:KEY stays, and how to look it up again.
kept() {
	printf 'n3x:%s is already set (%s), kept; to look it up again: pulumi config rm n3x:%s && scripts/configure.sh\n' "$1" "$2" "$1"
}

region=$(pulumi config get aws:region 2>/dev/null || true)
region=${region:-us-east-1}

ami=$(stack_value amiX86 "")
if [[ -n "$ami" ]]; then
	kept amiX86 "$ami"
	set_ami=
else
	# NixOS publishes its images weekly in every region from the AWS account 427812963091
	# (nixos.org/download, "NixOS on Amazon EC2").
	ami=$(aws ec2 describe-images --region "$region" --owners 427812963091 \
		--filters 'Name=name,Values=nixos/25.11*' 'Name=architecture,Values=x86_64' \
		--query 'sort_by(Images,&CreationDate)[-1].ImageId' --output text) ||
		fail "could not list the NixOS AMIs in $region with the AWS CLI (its message is above): check your credentials (aws sts get-caller-identity), or set an AMI yourself: pulumi config set n3x:amiX86 <ami-id>"
	[[ "$ami" =~ ^ami-[0-9a-f]{8,17}$ ]] ||
		fail "found no NixOS 25.11 x86_64 AMI in $region (the AWS CLI answered '$ami'); set one yourself: pulumi config set n3x:amiX86 <ami-id>"
	set_ami=1
fi

key=$(stack_value sshPublicKey "")
if [[ -n "$key" ]]; then
	kept sshPublicKey "$key"
	key_file=
else
	key_file=${SSH_PUBLIC_KEY:-$HOME/.ssh/id_ed25519.pub}
	[[ -r "$key_file" ]] ||
		fail "no SSH public key at $key_file: make one (ssh-keygen -t ed25519), or name yours: SSH_PUBLIC_KEY=<path>.pub scripts/configure.sh"
	key=$(head -n 1 "$key_file")
	[[ "$key" == ssh-ed25519\ * || "$key" == ssh-rsa\ * ]] ||
		fail "$key_file does not hold an ssh-ed25519 or ssh-rsa public key; name another: SSH_PUBLIC_KEY=<path>.pub scripts/configure.sh"
fi

blocks=$(stack_value sshCidrBlocks 0.0.0.0/0)
if [[ -n "$blocks" ]]; then
	kept sshCidrBlocks "$blocks"
	address=
else
	address=$(curl -fsS --max-time 10 https://checkip.amazonaws.com) ||
		fail "could not look up your public address (curl's message is above; no network, or a proxy?): set it yourself, pulumi config set n3x:sshCidrBlocks <your-ip>/32, or open nothing from outside and use Session Manager: pulumi config set n3x:sshCidrBlocks none"
	address=$(printf '%s' "$address" | tr -d '[:space:]')
	[[ "$address" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
		fail "the address lookup answered '$address', not an IPv4 address (a proxy's page?): set yours, pulumi config set n3x:sshCidrBlocks <your-ip>/32, or open nothing from outside and use Session Manager: pulumi config set n3x:sshCidrBlocks none"
fi

if [[ -n "$set_ami" ]]; then
	pulumi config set n3x:amiX86 "$ami"
	printf 'n3x:amiX86 %s (the newest NixOS 25.11 in %s)\n' "$ami" "$region"
fi
if [[ -n "$key_file" ]]; then
	pulumi config set n3x:sshPublicKey "$key"
	printf 'n3x:sshPublicKey from %s\n' "$key_file"
fi
if [[ -n "$address" ]]; then
	pulumi config set n3x:sshCidrBlocks "$address/32"
	printf 'n3x:sshCidrBlocks %s/32\n' "$address"
fi
