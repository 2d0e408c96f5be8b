#!/usr/bin/env bash
# The Quick start's three settings, each looked up and checked before it is set: the newest
# official NixOS AMI, your SSH public key, your public address. A lookup that fails stops the
# script with what to do instead; nothing half-set is left behind, since each key is set only
# once every lookup has worked. Run from the repository, after `pulumi stack init`.
#
#   scripts/configure.sh                 # all three
#   SSH_PUBLIC_KEY=~/.ssh/other.pub scripts/configure.sh
set -euo pipefail

fail() {
	printf 'scripts/configure.sh: %s\n' "$*" >&2
	exit 1
}

region=$(pulumi config get aws:region 2>/dev/null || true)
region=${region:-us-east-1}

# NixOS publishes its images weekly in every region from the AWS account 427812963091
# (nixos.org/download, "NixOS on Amazon EC2").
ami=$(aws ec2 describe-images --region "$region" --owners 427812963091 \
	--filters 'Name=name,Values=nixos/25.11*' 'Name=architecture,Values=x86_64' \
	--query 'sort_by(Images,&CreationDate)[-1].ImageId' --output text) ||
	fail "could not list the NixOS AMIs in $region with the AWS CLI (its message is above): check your credentials (aws sts get-caller-identity), or set an AMI yourself: pulumi config set n3x:amiX86 <ami-id>"
[[ "$ami" =~ ^ami-[0-9a-f]{8,17}$ ]] ||
	fail "found no NixOS 25.11 x86_64 AMI in $region (the AWS CLI answered '$ami'); set one yourself: pulumi config set n3x:amiX86 <ami-id>"

key_file=${SSH_PUBLIC_KEY:-$HOME/.ssh/id_ed25519.pub}
[[ -r "$key_file" ]] ||
	fail "no SSH public key at $key_file: make one (ssh-keygen -t ed25519), or name yours: SSH_PUBLIC_KEY=<path>.pub scripts/configure.sh"
key=$(head -n 1 "$key_file")
[[ "$key" == ssh-ed25519\ * || "$key" == ssh-rsa\ * ]] ||
	fail "$key_file does not hold an ssh-ed25519 or ssh-rsa public key; name another: SSH_PUBLIC_KEY=<path>.pub scripts/configure.sh"

address=$(curl -fsS --max-time 10 https://checkip.amazonaws.com) ||
	fail "could not look up your public address (curl's message is above; no network, or a proxy?): set it yourself, pulumi config set n3x:sshCidrBlocks <your-ip>/32, or open nothing from outside and use Session Manager: pulumi config set n3x:sshCidrBlocks none"
address=$(printf '%s' "$address" | tr -d '[:space:]')
[[ "$address" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
	fail "the address lookup answered '$address', not an IPv4 address (a proxy's page?): set yours, pulumi config set n3x:sshCidrBlocks <your-ip>/32, or open nothing from outside and use Session Manager: pulumi config set n3x:sshCidrBlocks none"

pulumi config set n3x:amiX86 "$ami"
pulumi config set n3x:sshPublicKey "$key"
pulumi config set n3x:sshCidrBlocks "$address/32"
printf 'n3x:amiX86 %s (the newest NixOS 25.11 in %s), n3x:sshPublicKey from %s, n3x:sshCidrBlocks %s/32\n' "$ami" "$region" "$key_file" "$address"
