"""The CloudWatch metrics benchmark (run by bench/metrics.sh).

1. GetMetricData latency: SERVICES services' Service Connect-like metrics
   (RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime) as 24 h of 1-minute
   data, loaded with PutMetricData; then ROUNDS rounds, each QUERIES single-query calls
   (one service's RequestCount Sum, 1,440 datapoints) interleaved with QUERIES
   graph calls (5 queries: three metrics, their error rate and a FILL, with math),
   services picked at random. p50 and p99 per round; the table shows the rounds'
   medians.
2. Store growth: RATE requests/s spread over RATE_SERVICES services (two tasks each,
   each calling two others), as the agents report it: one report per task every 10 s,
   every Service Connect metric as the proxies export it, for one simulated hour
   (timestamps of the last hour). Growth is measured (the file's size and its rows)
   and extrapolated to a day: the 1-minute rows grow all day, the 1-second rows stop
   growing after the 3 hours they are kept.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

BERTH = os.environ["BERTH_BIN"]
SERVICES = int(os.environ.get("SERVICES", 100))
ROUNDS = int(os.environ.get("ROUNDS", 5))
QUERIES = int(os.environ.get("QUERIES", 40))
RATE = float(os.environ.get("RATE", 1000))
RATE_SERVICES = int(os.environ.get("RATE_SERVICES", 20))
REGION = "us-east-1"
DAY = 86_400


def start(data: Path):
    proc = subprocess.Popen([BERTH, "server", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=open(data.parent / "server.log", "wb"), text=True)
    for line in proc.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit(f"berth server did not start: {(data.parent / 'server.log').read_text()}")


def client(url):
    return boto3.client("cloudwatch", endpoint_url=url, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))


def load_day(cw, now: int):
    start = now - now % 60 - DAY
    rng = random.Random(1)
    for s in range(SERVICES):
        dims = [{"Name": "ClusterName", "Value": "bench"}, {"Name": "ServiceName", "Value": f"svc{s:03d}"}]
        data = []
        for m in range(1440):
            t = start + 60 * m
            req = rng.randint(500, 1500)
            data.append({"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": t, "Value": req, "Unit": "Count"})
            if m % 7 == 0:
                data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": t,
                             "Value": rng.randint(0, 5), "Unit": "Count"})
            data.append({"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": t, "Unit": "Milliseconds",
                         "StatisticValues": {"SampleCount": req, "Sum": req * 4.0, "Minimum": 0.5, "Maximum": 40.0}})
        for i in range(0, len(data), 1000):
            cw.put_metric_data(Namespace="Bench/ECS", MetricData=data[i:i + 1000])
    return start


def stat(i, svc, name, s, ret=True):
    return {"Id": i, "ReturnData": ret, "MetricStat": {"Metric": {"Namespace": "Bench/ECS", "MetricName": name,
            "Dimensions": [{"Name": "ClusterName", "Value": "bench"}, {"Name": "ServiceName", "Value": svc}]},
            "Period": 60, "Stat": s}}


def single(svc):
    return [stat("r", svc, "RequestCount", "Sum")]


def graph(svc):
    return [stat("r", svc, "RequestCount", "Sum"), stat("e", svc, "HTTPCode_Target_5XX_Count", "Sum", False),
            stat("l", svc, "TargetResponseTime", "Average"),
            {"Id": "rate", "Expression": "100 * FILL(e, 0) / r", "Label": "5xx %"},
            {"Id": "ok", "Expression": "r - FILL(e, 0)"}]


def timed(cw, queries, t0, t1):
    began = time.perf_counter()
    out = cw.get_metric_data(MetricDataQueries=queries, StartTime=t0, EndTime=t1)
    took = (time.perf_counter() - began) * 1000
    assert out["MetricDataResults"] and len(out["MetricDataResults"][0]["Values"]) > 1000, out["MetricDataResults"][0]["Id"]
    return took


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(cw, t0):
    rng = random.Random(2)
    rounds = {"single": [], "graph": []}
    for _ in range(ROUNDS):
        got = {"single": [], "graph": []}
        for _ in range(QUERIES):
            svc = f"svc{rng.randrange(SERVICES):03d}"
            got["single"].append(timed(cw, single(svc), t0, t0 + DAY))
            got["graph"].append(timed(cw, graph(svc), t0, t0 + DAY))
        for k, v in got.items():
            rounds[k].append((pct(v, 50), pct(v, 99)))
    return {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in rounds.items()}


def signed_post(url, path, body: bytes, key, secret, headers=None):
    req = AWSRequest(method="POST", url=url + path, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key, secret), "ecs", REGION).add_auth(req)
    r = urllib.request.Request(url + path, data=body, method="POST", headers=dict(req.headers.items()))
    with urllib.request.urlopen(r, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def join(url, data: Path):
    ecs = boto3.client("ecs", endpoint_url=url, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    ecs.create_cluster(clusterName="bench")
    token = subprocess.run([BERTH, "token", "create", "--cluster", "bench", "--region", REGION, "--data-dir", str(data)],
                           capture_output=True, text=True, check=True).stdout.split()[-1]
    r = urllib.request.Request(url + "/berth/agent/v1/join", data=b"", method="POST",
                               headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(r, timeout=30) as resp:
        cred = json.loads(resp.read())
    key, secret = cred["accessKeyId"], cred["secretAccessKey"]
    body = json.dumps({"cluster": "bench", "totalResources": [
        {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}]}).encode()
    out = signed_post(url, "/", body, key, secret, {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance",
                                                    "Content-Type": "application/x-amz-json-1.1"})
    return key, secret, out["containerInstance"]["containerInstanceArn"]


INBOUND = ["RequestCount", "HTTPCode_Target_2XX_Count", "HTTPCode_Target_3XX_Count", "HTTPCode_Target_4XX_Count",
           "HTTPCode_Target_5XX_Count", "ProcessedBytes", "NewConnectionCount", "ActiveConnectionCount",
           "RequestCountPerTarget", "TargetProcessedBytes", "GrpcRequestCount", "ClientTLSNegotiationErrorCount",
           "TargetTLSNegotiationErrorCount", "TargetConnectionErrorCount"]
OUTBOUND = [m for m in INBOUND if m not in ("RequestCountPerTarget", "ClientTLSNegotiationErrorCount")]


def sample(name, dims, per_10s):
    unit = "Bytes" if "Bytes" in name else "Count"
    v = {"RequestCount": per_10s, "HTTPCode_Target_2XX_Count": per_10s, "ProcessedBytes": per_10s * 900,
         "TargetProcessedBytes": per_10s * 900, "NewConnectionCount": per_10s / 50,
         "ActiveConnectionCount": 8, "RequestCountPerTarget": per_10s}.get(name, 0.0)
    return {"metricName": name, "dimensions": dims, "unit": unit, "sum": v, "count": 1.0, "min": v, "max": v}


def task_report(s, task, at, per_10s):
    svc = f"svc{s:02d}"
    base = {"ClusterName": "bench", "ServiceName": svc}
    samples = [sample(m, dict(base, DiscoveryName=svc, direction="ingress"), per_10s) for m in INBOUND]
    samples.append({"metricName": "TargetResponseTime", "dimensions": dict(base, DiscoveryName=svc, direction="ingress"),
                    "unit": "Milliseconds", "sum": per_10s * 4.0, "count": per_10s, "min": 0.5, "max": 25.0})
    for target in ((s + 1) % RATE_SERVICES, (s + 2) % RATE_SERVICES):
        dims = dict(base, TargetDiscoveryName=f"svc{target:02d}", direction="egress")
        samples += [sample(m, dims, per_10s / 2) for m in OUTBOUND]
        samples.append({"metricName": "TargetResponseTime", "dimensions": dims, "unit": "Milliseconds",
                        "sum": per_10s * 2.0, "count": per_10s / 2, "min": 0.5, "max": 25.0})
    return {"taskArn": f"arn:aws:ecs:{REGION}:123456789012:task/bench/{svc}-{task}", "timestamp": at, "samples": samples}


def db_size(data: Path):
    return sum(p.stat().st_size for p in data.glob("metrics.db*"))


def rows(data: Path):
    con = sqlite3.connect(f"file:{data / 'metrics.db'}?mode=ro", uri=True)
    got = dict(con.execute("SELECT res, count(*) FROM points GROUP BY res").fetchall())
    con.close()
    return got.get(1, 0), got.get(60, 0)


def growth(url, data: Path):
    key, secret, arn = join(url, data)
    path = "/berth/agent/v1/metrics?cluster=bench&containerInstance=" + arn.replace("/", "%2F").replace(":", "%3A")
    before_bytes, before_rows = db_size(data), rows(data)
    per_task_10s = RATE * 10 / RATE_SERVICES / 2
    now = int(time.time())
    start = now - 3600
    began = time.perf_counter()
    posts = 0
    for at in range(start, now, 10):
        reports = [task_report(s, t, float(at), per_task_10s) for s in range(RATE_SERVICES) for t in range(2)]
        signed_post(url, path, json.dumps({"reports": reports}).encode(), key, secret, {"Content-Type": "application/json"})
        posts += 1
    took = time.perf_counter() - began
    con = sqlite3.connect(str(data / "metrics.db"))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    sec_rows, min_rows = (a - b for a, b in zip(rows(data), before_rows))
    hour_bytes = db_size(data) - before_bytes
    per_row = hour_bytes / max(1, sec_rows + min_rows)
    day = (min_rows * 24 + sec_rows * 3) * per_row
    return {"posts": posts, "post_ms": took / posts * 1000, "sec_rows": sec_rows, "min_rows": min_rows,
            "hour_mb": hour_bytes / 1e6, "day_mb": day / 1e6, "day_min_mb": min_rows * 24 * per_row / 1e6}


def main():
    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-metrics-"))
    data = tmp / "data"
    proc, url = start(data)
    try:
        cw = client(url)
        began = time.perf_counter()
        t0 = load_day(cw, int(time.time()))
        load_s = time.perf_counter() - began
        lat = latency(cw, t0)
        g = growth(url, data)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"berth: {BERTH}")
    print(f"loaded {SERVICES} services x 24 h of 1-minute data (3 metrics) in {load_s:.1f} s\n")
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| GetMetricData, 1 query (1,440 points): p50 / p99 | {lat['single'][0]:.1f} ms / {lat['single'][1]:.1f} ms |")
    print(f"| GetMetricData, 5-query graph with math: p50 / p99 | {lat['graph'][0]:.1f} ms / {lat['graph'][1]:.1f} ms |")
    print(f"| agent reports for 1 h ({g['posts']} posts, {RATE_SERVICES * 2} tasks each) | {g['post_ms']:.1f} ms per post |")
    print(f"| rows per hour: 1-second / 1-minute | {g['sec_rows']:,} / {g['min_rows']:,} |")
    print(f"| store growth, measured hour | {g['hour_mb']:.1f} MB |")
    print(f"| store growth per day at {RATE:.0f} req/s, {RATE_SERVICES} services (extrapolated) | "
          f"{g['day_mb']:.1f} MB ({g['day_min_mb']:.1f} MB of 1-minute rows kept; 1-second rows level off at 3 h) |")
    print(f"\n({ROUNDS} interleaved rounds of {QUERIES} calls of each kind; medians of the rounds' p50 and p99)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
