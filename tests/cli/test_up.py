"""The README's quickstart, as a newcomer runs it: `berth up examples/retail-store`
(the runtime berth picks: Docker when the engine answers), a request to ui that makes
ui call catalog, orders and checkout by name, `berth status`, then Ctrl-C and nothing
left on the machine; a second `berth up` resumes from the stored state.

As root (task namespaces, the bridge); CI runs it as root. It uses berth up's
defaults (API on 127.0.0.1:4566, bridge berth0 on 10.213.0.0/16), as the README does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import pytest

from agent_harness import require_root, wait_for
from conftest import berth_bin
from up_harness import Up, as_json, bridge_exists, get, nothing_left

BRIDGE = "berth0"
SUBNET_PREFIX = "10.213."


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    require_root()
    return tmp_path_factory.mktemp("berth-up") / "berth-data"


@pytest.fixture(scope="module")
def bridge_existed():
    return bridge_exists(BRIDGE)


def access_log(data_dir, task: str) -> list[dict]:
    """The JSON lines of a task's proxy log, read with `berth logs` as a user would."""
    out = subprocess.run([str(berth_bin()), "logs", task, "--container", "ecs-service-connect"],
                         capture_output=True, text=True, env=dict(os.environ, BERTH_DATA_DIR=str(data_dir)))
    assert out.returncode == 0, out.stderr
    entries = []
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
    return entries


CLUSTER = "retail-store-ecs-cluster"
SERVICES = ("ui", "catalog", "orders", "checkout")


def assert_up_means_running(up: Up):
    """"berth is up" comes after the example was applied and waited for, and then every
    service of the example runs its desired count, its tasks RUNNING (and HEALTHY:
    every task definition of the retail store has health checks)."""
    assert up.printed_before(r"waiting for its services to run", r"^berth is up"), up.out
    assert up.printed_before(r"^berth is starting", r"^berth is up"), up.out
    services = up.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", *SERVICES)["services"]
    assert sorted(s["serviceName"] for s in services) == sorted(SERVICES), services
    for s in services:
        assert s["desiredCount"] >= 1 and s["runningCount"] == s["desiredCount"], s
        assert len(s["deployments"]) == 1, s["deployments"]
        arns = up.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--service-name", s["serviceName"])["taskArns"]
        tasks = up.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *arns)["tasks"]
        assert len(tasks) == s["desiredCount"], tasks
        for t in tasks:
            assert (t["lastStatus"], t["healthStatus"]) == ("RUNNING", "HEALTHY"), (s["serviceName"], t)


def ui_urls(up: Up) -> list[str]:
    urls = []
    deadline = time.time() + 240
    while len(urls) < 2:
        m = up.expect(r"^\s+ui: curl (http://\S+)", timeout=max(1, deadline - time.time()))
        urls.append(m.group(1))
    return urls


def test_quickstart_retail_store(data_dir, bridge_existed, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "up.log"
    up = Up(data_dir, "examples/retail-store", log=log).start()
    try:
        up.expect(r"^berth is up", timeout=300)
        assert_up_means_running(up)
        runtime = next(m.group(1) for l in up.out if (m := re.search(r"runtime:\s+(\w+)", l)))
        print(f"berth up picked the {runtime} runtime")
        urls = ui_urls(up)
        status, headers, body = get(urls[0])
        assert status == 200, body
        answer = as_json(body)
        # ui called each of the others by name, through its proxy, and each answered 2xx.
        for name, url in (("catalog", "http://catalog"), ("orders", "http://orders"),
                          ("checkout", "http://checkout")):
            call = answer["calls"][name]
            assert call["url"].startswith(url), call
            assert 200 <= call["status"] < 300, call
            assert call["servedBy"].startswith(f"retail-{name}/"), call
        assert headers.get("server") == "berth", headers
        # ui → checkout → orders.
        status, _, body = get(urls[1].rstrip("/") + "/cart/checkout", method="POST")
        assert status == 201, body
        # ui's proxy writes its access log as JSON with the query string (the seed's
        # accessLogConfiguration: JSON, includeQueryParameters ENABLED).
        assert get(urls[0] + "?from=quickstart")[0] == 200
        ui_task = answer["servedBy"].split("/")[1]
        wait_for("ui's access log line", lambda: any(
            e.get("path") == "/?from=quickstart" and e.get("response_code") == 200
            for e in access_log(data_dir, ui_task)), timeout=10)
        # Catalog's two tasks take turns behind http://catalog.
        served = {as_json(get(urls[0])[2])["calls"]["catalog"]["servedBy"] for _ in range(8)}
        assert len(served) == 2, served

        # berth status, while traffic flows: every service, ui's tasks with their
        # endpoints, and traffic health both ways.
        stop = threading.Event()

        def load():
            while not stop.is_set():
                for u in urls:
                    get(u)
                time.sleep(0.05)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        # Traffic health comes from CloudWatch, which the agents feed every 10 s: look
        # until the load shows (both ways for ui), as a user refreshing the console.
        try:
            deadline = time.monotonic() + 45
            while True:
                text = up.status("--interval", "1")
                ui = [l for l in text.splitlines() if re.match(r"^\s+ui \(ACTIVE\)", l)]
                if (ui and len(re.findall(r"[\d.]+/s 5xx 0 p99", ui[0])) == 2) or time.monotonic() > deadline:
                    break
                time.sleep(2)
        finally:
            stop.set()
            t.join()
        print(text)
        assert "cluster retail-store-ecs-cluster (ACTIVE), namespace retailstore.local" in text, text
        for svc in ("ui", "catalog", "orders", "checkout"):
            assert re.search(rf"^\s+{svc} \(ACTIVE\)", text, re.M), text
        ui_row = next(l for l in text.splitlines() if re.match(r"^\s+ui \(ACTIVE\)", l))
        catalog_row = next(l for l in text.splitlines() if re.match(r"^\s+catalog \(ACTIVE\)", l))
        # ui: requests in (from the test) and out (to the three); catalog: requests in.
        assert len(re.findall(r"[\d.]+/s 5xx 0 p99", ui_row)) == 2, ui_row
        assert re.search(r"[\d.]+/s 5xx 0 p99", catalog_row), catalog_row
        assert "2/2" in ui_row and "catalog:80" in catalog_row, text
        for u in urls:
            assert u.split("//")[1].split("/")[0] in text, (u, text)
    finally:
        rc = up.interrupt()
    print(up.log_text()[-3000:])
    assert rc == 0, up.log_text()
    assert any("nothing left running" in l for l in up.out), up.out
    left = nothing_left(data_dir, BRIDGE, SUBNET_PREFIX, bridge_existed)
    assert left == [], left


def test_a_second_berth_up_resumes(data_dir, bridge_existed, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "up2.log"
    up = Up(data_dir, "examples/retail-store", log=log).start()
    try:
        up.expect(r"^berth is up", timeout=300)
        # Everything was stored: the example's calls found it all there; the services
        # run again before berth says it is up.
        assert up.printed_before(r"= CreateCluster retail-store-ecs-cluster", r"^berth is up"), up.out
        assert up.printed_before(r"= CreateService ui", r"^berth is up"), up.out
        assert_up_means_running(up)
        urls = ui_urls(up)
        status, _, body = get(urls[0])
        assert status == 200, body
    finally:
        rc = up.interrupt()
    assert rc == 0, up.log_text()
    assert not any(re.search(r"^\s+\+ ", l) for l in up.out), up.out
    assert nothing_left(data_dir, BRIDGE, SUBNET_PREFIX, bridge_existed) == []
