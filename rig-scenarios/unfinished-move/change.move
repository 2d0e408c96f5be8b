n3x:availabilityZone=us-east-1c
