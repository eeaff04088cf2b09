"""Each example's aws CLI walkthrough, as its README gives it: `berth up` with no
example, then the README's ```bash blocks run in the example's directory with the real
aws CLI, ending with requests to the running services; then Ctrl-C and nothing left.

As root; the process runtime, on a bridge of its own (berthx0, 10.218.0.0/16), API on
a free port.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from agent_harness import require_root
from conftest import REPO_ROOT
from up_harness import Up, bridge_exists, get, nothing_left, run_walkthrough

BRIDGE = "berthx0"
SUBNET = "10.218.0.0/16"
EXAMPLES = REPO_ROOT / "examples"


def walkthrough(tmp_path, name: str, *extra: str) -> tuple[str, str]:
    """Runs the example's walkthrough; its (stdout, stderr)."""
    require_root()
    existed = bridge_exists(BRIDGE)
    data = tmp_path / "berth-data"
    up = Up(data, "--listen", "127.0.0.1:0", "--runtime", "process", "--bridge", BRIDGE,
            "--subnet", SUBNET, "--drain-seconds", "1", *extra, log=tmp_path / "up.log").start()
    t0 = time.time()
    try:
        up.expect(r"berth is up", timeout=120)
        t1 = time.time()
        done = run_walkthrough(EXAMPLES / name, up.endpoint)
        t2 = time.time()
        print(f"{name}: berth up in {t1 - t0:.1f} s, walkthrough in {t2 - t1:.1f} s")
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"walkthrough failed:\n{output[-8000:]}\nberth log:\n{up.log_text()[-6000:]}"
        status = up.status("--interval", "1")
        print(status)
    finally:
        rc = up.interrupt()
    print(f"{name}: stopped {time.time() - t2:.1f} s after the walkthrough")
    assert rc == 0, up.log_text()
    assert nothing_left(data, BRIDGE, "10.218.", existed) == []
    return done.stdout, done.stderr


def json_answers(output: str) -> list[dict]:
    """The JSON objects the walkthrough's commands printed, in order."""
    dec = json.JSONDecoder()
    found, i = [], 0
    while (i := output.find("{", i)) >= 0:
        try:
            obj, end = dec.raw_decode(output, i)
        except ValueError:
            i += 1
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = end
    return found


def last_json(output: str) -> dict:
    answers = json_answers(output)
    assert answers, f"no JSON answer in:\n{output[-4000:]}"
    return answers[-1]


def network(name: str) -> tuple[str, ...]:
    return ("--network", str(EXAMPLES / name / "network.json"))


def test_nginx(tmp_path):
    printed, out = walkthrough(tmp_path, "nginx", *network("nginx"))  # curl -v writes the exchange to stderr
    # The service's TLS: TLS 1.3 with the task's certificate from the tutorial's CA.
    assert re.search(r"^New, TLSv1\.3, ", printed, re.M), printed[-4000:]
    assert "Verify return code: 0 (ok)" in printed, printed[-4000:]
    assert "URI:spiffe://service-connect/tutorial/service-connect-nginx-service" in printed, printed[-4000:]
    # curl -v through the task's proxy: nginx's page, berth's headers.
    assert re.search(r"< HTTP/(1\.1 200 OK|2 200)", out), out[-4000:]
    assert re.search(r"< server: berth", out), out[-4000:]
    assert re.search(r"< x-berth-upstream-service-time: \d+", out), out[-4000:]


def test_retail_store(tmp_path):
    # The README puts the seed's parameters, secrets and log groups with the aws CLI.
    out, _ = walkthrough(tmp_path, "retail-store")
    # The last answer is checkout's order (ui → checkout → orders); before it, ui's page
    # with each call 2xx.
    order = last_json(out)
    assert order["servedBy"].startswith("retail-ui/"), order
    assert order["checkout"]["servedBy"].startswith("retail-checkout/"), order
    assert order["checkout"]["order"]["servedBy"].startswith("retail-orders/"), order
    pages = [a for a in json_answers(out) if "calls" in a]
    assert pages, out[-4000:]
    page = pages[-1]
    for name in ("catalog", "orders", "checkout"):
        assert 200 <= page["calls"][name]["status"] < 300, page
    # The seed's groups hold: catalog has no rule into orders, checkout has.
    assert re.search(r"catalog -> orders \S+:8080: exit 28 ", out), out[-3000:]
    assert "catalog -> http://orders/: 503" in out, out[-3000:]
    assert "checkout -> http://orders/: 200" in out, out[-3000:]


def test_cats_dogs(tmp_path):
    out, _ = walkthrough(tmp_path, "cats-dogs", *network("cats-dogs"),
                         "--security-groups", "sg-0ec2c0ffee0000001",
                         "--vpc-subnet", "subnet-0a1b2c3d4e5f60718")
    # Through the load balancer: cats, dogs, then web's page, which called both by name.
    answers = [a for a in json_answers(out) if "servedBy" in a]
    assert len(answers) >= 3, out[-4000:]
    cats, dogs, web = answers[-3:]
    assert cats["servedBy"].startswith("cats/"), cats
    assert dogs["servedBy"].startswith("dogs/"), dogs
    assert web["servedBy"].startswith("web/"), web
    text = json.dumps(web)
    assert "cats/" in text and "dogs/" in text, web
    # Every target healthy, and the load balancer's interfaces in its group.
    assert re.search(r"^\S+\t\d+\thealthy$", out, re.M), out[-4000:]
    assert not re.search(r"\t(unhealthy|initial|draining)$", out, re.M), out[-4000:]
    assert re.search(r"^ELB app/cats-dogs-alb/[0-9a-f]{16}\t\d+\.\d+\.\d+\.\d+$", out, re.M), out[-4000:]


def curl(args: str) -> tuple[int, dict, str]:
    """Runs the printed `curl ARGS` (a TLS port's: --cacert, --resolve, https://)."""
    done = subprocess.run(["curl", "-sS", "-i", *args.split()], capture_output=True,
                          text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition("\n\n")  # text mode: CRLF read as \n
    lines = head.split("\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in
                   (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("name,service,check,ingress,tls", [
    # The tutorial's service has TLS: berth up makes its private CA and prints curl
    # with the CA's certificate and the certificate's name.
    ("nginx", "service-connect-nginx-service", "Welcome to nginx!", True, True),
    # web is a client only: no ingress listener, so its own answer has no proxy header.
    ("cats-dogs", "web", '"dogs"', False, False),
])
def test_berth_up_example(tmp_path, name, service, check, ingress, tls):
    """`berth up examples/<name>`: the example applied, its service's tasks printed and
    answering (through their proxies when they serve; over TLS when the service has
    it); Ctrl-C leaves nothing."""
    require_root()
    existed = bridge_exists(BRIDGE)
    data = tmp_path / "berth-data"
    up = Up(data, f"examples/{name}", "--listen", "127.0.0.1:0", "--runtime", "process",
            "--bridge", BRIDGE, "--subnet", SUBNET, "--drain-seconds", "1",
            log=tmp_path / "up.log").start()
    try:
        args = up.expect(rf"^\s+{re.escape(service)}: curl (.+)$", timeout=180).group(1).strip()
        if tls:
            assert re.fullmatch(r"--cacert \S+\.pem --resolve nginx:80:[\d.]+ https://nginx:80/", args), args
            status, headers, body = curl(args)
        else:
            status, headers, body = get(args)
        assert status == 200, body
        assert (headers.get("server") == "berth") == ingress, headers
        assert check in body, body[:2000]
    finally:
        rc = up.interrupt()
    assert rc == 0, up.log_text()
    assert nothing_left(data, BRIDGE, "10.218.", existed) == []
