"""Bridge network mode on `berth agent --runtime process`: host ports, networkBindings,
placement by port, Service Connect by name. See bridge_walkthrough.py for the steps."""

from bridge_walkthrough import *  # noqa: F401,F403 - the walkthrough's tests and fixtures

RUNTIME = "process"
BRIDGE = "berthb0"
SUBNET = "10.221.0.0/16"
