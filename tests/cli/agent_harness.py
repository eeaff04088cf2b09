"""A berth server plus a real `berth agent` (as root), for the end-to-end walkthroughs:
the seed commands run with the aws CLI, tasks run for real (processes in network
namespaces, or Docker containers), and requests go through the berth proxies.

Each module picks its runtime, bridge and subnet so modules never share task networks.
Requests into a task run `ip netns exec <task namespace> curl ...`: in the task's
network namespace with its hosts file (iproute2 bind-mounts it), as an application of
the task would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Berth, berth_bin

NGINX_TD = """{ "family": "service-connect-nginx", "networkMode": "awsvpc",
  "containerDefinitions": [ { "name": "webserver",
      "image": "public.ecr.aws/docker/library/nginx:latest", "cpu": 100, "essential": true,
      "portMappings": [ { "name": "nginx", "containerPort": 80, "protocol": "tcp", "appProtocol": "http" } ] } ],
  "cpu": "256", "memory": "512" }"""

# Seed 002's service JSON, unchanged: its `tls` names the CA by a placeholder
# (`certificateArn`), which the walkthrough replaces with a real CA's ARN
# (`private_ca.with_ca`), as a user does.
SEED002_SERVICE = """{ "cluster": "tutorial", "deploymentConfiguration": { "maximumPercent": 200, "minimumHealthyPercent": 0 }, "deploymentController": { "type": "ECS" }, "desiredCount": 1, "enableECSManagedTags": true, "enableExecuteCommand": true, "launchType": "FARGATE", "networkConfiguration": { "awsvpcConfiguration": { "assignPublicIp": "ENABLED", "securityGroups": [ "sg-EXAMPLE" ], "subnets": [ "subnet-EXAMPLE", "subnet-EXAMPLE", "subnet-EXAMPLE" ] } }, "platformVersion": "LATEST", "propagateTags": "SERVICE", "serviceName": "service-connect-nginx-service", "serviceConnectConfiguration": { "enabled": true, "services": [ { "portName": "nginx", "clientAliases": [ { "port": 80 } ], "tls": { "issuerCertificateAuthority": { "awsPcaAuthorityArn": "certificateArn" }, "kmsKey": "kmsKey", "roleArn": "iamRoleArn" } } ], "logConfiguration": { "logDriver": "awslogs", "options": { "awslogs-group": "/ecs/service-connect-proxy", "awslogs-region": "region", "awslogs-stream-prefix": "service-connect-proxy" } } }, "taskDefinition": "service-connect-nginx" }"""

NETWORK = "awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1]}"


def require_root():
    if os.geteuid() != 0:
        pytest.fail("the agent walkthroughs need root (task namespaces, veths, a bridge); CI runs them as root")


class Agent:
    def __init__(self, berth: Berth, runtime: str, bridge: str, subnet: str, cluster: str,
                 name: str | None = None, extra: tuple[str, ...] = ()):
        self.berth = berth
        self.runtime = runtime
        self.bridge = bridge
        self.subnet = subnet
        self.cluster = cluster
        self.name = name or f"agent-{runtime}"
        self.state_dir = berth.tmp / self.name
        self.log = berth.tmp / f"{self.name}.log"
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    def join_token(self) -> str:
        """A join token for this agent's cluster, as `berth token create` makes it on the
        server's host."""
        out = subprocess.run(
            [str(berth_bin()), "token", "create", "--cluster", self.cluster,
             "--region", self.berth.region, "--data-dir", str(self.berth.data_dir)],
            capture_output=True, text=True, timeout=30, check=True,
        )
        return out.stdout.strip()

    def start(self):
        env = dict(os.environ, BERTH_LOG="info", BERTH_JOIN_TOKEN=self.join_token())
        self.proc = subprocess.Popen(
            [
                str(berth_bin()), "agent",
                "--server", self.berth.url,
                "--cluster", self.cluster,
                "--region", self.berth.region,
                "--state-dir", str(self.state_dir),
                "--runtime", self.runtime,
                "--bridge", self.bridge,
                "--subnet", self.subnet,
                "--drain-seconds", "1",
                *self.extra,
            ],
            stdout=open(self.berth.tmp / f"{self.name}.out", "ab"),
            stderr=open(self.log, "ab"),
            env=env,
        )

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the agent did not stop in {timeout} s; log:\n{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""

    # ---- tasks -------------------------------------------------------------------

    def task_netns(self, task_id: str) -> str:
        """The network namespace of a task, found through its hosts file's header."""
        for d in Path("/etc/netns").glob("berth-*"):
            try:
                head = (d / "hosts").read_text().splitlines()[0]
            except (OSError, IndexError):
                continue
            if task_id in head:
                return d.name
        raise AssertionError(f"no network namespace for task {task_id}")

    def in_task(self, task_id: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        ns = self.task_netns(task_id)
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout
        )

    def curl_in_task(self, task_id: str, url: str) -> int:
        """The status code of GET `url` from inside the task (0: no answer)."""
        r = self.in_task(task_id, "curl", "-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code}", url)
        try:
            return int(r.stdout.strip() or "0")
        except ValueError:
            return 0

    def proxy_admin(self, task_id: str, path: str) -> str:
        """GET `path` on the task's proxy admin socket (the agent's, root only)."""
        sock = f"/run/berth/proxy/{task_id}/admin.sock"
        r = subprocess.run(["curl", "-s", "-m", "5", "--unix-socket", sock, f"http://proxy{path}"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"{path} on {sock}: {r.stderr}"
        return r.stdout

    def proxy_metric(self, task_id: str, name: str, **labels: str) -> float:
        """The sum of a metric's series on the task's proxy whose labels include `labels`."""
        total = 0.0
        for line in self.proxy_admin(task_id, "/metrics").splitlines():
            if not line.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def proxy_log(self, task_id: str) -> str:
        return (self.state_dir / "tasks" / task_id / "logs" / "ecs-service-connect.log").read_text(errors="replace")

    def access_log(self, task_id: str) -> list[dict]:
        out = []
        for line in self.proxy_log(task_id).splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out


def wait_for(what: str, fn, timeout: float = 30, interval: float = 0.1, agent: Agent | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except AssertionError as e:  # not yet
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    extra = f"\nagent log:\n{agent.log_text()}" if agent else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}{extra}")


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def running_tasks(berth: Berth, cluster: str, service: str) -> list[dict]:
    arns = berth.aws("ecs", "list-tasks", "--cluster", cluster, "--service-name", service,
                     "--desired-status", "RUNNING")["taskArns"]
    if not arns:
        return []
    tasks = berth.aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def task_ip(task: dict) -> str | None:
    for a in task.get("attachments", []):
        for d in a.get("details", []):
            if d["name"] == "privateIPv4Address":
                return d["value"]
    return None


def instance_ips(berth: Berth, namespace: str, service: str) -> set[str]:
    out = berth.aws("servicediscovery", "discover-instances", "--namespace-name", namespace,
                    "--service-name", service)
    return {i["Attributes"]["AWS_INSTANCE_IPV4"] for i in out["Instances"]}


def leftovers(bridge: str, subnet_prefix: str) -> list[str]:
    """What of the agent's tasks is still on the machine: namespaces whose hosts file was
    written for this bridge's subnet, veths on the bridge, berth's containers."""
    found = []
    for d in Path("/etc/netns").glob("berth-*"):
        try:
            if subnet_prefix in (d / "hosts").read_text():
                found.append(f"netns files {d}")
        except OSError:
            pass
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        found.append(f"veth {line.split(':')[1].strip()}")
    return found


def processes_matching(pattern: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if re.search(pattern, l)]


class Traffic:
    """Steady requests from inside a task (tests/cli/traffic.py in the task's network
    namespace) until stopped; `stop()` returns the status codes counted."""

    def __init__(self, agent: Agent, task: str, url: str, rate: float = 200):
        import sys
        self.stop_file = agent.berth.tmp / f"traffic-{task}-{time.monotonic_ns()}.stop"
        self.out = agent.berth.tmp / f"traffic-{task}-{time.monotonic_ns()}.json"
        ns = agent.task_netns(task)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).parent / "traffic.py"),
             url, str(self.stop_file), str(self.out), str(rate)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

    def stop(self) -> dict:
        self.stop_file.write_text("stop")
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the traffic generator did not stop")
        assert self.proc.returncode == 0, err
        return json.loads(self.out.read_text())
