# Another team's instance, 16 vCPUs of the same quota.
.instances["i-0f0f0f0f0f0f0f0f0"] = {"AZ": "us-east-1a", "State": "running", "Ami": "ami-0123456789abcdef0", "Type": "c6i.4xlarge",
  "Arch": "x86_64", "KeyName": "", "RootVolume": "", "PublicIP": "", "SecurityGroups": [], "PrivateIP": "172.31.99.9",
  "Lifecycle": "", "SpotRequest": "", "HttpTokens": "required", "HopLimit": 1, "IamInstanceProfile": "",
  "Tags": {"Project": "billing", "Stack": "prod"}}
