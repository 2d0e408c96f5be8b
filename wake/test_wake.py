"""Tests of wake.py against a fake EC2, SSM and GitLab: every branch of the handler.

Run: cd wake && python3 -m unittest -v test_wake (wake_test.go runs it with go test).
"""

import base64
import http.server
import json
import threading
import time
import unittest

import wake

TOKEN = "s3cret-webhook-token"
RUNNER = {"ami": "ami-0123456789abcdef0", "keyName": "n3x-runner-key", "zone": "us-east-1b", "instanceType": "c7i.2xlarge",
          "subnetId": "", "spot": False, "profile": "n3x-runner", "replacing": []}
CONFIG = {
    "stateId": "0a1b2c3d4e5f6a7b",
    "runners": [
        dict(RUNNER, name="n3x-x86-runner", arch="x86_64"),
        dict(RUNNER, name="n3x-x86-2-runner", arch="x86_64"),
        dict(RUNNER, name="n3x-graviton-runner", arch="arm64", ami="ami-0fedcba9876543210", instanceType="c7g.2xlarge"),
    ],
    "tags": {"x86_64": ["n3x-build", "x86_64"], "arm64": ["n3x-build", "arm64"]},
    "gitlabUrl": "https://gitlab.example.com/",
    "webhookTokenParameter": "/n3x-runner/gitlab-webhook-token",
    "apiTokenParameter": "/n3x-runner/gitlab-api-token",
}


def instance(iid, name, ami="ami-0123456789abcdef0", reason="Client.UserInitiatedShutdown", devices=("/dev/sdf", "/dev/sdg"),
             zone="us-east-1b", key="n3x-runner-key", state_id="0a1b2c3d4e5f6a7b", state="stopped", typ=None, subnet="subnet-0b1",
             spot=False, profile="n3x-runner"):
    i = {
        "InstanceId": iid, "ImageId": ami, "KeyName": key, "Placement": {"AvailabilityZone": zone},
        "InstanceType": typ or ("c7g.2xlarge" if "graviton" in name else "c7i.2xlarge"), "SubnetId": subnet,
        "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/" + profile},
        "State": {"Name": state}, "StateReason": {"Code": reason},
        "Tags": [{"Key": "Name", "Value": name}, {"Key": "n3x:state-id", "Value": state_id}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Status": "attached"}}]
        + [{"DeviceName": d, "Ebs": {"Status": "attached"}} for d in devices],
    }
    if spot:
        i["InstanceLifecycle"] = "spot"
    return i


class AWSError(Exception):
    """As botocore's ClientError: the code in response["Error"]["Code"]."""

    def __init__(self, code):
        super().__init__("An error occurred (%s) when calling the StartInstances operation" % code)
        self.response = {"Error": {"Code": code}}


class FakeEC2:
    """Answers DescribeInstances with its filters applied, as EC2 does, and records starts."""

    def __init__(self, instances, fail_start=False):
        self.instances, self.started, self.calls, self.fail_start = instances, [], [], fail_start
        self.refuse = set()  # instance ids whose start EC2 refuses, with refusal
        self.refusal = "InsufficientInstanceCapacity"

    def describe_instances(self, Filters, MaxResults, NextToken=None):
        """Two pages, as EC2 may answer (a filtered page can hold fewer than MaxResults)."""
        assert 5 <= MaxResults <= 1000 and NextToken in (None, "page-2")
        self.calls.append(("describe_instances", Filters))
        def keep(i):
            tags = {t["Key"]: t["Value"] for t in i["Tags"]}
            for f in Filters:
                if f["Name"].startswith("tag:") and tags.get(f["Name"][4:]) not in f["Values"]:
                    return False
                if f["Name"] == "instance-state-name" and i["State"]["Name"] not in f["Values"]:
                    return False
            return True
        kept = [i for i in self.instances if keep(i)]
        if NextToken is None:
            return {"Reservations": [{"Instances": kept[:1]}], "NextToken": "page-2"}
        return {"Reservations": [{"Instances": kept[1:]}]}

    def start_instances(self, InstanceIds):
        """As EC2: a start of an instance another call started already succeeds, and says so."""
        self.calls.append(("start_instances", InstanceIds))
        if self.fail_start or self.refuse & set(InstanceIds):
            raise AWSError(self.refusal)
        answer = []
        for i in self.instances:
            if i["InstanceId"] in InstanceIds:
                answer.append({"InstanceId": i["InstanceId"], "PreviousState": {"Name": i["State"]["Name"]}, "CurrentState": {"Name": "pending"}})
                if i["State"]["Name"] == "stopped":
                    self.started.append(i["InstanceId"])
                i["State"]["Name"] = "pending"
        return {"StartingInstances": answer}


class FakeSSM:
    def __init__(self, values):
        self.values, self.reads = values, 0

    def get_parameter(self, Name, WithDecryption):
        assert WithDecryption
        self.reads += 1
        if Name not in self.values:
            raise KeyError("ParameterNotFound")
        return {"Parameter": {"Value": self.values[Name]}}


class FakeGitLab:
    def __init__(self, jobs, fail=None):
        self.jobs, self.fail, self.calls = jobs, fail, []

    def __call__(self, url, token, seconds):
        assert 0 < seconds
        self.calls.append((url, token))
        if self.fail:
            raise RuntimeError(self.fail)
        return self.jobs[url]


def job_url(job_id, project=7):
    return "https://gitlab.example.com/api/v4/projects/%d/jobs/%d" % (project, job_id)


def request(body=None, token=TOKEN, event="Job Hook", method="POST", base64_body=False, headers=None):
    if body is None:
        body = {"object_kind": "build", "build_id": 42, "project_id": 7, "build_status": "pending", "runner": None}
    text = body if isinstance(body, str) else json.dumps(body)
    h = {"content-type": "application/json"}
    if token is not None:
        h["X-Gitlab-Token"] = token  # any case: the handler lowers header names
    if event is not None:
        h["x-gitlab-event"] = event
    h.update(headers or {})
    return {
        "version": "2.0", "headers": h, "requestContext": {"http": {"method": method}},
        "body": base64.b64encode(text.encode()).decode() if base64_body else text, "isBase64Encoded": base64_body,
    }


class WakeTest(unittest.TestCase):
    def setUp(self):
        self.ec2 = FakeEC2([
            instance("i-0x1", "n3x-x86-runner"),
            instance("i-0x2", "n3x-x86-2-runner"),
            instance("i-0g1", "n3x-graviton-runner", ami="ami-0fedcba9876543210"),
        ])
        self.ssm = FakeSSM({CONFIG["webhookTokenParameter"]: TOKEN, CONFIG["apiTokenParameter"]: "glpat-read-api"})
        self.gitlab = FakeGitLab({job_url(42): {"id": 42, "status": "pending", "tag_list": ["n3x-build", "x86_64"]}})
        self.now = 1_000_000.0
        self.wake = wake.Wake(CONFIG, self.ec2, self.ssm, self.gitlab, clock=lambda: self.now)

    def answer(self, event):
        response = self.wake.handle(event)
        return response["statusCode"], response["body"]

    def assertUntouched(self):
        self.assertEqual(self.ec2.calls, [], "EC2 was called")

    def test_pending_job_starts_the_first_stopped_runner_of_its_architecture(self):
        status, body = self.answer(request())
        self.assertEqual((status, self.ec2.started), (200, ["i-0x1"]), body)
        self.assertEqual(self.gitlab.calls, [(job_url(42), "glpat-read-api")])
        self.assertEqual(self.ec2.calls[0], ("describe_instances", [
            {"Name": "tag:n3x:state-id", "Values": ["0a1b2c3d4e5f6a7b"]}, {"Name": "instance-state-name", "Values": ["stopped"]}]))

    def test_one_runner_per_pending_job(self):
        self.gitlab.jobs[job_url(43)] = {"status": "pending", "tag_list": ["x86_64"]}
        self.answer(request())
        self.ec2.instances[0]["State"]["Name"] = "pending"  # started by the first job
        status, body = self.answer(request({"object_kind": "build", "build_id": 43, "project_id": 7, "build_status": "pending"}))
        self.assertEqual((status, self.ec2.started), (200, ["i-0x1", "i-0x2"]), body)
        self.ec2.instances[1]["State"]["Name"] = "pending"
        self.gitlab.jobs[job_url(44)] = {"status": "pending", "tag_list": ["x86_64"]}
        status, body = self.answer(request({"object_kind": "build", "build_id": 44, "project_id": 7, "build_status": "pending"}))
        self.assertEqual((status, self.ec2.started), (200, ["i-0x1", "i-0x2"]), body)
        self.assertIn("no stopped runner", body)

    def test_a_graviton_job_starts_a_graviton_runner(self):
        self.gitlab.jobs[job_url(42)] = {"status": "pending", "tag_list": ["arm64"]}
        status, _ = self.answer(request())
        self.assertEqual((status, self.ec2.started), (200, ["i-0g1"]))

    def test_tags_of_both_architectures_start_either(self):
        self.gitlab.jobs[job_url(42)] = {"status": "pending", "tag_list": ["n3x-build"]}
        self.ec2.instances = self.ec2.instances[2:]  # only the Graviton runner is stopped
        status, _ = self.answer(request())
        self.assertEqual((status, self.ec2.started), (200, ["i-0g1"]))

    def test_jobs_for_other_runners_wake_nothing(self):
        for tags in ([], ["docker"], ["n3x-build", "x86_64", "gpu"], ["x86_64", "arm64"]):
            with self.subTest(tags=tags):
                self.wake.seen.clear()
                self.gitlab.jobs[job_url(42)] = {"status": "pending", "tag_list": tags}
                status, body = self.answer(request())
                self.assertEqual((status, self.ec2.calls), (200, []), body)

    def test_never_a_runner_being_replaced_removed_or_interrupted(self):
        cases = {
            "an old AMI: being replaced": instance("i-0old", "n3x-x86-runner", ami="ami-0aaaabbbbccccdddd"),
            "another key pair: being replaced": instance("i-0old", "n3x-x86-runner", key="n3x-old-key"),
            "another zone: being moved": instance("i-0old", "n3x-x86-runner", zone="us-east-1c"),
            "replaced by this update (root size, ...): its id": instance("i-0replaced", "n3x-x86-runner"),
            "another instance type: being changed": instance("i-0old", "n3x-x86-runner", typ="c7i.4xlarge"),
            "another subnet: being replaced": instance("i-0old", "n3x-x86-runner", subnet="subnet-0other"),
            "Spot while the fleet is on demand": instance("i-0old", "n3x-x86-runner", spot=True),
            "another instance profile": instance("i-0old", "n3x-x86-runner", profile="n3x-old-runner"),
            "a runner scaled away": instance("i-0old", "n3x-x86-3-runner"),
            "volumes detaching": instance("i-0old", "n3x-x86-runner", devices=("/dev/sdf",)),
            "an interrupted Spot instance": instance("i-0old", "n3x-x86-runner", reason="Server.SpotInstanceShutdown"),
            "stopped for retirement": instance("i-0old", "n3x-x86-runner", reason="Server.ScheduledStop"),
            "another stack's": instance("i-0old", "n3x-x86-runner", state_id="f0f0f0f0f0f0f0f0"),
            "running": instance("i-0old", "n3x-x86-runner", state="running"),
        }
        self.wake.runners[0] = dict(self.wake.runners[0], subnetId="subnet-0b1", replacing=["i-0replaced"])
        for why, candidate in cases.items():
            with self.subTest(why):
                self.ec2.instances, self.ec2.started = [candidate], []
                self.wake.seen.clear()
                status, body = self.answer(request())
                self.assertEqual((status, self.ec2.started), (200, []), body)

    def test_an_instance_stopped_by_itself_starts(self):
        self.ec2.instances = [instance("i-0x1", "n3x-x86-runner", reason="Client.InstanceInitiatedShutdown")]
        self.assertEqual(self.answer(request())[0], 200)
        self.assertEqual(self.ec2.started, ["i-0x1"])

    def test_wrong_or_missing_token(self):
        for token in (None, "", "s3cret-webhook-tokeN", TOKEN + "x", "ünïcode"):
            with self.subTest(token=token):
                status, _ = self.answer(request(token=token))
                self.assertEqual(status, 401)
        self.assertUntouched()
        self.assertEqual(self.gitlab.calls, [])

    def test_the_token_is_compared_in_constant_time(self):
        compared = []
        real = wake.hmac.compare_digest
        wake.hmac.compare_digest = lambda a, b: compared.append((a, b)) or real(a, b)
        try:
            self.answer(request(token="wrong"))
        finally:
            wake.hmac.compare_digest = real
        self.assertEqual(compared, [(b"wrong", TOKEN.encode())])

    def test_header_names_in_any_case(self):
        event = request(token=None, event=None, headers={"X-GITLAB-TOKEN": TOKEN, "X-Gitlab-Event": "Job Hook"})
        self.assertEqual(self.answer(event)[0], 200)
        self.assertEqual(self.ec2.started, ["i-0x1"])

    def test_other_events_are_ignored(self):
        status, body = self.answer(request(event="Push Hook"))
        self.assertEqual(status, 200, body)
        self.assertIn("not a Job Hook", body)
        self.assertUntouched()

    def test_other_job_statuses_are_ignored(self):
        for s in ("created", "running", "success", "failed", "canceled", "manual"):
            with self.subTest(s):
                status, body = self.answer(request({"object_kind": "build", "build_id": 42, "project_id": 7, "build_status": s}))
                self.assertEqual(status, 200, body)
        self.assertUntouched()
        self.assertEqual(self.gitlab.calls, [])

    # Past the token even a body that is no Job Hook is 200: GitLab sent it, and a failure
    # would count towards disabling the webhook.
    def test_malformed_bodies(self):
        for body in ("", "{", "[]", "null", json.dumps({"build_id": 42}), json.dumps({"build_id": "42", "project_id": 7, "build_status": "pending"}),
                     json.dumps({"build_id": True, "project_id": 7, "build_status": "pending"}), "[" * 100000):
            with self.subTest(body=body[:20]):
                status, reason = self.answer(request(body))
                self.assertEqual(status, 200)
                self.assertIn("ignored: malformed Job Hook body", reason)
        bad = request()
        bad["body"], bad["isBase64Encoded"] = "not base64!", True
        self.assertEqual(self.answer(bad), (200, "ignored: malformed Job Hook body\n"))
        self.assertUntouched()

    def test_base64_bodies_are_decoded(self):
        self.assertEqual(self.answer(request(base64_body=True))[0], 200)
        self.assertEqual(self.ec2.started, ["i-0x1"])

    def test_oversized_bodies(self):
        big = {"object_kind": "build", "build_id": 42, "project_id": 7, "build_status": "pending", "pad": "x" * (wake.MAX_BODY_BYTES + 1)}
        self.assertEqual(self.answer(request(big))[0], 413)
        self.assertEqual(self.answer(request(big, base64_body=True))[0], 413)
        self.assertUntouched()

    def test_other_methods(self):
        self.assertEqual(self.answer(request(method="GET"))[0], 405)
        self.assertEqual(self.answer({"body": "{}"})[0], 405)  # a direct invoke, not through the URL
        self.assertUntouched()

    def test_replays(self):
        self.assertEqual(self.answer(request())[0], 200)
        status, body = self.answer(request())  # GitLab redelivers, or someone replays
        self.assertEqual((status, self.ec2.started), (200, ["i-0x1"]), body)
        self.assertIn("started a runner already", body)

    def test_a_replay_of_a_job_no_longer_pending(self):
        self.gitlab.jobs[job_url(42)] = {"status": "success", "tag_list": ["x86_64"]}
        status, body = self.answer(request())
        self.assertEqual(status, 200, body)
        self.assertIn("is success now", body)
        self.assertUntouched()

    # GitLab disables a webhook after four failures in a row: past the token, every answer
    # is 200, and the log says what was not done.
    def test_gitlab_unreachable_or_refusing(self):
        self.gitlab.fail = "HTTP 401"
        status, body = self.answer(request())
        self.assertEqual(status, 200, body)
        self.assertIn("not done: cannot read job 42 from GitLab: HTTP 401", body)
        self.assertUntouched()

    def test_ec2_failure_and_a_resend(self):
        self.ec2.fail_start = True
        status, body = self.answer(request())
        self.assertEqual(status, 200, body)
        self.assertIn("not done: job 42: EC2: An error occurred (InsufficientInstanceCapacity)", body)
        self.ec2.fail_start = False  # GitLab's "Resend request", once EC2 has the capacity
        status, body = self.answer(request())
        self.assertEqual((status, self.ec2.started), (200, ["i-0x1"]), body)

    def test_a_job_that_found_no_runner_wakes_one_when_resent(self):
        self.ec2.instances[0]["State"]["Name"] = self.ec2.instances[1]["State"]["Name"] = "stopping"
        self.assertIn("no stopped runner", self.answer(request())[1])
        self.ec2.instances[0]["State"]["Name"] = "stopped"
        self.assertEqual((self.answer(request())[0], self.ec2.started), (200, ["i-0x1"]))

    def test_two_jobs_at_once_start_two_runners(self):
        # The other invocation started i-0x1 between this one's describe and its start.
        real = self.ec2.start_instances
        def racing(InstanceIds):
            if InstanceIds == ["i-0x1"] and self.ec2.instances[0]["State"]["Name"] == "stopped":
                self.ec2.instances[0]["State"]["Name"] = "pending"
            return real(InstanceIds)
        self.ec2.start_instances = racing
        status, body = self.answer(request())
        self.assertEqual((status, self.ec2.started), (200, ["i-0x2"]), body)
        self.assertEqual([c for c in self.ec2.calls if c[0] == "start_instances"], [("start_instances", ["i-0x1"]), ("start_instances", ["i-0x2"])])

    def test_token_parameter_missing(self):
        del self.ssm.values[CONFIG["webhookTokenParameter"]]
        status, body = self.answer(request())
        self.assertEqual(status, 503)
        self.assertNotIn("/n3x-runner", body)  # the caller may be anyone: no names
        self.assertUntouched()

    def test_out_of_time(self):
        # Before the token is checked: no 200 for a caller not known to be GitLab.
        response = self.wake.handle(request(), seconds=wake.MARGIN_SECONDS)
        self.assertEqual((response["statusCode"], response["body"]), (503, "not done: out of time before reading /n3x-runner/gitlab-webhook-token\n"))
        # Past it (the token read before, kept): 200, not done.
        self.wake.secrets[CONFIG["webhookTokenParameter"]] = (TOKEN, self.now)
        response = self.wake.handle(request(), seconds=wake.MARGIN_SECONDS + 1)
        self.assertEqual((response["statusCode"], response["body"]), (200, "not done: out of time before reading /n3x-runner/gitlab-api-token\n"))
        self.assertUntouched()

    # Each call starts only while its longest time is left: however slow AWS and GitLab
    # answer (within the clients' timeouts), the function answers within its time.
    def test_every_call_fits_the_functions_time(self):
        for aws_seconds in (0.01, 1.0, 2.0, wake.AWS_CALL_SECONDS):
            for gitlab_seconds in (0.01, 1.0, wake.GITLAB_TIMEOUT_SECONDS):
                with self.subTest(aws=aws_seconds, gitlab=gitlab_seconds):
                    clock = [0.0]
                    def slow(call, seconds):
                        def run(*args, **kwargs):
                            clock[0] += seconds
                            return call(*args, **kwargs)
                        return run
                    ec2 = FakeEC2([instance("i-0x1", "n3x-x86-runner")])
                    ec2.start_instances = slow(ec2.start_instances, aws_seconds)
                    ec2.describe_instances = slow(ec2.describe_instances, aws_seconds)  # each page
                    ssm = FakeSSM(dict(self.ssm.values))
                    ssm.get_parameter = slow(ssm.get_parameter, aws_seconds)
                    w = wake.Wake(CONFIG, ec2, ssm, slow(self.gitlab, gitlab_seconds), clock=lambda: self.now, monotonic=lambda: clock[0])
                    response = w.handle(request(), seconds=8)
                    self.assertLessEqual(clock[0], 8 - wake.MARGIN_SECONDS, response["body"])
                    self.assertEqual(response["statusCode"], 200, response["body"])
                    # The start, the sixth call, begins after two SSM reads, GitLab and two pages.
                    if 4 * aws_seconds + gitlab_seconds <= 8 - wake.MARGIN_SECONDS - wake.AWS_CALL_SECONDS:
                        self.assertEqual(ec2.started, ["i-0x1"], response["body"])
                    else:
                        self.assertEqual(ec2.started, [])
                        self.assertIn("not done: out of time before", response["body"])

    # One runner EC2 refuses (its zone has no capacity) is passed over for the next, of
    # either architecture the job's tags allow.
    def test_a_refused_start_tries_the_next_runner(self):
        self.ec2.refuse = {"i-0x1"}
        status, body = self.answer(request())
        self.assertEqual((status, self.ec2.started, body), (200, ["i-0x2"], "job 42: started i-0x2\n"))
        self.ec2.started = []
        self.ec2.instances[1]["State"]["Name"] = "stopped"
        self.gitlab.jobs[job_url(43)] = {"status": "pending", "tag_list": ["n3x-build"]}
        self.ec2.refuse = {"i-0x1", "i-0x2"}
        status, body = self.answer(request({"build_id": 43, "project_id": 7, "build_status": "pending"}))
        self.assertEqual((status, self.ec2.started), (200, ["i-0g1"]), body)
        self.ec2.refuse = {"i-0x1", "i-0x2", "i-0g1"}
        self.ec2.instances[2]["State"]["Name"] = "stopped"
        self.wake.seen.clear()
        status, body = self.answer(request({"build_id": 43, "project_id": 7, "build_status": "pending"}))
        self.assertEqual((status, body), (200, "not done: job 43: EC2: An error occurred (InsufficientInstanceCapacity) when calling the StartInstances operation\n"))

    # Throttled, or a start that timed out (EC2 may have started it after all): no second
    # runner for the job, not done, which a resend repeats.
    def test_another_refusal_ends_the_search(self):
        for code in ("RequestLimitExceeded", "InternalError"):
            with self.subTest(code):
                self.ec2.refuse, self.ec2.refusal = {"i-0x1"}, code
                status, body = self.answer(request())
                self.assertEqual((status, self.ec2.started), (200, []), body)
                self.assertIn("not done: job 42: EC2: An error occurred (%s)" % code, body)
                self.assertEqual([c for c in self.ec2.calls if c[0] == "start_instances"][-1], ("start_instances", ["i-0x1"]))
        class Timeout(Exception):
            pass
        def timing_out(InstanceIds):
            self.ec2.calls.append(("start_instances", InstanceIds))
            raise Timeout("Read timeout on endpoint URL")
        self.ec2.calls, self.ec2.start_instances = [], timing_out
        self.assertIn("not done: job 42: EC2: Read timeout", self.answer(request())[1])
        self.assertEqual([c for c in self.ec2.calls if c[0] == "start_instances"], [("start_instances", ["i-0x1"])])

    # The clients' settings are the times the function counts with: one attempt, no retry.
    def test_the_clients_are_configured_as_counted(self):
        c = wake.AWS_CLIENT_CONFIG
        self.assertEqual((c["connect_timeout"] + c["read_timeout"], c["retries"]["total_max_attempts"]), (wake.AWS_CALL_SECONDS, 1))

    # A start that EC2 could not finish (no capacity, its own error) leaves an on-demand
    # runner stopped with that reason: it may be started again. On Spot that reason may be
    # EC2's own stop: left to EC2.
    def test_a_runner_whose_start_failed_is_started_again(self):
        for code in ("Server.InsufficientInstanceCapacity", "Server.InternalError"):
            with self.subTest(code):
                self.ec2.instances = [instance("i-0x1", "n3x-x86-runner", reason=code)]
                self.ec2.started = []
                self.wake.seen.clear()
                self.assertEqual((self.answer(request())[0], self.ec2.started), (200, ["i-0x1"]))
        spot = dict(CONFIG, runners=[dict(CONFIG["runners"][0], spot=True)])
        self.wake = wake.Wake(spot, self.ec2, self.ssm, self.gitlab, clock=lambda: self.now)
        for code, want in (("Server.InsufficientInstanceCapacity", []), ("Server.SpotInstanceShutdown", []), ("Client.UserInitiatedShutdown", ["i-0s1"])):
            with self.subTest(spot=code):
                self.ec2.instances = [instance("i-0s1", "n3x-x86-runner", reason=code, spot=True)]
                self.ec2.started = []
                status, body = self.answer(request())
                self.assertEqual((status, self.ec2.started), (200, want), body)

    # A resend after the job's runner had time to stop idle without it starts one again.
    def test_a_job_is_forgotten_after_a_while(self):
        self.assertEqual(self.answer(request())[0], 200)
        self.ec2.instances[0]["State"]["Name"] = "stopped"
        self.assertIn("started a runner already", self.answer(request())[1])
        self.now += wake.SEEN_SECONDS
        self.assertEqual((self.answer(request())[1], self.ec2.started), ("job 42: started i-0x1\n", ["i-0x1", "i-0x1"]))

    # An error nobody foresaw: 500 to a caller without the token, 200 past it (a failure
    # would count towards disabling the webhook); logged with its traceback either way.
    def test_an_unexpected_error(self):
        def broken(*args, **kwargs):
            raise ZeroDivisionError
        self.wake.tags = None
        with self.assertLogs(wake.log, "ERROR") as logs:
            self.assertEqual(self.answer(request()), (200, "not done: unexpected AttributeError\n"))
        self.assertIn("Traceback", "\n".join(logs.output))
        self.ssm.get_parameter = broken
        self.wake.secrets.clear()
        with self.assertLogs(wake.log, "ERROR"):
            self.assertEqual(self.answer(request())[0], 503)  # an unreadable token is said as such
        class Odd(dict):
            def get(self, *args):
                raise ZeroDivisionError
        with self.assertLogs(wake.log, "ERROR"):
            self.assertEqual(self.answer(Odd(request())), (500, "not done: unexpected ZeroDivisionError\n"))

    # Every answer is logged, with its status and reason, for the operator to read.
    def test_every_answer_is_logged(self):
        for event, status in ((request(), 200), (request(token="wrong"), 401), (request(method="GET"), 405)):
            with self.subTest(status=status), self.assertLogs(wake.log, "INFO") as logs:
                response = self.wake.handle(event)
                self.assertEqual(json.loads(logs.records[-1].getMessage()), {"status": status, "reason": response["body"].strip()})

    def test_odd_inputs_are_answered_not_crashed(self):
        cases = {
            "a lone surrogate in the token": (request(token="\udc80"), 401),
            "a token that is no string": (request(token=None, headers={"x-gitlab-token": None}), 401),
            "a body that is no string": (dict(request(), body=["x"]), 413),
            "an event that is no object": ("x", 405),
            "a request context that is no object": ({"requestContext": "x"}, 405),
            "an http that is no object": ({"requestContext": {"http": "POST"}}, 405),
            "headers that are no object": (dict(request(), headers=["x"]), 401),
            "a lone surrogate in the body": (request(body='{"build_id": 42, "project_id": 7, "build_status": "\udc80"}'), 200),
        }
        for why, (event, want) in cases.items():
            with self.subTest(why):
                self.assertEqual(self.wake.handle(event)["statusCode"], want)
        for answer in ([], {"status": "pending", "tag_list": "x86_64"}, {"status": "pending", "tag_list": [1, None]}):
            with self.subTest(answer=answer):
                self.gitlab.jobs[job_url(42)] = answer
                status, body = self.answer(request())
                self.assertEqual((status, self.ec2.started), (200, []), body)

    def test_a_body_too_large_in_bytes(self):
        body = json.dumps({"build_id": 42, "project_id": 7, "build_status": "pending", "pad": "é" * (wake.MAX_BODY_BYTES // 2)}, ensure_ascii=False)
        self.assertLessEqual(len(body), wake.MAX_BODY_BYTES)
        self.assertEqual(self.answer(request(body)), (200, "ignored: body too large for a Job Hook\n"))
        self.assertUntouched()

    def test_a_rotated_token_is_read_again(self):
        self.assertEqual(self.answer(request())[0], 200)
        self.ssm.values[CONFIG["webhookTokenParameter"]] = "rotated"
        self.assertEqual(self.answer(request(token="rotated"))[0], 401)  # read a moment ago
        self.now += wake.TOKEN_RECHECK_SECONDS
        self.ec2.instances[0]["State"]["Name"] = "stopped"
        self.assertEqual(self.answer(request(token="rotated"))[0], 200)
        reads = self.ssm.reads
        self.assertEqual(self.answer(request(token="wrong"))[0], 401)
        self.assertEqual(self.ssm.reads, reads, "a wrong token right after a read reads SSM again")

    def test_the_lambda_entry_point(self):
        class Context:
            def get_remaining_time_in_millis(self):
                return 8000
        saved, wake._wake = wake._wake, self.wake
        try:
            response = wake.handler(request(), Context())
        finally:
            wake._wake = saved
        self.assertEqual((response["statusCode"], self.ec2.started), (200, ["i-0x1"]))

    def test_secrets_are_read_again_after_a_while(self):
        self.answer(request(token="wrong"))
        self.answer(request(token="wrong"))
        self.assertEqual(self.ssm.reads, 1)
        self.ssm.values[CONFIG["webhookTokenParameter"]] = "rotated"
        self.now += wake.SECRET_TTL_SECONDS + 1
        self.assertEqual(self.answer(request(token="rotated"))[0], 200)


class FetchJobTest(unittest.TestCase):
    """fetch_job against a local HTTP server: the answer, refused redirects, a deadline for
    the whole answer, a size limit."""

    def setUp(self):
        self.seen = []
        test = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                test.seen.append((self.path, self.headers.get("PRIVATE-TOKEN")))
                if self.path == "/job":
                    self.reply(b'{"status": "pending", "tag_list": ["x86_64"]}')
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/stolen")
                    self.end_headers()
                elif self.path == "/drip":
                    self.send_response(200)
                    self.end_headers()
                    for _ in range(12):
                        self.wfile.write(b" " * 20000)
                        self.wfile.flush()
                        time.sleep(0.1)
                elif self.path == "/trickle-headers":  # under every read's timeout, a byte at a time
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for byte in b"X-Slow: " + b"x" * 30:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                elif self.path == "/trickle-body":
                    self.send_response(200)
                    self.send_header("Content-Length", "30")
                    self.end_headers()
                    for _ in range(30):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                elif self.path == "/huge":
                    self.reply(b" " * (wake.MAX_JOB_BYTES + 1))
                else:
                    self.send_response(404)
                    self.end_headers()

            def reply(self, body):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_a_job(self):
        self.assertEqual(wake.fetch_job(self.url + "/job", "glpat-x", 5), {"status": "pending", "tag_list": ["x86_64"]})
        self.assertEqual(self.seen, [("/job", "glpat-x")])

    def test_a_redirect_is_refused_and_the_token_stays(self):
        with self.assertRaisesRegex(RuntimeError, "HTTP 302"):
            wake.fetch_job(self.url + "/redirect", "glpat-x", 5)
        self.assertEqual(self.seen, [("/redirect", "glpat-x")])

    def test_a_slow_answer_is_cut_at_the_deadline(self):
        began = time.monotonic()
        with self.assertRaisesRegex(RuntimeError, "slower than"):
            wake.fetch_job(self.url + "/drip", "glpat-x", 0.5)
        self.assertLess(time.monotonic() - began, 2)

    # A socket timeout bounds each read only: headers or a body trickled a byte at a time
    # must be cut at the deadline all the same.
    def test_a_trickle_is_cut_at_the_deadline(self):
        for path in ("/trickle-headers", "/trickle-body"):
            with self.subTest(path):
                began = time.monotonic()
                with self.assertRaisesRegex(RuntimeError, "slower than 0.5 s"):
                    wake.fetch_job(self.url + path, "glpat-x", 0.5)
                self.assertLess(time.monotonic() - began, 1.5)

    def test_the_whole_request_has_at_most_gitlabs_cap(self):
        timeouts = []
        class Opener:
            def open(self, request, timeout):
                timeouts.append(timeout)
                raise OSError("down")
        for seconds in (10, 0.5):
            with self.assertRaises(OSError):
                wake.fetch_job(self.url + "/job", "glpat-x", seconds, opener=Opener())
        self.assertEqual(timeouts, [wake.GITLAB_TIMEOUT_SECONDS, 0.5])

    def test_a_huge_answer(self):
        with self.assertRaisesRegex(RuntimeError, "over"):
            wake.fetch_job(self.url + "/huge", "glpat-x", 5)

    def test_errors(self):
        with self.assertRaisesRegex(RuntimeError, "HTTP 404"):
            wake.fetch_job(self.url + "/nothing", "glpat-x", 5)


if __name__ == "__main__":
    unittest.main()
