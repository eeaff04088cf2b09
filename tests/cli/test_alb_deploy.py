"""An ECS service behind an Application Load Balancer, on a real agent (process
runtime, as root): its tasks are registered in the target group as they come up and
turn healthy by the group's checks; a rolling deployment under steady traffic through
the load balancer (200 requests/s) loses no request, because each old task is
deregistered and kept running for the group's deregistration delay before it stops;
a task whose target fails its health checks is replaced.

Tests run in file order and build on each other."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_harness import NGINX_TD, Agent, require_root, running_tasks, wait_for
from conftest import berth_bin

REGION = "us-west-2"
CLUSTER = "albdeploy"
BRIDGE = "berthl0"
SUBNET = "10.224.0.0/16"
PORT = 18081
NETWORK = "awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1]}"


@pytest.fixture(scope="module")
def agent(berth):
    require_root()
    berth.aws("ecs", "create-cluster", "--cluster-name", CLUSTER)
    a = Agent(berth, "process", BRIDGE, SUBNET, CLUSTER)
    a.start()
    wait_for("the container instance", lambda: berth.aws(
        "ecs", "list-container-instances", "--cluster", CLUSTER)["containerInstanceArns"], agent=a)
    yield a
    if a.proc and a.proc.poll() is None:
        a.stop()


def elb(berth, *args):
    return berth.aws("elbv2", *args)


def web_td(version: str) -> str:
    td = json.loads(NGINX_TD)
    td["family"] = "web"
    td["containerDefinitions"][0]["environment"] = [{"name": "VERSION", "value": version}]
    return json.dumps(td)


def targets(berth, tg) -> dict:
    out = elb(berth, "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in out}


def task_ips(berth) -> set[str]:
    ips = set()
    for t in running_tasks(berth, CLUSTER, "web"):
        for a in t.get("attachments", []):
            for d in a.get("details", []):
                if d["name"] == "privateIPv4Address":
                    ips.add(d["value"])
    return ips


def berth_status(berth) -> str:
    """`berth status` against this server, as its user runs it."""
    done = subprocess.run([str(berth_bin()), "status", "--endpoint", berth.url],
                          env=berth.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def line(text: str, pattern: str) -> str:
    """The first line of `text` matching `pattern`."""
    found = next((l for l in text.splitlines() if re.match(pattern, l)), None)
    assert found is not None, f"no line matching {pattern!r} in\n{text}"
    return found


class Traffic:
    """tests/cli/traffic.py on the host, to the load balancer's port on 127.0.0.1."""

    def __init__(self, tmp: Path, rate: float = 200):
        self.stop_file = tmp / f"alb-traffic-{time.monotonic_ns()}.stop"
        self.out = tmp / f"alb-traffic-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "traffic.py"),
             f"http://127.0.0.1:{PORT}/", str(self.stop_file), str(self.out), str(rate)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

    def stop(self) -> dict:
        self.stop_file.write_text("stop")
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return json.loads(self.out.read_text())


def test_setup_a_service_behind_a_load_balancer(berth, agent, state):
    subnets = [s["SubnetId"] for s in berth.aws(
        "ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true")["Subnets"]][:2]
    vpc = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"][0]["VpcId"]
    group = berth.aws("ec2", "create-security-group", "--group-name", "web-alb", "--description",
                      "the load balancer", "--vpc-id", vpc)["GroupId"]
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp",
              "--port", "0-65535", "--cidr", "0.0.0.0/0")
    lb = elb(berth, "create-load-balancer", "--name", "web", "--subnets", *subnets,
             "--security-groups", group)["LoadBalancers"][0]
    tg = elb(berth, "create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "80",
             "--vpc-id", vpc, "--target-type", "ip", "--health-check-path", "/",
             "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
             "--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
             )["TargetGroups"][0]["TargetGroupArn"]
    elb(berth, "modify-target-group-attributes", "--target-group-arn", tg,
        "--attributes", "Key=deregistration_delay.timeout_seconds,Value=5")
    elb(berth, "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "HTTP",
        "--port", str(PORT), "--default-actions", f"Type=forward,TargetGroupArn={tg}")
    state["tg"] = tg
    berth.write("web1.json", web_td("1"))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://web1.json")
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "web",
              "--task-definition", "web", "--desired-count", "2", "--launch-type", "FARGATE",
              "--network-configuration", NETWORK, "--health-check-grace-period-seconds", "0",
              "--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=100",
              "--load-balancers", f"targetGroupArn={tg},containerName=webserver,containerPort=80")
    ips = wait_for("two running tasks", lambda: len(task_ips(berth)) == 2 and task_ips(berth),
                   timeout=60, agent=agent)
    wait_for("both targets healthy",
             lambda: targets(berth, tg) == {ip: "healthy" for ip in ips}, timeout=60, agent=agent)
    events = [e["message"] for e in berth.aws("ecs", "describe-services", "--cluster", CLUSTER,
                                             "--services", "web")["services"][0]["events"]]
    assert sum(f"registered 1 targets in (target-group {tg})" in m for m in events) == 2, events
    # berth status: the load balancer, its group's two healthy targets (counted, not
    # listed) held by the service, and the service naming its group.
    text = berth_status(berth)
    print(text)
    assert re.search(rf"^load balancer web \(active\) {re.escape(lb['DNSName'])}$", text, re.M), text
    assert line(text, r"^  web\s+ip\s").split() == [
        "web", "ip", "HTTP:80", "/", "2", "0", "0", "0", "0", "0", f"{CLUSTER}/web"], text
    assert not any(re.search(rf"^    {re.escape(ip)}:", text, re.M) for ip in ips), text
    assert "  web (webserver:80)  " in line(text, r"^  web \(ACTIVE\)"), text
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           f"http://{lb['DNSName']}:{PORT}/"], capture_output=True, text=True)
    assert done.stdout == "200", done


def test_a_rolling_deployment_behind_the_load_balancer_loses_no_request(berth, agent, state):
    tg = state["tg"]
    old = task_ips(berth)
    berth.write("web2.json", web_td("2"))
    td2 = berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://web2.json")
    traffic = Traffic(berth.tmp)
    time.sleep(2)
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "web", "--task-definition",
              td2["taskDefinition"]["taskDefinitionArn"])

    def rolled():
        s = berth.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", "web")["services"][0]
        d = s["deployments"]
        new = task_ips(berth)
        return (len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and len(new) == 2
                and not (new & old) and targets(berth, tg) == {ip: "healthy" for ip in new})

    wait_for("the deployment rolled, the new targets healthy, the old ones gone", rolled,
             timeout=120, interval=0.5, agent=agent)
    time.sleep(2)
    counts = traffic.stop()
    bad = {c: n for c, n in counts["codes"].items() if c != "200"}
    assert counts["total"] > 1000, counts
    assert not bad, f"failed requests: {bad} of {counts['total']} ({counts['errors']})"


def test_a_task_failing_its_target_health_checks_is_replaced(berth, agent, state):
    tg = state["tg"]
    before = {t["taskArn"] for t in running_tasks(berth, CLUSTER, "web")}
    # The checks ask for a page nginx does not have: 404, which the matcher (200) refuses.
    elb(berth, "modify-target-group", "--target-group-arn", tg, "--health-check-path", "/missing")

    def replaced():
        for arn in before:
            t = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", arn)["tasks"][0]
            if t["desiredStatus"] == "STOPPED":
                return t
        return None

    t = wait_for("a task stopped for its target's health", replaced, timeout=60, agent=agent)
    assert t["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg})", t
    events = [e["message"] for e in berth.aws("ecs", "describe-services", "--cluster", CLUSTER,
                                             "--services", "web")["services"][0]["events"]]
    assert any("is unhealthy in (target-group" in m and "[404]" in m for m in events), events
    elb(berth, "modify-target-group", "--target-group-arn", tg, "--health-check-path", "/")
    wait_for("two healthy targets again", lambda: len(task_ips(berth)) == 2 and targets(berth, tg) == {
        ip: "healthy" for ip in task_ips(berth)}, timeout=120, interval=0.5, agent=agent)
