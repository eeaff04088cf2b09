"""An Application Load Balancer made with the aws CLI runs for real (as root): berth
starts its data plane, which listens at the address its DNSName resolves to from the
host; rules route by path; targets are health-checked by their group's settings and
DescribeTargetHealth shows what the checks found; only healthy targets get traffic;
a deregistered target drains; a deleted load balancer stops listening. Its security
group decides who may connect (nobody until it admits the listener's port), and its
traffic to targets comes from interfaces of its own in that group. What a load
balancer does shows in CloudWatch as ELB's metrics (`AWS/ApplicationELB`), counted
exactly, also across a restart of its data plane.

The targets are small HTTP servers on private addresses added to the host's loopback
interface (ELB takes `ip` targets in private ranges only), each answering its own name and a health path whose
answer the test changes."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

REGION = "us-east-1"
IMPORT_NETWORK = False
PORT = 18080
COUNTED_PORT = 18081
TARGETS = {"cats-a": "10.199.0.11", "cats-b": "10.199.0.12", "dogs": "10.199.0.21"}



class Target:
    """An HTTP server at `ip:8080` answering `name` on every path but /health, whose
    status `health` holds."""

    def __init__(self, name: str, ip: str):
        self.name, self.ip, self.health = name, ip, 200
        self.hits = 0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/health":
                    status, body = target.health, b"ok"
                else:
                    target.hits += 1
                    status, body = 200, f"{target.name} {self.path}".encode()
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((ip, 8080), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def targets():
    if os.geteuid() != 0:
        pytest.fail("the load balancer walkthrough needs root (addresses on the loopback interface); CI runs it as root")
    for ip in TARGETS.values():
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], capture_output=True)
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
    servers = {name: Target(name, ip) for name, ip in TARGETS.items()}
    yield servers
    for s in servers.values():
        s.server.shutdown()
        s.server.server_close()
    for ip in TARGETS.values():
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], check=True)


def elb(berth, *args):
    return berth.aws("elbv2", *args)


def eventually(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s (last: {got!r})")
        time.sleep(0.5)


def get(host: str, path: str, port: int = PORT) -> tuple[int, str]:
    """GET http://host:port/path as curl sends it (a name under .localhost goes to
    127.0.0.1)."""
    r = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "5",
         f"http://{host}:{port}{path}"],
        capture_output=True, text=True,
    )
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def health(berth, tg) -> dict:
    out = elb(berth, "describe-target-health", "--target-group-arn", tg)
    return {d["Target"]["Id"]: d["TargetHealth"] for d in out["TargetHealthDescriptions"]}


@pytest.fixture(scope="module")
def alb(berth, targets):
    subnets = [s["SubnetId"] for s in berth.aws("ec2", "describe-subnets")["Subnets"]][:2]
    vpc = berth.aws("ec2", "describe-vpcs")["Vpcs"][0]["VpcId"]
    # Its security group admits nothing yet (the first test opens the listener's port).
    group = berth.aws("ec2", "create-security-group", "--group-name", "cats-dogs-alb",
                      "--description", "the load balancer", "--vpc-id", vpc)["GroupId"]
    lb = elb(berth, "create-load-balancer", "--name", "cats-dogs", "--subnets", *subnets,
             "--security-groups", group)
    lb = lb["LoadBalancers"][0]
    groups = {}
    for name in ("cats", "dogs"):
        out = elb(berth, "create-target-group", "--name", name, "--protocol", "HTTP",
                  "--port", "8080", "--vpc-id", vpc, "--target-type", "ip",
                  "--health-check-path", "/health", "--health-check-interval-seconds", "5",
                  "--health-check-timeout-seconds", "2", "--healthy-threshold-count", "2",
                  "--unhealthy-threshold-count", "2")
        groups[name] = out["TargetGroups"][0]["TargetGroupArn"]
        elb(berth, "modify-target-group-attributes", "--target-group-arn", groups[name],
            "--attributes", "Key=deregistration_delay.timeout_seconds,Value=5")
    elb(berth, "register-targets", "--target-group-arn", groups["cats"],
        "--targets", f"Id={TARGETS['cats-a']}", f"Id={TARGETS['cats-b']}")
    elb(berth, "register-targets", "--target-group-arn", groups["dogs"],
        "--targets", f"Id={TARGETS['dogs']}")
    listener = elb(berth, "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"],
                   "--protocol", "HTTP", "--port", str(PORT), "--default-actions",
                   "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain,MessageBody=web}")
    listener = listener["Listeners"][0]["ListenerArn"]
    for prio, name in ((10, "cats"), (20, "dogs")):
        elb(berth, "create-rule", "--listener-arn", listener, "--priority", str(prio),
            "--conditions", f"Field=path-pattern,Values=/{name}*",
            "--actions", f"Type=forward,TargetGroupArn={groups[name]}")
    return {"lb": lb, "groups": groups, "listener": listener, "group": group}


def test_the_load_balancer_becomes_active_and_answers_at_its_dns_name(berth, alb):
    arn = alb["lb"]["LoadBalancerArn"]

    def state():
        lbs = elb(berth, "describe-load-balancers", "--load-balancer-arns", arn)
        return lbs["LoadBalancers"][0]["State"]["Code"] == "active"

    eventually("the load balancer active", state)
    host = alb["lb"]["DNSName"]
    assert host.endswith(".elb.localhost"), host
    # Its group does not admit the listener's port: no answer, as on AWS.
    assert get(host, "/")[0] == 0
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", alb["group"],
              "--protocol", "tcp", "--port", str(PORT), "--cidr", "0.0.0.0/0")
    # No rule matches: the listener's default action answers.
    eventually("the listener's port admitted", lambda: get(host, "/") == (404, "web"), timeout=15)


def test_targets_turn_healthy_and_rules_route_by_path(berth, alb, targets):
    for name, tg in alb["groups"].items():
        eventually(f"{name} targets healthy",
                   lambda: all(h["State"] == "healthy" for h in health(berth, tg).values()))
    host = alb["lb"]["DNSName"]
    answers = [get(host, "/cats/") for _ in range(6)]
    assert {a for a in answers} == {(200, "cats-a /cats/"), (200, "cats-b /cats/")}, answers
    assert get(host, "/dogs/x") == (200, "dogs /dogs/x")
    # Its traffic to the targets comes from interfaces of its own, in its group.
    enis = berth.aws("ec2", "describe-network-interfaces", "--filters",
                     f"Name=group-id,Values={alb['group']}")["NetworkInterfaces"]
    lb_id = alb["lb"]["LoadBalancerArn"].rsplit("/", 1)[1]
    assert enis and {e["Description"] for e in enis} == {f"ELB app/cats-dogs/{lb_id}"}, enis


@pytest.fixture(scope="module")
def counted(berth, targets):
    """A second load balancer, for its metrics: a group with cats-a in it by default, a
    fixed response for /nothing*."""
    subnets = [s["SubnetId"] for s in berth.aws("ec2", "describe-subnets")["Subnets"]][:2]
    vpc = berth.aws("ec2", "describe-vpcs")["Vpcs"][0]["VpcId"]
    group = berth.aws("ec2", "create-security-group", "--group-name", "counted-alb",
                      "--description", "the load balancer", "--vpc-id", vpc)["GroupId"]
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp",
              "--port", "0-65535", "--cidr", "0.0.0.0/0")
    lb = elb(berth, "create-load-balancer", "--name", "counted", "--subnets", *subnets,
             "--security-groups", group)
    lb = lb["LoadBalancers"][0]
    tg = elb(berth, "create-target-group", "--name", "counted", "--protocol", "HTTP",
             "--port", "8080", "--vpc-id", vpc, "--target-type", "ip",
             "--health-check-path", "/health", "--health-check-interval-seconds", "5",
             "--health-check-timeout-seconds", "2", "--healthy-threshold-count", "2")
    tg = tg["TargetGroups"][0]["TargetGroupArn"]
    elb(berth, "register-targets", "--target-group-arn", tg, "--targets", f"Id={TARGETS['cats-a']}")
    listener = elb(berth, "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"],
                   "--protocol", "HTTP", "--port", str(COUNTED_PORT),
                   "--default-actions", f"Type=forward,TargetGroupArn={tg}")
    elb(berth, "create-rule", "--listener-arn", listener["Listeners"][0]["ListenerArn"],
        "--priority", "10", "--conditions", "Field=path-pattern,Values=/nothing*",
        "--actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain}")
    arn = lb["LoadBalancerArn"]
    yield {
        "arn": arn, "host": lb["DNSName"], "group": tg,
        # ELB's dimensions: the ARNs from `app/` and from `targetgroup/` on.
        "lb": arn.split(":loadbalancer/")[1], "tg": tg[tg.index("targetgroup/"):],
        "sent": 0,
    }
    elb(berth, "delete-load-balancer", "--load-balancer-arn", arn)


def send(counted, path: str) -> int:
    """A request through the counted load balancer; its status (0: none answered)."""
    code, _ = get(counted["host"], path, port=COUNTED_PORT)
    if code:
        counted["sent"] += 1
    return code


def statistics(berth, name: str, dims: dict, stat: str) -> list[dict]:
    """Every per-minute datapoint of the last 15 minutes."""
    now = datetime.now(timezone.utc)
    out = berth.aws(
        "cloudwatch", "get-metric-statistics", "--namespace", "AWS/ApplicationELB",
        "--metric-name", name,
        "--dimensions", *[f"Name={k},Value={v}" for k, v in dims.items()],
        "--start-time", (now - timedelta(minutes=15)).isoformat(),
        "--end-time", (now + timedelta(minutes=2)).isoformat(),
        "--period", "60", "--statistics", stat)
    return out["Datapoints"]


def total(berth, name: str, dims: dict, stat: str = "Sum") -> float:
    return sum(d[stat] for d in statistics(berth, name, dims, stat))


def test_cloudwatch_has_the_load_balancers_metrics_exactly(berth, counted):
    eventually("the counted load balancer active", lambda: elb(
        berth, "describe-load-balancers", "--load-balancer-arns", counted["arn"]
    )["LoadBalancers"][0]["State"]["Code"] == "active")
    eventually("its target healthy", lambda: health(berth, counted["group"]).get(
        TARGETS["cats-a"], {}).get("State") == "healthy")
    assert [send(counted, "/cats/") for _ in range(7)] == [200] * 7
    assert [send(counted, "/nothing") for _ in range(3)] == [404] * 3
    lb = {"LoadBalancer": counted["lb"]}
    group = {"LoadBalancer": counted["lb"], "TargetGroup": counted["tg"]}
    eventually("RequestCount in CloudWatch",
               lambda: total(berth, "RequestCount", lb) == 10, timeout=30)
    assert total(berth, "RequestCount", group) == 7
    assert total(berth, "HTTPCode_Target_2XX_Count", group) == 7
    assert total(berth, "HTTPCode_Target_2XX_Count", lb) == 7
    assert total(berth, "HTTPCode_ELB_4XX_Count", lb) == 3
    assert total(berth, "HTTP_Fixed_Response_Count", lb) == 3
    assert total(berth, "HTTPCode_Target_5XX_Count", group) == 0
    times = statistics(berth, "TargetResponseTime", group, "SampleCount")
    assert sum(d["SampleCount"] for d in times) == 7
    assert {d["Unit"] for d in times} == {"Seconds"}
    assert max(d["Maximum"] for d in statistics(berth, "TargetResponseTime", lb, "Maximum")) < 5
    assert max(d["Maximum"] for d in statistics(berth, "HealthyHostCount", group, "Maximum")) == 1
    assert max(d["Maximum"] for d in statistics(berth, "UnHealthyHostCount", group, "Maximum")) == 0
    assert statistics(berth, "HealthyHostCount", lb, "Maximum") == [], "host counts are per group"
    listed = berth.aws("cloudwatch", "list-metrics", "--namespace", "AWS/ApplicationELB",
                       "--metric-name", "RequestCount")["Metrics"]
    assert sorted(sorted(d["Name"] for d in m["Dimensions"]) for m in listed
                  if dict((d["Name"], d["Value"]) for d in m["Dimensions"])["LoadBalancer"]
                  == counted["lb"]) == [["LoadBalancer"], ["LoadBalancer", "TargetGroup"]]


def data_plane_pid(berth, lb_arn: str) -> int:
    """The pid of the load balancer's `berth proxy`, a child of the server."""
    sock = f"{lb_arn.rsplit('/', 1)[1]}.sock"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == berth.proc.pid and sock in cmdline:
            return int(entry)
    pytest.fail(f"no data plane process of {lb_arn}")


def test_a_restarted_data_plane_counts_from_zero(berth, counted):
    lb = {"LoadBalancer": counted["lb"]}
    eventually("the first requests filed",
               lambda: total(berth, "RequestCount", lb) == counted["sent"], timeout=30)
    fixed = total(berth, "HTTP_Fixed_Response_Count", lb)
    os.kill(data_plane_pid(berth, counted["arn"]), signal.SIGKILL)
    # Started again after 5 s. Its fixed responses need no target: as soon as it answers,
    # more of them than the old process had counted, so that its counter soon passes
    # the old one's last value (taken for this process's, it would make them short).
    eventually("the data plane answering again", lambda: send(counted, "/nothing") == 404)
    for _ in range(2 * int(fixed)):
        assert send(counted, "/nothing") == 404
    fixed += 1 + 2 * int(fixed)
    # Until its target is healthy again it may answer 503: every answer counts.
    eventually("its target serving again", lambda: send(counted, "/cats/") == 200)
    eventually("every request counted once",
               lambda: total(berth, "RequestCount", lb) == counted["sent"], timeout=30)
    assert total(berth, "HTTP_Fixed_Response_Count", lb) == fixed


def test_an_unhealthy_target_gets_no_traffic_and_says_why(berth, alb, targets):
    tg = alb["groups"]["cats"]
    targets["cats-b"].health = 500
    h = eventually("cats-b unhealthy",
                   lambda: (lambda x: x if x["State"] == "unhealthy" else None)(
                       health(berth, tg)[TARGETS["cats-b"]]))
    assert h["Reason"] == "Target.ResponseCodeMismatch", h
    assert "[500]" in h["Description"], h
    host = alb["lb"]["DNSName"]
    before = targets["cats-b"].hits
    answers = {get(host, "/cats/") for _ in range(6)}
    assert answers == {(200, "cats-a /cats/")}, answers
    assert targets["cats-b"].hits == before
    targets["cats-b"].health = 200
    eventually("cats-b healthy again",
               lambda: health(berth, tg)[TARGETS["cats-b"]]["State"] == "healthy")


def test_a_deregistered_target_drains_then_is_gone(berth, alb, targets):
    tg = alb["groups"]["dogs"]
    elb(berth, "deregister-targets", "--target-group-arn", tg,
        "--targets", f"Id={TARGETS['dogs']}")
    assert health(berth, tg)[TARGETS["dogs"]]["State"] == "draining"
    host = alb["lb"]["DNSName"]
    before = targets["dogs"].hits
    eventually("dogs without targets", lambda: get(host, "/dogs/")[0] == 503)
    assert targets["dogs"].hits == before
    eventually("the drained target gone", lambda: health(berth, tg) == {}, timeout=30)


def test_a_deleted_load_balancer_stops_listening(berth, alb):
    elb(berth, "delete-load-balancer", "--load-balancer-arn", alb["lb"]["LoadBalancerArn"])

    def closed():
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return False
        except OSError:
            return True

    eventually("the listener closed", closed, timeout=30)
