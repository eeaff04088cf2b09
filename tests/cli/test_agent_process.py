"""The seed 002 tutorial end to end on `berth agent --runtime process`: tasks are
processes in their own network namespaces (Debian's nginx stands in for the nginx
image through the built-in image map). See agent_walkthrough.py for the steps."""

from pathlib import Path

from agent_walkthrough import *  # noqa: F401,F403 - the walkthrough's tests and fixtures

RUNTIME = "process"
BRIDGE = "berthp0"
SUBNET = "10.215.0.0/16"


def _alive(pids):
    """The container processes (runtimeId: the pid of its process group leader) that
    still run."""
    return [p for p in pids if Path(f"/proc/{p}").exists()]


@pytest.fixture(scope="module", autouse=True)
def _runtime_checks(state):
    state["alive"] = _alive
    yield
