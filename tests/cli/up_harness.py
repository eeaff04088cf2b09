"""Running `berth up` as a user does: the real binary, its printed lines, Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, aws_exe, berth_bin


class Up:
    """`berth up ARGS` in the repository root with its data in `data_dir`."""

    def __init__(self, data_dir: Path, *args: str, log: Path):
        self.data_dir = data_dir
        self.args = list(args)
        self.log = log
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Up":
        env = dict(os.environ, BERTH_LOG="info", BERTH_DATA_DIR=str(self.data_dir))
        for k in ("AWS_DEFAULT_REGION", "BERTH_LISTEN"):
            env.pop(k, None)
        self.proc = subprocess.Popen(
            [str(berth_bin()), "up", *self.args],
            cwd=REPO_ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=open(self.log, "a"),
        )

        def pump():
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.out.append(line)
                self.lines.put(line)
        threading.Thread(target=pump, daemon=True).start()
        return self

    def expect(self, pattern: str, timeout: float) -> re.Match:
        """The next printed line matching `pattern` (earlier lines are skipped)."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                pytest.fail(f"berth up printed no line matching {pattern!r} in {timeout} s; "
                            f"output:\n{''.join(self.out)}\nlog:\n{self.log_text()}")
            try:
                line = self.lines.get(timeout=min(left, 1))
            except queue.Empty:
                if self.proc and self.proc.poll() is not None:
                    pytest.fail(f"berth up exited ({self.proc.returncode}); output:\n"
                                f"{''.join(self.out)}\nlog:\n{self.log_text()}")
                continue
            m = re.search(pattern, line)
            if m:
                return m

    @property
    def endpoint(self) -> str:
        """The API address berth up printed (the line may still be on its way)."""
        deadline = time.time() + 30
        while time.time() < deadline:
            for line in list(self.out):
                m = re.search(r"API \(ECS, Cloud Map\): (http://\S+)", line)
                if m:
                    return m.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no API line in {self.out}")

    def interrupt(self, timeout: float = 120) -> int:
        """Ctrl-C, as a user at the terminal; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"berth up did not stop within {timeout} s of Ctrl-C; log:\n{self.log_text()}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""

    def aws(self, *args: str, timeout: float = 60) -> dict:
        """An aws CLI command against this berth up (its account and region), as JSON."""
        env = dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        out = subprocess.run([aws_exe(), *args, "--output", "json"], capture_output=True, text=True,
                             env=env, timeout=timeout)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def printed_before(self, pattern: str, later: str) -> bool:
        """Whether a printed line matching `pattern` comes before the first one matching
        `later`."""
        lines = list(self.out)
        first = next((i for i, l in enumerate(lines) if re.search(later, l)), len(lines))
        return any(re.search(pattern, l) for l in lines[:first])

    def status(self, *args: str, timeout: float = 60) -> str:
        out = subprocess.run(
            [str(berth_bin()), "status", "--endpoint", self.endpoint, *args],
            capture_output=True, text=True, timeout=timeout,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout


def get(url: str, method: str = "GET", timeout: float = 10) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def nothing_left(data_dir: Path, bridge: str, subnet_prefix: str, bridge_existed: bool) -> list[str]:
    """What `berth up` left on the machine: task namespaces and veths, its bridge (when it
    made it), Docker containers, and processes of its tasks (their command lines name
    the data directory, or are berth's demo applications)."""
    found = []
    for d in Path("/etc/netns").glob("berth-*"):
        try:
            if subnet_prefix in (d / "hosts").read_text():
                found.append(f"netns {d.name}")
        except OSError:
            pass
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    found += [f"veth {l.split(':')[1].strip()}" for l in out.stdout.splitlines()]
    if not bridge_existed and subprocess.run(["ip", "link", "show", bridge],
                                             capture_output=True).returncode == 0:
        found.append(f"bridge {bridge}")
    docker = subprocess.run(["docker", "ps", "-a", "--filter", "label=berth.task", "--format", "{{.Names}}"],
                            capture_output=True, text=True)
    if docker.returncode == 0:
        found += [f"container {n}" for n in docker.stdout.split()]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    for line in ps.splitlines()[1:]:
        if str(data_dir) in line or re.search(r"berth demo |berth pause|unix:/run/berth/proxy/", line):
            found.append(f"process {line.strip()}")
    return found


def readme_walkthrough(example: Path) -> str:
    """The example README's ```bash blocks, in order, as one script (```sh blocks are
    commands for the reader, not the walkthrough)."""
    text = (example / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert blocks, f"{example}/README.md has no ```bash blocks"
    return "\n".join(blocks)


def run_walkthrough(example: Path, endpoint: str, timeout: float = 600) -> subprocess.CompletedProcess:
    aws_dir = str(Path(aws_exe()).parent)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_PAGER="", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, PATH=f"{aws_dir}:{os.environ['PATH']}")
    script = "set -euo pipefail\nset -x\n" + readme_walkthrough(example)
    return subprocess.run(["bash", "-c", script], cwd=example, env=env, capture_output=True,
                          text=True, timeout=timeout)


def bridge_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def as_json(text: str) -> dict:
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError(f"not JSON: {text[:2000]}")
