# The operator deletes the leftover group (aws ec2 delete-security-group), as preview says.
.securityGroups |= with_entries(select(.value.Name != "n3x-runner-sg"))
