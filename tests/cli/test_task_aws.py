"""The AWS a task sees, end to end on a real `berth agent` (process runtime, as root):
its secrets come from SSM Parameter Store and Secrets Manager (put with the aws CLI),
its output goes to CloudWatch Logs through the awslogs driver, and a missing secret or
log group stops it with ECS's reason. Values never show in describe output or logs.

Tests run in file order and share one cluster and one agent.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import boto3
import pytest

from agent_harness import NETWORK, NGINX_TD, Agent, require_root, running_tasks, task_id, wait_for
from conftest import berth_bin

REGION = "us-west-2"
CLUSTER = "aws-in-tasks"
BRIDGE = "berthk0"
SUBNET = "10.219.0.0/16"
ACCOUNT = "123456789012"
PASSWORD = "pw-9f3c-not-in-any-log"
PARAM_VALUE = "orders-db.example:5432"
GROUP = "/berth/aws-in-tasks"


@pytest.fixture(scope="module")
def agent(berth):
    require_root()
    berth.aws("ecs", "create-cluster", "--cluster-name", CLUSTER,
              "--service-connect-defaults", "namespace=aws-in-tasks")
    a = Agent(berth, "process", BRIDGE, SUBNET, CLUSTER, name="agent-aws")
    # Proxy metrics pushed every 2 s (10 s by default), so the test is short.
    os.environ["BERTH_AGENT_METRICS_INTERVAL"] = "2"
    try:
        a.start()
    finally:
        os.environ.pop("BERTH_AGENT_METRICS_INTERVAL", None)
    yield a
    if a.proc and a.proc.poll() is None:
        a.stop()


def logs_client(berth):
    return boto3.client(
        "logs", endpoint_url=berth.url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def register(berth, family: str, container: dict):
    td = {
        "family": family, "networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
        "containerDefinitions": [dict({"name": "app", "image": "busybox", "essential": True}, **container)],
    }
    berth.write(f"{family}.json", json.dumps(td))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{family}.json")


def run(berth, family: str) -> str:
    out = berth.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", family,
                    "--launch-type", "FARGATE", "--network-configuration", NETWORK)
    return out["tasks"][0]["taskArn"]


def describe(berth, arn: str) -> dict:
    return berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", arn)["tasks"][0]


def stopped(berth, agent, arn: str) -> dict:
    return wait_for("the task to stop", lambda: (lambda t: t["lastStatus"] == "STOPPED" and t)(
        describe(berth, arn)), timeout=60, agent=agent)


def test_a_task_reads_secrets_from_both_stores_and_logs_to_cloudwatch(berth, agent, state):
    berth.aws("ssm", "put-parameter", "--name", "/orders/db-endpoint", "--type", "String",
              "--value", PARAM_VALUE)
    secret = berth.aws("secretsmanager", "create-secret", "--name", "orders-db", "--secret-string",
                       json.dumps({"username": "orders", "password": PASSWORD}))
    berth.aws("logs", "create-log-group", "--log-group-name", GROUP)
    sm = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orders-db"
    register(berth, "orders", {
        "command": ["/bin/sh", "-c",
                    'echo "user=$DB_USER endpoint=$DB_ENDPOINT pwlen=${#DB_PASSWORD}"; '
                    'i=0; while true; do echo "tick $i $(date +%s%3N)"; i=$((i+1)); sleep 0.2; done'],
        "secrets": [
            {"name": "DB_ENDPOINT", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/orders/db-endpoint"},
            {"name": "DB_USER", "valueFrom": f"{sm}:username::"},
            {"name": "DB_PASSWORD", "valueFrom": f"{secret['ARN']}:password:AWSCURRENT:"},
        ],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "orders"}},
    })
    arn = run(berth, "orders")
    tid = task_id(arn)
    state["orders"] = arn
    stream = f"orders/app/{tid}"
    logs = logs_client(berth)

    def first_line():
        try:
            ev = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return ev and ev[0]["message"]
    line = wait_for("the task's first line in CloudWatch Logs", first_line, timeout=60, agent=agent)
    assert line == f"user=orders endpoint={PARAM_VALUE} pwlen={len(PASSWORD)}"
    t = describe(berth, arn)
    assert t["lastStatus"] == "RUNNING"
    assert PASSWORD not in json.dumps(t) and PASSWORD not in agent.log_text()
    assert PASSWORD not in (berth.tmp / "server.log").read_text(errors="replace") if (berth.tmp / "server.log").exists() else True


def test_tail_follow_sees_a_line_within_two_seconds(berth, agent, state):
    """The loop `aws logs tail --follow` runs: FilterLogEvents from a start time, every
    second, new event ids only."""
    logs = logs_client(berth)
    start = int(time.time() * 1000)
    seen: set[str] = set()
    delays = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        out = logs.filter_log_events(logGroupName=GROUP, startTime=start, interleaved=True)
        now = int(time.time() * 1000)
        for e in out["events"]:
            if e["eventId"] in seen:
                continue
            seen.add(e["eventId"])
            parts = e["message"].split()
            if parts[0] == "tick":
                delays.append(now - int(parts[2]))
        time.sleep(1)
    assert len(delays) >= 10, delays
    # Written by the container, read by the agent, put, found by a poll each second.
    assert max(delays) < 2000, delays


def test_a_missing_secret_stops_the_task_with_ecs_reason(berth, agent, state):
    register(berth, "no-secret", {
        "command": ["/bin/sh", "-c", "sleep 60"],
        "secrets": [{"name": "X", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/orders/missing"}],
    })
    t = stopped(berth, agent, run(berth, "no-secret"))
    assert t["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth"), t
    assert "/orders/missing" in t["stoppedReason"] or "orders/missing" in t["stoppedReason"], t
    register(berth, "no-secret2", {
        "command": ["/bin/sh", "-c", "sleep 60"],
        "secrets": [{"name": "X", "valueFrom": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nowhere-db:password::"}],
    })
    t = stopped(berth, agent, run(berth, "no-secret2"))
    assert "nowhere-db" in t["stoppedReason"] and "ResourceNotFoundException" in t["stoppedReason"], t


def test_a_missing_log_group_stops_the_task_unless_it_may_create_it(berth, agent, state):
    opts = {"awslogs-group": "/berth/not-made", "awslogs-stream-prefix": "x"}
    register(berth, "no-group", {"command": ["/bin/sh", "-c", "echo hi; sleep 60"],
                                 "logConfiguration": {"logDriver": "awslogs", "options": opts}})
    t = stopped(berth, agent, run(berth, "no-group"))
    assert t["stoppedReason"].startswith("ResourceInitializationError: failed to validate logger args"), t
    assert "The specified log group does not exist" in t["stoppedReason"], t
    register(berth, "made-group", {"command": ["/bin/sh", "-c", "echo made; sleep 60"],
                                   "logConfiguration": {"logDriver": "awslogs", "options": dict(opts, **{"awslogs-create-group": "true"})}})
    arn = run(berth, "made-group")
    logs = logs_client(berth)

    def line():
        try:
            ev = logs.get_log_events(logGroupName="/berth/not-made", logStreamName=f"x/app/{task_id(arn)}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return ev and ev[0]["message"]
    assert wait_for("a line in the group the task made", line, timeout=60, agent=agent) == "made"
    berth.aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", arn)


def test_the_last_lines_of_a_stopped_task_are_shipped(berth, agent, state):
    arn = state["orders"]
    berth.aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", arn)
    stopped(berth, agent, arn)
    logs = logs_client(berth)
    ev = logs.get_log_events(logGroupName=GROUP, logStreamName=f"orders/app/{task_id(arn)}", startFromHead=True)["events"]
    file = agent.state_dir / "tasks" / task_id(arn) / "logs" / "app.log"
    lines = file.read_text().splitlines()
    assert [e["message"] for e in ev] == lines
    # `berth logs` reads the same events from CloudWatch Logs.
    out = subprocess.run([str(berth_bin()), "logs", task_id(arn), "--container", "app", "--state-dir", str(agent.state_dir)],
                         capture_output=True, text=True, timeout=30,
                         env=dict(berth.env(), AWS_ENDPOINT_URL=berth.url))
    assert out.returncode == 0 and "could not be read" not in out.stderr, out.stderr
    assert out.stdout.splitlines() == lines


SDK_SCRIPT = r"""
import json, os, urllib.request
import boto3
meta = json.load(urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"] + "/task", timeout=5))
me = json.load(urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"], timeout=5))
ssm = boto3.client("ssm")
value = ssm.get_parameter(Name="/orders/api-key", WithDecryption=True)["Parameter"]["Value"]
who = boto3.client("sts").get_caller_identity()
print(json.dumps({"task": meta["TaskARN"], "family": meta["Family"], "container": me["Name"],
                  "value": value, "account": who["Account"],
                  "key": boto3.Session().get_credentials().access_key[:4]}), flush=True)
import time; time.sleep(60)
"""


def test_an_sdk_in_a_task_reads_a_parameter_with_the_task_role(berth, agent, state):
    """An unmodified boto3 inside the task: credentials from the task's credentials
    endpoint (its task role), the endpoint from AWS_ENDPOINT_URL (the relay to berth), the
    task's own metadata from ECS_CONTAINER_METADATA_URI_V4."""
    import sys
    berth.aws("ssm", "put-parameter", "--name", "/orders/api-key", "--type", "SecureString",
              "--value", "k-123")
    td = {
        "family": "sdk", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/orders-app",
        "containerDefinitions": [{"name": "app", "image": "busybox", "essential": True,
                                  "command": [sys.executable, "-c", SDK_SCRIPT],
                                  "logConfiguration": {"logDriver": "awslogs", "options": {
                                      "awslogs-group": GROUP, "awslogs-stream-prefix": "sdk"}}}],
    }
    berth.write("sdk.json", json.dumps(td))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://sdk.json")
    arn = run(berth, "sdk")
    logs = logs_client(berth)

    def answer():
        try:
            ev = logs.get_log_events(logGroupName=GROUP, logStreamName=f"sdk/app/{task_id(arn)}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        lines = [e["message"] for e in ev if e["message"].startswith("{")]
        if not lines:
            t = describe(berth, arn)
            assert t["lastStatus"] != "STOPPED", (t, [e["message"] for e in ev])
        return lines and json.loads(lines[0])
    got = wait_for("the SDK's answer", answer, timeout=90, agent=agent)
    assert got == {"task": arn, "family": "sdk", "container": "app", "value": "k-123",
                   "account": ACCOUNT, "key": "ASIA"}, got
    # The endpoint answers only inside the task.
    import urllib.request
    with pytest.raises(Exception):
        urllib.request.urlopen("http://169.254.170.2/v2/credentials/x", timeout=2)
    berth.aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", arn)


def test_service_connect_metrics_count_every_request(berth, agent, state):
    """GetMetricData for a service under load: RequestCount in AWS/ECS with ECS's
    dimensions equals the requests sent, exactly."""
    berth.write("web.json", NGINX_TD)
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://web.json")
    for name, services in (("web", [{"portName": "nginx", "discoveryName": "web", "clientAliases": [{"port": 80}]}]),
                           ("caller", [])):
        berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", name,
                  "--task-definition", "service-connect-nginx", "--desired-count", "1",
                  "--launch-type", "FARGATE", "--network-configuration", NETWORK,
                  "--service-connect-configuration",
                  json.dumps({"enabled": True, "namespace": "aws-in-tasks", "services": services}))
    caller = wait_for("the caller task", lambda: running_tasks(berth, CLUSTER, "caller"), timeout=60, agent=agent)
    wait_for("web running", lambda: running_tasks(berth, CLUSTER, "web"), timeout=60, agent=agent)
    tid = task_id(caller[0]["taskArn"])
    wait_for("web answering", lambda: agent.curl_in_task(tid, "http://web/") == 200, timeout=30, agent=agent)
    start = time.time()
    cw = boto3.client("cloudwatch", endpoint_url=berth.url, region_name=REGION,
                      aws_access_key_id="test", aws_secret_access_key="test")
    dims = [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": "web"}]

    def total():
        out = cw.get_metric_data(
            MetricDataQueries=[{"Id": "m1", "MetricStat": {"Metric": {
                "Namespace": "AWS/ECS", "MetricName": "RequestCount", "Dimensions": dims},
                "Period": 60, "Stat": "Sum"}}],
            StartTime=start - 600, EndTime=time.time() + 60)
        return sum(out["MetricDataResults"][0]["Values"])

    def settled():
        before = total()
        time.sleep(5)  # two pushes
        return before if total() == before and before > 0 else None
    # The requests that found web answering are counted first; then the load.
    base = wait_for("the first requests counted", settled, timeout=60, agent=agent)
    sent = 60
    r = agent.in_task(tid, "sh", "-c", f"for i in $(seq {sent}); do curl -s -o /dev/null -w '%{{http_code}}\\n' http://web/; done", timeout=120)
    assert r.stdout.split() == ["200"] * sent, r.stdout
    wait_for("the load counted", lambda: total() >= base + sent, timeout=60, agent=agent)
    time.sleep(5)  # two more pushes: nothing counted twice
    assert total() == base + sent
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/ECS", Dimensions=dims)["Metrics"]}
    assert {"RequestCount", "HTTPCode_Target_2XX_Count", "TargetResponseTime"} <= names, names
    for name in ("web", "caller"):
        berth.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", name, "--force")
