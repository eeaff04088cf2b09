"""CloudWatch Logs with the real aws CLI and boto3 against a real `berth server`:
groups, streams, PutLogEvents (its limits and rejections), GetLogEvents' forward and
backward tokens, FilterLogEvents with filter patterns and its paginator, retention,
tags, errors, the loop `aws logs tail --follow` runs (AWS CLI v2) seeing new lines
within 2 s, and no acknowledged event lost when the server is killed."""

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict

import boto3
import pytest
from botocore.config import Config

from conftest import ACCOUNT, Berth, Re, berth_bin, match, signed_headers

REGION = "eu-west-1"
IMPORT_NETWORK = False
TARGET = "Logs_20140328"
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def client(berth):
    return boto3.client(
        "logs",
        endpoint_url=berth.url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def logs(berth, *args):
    return berth.aws("logs", *args)


def logs_fails(berth, *args, code):
    return berth.aws_fails("logs", *args, code=code)


def post(berth, op: str, body: dict):
    """A raw JSON 1.1 call (for input botocore would refuse before sending)."""
    data = json.dumps(body).encode()
    headers = signed_headers(
        berth.url + "/", data, "logs", REGION,
        {"X-Amz-Target": f"{TARGET}.{op}", "Content-Type": "application/x-amz-json-1.1"},
    )
    req = urllib.request.Request(berth.url + "/", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def events_arg(*pairs):
    return [f"timestamp={t},message={m}" for t, m in pairs]


def group_arn(name):
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def test_log_groups(berth):
    logs(berth, "create-log-group", "--log-group-name", "/ecs/web",
         "--tags", "team=web,env=test", "--kms-key-id", "alias/k")
    logs(berth, "create-log-group", "--log-group-name", "/ecs/api",
         "--log-group-class", "INFREQUENT_ACCESS")
    err = logs_fails(berth, "create-log-group", "--log-group-name", "/ecs/web",
                     code="ResourceAlreadyExistsException")
    assert "The specified log group already exists" in err
    out = logs(berth, "describe-log-groups", "--log-group-name-prefix", "/ecs/")
    match(out, {"logGroups": [
        {"logGroupName": "/ecs/api", "logGroupClass": "INFREQUENT_ACCESS"},
        {
            "logGroupName": "/ecs/web",
            "creationTime": pytest.approx(now_ms(), abs=60_000),
            "metricFilterCount": 0,
            "arn": group_arn("/ecs/web") + ":*",
            "logGroupArn": group_arn("/ecs/web"),
            "storedBytes": 0,
            "kmsKeyId": "alias/k",
            "logGroupClass": "STANDARD",
        },
    ]})
    assert "retentionInDays" not in out["logGroups"][1]
    out = logs(berth, "describe-log-groups", "--log-group-name-pattern", "WEB")
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/ecs/web"]
    out = logs(berth, "describe-log-groups", "--log-group-class", "INFREQUENT_ACCESS")
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/ecs/api"]
    logs(berth, "delete-log-group", "--log-group-name", "/ecs/api")
    err = logs_fails(berth, "delete-log-group", "--log-group-name", "/ecs/api",
                     code="ResourceNotFoundException")
    assert "The specified log group does not exist." in err
    # Another region sees none of them.
    out = berth.aws("logs", "describe-log-groups", region="us-west-2")
    assert out["logGroups"] == []


def test_describe_log_groups_paginates(berth):
    c = client(berth)
    names = [f"/page/g{i:02}" for i in range(7)]
    for n in names:
        c.create_log_group(logGroupName=n)
    pages = list(c.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/page/", PaginationConfig={"PageSize": 3}))
    assert [len(p["logGroups"]) for p in pages] == [3, 3, 1]
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == names
    # The CLI follows the tokens itself.
    out = logs(berth, "describe-log-groups", "--log-group-name-prefix", "/page/", "--page-size", "2")
    assert [g["logGroupName"] for g in out["logGroups"]] == names


def test_log_streams(berth):
    g = "/streams"
    logs(berth, "create-log-group", "--log-group-name", g)
    for s in ["app/web/1", "app/web/2", "sidecar"]:
        logs(berth, "create-log-stream", "--log-group-name", g, "--log-stream-name", s)
    logs_fails(berth, "create-log-stream", "--log-group-name", g, "--log-stream-name", "sidecar",
               code="ResourceAlreadyExistsException")
    logs_fails(berth, "create-log-stream", "--log-group-name", "/nope", "--log-stream-name", "s",
               code="ResourceNotFoundException")
    t = now_ms()
    logs(berth, "put-log-events", "--log-group-name", g, "--log-stream-name", "sidecar",
         "--log-events", *events_arg((t - 2000, "a"), (t - 1000, "bb")))
    logs(berth, "put-log-events", "--log-group-name", g, "--log-stream-name", "app/web/2",
         "--log-events", *events_arg((t - 500, "c")))
    out = logs(berth, "describe-log-streams", "--log-group-name", g)
    assert [s["logStreamName"] for s in out["logStreams"]] == ["app/web/1", "app/web/2", "sidecar"]
    match(out["logStreams"][2], {
        "logStreamName": "sidecar",
        "creationTime": pytest.approx(t, abs=60_000),
        "firstEventTimestamp": t - 2000,
        "lastEventTimestamp": t - 1000,
        "lastIngestionTime": pytest.approx(t, abs=60_000),
        "uploadSequenceToken": Re(r"\d{56}"),
        "arn": group_arn(g) + ":log-stream:sidecar",
        "storedBytes": 3,
    })
    assert "firstEventTimestamp" not in out["logStreams"][0]
    out = logs(berth, "describe-log-streams", "--log-group-name", g,
               "--order-by", "LastEventTime", "--descending")
    assert [s["logStreamName"] for s in out["logStreams"]] == ["app/web/2", "sidecar", "app/web/1"]
    out = logs(berth, "describe-log-streams", "--log-group-name", g, "--log-stream-name-prefix", "app/")
    assert [s["logStreamName"] for s in out["logStreams"]] == ["app/web/1", "app/web/2"]
    pages = list(client(berth).get_paginator("describe_log_streams").paginate(
        logGroupName=g, descending=True, PaginationConfig={"PageSize": 2}))
    assert [[s["logStreamName"] for s in p["logStreams"]] for p in pages] == [
        ["sidecar", "app/web/2"], ["app/web/1"]]
    logs_fails(berth, "describe-log-streams", "--log-group-name", g, "--order-by", "LastEventTime",
               "--log-stream-name-prefix", "app", code="InvalidParameterException")
    logs(berth, "delete-log-stream", "--log-group-name", g, "--log-stream-name", "sidecar")
    logs_fails(berth, "delete-log-stream", "--log-group-name", g, "--log-stream-name", "sidecar",
               code="ResourceNotFoundException")
    out = logs(berth, "describe-log-groups", "--log-group-name-prefix", g)
    assert out["logGroups"][0]["storedBytes"] == 1


def test_put_log_events_rules(berth):
    g, s = "/put", "s"
    c = client(berth)
    c.create_log_group(logGroupName=g)
    c.create_log_stream(logGroupName=g, logStreamName=s)
    t = now_ms()
    out = c.put_log_events(logGroupName=g, logStreamName=s, logEvents=[
        {"timestamp": t - 15 * DAY_MS, "message": "too old"},
        {"timestamp": t, "message": "kept"},
        {"timestamp": t + 3 * 3_600_000, "message": "too new"},
    ])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 2}
    assert out["nextSequenceToken"]
    # The sequence token is ignored, as AWS does now.
    out = c.put_log_events(logGroupName=g, logStreamName=s, sequenceToken="whatever",
                           logEvents=[{"timestamp": t, "message": "kept too"}])
    assert "rejectedLogEventsInfo" not in out
    err = logs_fails(berth, "put-log-events", "--log-group-name", g, "--log-stream-name", s,
                     "--log-events", *events_arg((t, "b"), (t - 1, "a")),
                     code="InvalidParameterException")
    assert "chronological" in err
    logs_fails(berth, "put-log-events", "--log-group-name", g, "--log-stream-name", s,
               "--log-events", *events_arg((t - 25 * 3_600_000, "a"), (t, "b")),
               code="InvalidParameterException")
    err = logs_fails(berth, "put-log-events", "--log-group-name", g, "--log-stream-name", "nope",
                     "--log-events", *events_arg((t, "x")), code="ResourceNotFoundException")
    assert "The specified log stream does not exist." in err
    err = logs_fails(berth, "put-log-events", "--log-group-name", "/nope", "--log-stream-name", s,
                     "--log-events", *events_arg((t, "x")), code="ResourceNotFoundException")
    assert "The specified log group does not exist." in err
    # Exactly 1,048,576 bytes (messages + 26 per event) is accepted; one more is not.
    msg = "x" * (65_536 - 26)
    c.put_log_events(logGroupName=g, logStreamName=s,
                     logEvents=[{"timestamp": t, "message": msg}] * 16)
    status, body = post(berth, "PutLogEvents", {
        "logGroupName": g, "logStreamName": s,
        "logEvents": [{"timestamp": t, "message": msg}] * 15 + [{"timestamp": t, "message": msg + "y"}]})
    assert (status, body["__type"]) == (400, "InvalidParameterException"), body
    assert "1048577" in body["message"]
    status, body = post(berth, "PutLogEvents", {
        "logGroupName": g, "logStreamName": s,
        "logEvents": [{"timestamp": t, "message": "m"}] * 10_001})
    assert (status, body["__type"]) == (400, "InvalidParameterException"), body
    # Nothing of a refused batch was written.
    out = c.get_log_events(logGroupName=g, logStreamName=s, startFromHead=True)
    assert [e["message"] for e in out["events"]] == ["kept", "kept too"] + [msg] * 16


def test_get_log_events_tokens(berth):
    g, s = "/get", "s"
    c = client(berth)
    c.create_log_group(logGroupName=g)
    c.create_log_stream(logGroupName=g, logStreamName=s)
    t = now_ms() - 60_000
    c.put_log_events(logGroupName=g, logStreamName=s,
                     logEvents=[{"timestamp": t + i, "message": f"m{i}"} for i in range(10)])

    def msgs(out):
        return [e["message"] for e in out["events"]]

    # Newest first by default: the last page.
    last = c.get_log_events(logGroupName=g, logStreamName=s, limit=4)
    assert msgs(last) == ["m6", "m7", "m8", "m9"]
    assert last["nextForwardToken"].startswith("f/") and last["nextBackwardToken"].startswith("b/")
    # Backward to the start, where the same token comes back.
    token, pages = last["nextBackwardToken"], []
    while True:
        out = c.get_log_events(logGroupName=g, logStreamName=s, limit=4, nextToken=token)
        if out["nextBackwardToken"] == token:
            assert out["events"] == []
            break
        pages.append(msgs(out))
        token = out["nextBackwardToken"]
    assert pages == [["m2", "m3", "m4", "m5"], ["m0", "m1"]]
    # Forward from the head to the end, then new events behind the same token.
    token, seen = None, []
    while True:
        kw = {"nextToken": token} if token else {}
        out = c.get_log_events(logGroupName=g, logStreamName=s, limit=3, startFromHead=True, **kw)
        if out["nextForwardToken"] == token:
            break
        seen += msgs(out)
        token = out["nextForwardToken"]
    assert seen == [f"m{i}" for i in range(10)]
    c.put_log_events(logGroupName=g, logStreamName=s, logEvents=[{"timestamp": t + 20, "message": "late"}])
    out = c.get_log_events(logGroupName=g, logStreamName=s, startFromHead=True, nextToken=token)
    assert msgs(out) == ["late"]
    assert out["events"][0]["ingestionTime"] >= t
    # A time range, with the CLI.
    out = logs(berth, "get-log-events", "--log-group-name", g, "--log-stream-name", s,
               "--start-time", str(t + 2), "--end-time", str(t + 5), "--start-from-head")
    assert msgs(out) == ["m2", "m3", "m4"]
    # By the group's ARN.
    out = c.get_log_events(logGroupIdentifier=group_arn(g), logStreamName=s, limit=1)
    assert msgs(out) == ["late"]
    status, body = post(berth, "GetLogEvents", {"logGroupName": g, "logStreamName": s, "nextToken": "f/x"})
    assert (status, body["__type"]) == (400, "InvalidParameterException"), body
    logs_fails(berth, "get-log-events", "--log-group-name", g, "--log-stream-name", "nope",
               code="ResourceNotFoundException")


def test_filter_log_events_patterns_and_paginator(berth):
    g = "/filter"
    c = client(berth)
    c.create_log_group(logGroupName=g)
    for s in ["web/1", "web/2", "db"]:
        c.create_log_stream(logGroupName=g, logStreamName=s)
    t = now_ms() - 60_000
    c.put_log_events(logGroupName=g, logStreamName="web/1", logEvents=[
        {"timestamp": t + 1, "message": "ERROR disk full"},
        {"timestamp": t + 4, "message": "INFO started"},
        {"timestamp": t + 7, "message": '{"level": "WARN", "latency": 250, "user": {"id": 7}}'},
    ])
    c.put_log_events(logGroupName=g, logStreamName="web/2", logEvents=[
        {"timestamp": t + 2, "message": '{"level": "ERROR", "latency": 900, "user": {"id": 8}}'},
        {"timestamp": t + 5, "message": "WARN slow request"},
    ])
    c.put_log_events(logGroupName=g, logStreamName="db", logEvents=[
        {"timestamp": t + 3, "message": "ERROR connection refused"},
        {"timestamp": t + 6, "message": '127.0.0.1 - bob [x] "GET / HTTP/1.1" 404 17'},
    ])

    def filtered(pattern=None, **kw):
        if pattern is not None:
            kw["filterPattern"] = pattern
        out = c.filter_log_events(logGroupName=g, **kw)
        return [(e["logStreamName"], e["message"]) for e in out["events"]]

    everything = filtered()
    assert [m for _, m in everything][0] == "ERROR disk full"
    assert len(everything) == 7
    assert [s for s, _ in everything] == ["web/1", "web/2", "db", "web/1", "web/2", "db", "web/1"]
    table = [
        ("ERROR", ["ERROR disk full", '{"level": "ERROR", "latency": 900, "user": {"id": 8}}',
                   "ERROR connection refused"]),
        ('"disk full"', ["ERROR disk full"]),
        ("?WARN ?INFO", ["INFO started", "WARN slow request",
                         '{"level": "WARN", "latency": 250, "user": {"id": 7}}']),
        ("ERROR -disk -latency", ["ERROR connection refused"]),
        ("{ $.level = \"ERROR\" }", ['{"level": "ERROR", "latency": 900, "user": {"id": 8}}']),
        ("{ $.latency > 100 && $.user.id = 7 }", ['{"level": "WARN", "latency": 250, "user": {"id": 7}}']),
        ("{ ($.latency < 100) || ($.level = W*) }", ['{"level": "WARN", "latency": 250, "user": {"id": 7}}']),
        ("{ $.missing NOT EXISTS && $.latency >= 900 }", ['{"level": "ERROR", "latency": 900, "user": {"id": 8}}']),
        ("[ip, id, user, time, request, status = 404, size]", ['127.0.0.1 - bob [x] "GET / HTTP/1.1" 404 17']),
    ]
    for pattern, want in table:
        assert [m for _, m in filtered(pattern)] == want, pattern
    assert filtered(logStreamNamePrefix="web/", filterPattern="WARN slow") == [("web/2", "WARN slow request")]
    assert filtered(logStreamNames=["db"], startTime=t + 4) == [
        ("db", '127.0.0.1 - bob [x] "GET / HTTP/1.1" 404 17')]
    assert len(filtered(startTime=t + 2, endTime=t + 5)) == 3
    out = c.filter_log_events(logGroupName=g, limit=1)
    match(out, {
        "events": [{"logStreamName": "web/1", "timestamp": t + 1, "message": "ERROR disk full",
                    "ingestionTime": pytest.approx(now_ms(), abs=60_000), "eventId": out["events"][0]["eventId"]}],
        "searchedLogStreams": [],
        "nextToken": out["nextToken"],
    })
    # The paginator pages through everything, in order.
    pages = list(c.get_paginator("filter_log_events").paginate(
        logGroupName=g, PaginationConfig={"PageSize": 2}))
    assert [len(p["events"]) for p in pages] == [2, 2, 2, 1]
    assert [(e["logStreamName"], e["message"]) for p in pages for e in p["events"]] == everything
    ids = [e["eventId"] for p in pages for e in p["events"]]
    assert len(set(ids)) == 7
    # The CLI follows the tokens too.
    out = logs(berth, "filter-log-events", "--log-group-name", g, "--filter-pattern", "ERROR",
               "--page-size", "1")
    assert len(out["events"]) == 3
    err = logs_fails(berth, "filter-log-events", "--log-group-name", g, "--filter-pattern", "{ $.a > }",
                     code="InvalidParameterException")
    assert "Invalid filter pattern" in err
    logs_fails(berth, "filter-log-events", "--log-group-name", g, "--log-stream-names", "db",
               "--log-stream-name-prefix", "d", code="InvalidParameterException")
    logs_fails(berth, "filter-log-events", "--log-group-name", "/nope", code="ResourceNotFoundException")


def test_tags(berth):
    g = "/tags"
    arn = group_arn(g)
    logs(berth, "create-log-group", "--log-group-name", g, "--tags", "a=1")
    logs(berth, "tag-resource", "--resource-arn", arn, "--tags", "b=2")
    logs(berth, "tag-log-group", "--log-group-name", g, "--tags", "c=3")
    assert logs(berth, "list-tags-for-resource", "--resource-arn", arn) == {
        "tags": {"a": "1", "b": "2", "c": "3"}}
    logs(berth, "untag-resource", "--resource-arn", arn, "--tag-keys", "a")
    logs(berth, "untag-log-group", "--log-group-name", g, "--tags", "b")
    assert logs(berth, "list-tags-log-group", "--log-group-name", g) == {"tags": {"c": "3"}}
    logs_fails(berth, "tag-resource", "--resource-arn", group_arn("/nope"), "--tags", "a=b",
               code="ResourceNotFoundException")
    logs_fails(berth, "list-tags-for-resource", "--resource-arn",
               f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{g}", code="ResourceNotFoundException")
    many = {f"k{i}": "v" for i in range(50)}
    status, body = post(berth, "TagResource", {"resourceArn": arn, "tags": many})
    assert (status, body["__type"]) == (400, "TooManyTagsException"), body
    assert body["resourceName"] == arn
    logs_fails(berth, "tag-resource", "--resource-arn", arn, "--tags", '{"bad!": "x"}',
               code="InvalidParameterException")


def test_errors_name_the_field(berth):
    logs(berth, "create-log-group", "--log-group-name", "/errors")
    err = logs_fails(berth, "create-log-group", "--log-group-name", "bad name",
                     code="InvalidParameterException")
    assert "logGroupName" in err
    err = logs_fails(berth, "put-retention-policy", "--log-group-name", "/errors",
                     "--retention-in-days", "2", code="InvalidParameterException")
    assert "retentionInDays" in err
    logs_fails(berth, "put-retention-policy", "--log-group-name", "/nope",
               "--retention-in-days", "1", code="ResourceNotFoundException")
    for op, body, field in [
        ("CreateLogGroup", {"logGroupName": "/x", "colour": "red"}, "colour"),
        ("CreateLogGroup", {}, "logGroupName"),
        ("DescribeLogGroups", {"limit": 0}, "limit"),
        ("DescribeLogGroups", {"limit": 51}, "limit"),
        ("DescribeLogStreams", {"logGroupName": "/errors", "orderBy": "Size"}, "Size"),
        ("FilterLogEvents", {"logGroupName": "/errors", "limit": 10_001}, "limit"),
    ]:
        status, out = post(berth, op, body)
        assert (status, out["__type"]) == (400, "InvalidParameterException"), (op, body, out)
        assert field in out["message"], (op, out)
    status, out = post(berth, "PutMetricFilter", {})
    assert status == 400 and out["__type"] == "UnknownOperationException"


def tail_follow(c, group, start, stop, seen, poll=1.0):
    """The loop `aws logs tail GROUP --follow` runs (AWS CLI v2, awscli/customizations/
    logs/tail.py): filter_log_events with interleaved=True from startTime; follow
    nextToken; at the end, poll again from the newest timestamp seen, skipping event ids
    already seen at that timestamp. (The CLI sleeps 5 s between polls; this sleeps
    `poll`.)"""
    kwargs = {"logGroupName": group, "interleaved": True, "startTime": start}
    ids_at = defaultdict(set)
    while not stop.is_set():
        out = c.filter_log_events(**kwargs)
        for e in out["events"]:
            if e["eventId"] not in ids_at[e["timestamp"]]:
                ids_at[e["timestamp"]].add(e["eventId"])
                seen.put((time.monotonic(), e["message"]))
        if ids_at:
            newest = max(ids_at)
            ids_at = defaultdict(set, {newest: ids_at[newest]})
        if "nextToken" in out:
            kwargs["nextToken"] = out["nextToken"]
        else:
            kwargs.pop("nextToken", None)
            if ids_at:
                kwargs["startTime"] = max(ids_at)
            stop.wait(poll)


def test_tail_follow_sees_new_lines_within_2s(berth):
    g = "/tail"
    c = client(berth)
    c.create_log_group(logGroupName=g)
    for s in ["a", "b"]:
        c.create_log_stream(logGroupName=g, logStreamName=s)
    start = now_ms() - 600_000
    c.put_log_events(logGroupName=g, logStreamName="a",
                     logEvents=[{"timestamp": now_ms() - 1000, "message": "before"}])
    seen, stop = queue.Queue(), threading.Event()
    follower = threading.Thread(target=tail_follow, args=(client(berth), g, start, stop, seen))
    follower.start()
    try:
        assert seen.get(timeout=5)[1] == "before"
        sent = {}
        for i in range(8):
            # Same timestamps across streams and batches: the dedupe must keep them all.
            ts = now_ms() // 1000 * 1000
            stream = "ab"[i % 2]
            msg = f"line {i}"
            sent[msg] = time.monotonic()
            c.put_log_events(logGroupName=g, logStreamName=stream,
                             logEvents=[{"timestamp": ts, "message": msg}])
            time.sleep(0.3)
        got = {}
        while len(got) < len(sent):
            at, msg = seen.get(timeout=5)
            assert msg not in got, f"{msg} shown twice"
            got[msg] = at
        for msg, at in got.items():
            assert at - sent[msg] < 2.0, f"{msg} seen after {at - sent[msg]:.2f} s"
        time.sleep(1.5)
        assert seen.empty(), "an event shown twice"
    finally:
        stop.set()
        follower.join(timeout=10)


def start_on(data_dir, region=REGION) -> Berth:
    """A `berth server` on an existing data directory."""
    log = data_dir.parent / f"berth-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"berth server listening on (http://\S+)", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return Berth(m.group(1), proc, data_dir, log, region)
    proc.kill()
    pytest.fail(f"berth server did not start: {log.read_text()}")


def test_kill_restart_loses_no_acknowledged_event(tmp_path):
    data = tmp_path / "data"
    first = start_on(data)
    try:
        c = client(first)
        c.create_log_group(logGroupName="/durable")
        c.create_log_stream(logGroupName="/durable", logStreamName="s")
        acked, stop = [], threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                try:
                    c.put_log_events(logGroupName="/durable", logStreamName="s",
                                     logEvents=[{"timestamp": now_ms(), "message": f"e{i}-{j}"}
                                                for j in range(5)])
                except Exception:  # noqa: BLE001 - the server is being killed
                    return
                acked.extend(f"e{i}-{j}" for j in range(5))
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(1.5)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        stop.set()
        t.join(timeout=30)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert len(acked) >= 10
    second = start_on(data)
    try:
        c = client(second)
        kept = set()
        for page in c.get_paginator("filter_log_events").paginate(logGroupName="/durable"):
            kept.update(e["message"] for e in page["events"])
        missing = [m for m in acked if m not in kept]
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:3]}"
    finally:
        second.proc.terminate()
        second.proc.wait(timeout=10)


def test_retention_hides_and_sweep_deletes_old_events(tmp_path):
    data = tmp_path / "data"
    first = start_on(data)
    g = "/retention"
    t = now_ms()
    try:
        c = client(first)
        c.create_log_group(logGroupName=g)
        c.create_log_stream(logGroupName=g, logStreamName="s")
        c.put_log_events(logGroupName=g, logStreamName="s", logEvents=[
            {"timestamp": t - 3 * DAY_MS, "message": "three days old"},
            {"timestamp": t - 3 * DAY_MS + 1, "message": "also old"}])
        c.put_log_events(logGroupName=g, logStreamName="s",
                         logEvents=[{"timestamp": t, "message": "fresh"}])
        logs(first, "put-retention-policy", "--log-group-name", g, "--retention-in-days", "1")
        out = logs(first, "describe-log-groups", "--log-group-name-prefix", g)
        assert out["logGroups"][0]["retentionInDays"] == 1
        out = c.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)
        assert [e["message"] for e in out["events"]] == ["fresh"]
        out = c.filter_log_events(logGroupName=g)
        assert [e["message"] for e in out["events"]] == ["fresh"]
        # An event older than the retention is refused as expired.
        out = c.put_log_events(logGroupName=g, logStreamName="s", logEvents=[
            {"timestamp": t - 2 * DAY_MS, "message": "expired"}, {"timestamp": t, "message": "ok"}])
        assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    finally:
        first.proc.terminate()
        first.proc.wait(timeout=10)

    def stored():
        db = sqlite3.connect(data / "logs.db")
        try:
            return [m for (m,) in db.execute("SELECT message FROM events ORDER BY id")]
        finally:
            db.close()

    assert stored() == ["three days old", "also old", "fresh", "ok"]
    # The sweep runs when the server starts (and every minute after).
    second = start_on(data)
    try:
        deadline = time.monotonic() + 10
        while stored() != ["fresh", "ok"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored() == ["fresh", "ok"]
        out = logs(second, "describe-log-groups", "--log-group-name-prefix", g)
        assert out["logGroups"][0]["storedBytes"] == len("fresh") + len("ok")
        logs(second, "delete-retention-policy", "--log-group-name", g)
        out = logs(second, "describe-log-groups", "--log-group-name-prefix", g)
        assert "retentionInDays" not in out["logGroups"][0]
    finally:
        second.proc.terminate()
        second.proc.wait(timeout=10)
