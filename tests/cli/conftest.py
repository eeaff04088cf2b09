"""Shared fixtures for the aws CLI walkthroughs.

Every test module gets a fresh `berth server` (temporary data directory, port 0,
killed at teardown) and replays the seed documents' commands with the REAL `aws`
CLI found on PATH. The binary is `$BERTH_BIN`, by default `target/debug/berth`
relative to the repository root (build it with `cargo build -p berth`).

A module sets `REGION = "..."` to choose the region its commands run in (the
seed's region); the default is us-east-1.
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
ECS_TARGET = "AmazonEC2ContainerServiceV20141113"
CLOUDMAP_TARGET = "Route53AutoNaming_v20170314"
# The aws CLI exits 255 on a service error with awscli v1 (and on a parameter
# validation error), 254 with v2.
CLI_ERROR_CODES = (254, 255)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NS_ID_RE = r"ns-[a-z0-9]{16}"
SRV_ID_RE = r"srv-[a-z0-9]{16}"
DEPLOYMENT_ID_RE = re.compile(r"^ecs-svc/\d{19}$")


def berth_bin() -> Path:
    p = Path(os.environ.get("BERTH_BIN", "target/debug/berth"))
    return p if p.is_absolute() else REPO_ROOT / p


def aws_exe() -> str:
    exe = shutil.which("aws")
    if exe is None:
        pytest.exit("the aws CLI is not on PATH (pip install awscli)", returncode=3)
    return exe


def pytest_sessionstart(session):
    exe = aws_exe()
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    line = f"aws CLI under test: {exe}: {(out.stdout + out.stderr).strip()}"
    session.config._berth_aws_banner = line
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        meta = _cloud_map_model()["metadata"]
        line += f" (Cloud Map protocol: {meta.get('protocols') or meta.get('protocol')})"
    except Exception as e:  # noqa: BLE001 - informational only
        line += f" (Cloud Map protocol: unknown: {e})"
    if tr is not None:
        tr.write_line(line)
    binary = berth_bin()
    if not binary.is_file():
        pytest.exit(
            f"berth binary not found at {binary}: run `cargo build -p berth` or set BERTH_BIN",
            returncode=3,
        )
    if tr is not None:
        tr.write_line(f"berth binary under test: {binary}")


_MODEL_DIRS: dict = {}


def _cloud_map_model() -> dict:
    """The Cloud Map service model of the botocore the `aws` on PATH runs with."""
    if "model" in _MODEL_DIRS:
        return json.loads(json.dumps(_MODEL_DIRS["model"]))
    exe = aws_exe()
    with open(exe, "rb") as f:
        first = f.readline().decode(errors="replace").strip()
    words = first[2:].split() if first.startswith("#!") else ["python3"]
    python = words[1] if os.path.basename(words[0]) == "env" and len(words) > 1 else words[0]
    probe = (
        "import os\n"
        "try:\n import botocore\nexcept ImportError:\n import awscli.botocore as botocore\n"
        "print(os.path.join(os.path.dirname(botocore.__file__), 'data'))"
    )
    data = ""
    for candidate in (python, sys.executable):
        r = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            data = r.stdout.strip()
            break
    if not data:
        raise RuntimeError(f"cannot find the botocore data of {exe}")
    src = Path(data) / "servicediscovery" / "2017-03-14"
    gz = src / "service-2.json.gz"
    raw = gzip.decompress(gz.read_bytes()) if gz.exists() else (src / "service-2.json").read_bytes()
    _MODEL_DIRS["model"] = json.loads(raw)
    return json.loads(json.dumps(_MODEL_DIRS["model"]))


def cloud_map_models(protocol: str) -> str:
    """An AWS_DATA_PATH whose Cloud Map model speaks `protocol` ("json" or
    "smithy-rpc-v2-cbor"), copied from the botocore the `aws` on PATH uses: so both wire
    protocols are exercised with the real CLI whichever one its botocore defaults to."""
    if protocol in _MODEL_DIRS:
        return _MODEL_DIRS[protocol]
    model = _cloud_map_model()
    model["metadata"]["protocol"] = protocol
    model["metadata"]["protocols"] = [protocol]
    out = Path(tempfile.mkdtemp(prefix=f"berth-models-{protocol}-"))
    dst = out / "servicediscovery" / "2017-03-14"
    dst.mkdir(parents=True)
    (dst / "service-2.json").write_text(json.dumps(model))
    _MODEL_DIRS[protocol] = str(out)
    return str(out)


def signed_headers(url: str, body: bytes, service: str, region: str, headers: dict,
                   key: str = "test", secret: str = "test") -> dict:
    """`headers` and a real SigV4 signature (botocore's) of a POST of `body` to `url`,
    by default with the test credential a server on loopback accepts."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    return dict(req.headers.items())


class CliError(AssertionError):
    pass


class Berth:
    """A running berth server plus helpers to drive it with the aws CLI."""

    def __init__(self, url: str, proc: subprocess.Popen, data_dir: Path, log: Path, region: str):
        self.cloud_map_protocol = None  # None: whatever the CLI's botocore speaks
        self.url = url
        self.proc = proc
        self.data_dir = data_dir
        self.log = log
        self.region = region
        self.tmp = data_dir.parent

    # ---- the aws CLI -------------------------------------------------------------

    def env(self, region: str | None = None) -> dict:
        env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_DEFAULT_OUTPUT"):
            env.pop(k, None)
        env.update(
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_DEFAULT_REGION=region or self.region,
            AWS_PAGER="",
            AWS_DISABLE_HOST_PREFIX_INJECTION="true",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_MAX_ATTEMPTS="1",
        )
        if self.cloud_map_protocol:
            env["AWS_DATA_PATH"] = cloud_map_models(self.cloud_map_protocol)
        return env

    def run(self, *args: str, region: str | None = None) -> subprocess.CompletedProcess:
        cmd = [aws_exe(), "--endpoint-url", self.url, "--output", "json", *args]
        return subprocess.run(
            cmd, env=self.env(region), capture_output=True, text=True, timeout=120, cwd=self.tmp
        )

    def aws(self, *args: str, region: str | None = None) -> dict:
        """Runs `aws ...`, which must succeed; returns its JSON output."""
        r = self.run(*args, region=region)
        if r.returncode != 0:
            raise CliError(
                f"aws {' '.join(args)} exited {r.returncode}\nstderr: {r.stderr}\nstdout: {r.stdout}"
            )
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def aws_fails(self, *args: str, code: str, region: str | None = None) -> str:
        """Runs `aws ...`, which must fail with error `code`; returns stderr."""
        r = self.run(*args, region=region)
        assert r.returncode in CLI_ERROR_CODES, (
            f"aws {' '.join(args)}: expected exit 254/255 with {code}, got {r.returncode}\n"
            f"stdout: {r.stdout}\nstderr: {r.stderr}"
        )
        assert f"({code})" in r.stderr or code in r.stderr, f"expected {code} in stderr: {r.stderr}"
        return r.stderr

    def write(self, name: str, text: str) -> Path:
        p = self.tmp / name
        p.write_text(text)
        return p

    # ---- raw AWS JSON 1.1 --------------------------------------------------------

    def post(self, target: str, body: bytes | str | dict, region: str | None = None):
        """POSTs an AWS JSON 1.1 request; returns (status, parsed body)."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        service = "ecs" if target.startswith(ECS_TARGET) else "servicediscovery"
        headers = signed_headers(
            self.url + "/", body, service, region or self.region,
            {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
        )
        req = urllib.request.Request(self.url + "/", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def _start(region: str, extra_args: tuple = ()) -> Berth:
    """Starts `berth server` (with `extra_args`, e.g. `--network FILE`)."""
    tmp = Path(tempfile.mkdtemp(prefix="berth-cli-"))
    data = tmp / "data"
    log = tmp / "berth.log"
    proc = subprocess.Popen(
        [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data), *extra_args],
        stdout=subprocess.PIPE,
        stderr=open(log, "wb"),
        text=True,
        cwd=tmp,
    )
    lines: queue.Queue = queue.Queue()

    def drain():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    url = None
    while url is None:
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"berth server did not report its address in 30 s; log: {log.read_text()}")
        if line is None:
            pytest.fail(f"berth server exited ({proc.wait()}) before listening; log: {log.read_text()}")
        m = re.search(r"berth server listening on (http://\S+)", line)
        if m:
            url = m.group(1)
    return Berth(url, proc, data, log, region)


def stop(server: Berth):
    """Stops a server `_start` started and removes its directory."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    shutil.rmtree(server.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def berth(request):
    """A fresh berth server for the test module, with the networks of
    tests/cli/network.json (the VPCs, subnets and groups the seeds' and the
    walkthroughs' ids name) unless the module sets `IMPORT_NETWORK = False`, and the
    module's `SERVER_ARGS` (e.g. short-lived TLS certificates)."""
    region = getattr(request.module, "REGION", "us-east-1")
    extra = tuple(getattr(request.module, "SERVER_ARGS", ()))
    if getattr(request.module, "IMPORT_NETWORK", True):
        extra += ("--network", str(Path(__file__).parent / "network.json"))
    server = _start(region, extra)
    server.cloud_map_protocol = getattr(request.module, "CLOUD_MAP_PROTOCOL", None)
    yield server
    stop(server)


@pytest.fixture(scope="module")
def state():
    """Values a walkthrough's steps hand to the later steps."""
    return {}


# ---- comparison helpers ----------------------------------------------------------


def as_set(items):
    return {json.dumps(i, sort_keys=True) for i in items}


# ---- a small matcher for comparing CLI output with a seed's output ---------------


class Present:
    """Matches any value, as long as the member is there (and not null)."""

    def __repr__(self):
        return "<present>"


PRESENT = Present()


class Re:
    """Matches a string the regular expression matches in full."""

    def __init__(self, pattern: str):
        self.pattern = re.compile(pattern)

    def __repr__(self):
        return f"<re {self.pattern.pattern}>"


class Unordered:
    """Matches a list with the same items in any order."""

    def __init__(self, items):
        self.items = list(items)

    def __repr__(self):
        return f"<unordered {self.items!r}>"


class Timestamp:
    """Matches a timestamp as the aws CLI prints it: epoch seconds (v1) or ISO 8601 (v2)."""

    def __repr__(self):
        return "<timestamp>"


TIMESTAMP = Timestamp()
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def match(actual, expected, path: str = "$"):
    """Asserts `actual` matches `expected`: every member `expected` names is in `actual`
    and matches (members `expected` does not name are not checked); lists match item by
    item; Present / Re / Unordered / Timestamp match as their docstrings say."""
    if isinstance(expected, Present):
        assert actual is not None, f"{path}: expected a value"
    elif isinstance(expected, Re):
        assert isinstance(actual, str) and expected.pattern.fullmatch(actual), (
            f"{path}: {actual!r} does not match {expected.pattern.pattern}"
        )
    elif isinstance(expected, Timestamp):
        ok = (isinstance(actual, (int, float)) and actual > 1.6e9) or (
            isinstance(actual, str) and ISO_RE.match(actual)
        )
        assert ok, f"{path}: {actual!r} is not a timestamp"
    elif isinstance(expected, Unordered):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert sorted(json.dumps(a, sort_keys=True) for a in actual) == sorted(
            json.dumps(e, sort_keys=True) for e in expected.items
        ), f"{path}: {actual!r} != {expected.items!r} (as sets)"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{path}.{k} is missing; members: {sorted(actual)}"
            match(actual[k], v, f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), (
            f"{path}: expected {len(expected)} items, got {len(actual)}: {actual!r}"
        )
        for i, (a, e) in enumerate(zip(actual, expected)):
            match(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: expected {expected!r}, got {actual!r}"


def pytest_sessionfinish(session, exitstatus):
    for key, path in list(_MODEL_DIRS.items()):
        if key != "model":
            shutil.rmtree(path, ignore_errors=True)
