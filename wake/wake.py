"""Wakes a stopped n3x runner for a pending GitLab job.

GitLab's Job events webhook calls this function's URL (a Lambda function URL, payload
format 2.0) on every change of a job's status. For a job that is pending and whose tags
a stopped runner of this stack serves, it starts one such runner. Everything else is
answered without touching EC2, and logged. docs/hours-and-spot.md says how it is set up.

Its configuration is config.json beside it in the function's code (wake.go writes it; in
the code, not the environment, whose 4 KB ten runners with long names would exceed):
  stateId                the stack's state id, which its instances carry as n3x:state-id
  runners                the runners it may start, each {"name", "arch", "ami", "keyName",
                         "zone", "instanceType", "subnetId" ("" for the zone's default),
                         "spot", "profile", "replacing" (instance ids this update replaces)}:
                         an instance that differs, or is being replaced, is never started
  tags                   the GitLab runner tags of each architecture
  gitlabUrl              the GitLab instance, for its jobs API
  webhookTokenParameter  SSM SecureString: the webhook's secret token
  apiTokenParameter      SSM SecureString: a GitLab token with read_api, to read a job's tags
                         (the Job Hook payload does not carry them)

GitLab disables a webhook after four failed deliveries in a row and for good after 40
(GitLab docs, Webhooks, "Auto-disabled webhooks"), and never retries one itself: so past
the token check every answer is 200, and what could not be done is in the log only.

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

# A Job Hook is a few KiB, with the commit message in it; a function URL takes 6 MB.
MAX_BODY_BYTES = 1024 * 1024
# Secrets are read again after this many seconds, so a rotation needs no deploy; a token
# that does not match is checked against SSM again once it is this old, so a rotated
# webhook token is refused for at most that long.
SECRET_TTL_SECONDS = 300
TOKEN_RECHECK_SECONDS = 30
# Time kept for the answer and its log line, of the function's timeout.
MARGIN_SECONDS = 1.0
# GitLab's jobs API: at most this long for the whole request, and this much of the answer.
GITLAB_TIMEOUT_SECONDS = 2.0
MAX_JOB_BYTES = 256 * 1024
# EC2 answers a start only for an instance that it or this function's caller stopped:
# an interrupted Spot instance (Server.SpotInstanceShutdown) is EC2's to start, and an
# instance stopped for retirement or capacity is left alone too (EC2 API StateReason).
STARTABLE_STOP_REASONS = ("Client.UserInitiatedShutdown", "Client.InstanceInitiatedShutdown")
# The data volumes every runner has attached: /nix/store cache and Yocto (runner.go).
DATA_DEVICES = ("/dev/sdf", "/dev/sdg")
# Job ids this container started a runner for, so a redelivery does not start a second.
SEEN_LIMIT = 1000


class OutOfTime(Exception):
    """Raised before a call the function's timeout would cut."""


class Wake:
    """The handler's logic, with its AWS and GitLab calls passed in, for the tests."""

    def __init__(self, config, ec2, ssm, fetch, clock=time.time):
        self.state_id = config["stateId"]
        self.runners = config["runners"]
        self.tags = {arch: set(tags) for arch, tags in config["tags"].items()}
        self.gitlab_url = config["gitlabUrl"].rstrip("/")
        self.token_parameter = config["webhookTokenParameter"]
        self.api_token_parameter = config["apiTokenParameter"]
        self.ec2, self.ssm, self.fetch, self.clock = ec2, ssm, fetch, clock
        self.secrets = {}  # parameter name -> (value, read at)
        self.seen = []
        self.deadline = None

    def left(self, step):
        """Seconds left for a call before the function's timeout; OutOfTime when none."""
        if self.deadline is None:
            return GITLAB_TIMEOUT_SECONDS
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime(step)
        return left

    def secret(self, name, fresh=False):
        value, read_at = self.secrets.get(name, (None, 0))
        if fresh or value is None or self.clock() - read_at > SECRET_TTL_SECONDS:
            self.left("reading " + name)
            value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            self.secrets[name] = (value, self.clock())
        return value

    def handle(self, event, seconds=None):
        """Answers one function URL request within seconds (None: no limit), logged."""
        self.deadline = None if seconds is None else time.monotonic() + seconds - MARGIN_SECONDS
        try:
            status, reason = self.decide(event if isinstance(event, dict) else {})
        except OutOfTime as e:
            status, reason = 200, "not done: out of time before %s" % e
        except Exception as e:  # noqa: BLE001 - answered and logged, never a bare crash
            log.exception("unexpected")
            status, reason = 500, "unexpected %s" % type(e).__name__
        log.info(json.dumps({"status": status, "reason": reason}))
        return {"statusCode": status, "headers": {"content-type": "text/plain"}, "body": reason + "\n"}

    def token_matches(self, headers):
        given = headers.get("x-gitlab-token")
        given = given.encode("utf-8", "backslashreplace") if isinstance(given, str) else b""
        expected = self.secret(self.token_parameter)
        # Constant time, on bytes: a wrong token tells nothing of the right one.
        if hmac.compare_digest(given, expected.encode()):
            return True
        # Rotated since the last read? Read again, at most every TOKEN_RECHECK_SECONDS.
        if self.clock() - self.secrets[self.token_parameter][1] < TOKEN_RECHECK_SECONDS:
            return False
        return hmac.compare_digest(given, self.secret(self.token_parameter, fresh=True).encode())

    def decide(self, event):
        http = (event.get("requestContext") or {}).get("http") or {}
        if http.get("method") != "POST":
            return 405, "only POST: this is a GitLab Job events webhook"
        body = event.get("body") or ""
        if not isinstance(body, str) or len(body) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
            return 413, "body too large for a Job Hook"
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        try:
            matches = self.token_matches(headers)
        except OutOfTime:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read the secret
            log.error("cannot read the webhook token %s: %s", self.token_parameter, e)
            return 503, "cannot check the token"
        if not matches:
            return 401, "wrong or missing X-Gitlab-Token"
        if headers.get("x-gitlab-event") != "Job Hook":
            return 200, "ignored: not a Job Hook (%s)" % headers.get("x-gitlab-event", "no X-Gitlab-Event")
        try:
            raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8", "backslashreplace")
            if len(raw) > MAX_BODY_BYTES:
                return 413, "body too large for a Job Hook"
            job = json.loads(raw)
            job_id, project_id, status = job["build_id"], job["project_id"], job["build_status"]
        except (ValueError, KeyError, TypeError):
            return 400, "malformed Job Hook body"
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (job_id, project_id)):
            return 400, "malformed Job Hook body: build_id and project_id must be numbers"
        if status != "pending":
            return 200, "ignored: job %d is %s" % (job_id, status)
        if job_id in self.seen:
            return 200, "ignored: job %d started a runner already" % job_id
        # The job's tags, and its status now: a replayed or late event of a job that is no
        # longer pending wakes nothing.
        try:
            token = self.secret(self.api_token_parameter)
            current = self.fetch("%s/api/v4/projects/%d/jobs/%d" % (self.gitlab_url, project_id, job_id), token, self.left("GitLab"))
        except OutOfTime:
            raise
        except Exception as e:  # noqa: BLE001 - GitLab or SSM unreachable, or refusing
            return 200, "not done: cannot read job %d from GitLab: %s" % (job_id, e)
        if not isinstance(current, dict):
            return 200, "not done: GitLab's answer for job %d is no job" % job_id
        if current.get("status") != "pending":
            return 200, "ignored: job %d is %s now" % (job_id, current.get("status"))
        job_tags = current.get("tag_list")
        job_tags = {t for t in job_tags if isinstance(t, str)} if isinstance(job_tags, list) else set()
        archs = [arch for arch, tags in sorted(self.tags.items()) if job_tags and job_tags <= tags]
        if not archs:
            return 200, "ignored: job %d's tags %s are no runner's of this stack" % (job_id, sorted(job_tags))
        try:
            started = self.start_one(archs)
        except OutOfTime:
            raise
        except Exception as e:  # noqa: BLE001 - EC2 refused or failed
            return 200, "not done: job %d: EC2: %s" % (job_id, e)
        if started is None:
            return 200, "job %d: no stopped runner of %s to start" % (job_id, "/".join(archs))
        self.seen.append(job_id)
        del self.seen[:-SEEN_LIMIT]
        return 200, "job %d: started %s" % (job_id, started)

    def start_one(self, archs):
        """Starts the first startable runner that was still stopped (another invocation, for
        another job, may have started it meanwhile: then the next); its id, or None."""
        for instance in self.startable(archs):
            self.left("starting " + instance)
            answer = self.ec2.start_instances(InstanceIds=[instance])
            previous = [s["PreviousState"]["Name"] for s in answer.get("StartingInstances", []) if s.get("InstanceId") == instance]
            if previous == ["stopped"]:
                return instance
            log.info("%s was %s already, for another job", instance, previous)
        return None

    def startable(self, archs):
        """The stopped runners of the architectures, in their configured order, that are
        this stack's as it is now configured, stopped by a user or themselves, with their
        data volumes attached."""
        wanted = {r["name"]: r for r in self.runners if r["arch"] in archs}
        self.left("describing the runners")
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
        return [iid for _, iid in sorted(candidates)]

    @staticmethod
    def unchanged(instance, runner):
        """Whether the instance is the runner as configured now: one this update replaces
        (by id: the program knows from its state) or changes in place (its type) is not."""
        profile = (instance.get("IamInstanceProfile") or {}).get("Arn", "")
        return (instance["InstanceId"] not in runner["replacing"]
                and instance.get("ImageId") == runner["ami"] and instance.get("KeyName") == runner["keyName"]
                and (instance.get("Placement") or {}).get("AvailabilityZone") == runner["zone"]
                and instance.get("InstanceType") == runner["instanceType"]
                and (not runner["subnetId"] or instance.get("SubnetId") == runner["subnetId"])
                and (instance.get("InstanceLifecycle") == "spot") == runner["spot"]
                and profile.endswith(":instance-profile/" + runner["profile"]))

    @staticmethod
    def stopped_by_user(instance):
        return (instance.get("StateReason") or {}).get("Code") in STARTABLE_STOP_REASONS

    @staticmethod
    def volumes_attached(instance):
        attached = {m["DeviceName"] for m in instance.get("BlockDeviceMappings", [])
                    if (m.get("Ebs") or {}).get("Status") == "attached"}
        return all(d in attached for d in DATA_DEVICES)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: urllib would send the token on to wherever one points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0913 - urllib's
        raise urllib.error.HTTPError(req.full_url, code, "redirect to %s refused" % newurl, headers, fp)


_opener = urllib.request.build_opener(NoRedirects)


def fetch_job(url, token, seconds, opener=_opener):
    """GET a GitLab API URL with a token within seconds (at most GITLAB_TIMEOUT_SECONDS),
    the whole answer included; the decoded JSON. Raises on any failure or redirect."""
    seconds = min(seconds, GITLAB_TIMEOUT_SECONDS)
    deadline = time.monotonic() + seconds
    request = urllib.request.Request(url, headers={"PRIVATE-TOKEN": token, "Accept": "application/json"})
    try:
        with opener.open(request, timeout=seconds) as response:  # noqa: S310 - https gitlabUrl
            chunks, size = [], 0
            while chunk := response.read(16 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_JOB_BYTES:
                    raise RuntimeError("answer over %d bytes" % MAX_JOB_BYTES)
                if time.monotonic() > deadline:
                    raise RuntimeError("answer slower than %.1f s" % seconds)
            return json.loads(b"".join(chunks))
    except urllib.error.HTTPError as e:
        raise RuntimeError("HTTP %d %s" % (e.code, e.reason)) from None


def new_wake():
    """The function's Wake, with boto3's clients: imported in the init phase, which has its
    own 10 s, not the request's; one retry, short timeouts, as GitLab waits 10 s."""
    import boto3  # in the runtime
    from botocore.config import Config

    with open(os.path.join(os.path.dirname(__file__), "config.json")) as f:
        config = json.load(f)
    aws = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2})
    return Wake(config, boto3.client("ec2", config=aws), boto3.client("ssm", config=aws), fetch_job)


_wake = new_wake() if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else None


def handler(event, context):
    return _wake.handle(event, context.get_remaining_time_in_millis() / 1000)
