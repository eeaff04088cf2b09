"""Bridge network mode as ECS does it, on a real `berth agent`: a module imports everything
from here and sets RUNTIME, BRIDGE and SUBNET (test_bridge_process.py,
test_bridge_docker.py). Tests run in file order and build on each other.

1. The agent joins with its own address on the bridge (`berth.private-ip`) and ECS's
   reserved PORTS.
2. cats (bridge mode, `hostPort: 0`, Service Connect): describe-tasks shows the
   container's networkBindings (bindIP 0.0.0.0, a host port of 49153-65535) and the
   proxy's; the task answers on instance address:host port from the host; Cloud Map
   holds the instance address and the proxy's host port.
3. web (bridge mode, Service Connect client): `curl http://cats/cats` from inside it
   reaches cats by name, through both proxies and the instance's host port; cats
   reaches itself by name too. The instance's security group judges host ports, as on
   EC2: it allows the dynamic range and 8080 from the bridge's subnet; with the range's
   rule revoked nothing gets in through a dynamic host port, and a rule for the
   container port (80) does not let it in either.
4. Two tasks with the same fixed hostPort on one instance: one runs (reached on that
   port), the other is not placed and the service says why; RunTask answers
   RESOURCE:PORTS; the instance lists the port in use.
5. SIGINT: every task stops and nothing is left (host ports, the instance's address).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from agent_harness import Agent, leftovers, require_root, running_tasks, task_id, wait_for

REGION = "us-east-1"
CLUSTER = "bridge"
NAMESPACE = "bridge.local"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/{}:latest"


def taskdef(family: str, app: str, host_port: int) -> str:
    return json.dumps({
        "family": family, "networkMode": "bridge", "requiresCompatibilities": ["EC2"],
        "memory": "128", "cpu": "128",
        "containerDefinitions": [{
            "name": app, "image": IMAGE.format(app), "essential": True,
            "portMappings": [{"name": app, "containerPort": 80, "hostPort": host_port,
                              "protocol": "tcp", "appProtocol": "http"}],
        }],
    })


@pytest.fixture(scope="module")
def agent(berth, request, state):
    require_root()
    subnet = request.module.SUBNET
    berth.aws("ecs", "create-cluster", "--cluster-name", CLUSTER,
              "--service-connect-defaults", f"namespace={NAMESPACE}")
    vpc = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"][0]["VpcId"]
    group = berth.aws("ec2", "create-security-group", "--group-name", "bridge-instances",
                      "--description", "host ports from the task bridge", "--vpc-id", vpc)["GroupId"]
    for ports in ("49153-65535", "8080"):
        berth.aws("ec2", "authorize-security-group-ingress", "--group-id", group, "--protocol",
                  "tcp", "--port", ports, "--cidr", subnet)
    state["group"] = group
    a = Agent(berth, request.module.RUNTIME, request.module.BRIDGE, subnet, CLUSTER,
              extra=("--security-groups", group))
    a.start()
    yield a
    if a.proc and a.proc.poll() is None:
        a.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def instance(berth) -> dict:
    arns = berth.aws("ecs", "list-container-instances", "--cluster", CLUSTER)["containerInstanceArns"]
    assert len(arns) == 1, arns
    return berth.aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                     "--container-instances", arns[0])["containerInstances"][0]


def resource(ci: dict, kind: str, name: str) -> dict:
    return next(r for r in ci[kind] if r["name"] == name)


def test_the_agent_joins_with_its_own_address(berth, agent, state):
    ci = wait_for("the container instance", lambda: instance(berth), agent=agent, timeout=120)
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    ip = attrs["berth.private-ip"]
    assert ip.startswith(agent.subnet.rsplit(".", 2)[0] + "."), ip
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", agent.bridge],
                         capture_output=True, text=True).stdout
    assert f"inet {ip}/32" in out, out
    ports = resource(ci, "registeredResources", "PORTS")
    assert ports["type"] == "STRINGSET"
    assert ports["stringSetValue"] == ["22", "2375", "2376", "51678", "51679"]
    state["ip"] = ip
    state["instance"] = ci["containerInstanceArn"]


def test_a_dynamic_host_port_reaches_the_task(berth, agent, state):
    berth.write("cats.json", taskdef("cats", "cats", 0))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://cats.json")
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "cats",
              "--task-definition", "cats", "--desired-count", "1", "--launch-type", "EC2",
              "--service-connect-configuration",
              '{"enabled": true, "services": [{"portName": "cats", "discoveryName": "cats", '
              '"clientAliases": [{"port": 80}]}]}')
    t = wait_for("a RUNNING cats task", lambda: running_tasks(berth, CLUSTER, "cats"),
                 timeout=120, agent=agent)[0]
    app, proxy = t["containers"][0], t["containers"][-1]
    assert proxy["name"].startswith("ecs-service-connect-"), t["containers"]
    [binding] = app["networkBindings"]
    assert binding["bindIP"] == "0.0.0.0" and binding["containerPort"] == 80, binding
    assert binding["protocol"] == "tcp"
    assert 49153 <= binding["hostPort"] <= 65535, binding
    [through_proxy] = proxy["networkBindings"]
    assert through_proxy["containerPort"] == 80 and 49153 <= through_proxy["hostPort"] <= 65535
    assert through_proxy["hostPort"] != binding["hostPort"]
    # The task's own address on the bridge (berth's), not the instance's.
    own = app["networkInterfaces"][0]["privateIpv4Address"]
    assert own != state["ip"]
    ip = state["ip"]
    status, body = get(f"http://{ip}:{binding['hostPort']}/cats")
    assert status == 200 and "meow" in body, (status, body)
    status, body = get(f"http://{ip}:{through_proxy['hostPort']}/cats")
    assert status == 200 and "meow" in body, (status, body)
    # Cloud Map: the instance's address and the host port of the proxy's listener.
    inst = wait_for("cats in Cloud Map", lambda: berth.aws(
        "servicediscovery", "discover-instances", "--namespace-name", NAMESPACE,
        "--service-name", "cats")["Instances"], agent=agent)
    attrs = inst[0]["Attributes"]
    assert attrs["AWS_INSTANCE_IPV4"] == ip, attrs
    assert attrs["AWS_INSTANCE_PORT"] == str(through_proxy["hostPort"]), attrs
    # Dynamic host ports are not among the ports the instance lists in use.
    ports = resource(instance(berth), "remainingResources", "PORTS")["stringSetValue"]
    assert str(binding["hostPort"]) not in ports, ports
    state["cats"] = task_id(t["taskArn"])
    state["cats_port"] = binding["hostPort"]


def test_service_connect_reaches_a_bridge_task_by_name(berth, agent, state):
    berth.write("web.json", taskdef("web", "web", 0))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://web.json")
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "web",
              "--task-definition", "web", "--desired-count", "1", "--launch-type", "EC2",
              "--service-connect-configuration", '{"enabled": true}')
    web = task_id(wait_for("a RUNNING web task", lambda: running_tasks(berth, CLUSTER, "web"),
                           timeout=120, agent=agent)[0]["taskArn"])
    code = wait_for("cats by name from web", lambda: agent.curl_in_task(web, "http://cats/cats") == 200,
                    timeout=30, agent=agent)
    assert code
    for name in ("http://cats/cats", f"http://cats.{NAMESPACE}/cats"):
        assert agent.curl_in_task(web, name) == 200, name
    # cats reaches itself by name: its own host port, without leaving its namespace.
    assert agent.curl_in_task(state["cats"], "http://cats/cats") == 200
    # The instance's group judges host ports: without the dynamic range's rule nothing
    # gets in through a dynamic host port, and a rule for the container port it leads
    # to (80) does not let it in.
    group, subnet = state["group"], agent.subnet
    url = f"http://{state['ip']}:{state['cats_port']}/cats"
    rule = ("--group-id", group, "--protocol", "tcp", "--port", "49153-65535", "--cidr", subnet)
    container_port = ("--group-id", group, "--protocol", "tcp", "--port", "80", "--cidr", subnet)
    berth.aws("ec2", "authorize-security-group-ingress", *container_port)
    berth.aws("ec2", "revoke-security-group-ingress", *rule)
    wait_for("the host port filtered", lambda: not reachable(url), timeout=15, agent=agent)
    berth.aws("ec2", "revoke-security-group-ingress", *container_port)
    berth.aws("ec2", "authorize-security-group-ingress", *rule)
    wait_for("the host port open again", lambda: reachable(url), timeout=15, agent=agent)


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def test_a_fixed_host_port_goes_to_one_task_per_instance(berth, agent, state):
    berth.write("fixed.json", taskdef("fixed", "dogs", 8080))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://fixed.json")
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "fixed",
              "--task-definition", "fixed", "--desired-count", "2", "--launch-type", "EC2")
    t = wait_for("a RUNNING fixed task", lambda: running_tasks(berth, CLUSTER, "fixed"),
                 timeout=120, agent=agent)[0]
    assert t["containers"][0]["networkBindings"][0]["hostPort"] == 8080
    status, body = get(f"http://{state['ip']}:8080/dogs")
    assert status == 200 and "woof" in body, (status, body)

    def told():
        svc = berth.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", "fixed")["services"][0]
        return [e["message"] for e in svc["events"] if "unable to place a task" in e["message"]]

    events = wait_for("the placement event", told, agent=agent)
    instance_id = state["instance"].rsplit("/", 1)[1]
    assert events == [
        "(service fixed) was unable to place a task because no container instance met all of its "
        f"requirements. The closest matching (container-instance {instance_id}) is already using a "
        "port required by your task. For more information, see the Troubleshooting section of "
        "the Amazon ECS Developer Guide."
    ], events
    assert len(running_tasks(berth, CLUSTER, "fixed")) == 1
    run = berth.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "fixed")
    assert run["tasks"] == []
    assert run["failures"] == [{"arn": state["instance"], "reason": "RESOURCE:PORTS"}], run
    ports = resource(instance(berth), "remainingResources", "PORTS")["stringSetValue"]
    assert "8080" in ports, ports


def test_stopping_leaves_nothing(berth, agent, state):
    assert agent.stop() == 0, agent.log_text()
    assert leftovers(agent.bridge, agent.subnet.rsplit(".", 2)[0] + ".") == []
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    a, b, c, d = (int(x) for x in state["ip"].split("."))
    assert f"BERTH-HP-{a:02X}{b:02X}{c:02X}{d:02X}" not in nat, nat
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", agent.bridge],
                         capture_output=True, text=True).stdout
    assert f"{state['ip']}/32" not in out, out
