"""The seed 002 tutorial end to end on `berth agent --runtime docker`: every task is a
holder container that owns its network namespace, the proxy container and the
application containers joined to it. There is no registry: the nginx image is built
locally from Debian's nginx (`berth image build crates/docker/images/nginx.json`), and
the agent builds its own proxy image from its binary. See agent_walkthrough.py."""

import subprocess
from pathlib import Path

from agent_walkthrough import *  # noqa: F401,F403 - the walkthrough's tests and fixtures
from conftest import REPO_ROOT, berth_bin

RUNTIME = "docker"
BRIDGE = "berthd0"
SUBNET = "10.216.0.0/16"


def prepare(berth):
    out = subprocess.run(
        [str(berth_bin()), "image", "build", str(REPO_ROOT / "crates/docker/images/nginx.json")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, f"building the nginx image: {out.stdout}\n{out.stderr}"


def _alive(pids):
    """Containers (runtimeId: the host pid of the container's first process) that still
    run, and berth's containers still known to Docker for this walkthrough's bridge."""
    return [p for p in pids if Path(f"/proc/{p}").exists()]


@pytest.fixture(scope="module", autouse=True)
def _runtime_checks(state):
    state["alive"] = _alive

    def kill(task):
        # `docker kill` of the task's nginx container (named berth-<hash>-webserver).
        from agent_harness import task_id as tid
        ns = None
        for d in Path("/etc/netns").glob("berth-*"):
            try:
                if tid(task["taskArn"]) in (d / "hosts").read_text().splitlines()[0]:
                    ns = d.name
            except (OSError, IndexError):
                pass
        assert ns, "the task's namespace"
        r = subprocess.run(["docker", "kill", f"{ns}-webserver"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    state["kill"] = kill
    yield
    names = subprocess.run(["docker", "ps", "-a", "--filter", "label=berth.task", "--format", "{{.Names}}"],
                           capture_output=True, text=True, timeout=60).stdout.split()
    assert names == [], f"berth containers left: {names}"
