"""Wakes a stopped n3x runner for a pending GitLab job.

GitLab's Job events webhook calls this function's URL (a Lambda function URL, payload
format 2.0) on every change of a job's status. For a job that is pending and whose tags
a stopped runner of this stack serves, it starts one such runner. Everything else is
answered without touching EC2, and logged. docs/hours-and-spot.md says how it is set up.

Environment (set by the stack, wake.go):
  STATE_ID                 the stack's state id, which its instances carry as n3x:state-id
  RUNNERS                  JSON list of the runners it may start, each {"name", "arch",
                           "ami", "keyName", "zone"}: an instance that no longer matches is
                           being replaced or removed, and is never started
  TAGS                     JSON object: the GitLab runner tags of each architecture
  GITLAB_URL               the GitLab instance, for its jobs API
  WEBHOOK_TOKEN_PARAMETER  SSM SecureString: the webhook's secret token
  API_TOKEN_PARAMETER      SSM SecureString: a GitLab token with read_api, to read a job's tags
                           (the Job Hook payload does not carry them)

Runs on the python3.13 runtime, whose boto3 AWS maintains; nothing else is imported.
"""

import base64
import hmac
import json
import logging
import os
import time
import urllib.error
import urllib.request

log = logging.getLogger()
log.setLevel(logging.INFO)

# A Job Hook body is a few KiB; anything far larger is not one.
MAX_BODY_BYTES = 64 * 1024
# Secrets are read again after this many seconds, so a rotation needs no deploy.
SECRET_TTL_SECONDS = 300
# EC2 answers a start only for an instance that it or this function's caller stopped:
# an interrupted Spot instance (Server.SpotInstanceShutdown) is EC2's to start, and an
# instance stopped for retirement or capacity is left alone too (EC2 API StateReason).
STARTABLE_STOP_REASONS = ("Client.UserInitiatedShutdown", "Client.InstanceInitiatedShutdown")
# The data volumes every runner has attached: /nix/store cache and Yocto (runner.go).
DATA_DEVICES = ("/dev/sdf", "/dev/sdg")
# Job ids seen by this container, so a redelivery does not start a second runner.
SEEN_LIMIT = 1000


class Wake:
    """The handler's logic, with its AWS and GitLab calls passed in, for the tests."""

    def __init__(self, env, ec2, ssm, fetch, clock=time.time):
        self.state_id = env["STATE_ID"]
        self.runners = json.loads(env["RUNNERS"])
        self.tags = {arch: set(tags) for arch, tags in json.loads(env["TAGS"]).items()}
        self.gitlab_url = env["GITLAB_URL"].rstrip("/")
        self.token_parameter = env["WEBHOOK_TOKEN_PARAMETER"]
        self.api_token_parameter = env["API_TOKEN_PARAMETER"]
        self.ec2, self.ssm, self.fetch, self.clock = ec2, ssm, fetch, clock
        self.secrets = {}  # parameter name -> (value, read at)
        self.seen = []

    def secret(self, name):
        value, read_at = self.secrets.get(name, (None, 0))
        if value is None or self.clock() - read_at > SECRET_TTL_SECONDS:
            value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            self.secrets[name] = (value, self.clock())
        return value

    def handle(self, event):
        """Answers one function URL request: (status, reason), logged either way."""
        status, reason = self.decide(event)
        log.info(json.dumps({"status": status, "reason": reason}))
        return {"statusCode": status, "headers": {"content-type": "text/plain"}, "body": reason + "\n"}

    def decide(self, event):
        http = (event.get("requestContext") or {}).get("http") or {}
        if http.get("method") != "POST":
            return 405, "only POST: this is a GitLab Job events webhook"
        body = event.get("body") or ""
        if len(body) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
            return 413, "body too large for a Job Hook"
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        try:
            expected = self.secret(self.token_parameter)
        except Exception as e:  # noqa: BLE001 - any failure to read the secret
            return 503, "cannot read the webhook token %s: %s" % (self.token_parameter, type(e).__name__)
        # Constant time, on bytes: a wrong token tells nothing of the right one.
        given = headers.get("x-gitlab-token", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return 401, "wrong or missing X-Gitlab-Token"
        if headers.get("x-gitlab-event") != "Job Hook":
            return 200, "ignored: not a Job Hook (%s)" % headers.get("x-gitlab-event", "no X-Gitlab-Event")
        try:
            raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
            if len(raw) > MAX_BODY_BYTES:
                return 413, "body too large for a Job Hook"
            job = json.loads(raw)
            job_id, project_id, status = job["build_id"], job["project_id"], job["build_status"]
        except (ValueError, KeyError, TypeError):
            return 400, "malformed Job Hook body"
        if not (isinstance(job_id, int) and isinstance(project_id, int)) or isinstance(job_id, bool) or isinstance(project_id, bool):
            return 400, "malformed Job Hook body: build_id and project_id must be numbers"
        if status != "pending":
            return 200, "ignored: job %d is %s" % (job_id, status)
        if job_id in self.seen:
            return 200, "ignored: job %d seen already" % job_id
        # The job's tags, and its status now: a replayed or late event of a job that is no
        # longer pending wakes nothing.
        try:
            current = self.fetch("%s/api/v4/projects/%d/jobs/%d" % (self.gitlab_url, project_id, job_id), self.secret(self.api_token_parameter))
        except Exception as e:  # noqa: BLE001 - GitLab or SSM unreachable, or refusing
            return 502, "cannot read job %d from GitLab: %s" % (job_id, e)
        if current.get("status") != "pending":
            return 200, "ignored: job %d is %s now" % (job_id, current.get("status"))
        self.remember(job_id)
        job_tags = set(current.get("tag_list") or [])
        archs = [arch for arch, tags in sorted(self.tags.items()) if job_tags and job_tags <= tags]
        if not archs:
            return 200, "ignored: job %d's tags %s are no runner's of this stack" % (job_id, sorted(job_tags))
        try:
            instance = self.startable(archs)
            if instance is None:
                return 200, "job %d: no stopped runner of %s to start" % (job_id, "/".join(archs))
            self.ec2.start_instances(InstanceIds=[instance])
        except Exception as e:  # noqa: BLE001 - EC2 refused or failed
            return 503, "job %d: EC2: %s" % (job_id, e)
        return 200, "job %d: started %s" % (job_id, instance)

    def remember(self, job_id):
        self.seen.append(job_id)
        del self.seen[:-SEEN_LIMIT]

    def startable(self, archs):
        """The first stopped runner of the architectures that is this stack's as it is now
        configured, stopped by a user or itself, with its data volumes attached; None if none."""
        wanted = {r["name"]: r for r in self.runners if r["arch"] in archs}
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:n3x:state-id", "Values": [self.state_id]},
            {"Name": "instance-state-name", "Values": ["stopped"]},
        ])
        candidates = []
        for page in pages:
            for reservation in page["Reservations"]:
                for i in reservation["Instances"]:
                    name = {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("Name")
                    runner = wanted.get(name)
                    if runner and self.unchanged(i, runner) and self.stopped_by_user(i) and self.volumes_attached(i):
                        candidates.append((list(wanted).index(name), i["InstanceId"]))
        return min(candidates)[1] if candidates else None

    @staticmethod
    def unchanged(instance, runner):
        # A new AMI, key pair or zone replaces the instance: the old one is never started.
        return (instance.get("ImageId") == runner["ami"] and instance.get("KeyName") == runner["keyName"]
                and (instance.get("Placement") or {}).get("AvailabilityZone") == runner["zone"])

    @staticmethod
    def stopped_by_user(instance):
        return (instance.get("StateReason") or {}).get("Code") in STARTABLE_STOP_REASONS

    @staticmethod
    def volumes_attached(instance):
        attached = {m["DeviceName"] for m in instance.get("BlockDeviceMappings", [])
                    if (m.get("Ebs") or {}).get("Status") == "attached"}
        return all(d in attached for d in DATA_DEVICES)


def fetch_job(url, token, timeout=3):
    """GET a GitLab API URL with a token; the decoded JSON object."""
    request = urllib.request.Request(url, headers={"PRIVATE-TOKEN": token, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https GITLAB_URL
            return json.loads(response.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as e:
        raise RuntimeError("HTTP %d" % e.code) from None


_wake = None


def handler(event, context):  # noqa: ARG001 - the Lambda signature
    global _wake
    if _wake is None:
        import boto3  # in the runtime
        from botocore.config import Config

        config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2})
        _wake = Wake(os.environ, boto3.client("ec2", config=config), boto3.client("ssm", config=config), fetch_job)
    return _wake.handle(event)
