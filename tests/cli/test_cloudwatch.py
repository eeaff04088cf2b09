"""CloudWatch metrics with the real aws CLI and boto3, in each of CloudWatch's three
protocols (the CLI's botocore speaks Smithy RPCv2-CBOR; a copy of its model that
names only JSON 1.0 or only the query protocol makes it speak those):
put-metric-data, list-metrics (filters, pages), get-metric-statistics,
get-metric-data (metric math: SUM, /, FILL; pages), gzip-compressed requests, every
error code, and a restart
after SIGKILL that loses no acknowledged datapoint."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import botocore
import botocore.session
import pytest
from botocore.config import Config

from conftest import aws_exe, berth_bin

REGION = "us-west-2"
IMPORT_NETWORK = False
PROTOCOLS = ["smithy-rpc-v2-cbor", "json", "query"]
_MODELS: dict = {}


def models(protocol: str) -> str:
    """An AWS_DATA_PATH whose CloudWatch model speaks only `protocol`."""
    if protocol in _MODELS:
        return _MODELS[protocol]
    src = Path(botocore.__file__).parent / "data" / "cloudwatch" / "2010-08-01"
    gz = src / "service-2.json.gz"
    raw = gzip.decompress(gz.read_bytes()) if gz.exists() else (src / "service-2.json").read_bytes()
    model = json.loads(raw)
    model["metadata"]["protocol"] = protocol
    model["metadata"]["protocols"] = [protocol]
    out = Path(tempfile.mkdtemp(prefix=f"berth-cw-models-{protocol}-"))
    dst = out / "cloudwatch" / "2010-08-01"
    dst.mkdir(parents=True)
    (dst / "service-2.json").write_text(json.dumps(model))
    _MODELS[protocol] = str(out)
    return str(out)


def cli(berth, protocol: str, *args: str, fails: str | None = None):
    """`aws cloudwatch ...` in `protocol`; its JSON output, or (with `fails`) its stderr,
    which must name that error code."""
    env = berth.env()
    env["AWS_DATA_PATH"] = models(protocol)
    cmd = [aws_exe(), "--endpoint-url", berth.url, "--output", "json", "cloudwatch", *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=berth.tmp)
    if fails is not None:
        assert r.returncode != 0, f"aws {args} succeeded: {r.stdout}"
        assert f"({fails})" in r.stderr, f"expected {fails}: {r.stderr}"
        return r.stderr
    assert r.returncode == 0, f"aws {args} exited {r.returncode}: {r.stderr}"
    return json.loads(r.stdout) if r.stdout.strip() else {}


def client(berth, protocol: str | None = None):
    """A boto3 CloudWatch client of the server (in `protocol` when given)."""
    session = botocore.session.get_session()
    if protocol:
        session.set_config_variable("data_path", models(protocol))
    return boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=berth.url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def minute_ago(minutes: int) -> int:
    now = int(time.time())
    return now - now % 60 - minutes * 60


def datum(name, value, t, dims=None, **extra):
    d = {"MetricName": name, "Value": value, "Timestamp": t, "Unit": "Count"}
    if dims:
        d["Dimensions"] = [{"Name": k, "Value": v} for k, v in dims.items()]
    d.update(extra)
    return d


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_list_and_statistics(berth, protocol):
    ns = f"Shop/{protocol}"
    t = minute_ago(30)
    data = [
        datum("Orders", 3, t, {"Service": "cart"}),
        datum("Orders", 5, t + 20, {"Service": "cart"}),
        {"MetricName": "Orders", "Values": [1, 10], "Counts": [2, 1], "Timestamp": t + 60,
         "Dimensions": [{"Name": "Service", "Value": "cart"}], "Unit": "Count"},
        {"MetricName": "Latency", "StatisticValues": {"SampleCount": 4, "Sum": 100, "Minimum": 5, "Maximum": 60},
         "Timestamp": t, "Unit": "Milliseconds", "Dimensions": [{"Name": "Service", "Value": "cart"}]},
        datum("Orders", 7, t, {"Service": "pay"}),
    ]
    f = berth.write(f"data-{protocol}.json", json.dumps(data))
    cli(berth, protocol, "put-metric-data", "--namespace", ns, "--metric-data", f"file://{f}")
    listed = cli(berth, protocol, "list-metrics", "--namespace", ns)["Metrics"]
    names = sorted((m["MetricName"], m["Dimensions"][0]["Value"]) for m in listed)
    assert names == [("Latency", "cart"), ("Orders", "cart"), ("Orders", "pay")]
    only = cli(berth, protocol, "list-metrics", "--namespace", ns, "--metric-name", "Orders",
               "--dimensions", "Name=Service,Value=pay")["Metrics"]
    assert only == [{"Namespace": ns, "MetricName": "Orders", "Dimensions": [{"Name": "Service", "Value": "pay"}]}]
    out = cli(berth, protocol, "get-metric-statistics", "--namespace", ns, "--metric-name", "Orders",
              "--dimensions", "Name=Service,Value=cart", "--start-time", str(t), "--end-time", str(t + 120),
              "--period", "60", "--statistics", "Sum", "SampleCount", "Average", "Minimum", "Maximum")
    assert out["Label"] == "Orders"
    points = sorted(out["Datapoints"], key=lambda d: d["Timestamp"])
    strip = [{k: v for k, v in d.items() if k != "Timestamp"} for d in points]
    assert strip == [
        {"Sum": 8.0, "SampleCount": 2.0, "Average": 4.0, "Minimum": 3.0, "Maximum": 5.0, "Unit": "Count"},
        {"Sum": 12.0, "SampleCount": 3.0, "Average": 4.0, "Minimum": 1.0, "Maximum": 10.0, "Unit": "Count"},
    ]
    lat = client(berth, protocol).get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "cart"}],
        StartTime=t, EndTime=t + 60, Period=60, ExtendedStatistics=["p0", "p100"])
    assert [(d["ExtendedStatistics"], d["Unit"]) for d in lat["Datapoints"]] == [({"p0": 5.0, "p100": 60.0}, "Milliseconds")]
    assert lat["Datapoints"][0]["Timestamp"].timestamp() == t


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metric_math(berth, protocol):
    ns = f"Math/{protocol}"
    t = minute_ago(10)
    cw = client(berth, protocol)
    cw.put_metric_data(Namespace=ns, MetricData=[
        datum("Requests", 100, t), datum("Requests", 200, t + 60), datum("Requests", 50, t + 180),
        datum("Errors", 5, t), datum("Errors", 30, t + 60),
    ])

    def stat(i, name):
        return {"Id": i, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": name}, "Period": 60, "Stat": "Sum"},
                "ReturnData": False}

    queries = [
        stat("r", "Requests"), stat("e", "Errors"),
        {"Id": "rate", "Expression": "100 * e / r", "Label": "Error %"},
        {"Id": "total", "Expression": "SUM([r, e])"},
        {"Id": "filled", "Expression": "FILL(e, 0)"},
        {"Id": "repeat", "Expression": "FILL(e, REPEAT) + 1"},
    ]
    f = berth.write(f"q-{protocol}.json", json.dumps(queries))
    out = cli(berth, protocol, "get-metric-data", "--metric-data-queries", f"file://{f}",
              "--start-time", str(t), "--end-time", str(t + 240), "--scan-by", "TimestampAscending")
    got = {r["Id"]: (r["Label"], r["Values"], r["StatusCode"]) for r in out["MetricDataResults"]}
    assert got == {
        "rate": ("Error %", [5.0, 15.0], "Complete"),
        "total": ("total", [105.0, 230.0, 50.0], "Complete"),
        "filled": ("filled", [5.0, 30.0, 0.0, 0.0], "Complete"),
        "repeat": ("repeat", [6.0, 31.0, 31.0, 31.0], "Complete"),
    }
    newest_first = cw.get_metric_data(MetricDataQueries=queries[:1] + [dict(queries[0], Id="r2", ReturnData=True)],
                                      StartTime=t, EndTime=t + 240)
    res = newest_first["MetricDataResults"][0]
    assert res["Values"] == [50.0, 200.0, 100.0]
    assert [ts.timestamp() for ts in res["Timestamps"]] == [t + 180, t + 60, t]


def test_pages(berth):
    cw = client(berth)
    t = minute_ago(5)
    ns = "Paged"
    # One call of 600 datapoints: over 10 KiB, which botocore sends gzip-compressed.
    assert cw.meta.config.request_min_compression_size_bytes <= 10240
    cw.put_metric_data(Namespace=ns, MetricData=[datum("M", 1.0, t, {"N": str(i)}) for i in range(600)])
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    second = cw.list_metrics(Namespace=ns, NextToken=first["NextToken"])
    assert len(second["Metrics"]) == 100 and "NextToken" not in second
    names = {m["Dimensions"][0]["Value"] for m in first["Metrics"] + second["Metrics"]}
    assert len(names) == 600
    # The CLI follows the pages itself.
    assert len(cli(berth, "smithy-rpc-v2-cbor", "list-metrics", "--namespace", ns)["Metrics"]) == 600
    cw.put_metric_data(Namespace=ns, MetricData=[datum("Seq", float(i), t - 60 * i) for i in range(10)])
    q = [{"Id": "s", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Seq"}, "Period": 60, "Stat": "Sum"}}]
    values, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = cw.get_metric_data(MetricDataQueries=q, StartTime=t - 3600, EndTime=t + 60,
                                  MaxDatapoints=4, ScanBy="TimestampAscending", **kw)
        values += page["MetricDataResults"][0]["Values"]
        pages += 1
        token = page.get("NextToken")
        if not token:
            assert page["MetricDataResults"][0]["StatusCode"] == "Complete"
            break
        assert page["MetricDataResults"][0]["StatusCode"] == "PartialData"
    assert values == [float(i) for i in reversed(range(10))] and pages == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_errors(berth, protocol):
    t = minute_ago(5)
    cli(berth, protocol, "put-metric-data", "--namespace", "AWS/ECS", "--metric-name", "x", "--value", "1",
        fails="InvalidParameterValue")
    cli(berth, protocol, "put-metric-data", "--namespace", "App", fails="MissingParameter")
    cli(berth, protocol, "put-metric-data", "--namespace", "App", "--metric-name", "x", "--value", "1",
        "--storage-resolution", "5", fails="InvalidParameterValue")
    stats = ["get-metric-statistics", "--namespace", "App", "--metric-name", "x", "--statistics", "Sum"]
    cli(berth, protocol, *stats, "--start-time", str(t - 86400 * 2), "--end-time", str(t), "--period", "60",
        fails="InvalidParameterCombination")
    cli(berth, protocol, *stats, "--start-time", str(t), "--end-time", str(t + 60), "--period", "7",
        fails="InvalidParameterValue")
    bad = json.dumps([{"Id": "e1", "Expression": "SUM(m9"}])
    cli(berth, protocol, "get-metric-data", "--metric-data-queries", bad, "--start-time", str(t),
        "--end-time", str(t + 60), fails="ValidationError")
    ok = json.dumps([{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "x"}, "Period": 60, "Stat": "Sum"}}])
    cli(berth, protocol, "get-metric-data", "--metric-data-queries", ok, "--start-time", str(t),
        "--end-time", str(t + 60), "--next-token", "garbage", fails="InvalidNextToken")
    cli(berth, protocol, "list-metrics", "--next-token", "garbage", fails="InvalidParameterValue")
    # Nothing of a refused call was written.
    assert cli(berth, protocol, "list-metrics", "--namespace", "App")["Metrics"] == []


def _listening(proc, log):
    deadline = time.time() + 30
    for line in proc.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return m.group(1)
        if time.time() > deadline:
            break
    pytest.fail(f"berth server did not come back; log: {Path(log).read_text()}")


def test_a_restart_loses_no_acknowledged_datapoint(berth):
    cw = client(berth)
    t = minute_ago(20)
    acked = 0
    for i in range(50):
        cw.put_metric_data(Namespace="Durable", MetricData=[datum("Beats", 1.0, t + i, StorageResolution=1)])
        acked += 1
    berth.proc.send_signal(signal.SIGKILL)
    berth.proc.wait()
    log = berth.tmp / "berth-again.log"
    proc = subprocess.Popen(
        [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(berth.data_dir)],
        stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True, cwd=berth.tmp)
    berth.proc = proc
    berth.url = _listening(proc, log)
    out = client(berth).get_metric_statistics(Namespace="Durable", MetricName="Beats", StartTime=t,
                                              EndTime=t + 60, Period=60, Statistics=["SampleCount", "Sum"])
    assert [(d["SampleCount"], d["Sum"]) for d in out["Datapoints"]] == [(float(acked), float(acked))]
    per_second = client(berth).get_metric_statistics(Namespace="Durable", MetricName="Beats", StartTime=t,
                                                     EndTime=t + 60, Period=1, Statistics=["Sum"])
    assert len(per_second["Datapoints"]) == acked


def teardown_module(module):
    import shutil
    for path in _MODELS.values():
        shutil.rmtree(path, ignore_errors=True)
    _MODELS.clear()
