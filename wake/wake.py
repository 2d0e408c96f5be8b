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
the token check every answer is 200, an unexpected error's too, and what could not be done
is in the log only.

Runs on the python3.13 runtime, whose boto3 AWS maintains; nothing else is imported.
"""

import base64
import hmac
import json
import logging
import os
import threading
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
# An AWS call's longest time: one attempt (new_wake's clients do not retry), its connect
# and read timeouts. A call starts only while this much of the function's time is left.
AWS_CONNECT_SECONDS, AWS_READ_SECONDS = 1.0, 2.0
AWS_CALL_SECONDS = AWS_CONNECT_SECONDS + AWS_READ_SECONDS
AWS_CLIENT_CONFIG = {"connect_timeout": AWS_CONNECT_SECONDS, "read_timeout": AWS_READ_SECONDS,
                     "retries": {"mode": "standard", "total_max_attempts": 1}}
# The refusals of one instance's start after which another runner may serve the job: its
# zone has no capacity for its type, or it is no longer stopped. Any other (throttling, a
# timeout after which EC2 may have started it after all) ends the search: "not done".
NEXT_RUNNER_ERRORS = ("InsufficientInstanceCapacity", "IncorrectInstanceState")
# A start is made only for an instance that a user or the instance itself stopped
# (EC2 API, StateReason), or, should a start that EC2 could not finish leave it so, one
# stopped with a launch's capacity or internal-error code (AWS documents these for
# launches; a start's refusal is usually the API's error, which leaves the old reason).
# An interrupted Spot instance (Server.SpotInstanceShutdown) is EC2's to start, on Spot
# a capacity code may be EC2's own stop too, and an instance stopped for retirement
# (Server.ScheduledStop) is left alone.
STARTABLE_STOP_REASONS = ("Client.UserInitiatedShutdown", "Client.InstanceInitiatedShutdown")
STARTABLE_ON_DEMAND_STOP_REASONS = STARTABLE_STOP_REASONS + ("Server.InsufficientInstanceCapacity", "Server.InternalError")
# The data volumes every runner has attached: /nix/store cache and Yocto (runner.go).
DATA_DEVICES = ("/dev/sdf", "/dev/sdg")
# Job ids this container started a runner for, so a redelivery does not start a second;
# forgotten after SEEN_SECONDS, when a resend may start one again (the first runner may
# have stopped idle without the job).
SEEN_LIMIT = 1000
SEEN_SECONDS = 15 * 60


def said(error):
    """An error's message, or its type where it has none."""
    return str(error) or type(error).__name__


def error_code(error):
    """An AWS error's code (botocore's ClientError.response), or None."""
    response = getattr(error, "response", None)
    return ((response or {}).get("Error") or {}).get("Code") if isinstance(response, dict) else None


class OutOfTime(Exception):
    """Raised before a call the function's timeout would cut."""


class Wake:
    """The handler's logic, with its AWS and GitLab calls passed in, for the tests."""

    def __init__(self, config, ec2, ssm, fetch, clock=time.time, monotonic=time.monotonic):
        self.state_id = config["stateId"]
        self.runners = config["runners"]
        self.tags = {arch: set(tags) for arch, tags in config["tags"].items()}
        self.gitlab_url = config["gitlabUrl"].rstrip("/")
        self.token_parameter = config["webhookTokenParameter"]
        self.api_token_parameter = config["apiTokenParameter"]
        self.ec2, self.ssm, self.fetch, self.clock, self.monotonic = ec2, ssm, fetch, clock, monotonic
        self.secrets = {}  # parameter name -> (value, read at)
        self.seen = {}  # job id -> when it started a runner (clock)
        self.deadline = None
        self.authenticated = False

    def left(self, step, needs):
        """Seconds left before the function's timeout, at most needs; OutOfTime when less
        than needs is left, the longest the call for step may take."""
        if self.deadline is None:
            return needs
        left = self.deadline - self.monotonic()
        if left < needs:
            raise OutOfTime(step)
        return needs

    def secret(self, name, fresh=False):
        value, read_at = self.secrets.get(name, (None, 0))
        if fresh or value is None or self.clock() - read_at > SECRET_TTL_SECONDS:
            self.left("reading " + name, AWS_CALL_SECONDS)
            value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            self.secrets[name] = (value, self.clock())
        return value

    def handle(self, event, seconds=None):
        """Answers one function URL request within seconds (None: no limit), logged."""
        self.deadline = None if seconds is None else self.monotonic() + seconds - MARGIN_SECONDS
        self.authenticated = False
        try:
            status, reason = self.decide(event if isinstance(event, dict) else {})
        except OutOfTime as e:
            status, reason = 200 if self.authenticated else 503, "not done: out of time before %s" % e
        except Exception as e:  # noqa: BLE001 - answered and logged, never a bare crash
            log.exception("unexpected")
            # Past the token an error is GitLab's delivery failure too: 200, as all others.
            status, reason = 200 if self.authenticated else 500, "not done: unexpected %s" % type(e).__name__
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
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, dict) else None
        if not isinstance(http, dict) or http.get("method") != "POST":
            return 405, "only POST: this is a GitLab Job events webhook"
        body = event.get("body") or ""
        if not isinstance(body, str) or len(body) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
            return 413, "body too large for a Job Hook"
        headers = event.get("headers")
        headers = {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}
        try:
            matches = self.token_matches(headers)
        except OutOfTime:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read the secret
            log.error("cannot read the webhook token %s: %s", self.token_parameter, e)
            return 503, "cannot check the token"
        if not matches:
            return 401, "wrong or missing X-Gitlab-Token"
        self.authenticated = True
        if headers.get("x-gitlab-event") != "Job Hook":
            return 200, "ignored: not a Job Hook (%s)" % headers.get("x-gitlab-event", "no X-Gitlab-Event")
        try:
            raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8", "backslashreplace")
            if len(raw) > MAX_BODY_BYTES:
                return 200, "ignored: body too large for a Job Hook"
            job = json.loads(raw)
            job_id, project_id, status = job["build_id"], job["project_id"], job["build_status"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return 200, "ignored: malformed Job Hook body"
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (job_id, project_id)):
            return 200, "ignored: malformed Job Hook body: build_id and project_id must be numbers"
        if status != "pending":
            return 200, "ignored: job %d is %s" % (job_id, status)
        now = self.clock()
        self.seen = {j: at for j, at in self.seen.items() if now - at < SEEN_SECONDS}
        if job_id in self.seen:
            return 200, "ignored: job %d started a runner already" % job_id
        # The job's tags, and its status now: a replayed or late event of a job that is no
        # longer pending wakes nothing.
        try:
            token = self.secret(self.api_token_parameter)
            current = self.fetch("%s/api/v4/projects/%d/jobs/%d" % (self.gitlab_url, project_id, job_id), token,
                                 self.left("GitLab", GITLAB_TIMEOUT_SECONDS))
        except OutOfTime:
            raise
        except Exception as e:  # noqa: BLE001 - GitLab or SSM unreachable, or refusing
            return 200, "not done: cannot read job %d from GitLab: %s" % (job_id, said(e))
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
            return 200, "not done: job %d: EC2: %s" % (job_id, said(e))
        if started is None:
            return 200, "job %d: no stopped runner of %s to start" % (job_id, "/".join(archs))
        self.seen[job_id] = now
        if len(self.seen) > SEEN_LIMIT:
            del self.seen[min(self.seen, key=self.seen.get)]
        return 200, "job %d: started %s" % (job_id, started)

    def start_one(self, archs):
        """Starts the first startable runner that was still stopped (another invocation, for
        another job, may have started it meanwhile: then the next; one EC2 refuses, for its
        capacity: then the next too); its id, or None. Raises the last refusal when every
        runner was refused."""
        refused = None
        for instance in self.startable(archs):
            self.left("starting " + instance, AWS_CALL_SECONDS)
            try:
                answer = self.ec2.start_instances(InstanceIds=[instance])
            except Exception as e:  # noqa: BLE001 - EC2 refused this one, or failed
                if error_code(e) not in NEXT_RUNNER_ERRORS:
                    raise
                log.warning("starting %s: %s", instance, e)
                refused = e
                continue
            previous = [s["PreviousState"]["Name"] for s in answer.get("StartingInstances", []) if s.get("InstanceId") == instance]
            if previous == ["stopped"]:
                return instance
            log.info("%s was %s already, for another job", instance, previous)
        if refused is not None:
            raise refused
        return None

    def startable(self, archs):
        """The stopped runners of the architectures, in their configured order, that are
        this stack's as it is now configured, stopped by a user or themselves, with their
        data volumes attached."""
        wanted = {r["name"]: r for r in self.runners if r["arch"] in archs}
        candidates, token = [], None
        while True:  # by hand, not a paginator, so that each page's call fits the time left
            self.left("describing the runners", AWS_CALL_SECONDS)
            page = self.ec2.describe_instances(MaxResults=1000, **({"NextToken": token} if token else {}), Filters=[
                {"Name": "tag:n3x:state-id", "Values": [self.state_id]},
                {"Name": "instance-state-name", "Values": ["stopped"]},
            ])
            for reservation in page["Reservations"]:
                for i in reservation["Instances"]:
                    name = {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("Name")
                    runner = wanted.get(name)
                    if runner and self.unchanged(i, runner) and self.stopped_by_user(i) and self.volumes_attached(i):
                        candidates.append((list(wanted).index(name), i["InstanceId"]))
            token = page.get("NextToken")
            if not token:
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
        reasons = STARTABLE_STOP_REASONS if instance.get("InstanceLifecycle") == "spot" else STARTABLE_ON_DEMAND_STOP_REASONS
        return (instance.get("StateReason") or {}).get("Code") in reasons

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
    the whole answer included; the decoded JSON. Raises on any failure or redirect.

    A socket's timeout bounds each read, not the whole request: a server that trickles its
    headers or body a byte at a time would hold it for ever. So the request runs in a
    thread of its own, waited for that long and then left to end by its socket timeouts
    (a GET, whose answer nobody reads then)."""
    seconds = min(seconds, GITLAB_TIMEOUT_SECONDS)
    result = {}

    def run():
        try:
            result["job"] = _fetch(url, token, seconds, opener)
        except Exception as e:  # noqa: BLE001 - handed to the caller
            result["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise RuntimeError("answer slower than %.1f s" % seconds)
    if "error" in result:
        raise result["error"]
    return result["job"]


def _fetch(url, token, seconds, opener):
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
    own 10 s, not the request's; one attempt each, short timeouts, as GitLab waits 10 s: a
    call refused or slow is "not done", which a resend repeats."""
    import boto3  # in the runtime
    from botocore.config import Config

    with open(os.path.join(os.path.dirname(__file__), "config.json")) as f:
        config = json.load(f)
    aws = Config(**AWS_CLIENT_CONFIG)
    return Wake(config, boto3.client("ec2", config=aws), boto3.client("ssm", config=aws), fetch_job)


_wake = new_wake() if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else None


def handler(event, context):
    return _wake.handle(event, context.get_remaining_time_in_millis() / 1000)
