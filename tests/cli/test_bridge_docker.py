"""Bridge network mode on `berth agent --runtime docker` (each task a holder container
owning its namespace, the demo applications' images built by the agent): host ports,
networkBindings, placement by port, Service Connect by name. See bridge_walkthrough.py."""

import subprocess

import pytest

from bridge_walkthrough import *  # noqa: F401,F403 - the walkthrough's tests and fixtures

RUNTIME = "docker"
BRIDGE = "berthc0"
SUBNET = "10.222.0.0/16"


@pytest.fixture(scope="module", autouse=True)
def _no_containers_left():
    yield
    names = subprocess.run(["docker", "ps", "-a", "--filter", "label=berth.task", "--format", "{{.Names}}"],
                           capture_output=True, text=True, timeout=60).stdout.split()
    assert names == [], f"berth containers left: {names}"
