"""An Application Load Balancer made with the aws CLI runs for real (as root): berth
starts its data plane, which listens at the address its DNSName resolves to from the
host; rules route by path; targets are health-checked by their group's settings and
DescribeTargetHealth shows what the checks found; only healthy targets get traffic;
a deregistered target drains; a deleted load balancer stops listening. Its security
group decides who may connect (nobody until it admits the listener's port), and its
traffic to targets comes from interfaces of its own in that group.

The targets are small HTTP servers on private addresses added to the host's loopback
interface (ELB takes `ip` targets in private ranges only), each answering its own name and a health path whose
answer the test changes."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading
import time

import pytest

REGION = "us-east-1"
IMPORT_NETWORK = False
PORT = 18080
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


def get(host: str, path: str) -> tuple[int, str]:
    """GET http://host:PORT/path as curl sends it (a name under .localhost goes to
    127.0.0.1)."""
    r = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "5",
         f"http://{host}:{PORT}{path}"],
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
