"""Tests of wake.py against a fake EC2, SSM and GitLab: every branch of the handler.

Run: python3 -m unittest discover -s wake (wake_test.go runs it with go test).
"""

import base64
import json
import unittest

import wake

TOKEN = "s3cret-webhook-token"
ENV = {
    "STATE_ID": "0a1b2c3d4e5f6a7b",
    "RUNNERS": json.dumps([
        {"name": "n3x-x86-runner", "arch": "x86_64", "ami": "ami-0123456789abcdef0", "keyName": "n3x-runner-key", "zone": "us-east-1b"},
        {"name": "n3x-x86-2-runner", "arch": "x86_64", "ami": "ami-0123456789abcdef0", "keyName": "n3x-runner-key", "zone": "us-east-1b"},
        {"name": "n3x-graviton-runner", "arch": "arm64", "ami": "ami-0fedcba9876543210", "keyName": "n3x-runner-key", "zone": "us-east-1b"},
    ]),
    "TAGS": json.dumps({"x86_64": ["n3x-build", "x86_64"], "arm64": ["n3x-build", "arm64"]}),
    "GITLAB_URL": "https://gitlab.example.com/",
    "WEBHOOK_TOKEN_PARAMETER": "/n3x-runner/gitlab-webhook-token",
    "API_TOKEN_PARAMETER": "/n3x-runner/gitlab-api-token",
}


def instance(iid, name, ami="ami-0123456789abcdef0", reason="Client.UserInitiatedShutdown", devices=("/dev/sdf", "/dev/sdg"),
             zone="us-east-1b", key="n3x-runner-key", state_id="0a1b2c3d4e5f6a7b", state="stopped"):
    return {
        "InstanceId": iid, "ImageId": ami, "KeyName": key, "Placement": {"AvailabilityZone": zone},
        "State": {"Name": state}, "StateReason": {"Code": reason},
        "Tags": [{"Key": "Name", "Value": name}, {"Key": "n3x:state-id", "Value": state_id}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Status": "attached"}}]
        + [{"DeviceName": d, "Ebs": {"Status": "attached"}} for d in devices],
    }


class FakeEC2:
    """Answers DescribeInstances with its filters applied, as EC2 does, and records starts."""

    def __init__(self, instances, fail_start=False):
        self.instances, self.started, self.calls, self.fail_start = instances, [], [], fail_start

    def get_paginator(self, name):
        assert name == "describe_instances"
        fake = self

        class Paginator:
            def paginate(self, Filters):
                fake.calls.append(("describe_instances", Filters))
                def keep(i):
                    tags = {t["Key"]: t["Value"] for t in i["Tags"]}
                    for f in Filters:
                        if f["Name"].startswith("tag:") and tags.get(f["Name"][4:]) not in f["Values"]:
                            return False
                        if f["Name"] == "instance-state-name" and i["State"]["Name"] not in f["Values"]:
                            return False
                    return True
                kept = [i for i in fake.instances if keep(i)]
                # Two pages, as EC2 may answer.
                return [{"Reservations": [{"Instances": kept[:1]}]}, {"Reservations": [{"Instances": kept[1:]}]}]
        return Paginator()

    def start_instances(self, InstanceIds):
        self.calls.append(("start_instances", InstanceIds))
        if self.fail_start:
            raise RuntimeError("IncorrectInstanceState")
        self.started += InstanceIds


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

    def __call__(self, url, token):
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
        self.ssm = FakeSSM({ENV["WEBHOOK_TOKEN_PARAMETER"]: TOKEN, ENV["API_TOKEN_PARAMETER"]: "glpat-read-api"})
        self.gitlab = FakeGitLab({job_url(42): {"id": 42, "status": "pending", "tag_list": ["n3x-build", "x86_64"]}})
        self.now = 1_000_000.0
        self.wake = wake.Wake(ENV, self.ec2, self.ssm, self.gitlab, clock=lambda: self.now)

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
            "a runner scaled away": instance("i-0old", "n3x-x86-3-runner"),
            "volumes detaching": instance("i-0old", "n3x-x86-runner", devices=("/dev/sdf",)),
            "an interrupted Spot instance": instance("i-0old", "n3x-x86-runner", reason="Server.SpotInstanceShutdown"),
            "stopped for retirement": instance("i-0old", "n3x-x86-runner", reason="Server.ScheduledStop"),
            "another stack's": instance("i-0old", "n3x-x86-runner", state_id="f0f0f0f0f0f0f0f0"),
            "running": instance("i-0old", "n3x-x86-runner", state="running"),
        }
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

    def test_malformed_bodies(self):
        for body in ("", "{", "[]", "null", json.dumps({"build_id": 42}), json.dumps({"build_id": "42", "project_id": 7, "build_status": "pending"}),
                     json.dumps({"build_id": True, "project_id": 7, "build_status": "pending"})):
            with self.subTest(body=body):
                status, _ = self.answer(request(body))
                self.assertEqual(status, 400)
        bad = request()
        bad["body"], bad["isBase64Encoded"] = "not base64!", True
        self.assertEqual(self.answer(bad)[0], 400)
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
        self.ec2.instances[0]["State"]["Name"] = "pending"
        status, body = self.answer(request())  # GitLab redelivers, or someone replays
        self.assertEqual((status, self.ec2.started), (200, ["i-0x1"]), body)
        self.assertIn("seen already", body)

    def test_a_replay_of_a_job_no_longer_pending(self):
        self.gitlab.jobs[job_url(42)] = {"status": "success", "tag_list": ["x86_64"]}
        status, body = self.answer(request())
        self.assertEqual(status, 200, body)
        self.assertIn("is success now", body)
        self.assertUntouched()

    def test_gitlab_unreachable_or_refusing(self):
        self.gitlab.fail = "HTTP 401"
        status, body = self.answer(request())
        self.assertEqual(status, 502, body)
        self.assertUntouched()

    def test_ec2_failure(self):
        self.ec2.fail_start = True
        status, body = self.answer(request())
        self.assertEqual(status, 503, body)

    def test_token_parameter_missing(self):
        del self.ssm.values[ENV["WEBHOOK_TOKEN_PARAMETER"]]
        self.assertEqual(self.answer(request())[0], 503)
        self.assertUntouched()

    def test_secrets_are_read_again_after_a_while(self):
        self.answer(request(token="wrong"))
        self.answer(request(token="wrong"))
        self.assertEqual(self.ssm.reads, 1)
        self.ssm.values[ENV["WEBHOOK_TOKEN_PARAMETER"]] = "rotated"
        self.now += wake.SECRET_TTL_SECONDS + 1
        self.assertEqual(self.answer(request(token="rotated"))[0], 200)


if __name__ == "__main__":
    unittest.main()
