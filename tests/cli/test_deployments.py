"""Services that keep themselves right, under traffic, on two real agents (process
runtime, one bridge): a client task sends steady requests to `http://web` through its
proxy while the server service is rolled to a new task definition, scaled down, given a
task definition whose tasks never become healthy or crash at start (the circuit breaker
rolls back), and while one agent is killed. Every step counts the client's non-2xx
answers: there must be none.

Tests run in file order and build on each other.
"""

from __future__ import annotations

import json
import time

import pytest

from agent_harness import (
    NETWORK,
    NGINX_TD,
    Agent,
    Traffic,
    instance_ips,
    require_root,
    running_tasks,
    task_id,
    task_ip,
    wait_for,
)

REGION = "eu-west-1"
CLUSTER = "deploy"
NAMESPACE = "deploy.local"
BRIDGE = "berthr0"
SUBNET = "10.217.0.0/16"


def web_td(family: str = "web", **container) -> str:
    td = json.loads(NGINX_TD)
    td["family"] = family
    td["containerDefinitions"][0]["portMappings"][0]["name"] = "web"
    td["containerDefinitions"][0].update(container)
    return json.dumps(td)


@pytest.fixture(scope="module")
def agents(berth):
    require_root()
    berth.aws("ecs", "create-cluster", "--cluster-name", CLUSTER,
              "--service-connect-defaults", f"namespace={NAMESPACE}")
    a = Agent(berth, "process", BRIDGE, SUBNET, CLUSTER, name="agent-a")
    b = Agent(berth, "process", BRIDGE, SUBNET, CLUSTER, name="agent-b")
    a.start()
    b.start()
    wait_for("two container instances", lambda: len(berth.aws(
        "ecs", "list-container-instances", "--cluster", CLUSTER)["containerInstanceArns"]) == 2, agent=a)
    yield a, b
    for x in (a, b):
        if x.proc and x.proc.poll() is None:
            x.stop()


def deployment(berth, service="web") -> dict:
    return berth.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", service)["services"][0]


def wait_completed(berth, agent, service="web", timeout=90) -> dict:
    def done():
        s = deployment(berth, service)
        d = s["deployments"]
        return len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and s["runningCount"] == d[0]["desiredCount"] and s
    return wait_for(f"{service}'s deployment to complete", done, timeout=timeout, interval=0.3, agent=agent)


def assert_all_2xx(counts: dict):
    bad = {c: n for c, n in counts["codes"].items() if not c.startswith("2")}
    assert counts["total"] > 50, counts
    assert not bad, f"non-2xx answers: {bad} of {counts['total']} ({counts['errors']})"


def test_setup_three_servers_and_a_client_started_first(berth, agents, state):
    a, _ = agents
    berth.write("web.json", web_td())
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://web.json")
    # The client first: it learns the servers' endpoints when they appear, without a
    # redeploy (AWS needs one).
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "client",
              "--task-definition", "web", "--desired-count", "1", "--launch-type", "FARGATE",
              "--network-configuration", NETWORK,
              "--service-connect-configuration", '{"enabled": true}')
    client = wait_for("the client", lambda: running_tasks(berth, CLUSTER, "client"), timeout=60, agent=a)[0]
    state["client"] = task_id(client["taskArn"])
    state["client_agent"] = a if client["containerInstanceArn"] == _instance(berth, a) else agents[1]
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "web",
              "--task-definition", "web", "--desired-count", "3", "--launch-type", "FARGATE",
              "--network-configuration", NETWORK,
              "--deployment-configuration",
              "maximumPercent=200,minimumHealthyPercent=100,deploymentCircuitBreaker={enable=true,rollback=true}",
              "--service-connect-configuration",
              '{"enabled": true, "services": [{"portName": "web", "clientAliases": [{"port": 80}]}]}')
    wait_completed(berth, a)
    wait_for("three endpoints", lambda: len(instance_ips(berth, NAMESPACE, "web")) == 3, agent=a)
    wait_for("the client reaching web", lambda: state["client_agent"].curl_in_task(state["client"], "http://web/") == 200,
             timeout=20, agent=a)
    # Spread over both agents.
    hosts = {t["containerInstanceArn"] for t in running_tasks(berth, CLUSTER, "web")}
    assert len(hosts) == 2, hosts


def _instance(berth, agent) -> str:
    arns = berth.aws("ecs", "list-container-instances", "--cluster", CLUSTER)["containerInstanceArns"]
    for arn in arns:
        if (agent.state_dir / "instance.json").exists() and arn in (agent.state_dir / "instance.json").read_text():
            return arn
    raise AssertionError("instance of agent")


def test_rolling_update_under_traffic_loses_no_request(berth, agents, state):
    a, _ = agents
    berth.write("web2.json", web_td(environment=[{"name": "VERSION", "value": "2"}]))
    td2 = berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://web2.json")
    old = {t["taskArn"] for t in running_tasks(berth, CLUSTER, "web")}
    traffic = Traffic(state["client_agent"], state["client"], "http://web/")
    time.sleep(1)
    started = time.monotonic()
    up = berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "web",
                   "--task-definition", td2["taskDefinition"]["taskDefinitionArn"])
    assert up["service"]["deployments"][0]["status"] == "PRIMARY"
    assert up["service"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    s = wait_completed(berth, a)
    print(f"\nrolling update of 3 tasks completed in {time.monotonic() - started:.1f} s")
    time.sleep(2)  # the old tasks' drain
    counts = traffic.stop()
    assert_all_2xx(counts)
    now = {t["taskArn"] for t in running_tasks(berth, CLUSTER, "web")}
    assert len(now) == 3 and not (now & old)
    assert s["taskDefinition"] == td2["taskDefinition"]["taskDefinitionArn"]
    messages = [e["message"] for e in s["events"]]
    assert any("deployment completed" in m for m in messages)
    assert any("has reached a steady state" in m for m in messages)
    state["good_td"] = td2["taskDefinition"]["taskDefinitionArn"]


def test_scale_down_under_traffic_loses_no_request(berth, agents, state):
    a, _ = agents
    traffic = Traffic(state["client_agent"], state["client"], "http://web/")
    time.sleep(1)
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "web", "--desired-count", "1")
    wait_for("one task", lambda: len(running_tasks(berth, CLUSTER, "web")) == 1, timeout=60, agent=a)
    wait_for("one endpoint", lambda: len(instance_ips(berth, NAMESPACE, "web")) == 1, timeout=30, agent=a)
    time.sleep(2)
    assert_all_2xx(traffic.stop())
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "web", "--desired-count", "3")
    wait_completed(berth, a)


def test_a_task_that_never_becomes_healthy_gets_no_traffic(berth, agents, state):
    a, _ = agents
    berth.write("sick.json", web_td(
        "sick",
        healthCheck={"command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1},
    ).replace('"name": "web"', '"name": "sick"'))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://sick.json")
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "sick",
              "--task-definition", "sick", "--desired-count", "1", "--launch-type", "FARGATE",
              "--network-configuration", NETWORK,
              "--service-connect-configuration",
              '{"enabled": true, "services": [{"portName": "sick", "clientAliases": [{"port": 80}]}]}')
    first = wait_for("a sick task running", lambda: running_tasks(berth, CLUSTER, "sick"), timeout=60, agent=a)[0]
    # Running, but never published: the client's requests to it are refused by its own
    # proxy (no endpoint), never sent to the task.
    for _ in range(5):
        assert state["client_agent"].curl_in_task(state["client"], "http://sick/") == 503
        assert instance_ips(berth, NAMESPACE, "sick") == set()
        time.sleep(0.5)
    # Once its health check fails, ECS's rule: it is replaced.
    stopped = wait_for("the unhealthy task to be replaced", lambda: (lambda t: t["lastStatus"] == "STOPPED" and t)(
        berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", first["taskArn"])["tasks"][0]
    ), timeout=60, agent=a)
    assert stopped["stoppedReason"] == "Task failed container health checks"
    assert stopped["healthStatus"] == "UNHEALTHY"
    assert instance_ips(berth, NAMESPACE, "sick") == set()
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "sick", "--desired-count", "0")


def test_circuit_breaker_rolls_back_a_crashing_deployment(berth, agents, state):
    a, _ = agents
    berth.write("crash.json", web_td(command=["/bin/sh", "-c", "echo crashing; exit 3"]))
    bad = berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://crash.json")
    bad_arn = bad["taskDefinition"]["taskDefinitionArn"]
    traffic = Traffic(state["client_agent"], state["client"], "http://web/")
    time.sleep(1)
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "web", "--task-definition", bad_arn)

    def rolled_back():
        s = deployment(berth)
        msgs = [e["message"] for e in s["events"]]
        return any("rolling back to deployment" in m for m in msgs) and s
    s = wait_for("the circuit breaker", rolled_back, timeout=90, interval=0.3, agent=a)
    assert s["deployments"][0]["taskDefinition"] == state["good_td"]
    msgs = [e["message"] for e in s["events"]]
    assert any("deployment failed: tasks failed to start" in m for m in msgs), msgs[:5]
    s = wait_completed(berth, a)
    assert s["taskDefinition"] == state["good_td"]
    # The bad deployment's tasks: at least the threshold (3) failed, none serves.
    stopped = berth.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--service-name", "web",
                        "--desired-status", "STOPPED")["taskArns"]
    bad_tasks = [t for t in berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *stopped)["tasks"]
                 if t["taskDefinitionArn"] == bad_arn]
    failed = [t for t in bad_tasks if t["stopCode"] in ("EssentialContainerExited", "TaskFailedToStart")]
    assert len(failed) >= 3, [(t["stopCode"], t["stoppedReason"]) for t in bad_tasks]
    assert {t["taskDefinitionArn"] for t in running_tasks(berth, CLUSTER, "web")} == {state["good_td"]}
    assert_all_2xx(traffic.stop())


def test_killed_agent_tasks_are_replaced_elsewhere(berth, agents, state):
    a, b = agents
    survivor, victim = (a, b) if state["client_agent"] is a else (b, a)
    victim_arn = _instance(berth, victim)
    lost = [t for t in running_tasks(berth, CLUSTER, "web") if t["containerInstanceArn"] == victim_arn]
    if not lost:
        pytest.fail("the spread placed no web task on the other agent")
    traffic = Traffic(survivor, state["client"], "http://web/")
    victim.proc.kill()
    victim.proc.wait()
    started = time.monotonic()
    for t in lost:
        wait_for("the lost task to be STOPPED", lambda: berth.aws(
            "ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", t["taskArn"]
        )["tasks"][0]["lastStatus"] == "STOPPED", timeout=60, agent=survivor)
        stopped = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", t["taskArn"])["tasks"][0]
        assert "agent" in stopped["stoppedReason"] and "disconnected" in stopped["stoppedReason"]
        assert task_ip(t) not in instance_ips(berth, NAMESPACE, "web")
    ci = berth.aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                   "--container-instances", victim_arn)["containerInstances"][0]
    assert ci["agentConnected"] is False
    wait_for("three web tasks on the survivor", lambda: (lambda ts: len(ts) == 3 and all(
        t["containerInstanceArn"] == _instance(berth, survivor) for t in ts))(running_tasks(berth, CLUSTER, "web")),
        timeout=60, agent=survivor)
    print(f"\nagent lost -> its tasks replaced on the other agent in {time.monotonic() - started:.1f} s")
    assert_all_2xx(traffic.stop())
    # The killed agent's processes still run; started again, it removes them and takes
    # new work.
    victim.start()
    wait_for("the victim back", lambda: berth.aws(
        "ecs", "describe-container-instances", "--cluster", CLUSTER, "--container-instances", victim_arn
    )["containerInstances"][0]["agentConnected"], timeout=30, agent=victim)
    for t in lost:
        with pytest.raises(AssertionError):
            victim.task_netns(task_id(t["taskArn"]))


def test_standalone_task_is_a_client_of_the_default_namespace(berth, agents, state):
    a, _ = agents
    arn = berth.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", state["good_td"],
                    "--launch-type", "FARGATE", "--network-configuration", NETWORK)["tasks"][0]["taskArn"]
    tid = task_id(arn)
    owner = {}

    def answered():
        for x in (a, state["client_agent"]):
            try:
                if x.curl_in_task(tid, "http://web/") == 200:
                    owner["agent"] = x
                    return True
            except AssertionError:
                pass
        return False
    wait_for("the standalone task reaching web by name", answered, timeout=60, agent=a)
    berth.aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", arn)


def test_delete_service_drains_and_stops_its_tasks(berth, agents, state):
    a, _ = agents
    tasks = running_tasks(berth, CLUSTER, "web")
    assert tasks
    out = berth.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", "web", "--force")
    assert out["service"]["status"] == "DRAINING"
    wait_for("web to be INACTIVE", lambda: berth.aws(
        "ecs", "describe-services", "--cluster", CLUSTER, "--services", "web"
    )["services"][0]["status"] == "INACTIVE", timeout=60, interval=0.3, agent=a)
    for t in tasks:
        t2 = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", t["taskArn"])["tasks"][0]
        assert t2["lastStatus"] == "STOPPED"
        assert t2["stopCode"] == "ServiceSchedulerInitiated"
    assert instance_ips(berth, NAMESPACE, "web") == set()
