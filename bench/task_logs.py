"""awslogs end to end (run by bench/task-logs.sh, as root).

Starts a real `berth server` and `berth agent` (process runtime). For each rate in RATES
(lines per second), in ROUNDS interleaved rounds, a task runs a container that writes
one line per 1/rate s for SECONDS_PER seconds, each line holding the time it was
written (ms); its logConfiguration is awslogs. A poller follows the task's log stream
with GetLogEvents (forward token, every 20 ms) and notes, for each line, when it
became readable. Reported per rate: the lines read per second of the writing window,
and p50 / p99 / max of (readable - written), medians over the rounds; every line
written must arrive, exactly once and in order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BERTH = os.environ["BERTH_BIN"]
RATES = [int(r) for r in os.environ.get("RATES", "100 1000 5000").split()]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS_PER = float(os.environ.get("SECONDS_PER", "5"))
BRIDGE = os.environ.get("BRIDGE", "berthl0")
SUBNET = os.environ.get("SUBNET", "10.221.0.0/16")
REGION = "us-east-1"
CLUSTER = "logbench"
GROUP = "/bench/task-logs"
WRITER = r"""
import sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
n = int(rate * seconds)
t0 = time.monotonic()
for i in range(n):
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    sys.stdout.write(f"{i} {time.time_ns() // 1_000_000}\n")
    sys.stdout.flush()
sys.stdout.write("done\n")
sys.stdout.flush()
time.sleep(3600)
"""


def log(*a):
    print("[task-logs-bench]", *a, file=sys.stderr, flush=True)


def call(url, target, service, op, body):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=url + "/", data=data, headers={
        "X-Amz-Target": f"{target}.{op}", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials("test", "test"), service, REGION).add_auth(req)
    r = urllib.request.Request(url + "/", data=data, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{op}: {e.code} {e.read()!r}") from None


def ecs(url, op, **body):
    return call(url, "AmazonEC2ContainerServiceV20141113", "ecs", op, body)


def logs(url, op, **body):
    return call(url, "Logs_20140328", "logs", op, body)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def one_round(url, rate, subnet):
    """Runs one writer task at `rate`; returns (lines/s, p50, p99, max) in ms."""
    arn = ecs(url, "RunTask", cluster=CLUSTER, taskDefinition="writer", launchType="FARGATE",
              networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
              overrides={"containerOverrides": [{"name": "w", "command": [
                  sys.executable, "-c", WRITER, str(rate), str(SECONDS_PER)]}]})["tasks"][0]["taskArn"]
    stream = f"w/w/{arn.rsplit('/', 1)[1]}"
    n = int(rate * SECONDS_PER)
    seen, token = [], None
    first = last = None
    deadline = time.monotonic() + SECONDS_PER + 120
    while time.monotonic() < deadline:
        try:
            body = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
            if token:
                body["nextToken"] = token
            out = logs(url, "GetLogEvents", **body)
        except RuntimeError as e:
            if "ResourceNotFoundException" in str(e):
                time.sleep(0.02)
                continue
            raise
        now = time.time() * 1000
        for e in out["events"]:
            parts = e["message"].split()
            if parts[0] == "done":
                deadline = 0
                break
            seen.append((int(parts[0]), now - int(parts[1])))
            first = first or now
            last = now
        token = out["nextForwardToken"]
        if not out["events"]:
            time.sleep(0.02)
    ecs(url, "StopTask", cluster=CLUSTER, task=arn)
    ids = [i for i, _ in seen]
    assert ids == list(range(n)), f"rate {rate}: {len(ids)} of {n} lines, in order: {ids[:5]}..."
    lat = [d for _, d in seen]
    return n / SECONDS_PER, pct(lat, 50), pct(lat, 99), max(lat)


def main():
    tmp = Path(tempfile.mkdtemp(prefix="berth-task-logs-bench-"))
    procs = []
    try:
        server = subprocess.Popen([BERTH, "server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp / "data")],
                                  stdout=subprocess.PIPE, stderr=open(tmp / "server.log", "wb"), text=True)
        procs.append(server)
        url = next(m.group(1) for line in server.stdout if (m := re.search(r"listening on (http://\S+)", line)))
        token = subprocess.run([BERTH, "token", "create", "--cluster", CLUSTER, "--region", REGION,
                                "--data-dir", str(tmp / "data")], capture_output=True, text=True, check=True).stdout.strip()
        procs.append(subprocess.Popen(
            [BERTH, "agent", "--server", url, "--cluster", CLUSTER, "--region", REGION,
             "--state-dir", str(tmp / "agent"), "--bridge", BRIDGE, "--subnet", SUBNET, "--drain-seconds", "1"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "agent.log", "wb"),
            env=dict(os.environ, BERTH_LOG="warn", BERTH_JOIN_TOKEN=token)))
        ecs(url, "CreateCluster", clusterName=CLUSTER)
        logs(url, "CreateLogGroup", logGroupName=GROUP)
        ecs(url, "RegisterTaskDefinition", family="writer", networkMode="awsvpc", cpu="256", memory="512",
            containerDefinitions=[{"name": "w", "image": "busybox", "essential": True,
                                   "logConfiguration": {"logDriver": "awslogs", "options": {
                                       "awslogs-group": GROUP, "awslogs-stream-prefix": "w"}}}])
        # The default VPC's first subnet.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        form = b"Action=DescribeSubnets&Version=2016-11-15"
        req = AWSRequest(method="POST", url=url + "/", data=form,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(Credentials("test", "test"), "ec2", REGION).add_auth(req)
        xml = urllib.request.urlopen(urllib.request.Request(url + "/", data=form, method="POST",
                                                            headers=dict(req.headers.items())), timeout=30).read().decode()
        subnet = re.search(r"<subnetId>(subnet-[0-9a-f]+)</subnetId>", xml).group(1)
        for _ in range(100):
            if ecs(url, "ListContainerInstances", cluster=CLUSTER).get("containerInstanceArns"):
                break
            time.sleep(0.1)
        results = {r: [] for r in RATES}
        for rnd in range(ROUNDS):
            order = RATES if rnd % 2 == 0 else list(reversed(RATES))
            for rate in order:
                res = one_round(url, rate, subnet)
                log(f"round {rnd + 1} rate {rate}/s: {res[0]:.0f} lines/s, p50 {res[1]:.0f} ms, p99 {res[2]:.0f} ms, max {res[3]:.0f} ms")
                results[rate].append(res)
        print(f"awslogs end to end: a container's line to GetLogEvents ({ROUNDS} interleaved rounds of {SECONDS_PER:g} s, medians)\n")
        print("| lines written per second | lines delivered per second | p50 ms | p99 ms | max ms |")
        print("|---:|---:|---:|---:|---:|")
        for rate in RATES:
            rs = results[rate]
            med = [statistics.median(x[i] for x in rs) for i in range(4)]
            print(f"| {rate:,} | {med[0]:,.0f} | {med[1]:.0f} | {med[2]:.0f} | {med[3]:.0f} |")
    finally:
        for p in reversed(procs):
            p.send_signal(2)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")


if __name__ == "__main__":
    main()
