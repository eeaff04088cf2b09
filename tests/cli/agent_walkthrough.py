"""The seed 002 tutorial end to end, on a real `berth agent`: a module imports
everything from here and sets RUNTIME, BRIDGE and SUBNET (see test_agent_process.py and
test_agent_docker.py). Tests run in file order and build on each other (one cluster,
one agent per module).

1. The agent joins the cluster (DescribeContainerInstances).
2. create-cluster, register-task-definition and create-service with the seed's JSON,
   its `tls` naming a Private CA made with `aws acm-pca`: the task runs, its port speaks
   TLS 1.3 with a certificate from that CA (`openssl s_client`), and
   `curl https://nginx:80` (the CA's certificate, the task's address) is answered by
   nginx through berth's ingress (`server: berth`).
3. Two server replicas and a client-only service: `curl http://nginx` from inside the
   client task is answered by both replicas in turn (round robin, as the client proxy's
   access log shows), and the time from create-service to the first 2xx is printed.
   Between the proxies it is TLS: the client's proxy verifies the server's chain and
   name. Certificates live 60 s and are renewed after 20 s (SERVER_ARGS): under steady
   load no request fails while they rotate. With the service tag `berth:mtls=required`
   a client without a certificate is refused (503) and one whose own service has TLS
   gets through, its identity counted by the server's proxy. A disabled CA issues
   nothing: a new task stops with ResourceInitializationError and the service says why.
4. One replica's nginx is killed: every request of the client still gets a 2xx, the
   dead endpoint leaves Cloud Map, and the scheduler replaces the task.
5. `berth logs` shows a task's container and proxy logs.
6. SIGINT to the agent: every task stops and nothing is left (namespaces, veths,
   processes, containers).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agent_harness import (
    NETWORK,
    NGINX_TD,
    SEED002_SERVICE,
    Agent,
    instance_ips,
    leftovers,
    require_root,
    Traffic,
    running_tasks,
    task_id,
    task_ip,
    wait_for,
)
from conftest import ECS_TARGET, berth_bin
from private_ca import root_ca, with_ca

REGION = "us-west-2"
CLUSTER = "tutorial"
NAMESPACE = "service-connect"
SERVER = "service-connect-nginx-service"
SERVER_DISCOVERY = "nginx"
# Short-lived TLS certificates, so that they rotate during the walkthrough.
SERVER_ARGS = ("--tls-certificate-validity", "60", "--tls-rotate-after", "20")


@pytest.fixture(scope="module")
def ca(berth):
    """The walkthrough's Private CA: its ARN and its certificate's file."""
    return root_ca(berth, "walkthrough-ca")


@pytest.fixture(scope="module")
def agent(berth, request):
    require_root()
    runtime = request.module.RUNTIME
    a = Agent(berth, runtime, request.module.BRIDGE, request.module.SUBNET, CLUSTER)
    prepare = getattr(request.module, "prepare", None)
    if prepare:
        prepare(berth)
    berth.aws("ecs", "create-cluster", "--cluster-name", CLUSTER,
              "--service-connect-defaults", f"namespace={NAMESPACE}")
    # The proxies' log groups (awslogs), made first as the tutorial's account has them.
    for group in ("/ecs/service-connect-proxy", "client"):
        berth.aws("logs", "create-log-group", "--log-group-name", group)
    a.start()
    yield a
    if a.proc and a.proc.poll() is None:
        a.stop()


def command_lines() -> list[list[str]]:
    """The argv of every process of the machine (a container's too)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                raw = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                out.append(raw.rstrip(b"\0").decode(errors="replace").split("\0"))
    return out


def test_agent_joins_the_cluster(berth, agent, state):
    out = wait_for(
        "the container instance",
        lambda: berth.aws("ecs", "list-container-instances", "--cluster", CLUSTER)["containerInstanceArns"],
        agent=agent,
    )
    assert len(out) == 1
    ci = berth.aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                   "--container-instances", out[0])["containerInstances"][0]
    assert ci["status"] == "ACTIVE"
    wait_for("agentConnected", lambda: berth.aws(
        "ecs", "describe-container-instances", "--cluster", CLUSTER, "--container-instances", out[0]
    )["containerInstances"][0]["agentConnected"], agent=agent)
    names = {r["name"]: r for r in ci["registeredResources"]}
    assert names["CPU"]["integerValue"] >= 1024
    assert names["MEMORY"]["integerValue"] > 0
    state["instance"] = out[0]


def test_seed002_service_answers_through_berth_ingress(berth, agent, state, ca):
    berth.write("nginx.json", NGINX_TD)
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://nginx.json")
    berth.write("service.json", with_ca(SEED002_SERVICE, ca[0]))
    created = berth.aws("ecs", "create-service", "--cli-input-json", "file://service.json")
    # tls is stored as given.
    tls = created["service"]["deployments"][0]["serviceConnectConfiguration"]["services"][0]["tls"]
    assert tls["kmsKey"] == "kmsKey"
    assert tls["issuerCertificateAuthority"]["awsPcaAuthorityArn"] == ca[0]
    tasks = wait_for("a RUNNING task", lambda: running_tasks(berth, CLUSTER, SERVER), timeout=60, agent=agent)
    t = tasks[0]
    assert t["containerInstanceArn"] == state["instance"]
    assert t["desiredStatus"] == "RUNNING"
    assert t["containers"][0]["lastStatus"] == "RUNNING"
    # Beside nginx, the proxy's container as ECS lists it, following the proxy's life.
    proxy = t["containers"][-1]
    assert len(t["containers"]) == 2, t["containers"]
    assert re.fullmatch(r"ecs-service-connect-[A-Za-z0-9]{7}", proxy["name"]), proxy
    assert (proxy["lastStatus"], proxy["healthStatus"]) == ("RUNNING", "HEALTHY"), proxy
    assert proxy["image"] == "berth/proxy:local" and proxy["runtimeId"], proxy
    assert t["startedBy"].startswith("ecs-svc/")
    assert t["group"] == f"service:{SERVER}"
    for stamp in ("createdAt", "startedAt"):
        assert stamp in t, stamp
    ip = task_ip(t)
    assert ip and ip.startswith(agent.subnet.rsplit(".", 2)[0] + "."), t["attachments"]
    # The task's port speaks TLS 1.3 with a certificate from the service's CA, for the
    # service's names and identity.
    hello = subprocess.run(["openssl", "s_client", "-connect", f"{ip}:80", "-CAfile", str(ca[1]),
                            "-servername", "nginx", "-verify_return_error", "-showcerts"],
                           input="", capture_output=True, text=True, timeout=20)
    assert hello.returncode == 0, hello.stdout[-2000:] + hello.stderr
    assert "TLSv1.3" in hello.stdout and "Verify return code: 0 (ok)" in hello.stdout, hello.stdout[-2000:]
    leaf = hello.stdout.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    sans = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"],
                          input=f"-----BEGIN CERTIFICATE-----{leaf}-----END CERTIFICATE-----\n",
                          capture_output=True, text=True).stdout
    for name in ("DNS:nginx.service-connect", "DNS:nginx",
                 f"URI:spiffe://{NAMESPACE}/{CLUSTER}/{SERVER}"):
        assert name in sans, sans
    # The tutorial's curl to the task's address, over TLS, answered through the proxy.
    out = subprocess.run(["curl", "-s", "-i", "-m", "5", "--cacert", str(ca[1]),
                          "--resolve", f"nginx:80:{ip}", "https://nginx:80/"],
                         capture_output=True, text=True)
    head = out.stdout.split("\r\n\r\n", 1)[0].lower()
    # The ingress offers h2 and http/1.1 (ALPN); curl picks h2.
    assert head.startswith("http/2 200"), out.stdout[:500]
    assert "server: berth" in head
    assert "x-berth-upstream-service-time:" in head
    assert "welcome to nginx" in out.stdout.lower()
    # The proxy beside the task is the small berth-proxy binary, not the whole of berth
    # (a container's processes show in the host's process list too).
    sock = f"unix:/run/berth/proxy/{task_id(t['taskArn'])}/admin.sock"
    proxies = [argv for argv in command_lines() if sock in argv]
    assert len(proxies) == 1, proxies
    assert proxies[0][0].endswith("/berth-proxy"), proxies[0]
    # Registered in Cloud Map with ECS's attributes.
    inst = berth.aws("servicediscovery", "discover-instances", "--namespace-name", NAMESPACE,
                     "--service-name", "nginx")["Instances"]
    assert len(inst) == 1
    attrs = inst[0]["Attributes"]
    assert attrs["AWS_INSTANCE_IPV4"] == ip
    assert attrs["AWS_INSTANCE_PORT"] == "80"
    assert attrs["ECS_CLUSTER_NAME"] == CLUSTER
    assert attrs["ECS_SERVICE_NAME"] == SERVER
    assert attrs["ECS_TASK_DEFINITION_FAMILY"] == "service-connect-nginx"
    assert attrs["REGION"] == REGION and attrs["AVAILABILITY_ZONE"].startswith(REGION)
    svc = berth.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", SERVER)["services"][0]
    assert svc["runningCount"] == 1
    assert any("has started 1 tasks" in e["message"] for e in svc["events"])
    state["first_task"] = task_id(t["taskArn"])


def test_client_calls_the_alias_round_robin(berth, agent, state):
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVER, "--desired-count", "2")
    berth.aws(
        "ecs", "create-service", "--cluster", CLUSTER, "--service-name", "client",
        "--task-definition", "service-connect-nginx", "--desired-count", "1",
        "--launch-type", "FARGATE", "--network-configuration", NETWORK,
        "--service-connect-configuration",
        '{"enabled": true, "namespace": "service-connect", '
        '"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "client"}}, '
        '"accessLogConfiguration": {"format": "JSON", "includeQueryParameters": "ENABLED"}}',
    )
    started = time.monotonic()  # create-service has returned

    # The client task exists as soon as create-service returns (the scheduler runs on
    # the write); then only the request itself is polled, from inside the task.
    # (Raw JSON 1.1 here: the aws CLI's own start-up would dominate the measurement.)
    arns = wait_for("the client task", lambda: berth.post(
        f"{ECS_TARGET}.ListTasks", {"cluster": CLUSTER, "serviceName": "client"})[1].get("taskArns"), agent=agent)
    tid = task_id(arns[0])

    def first_2xx():
        try:
            return tid if 200 <= agent.curl_in_task(tid, "http://nginx/") < 300 else None
        except AssertionError:  # its namespace is not there yet
            return None

    client = wait_for("a 2xx through the client alias", first_2xx, timeout=60, interval=0.02, agent=agent)
    elapsed = time.monotonic() - started
    print(f"\n[{agent.runtime}] create-service (client) -> first 2xx through http://nginx: {elapsed:.2f} s")
    state["client"] = client
    servers = wait_for("two server replicas in Cloud Map",
                       lambda: len(instance_ips(berth, NAMESPACE, "nginx")) == 2 and instance_ips(berth, NAMESPACE, "nginx"),
                       timeout=60, agent=agent)
    # The client proxy learns the second replica without a redeploy.
    codes = []
    for i in range(12):
        codes.append(agent.curl_in_task(client, f"http://nginx/?n={i}"))
    assert all(c == 200 for c in codes), codes
    assert agent.curl_in_task(client, "http://nginx.service-connect/") == 200

    def both_seen():
        hosts = [r.get("upstream_host", "") for r in agent.access_log(client)[-10:]]
        ips = {h.rsplit(":", 1)[0] for h in hosts if h}
        return ips == servers and ips

    wait_for("both replicas in the client's access log", both_seen, timeout=10, agent=agent)
    recent = [r for r in agent.access_log(client) if "n=" in r.get("path", "")][-12:]
    # Round robin: consecutive requests alternate between the two replicas.
    hosts = [r["upstream_host"] for r in recent]
    assert all(a != b for a, b in zip(hosts, hosts[1:])), hosts
    assert recent[-1]["path"].startswith("/?n="), "includeQueryParameters keeps the query"
    state["servers"] = servers


def _serials(agent, task: str) -> list[str]:
    certs = json.loads(agent.proxy_admin(task, "/certificates"))["certificates"]
    return [c["serial"] for c in certs if c["use"] == "ingress"]


def test_tls_certificates_rotate_without_losing_a_request(berth, agent, state):
    server = task_id(running_tasks(berth, CLUSTER, SERVER)[0]["taskArn"])
    first = _serials(agent, server)
    assert len(first) == 1, first
    load = Traffic(agent, state["client"], "http://nginx/", rate=100)
    try:
        wait_for("a renewed certificate", lambda: _serials(agent, server) != first,
                 timeout=45, interval=0.5, agent=agent)
        time.sleep(2)
    finally:
        counts = load.stop()
    assert counts["total"] > 100 and counts["codes"] == {"200": counts["total"]}, counts
    # The client's proxy verified every server certificate (none refused).
    client = state["client"]
    assert agent.proxy_metric(client, "TargetTLSNegotiationErrorCount") == 0


def test_mutual_tls_required_refuses_clients_without_a_certificate(berth, agent, state, ca):
    svc_arn = berth.aws("ecs", "describe-services", "--cluster", CLUSTER,
                        "--services", SERVER)["services"][0]["serviceArn"]
    berth.aws("ecs", "tag-resource", "--resource-arn", svc_arn, "--tags", "key=berth:mtls,value=required")
    client = state["client"]

    def refused_in_handshake():
        code = agent.curl_in_task(client, "http://nginx/")
        last = agent.access_log(client)[-1]
        return code == 503 and last.get("upstream_transport_failure_reason")

    reason = wait_for("the client without a certificate refused", refused_in_handshake,
                      timeout=20, agent=agent)
    assert "certificate" in reason.lower(), reason
    servers = [task_id(t["taskArn"]) for t in running_tasks(berth, CLUSTER, SERVER)]
    assert sum(agent.proxy_metric(s, "ClientTLSNegotiationErrorCount") for s in servers) >= 1
    # A client whose own service has TLS presents its certificate and gets through.
    config = {"enabled": True, "namespace": NAMESPACE, "services": [
        {"portName": "nginx", "discoveryName": "client-web",
         "tls": {"issuerCertificateAuthority": {"awsPcaAuthorityArn": ca[0]}}}]}
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "tls-client",
              "--task-definition", "service-connect-nginx", "--desired-count", "1",
              "--launch-type", "FARGATE", "--network-configuration", NETWORK,
              "--service-connect-configuration", json.dumps(config))
    tls_client = task_id(wait_for("the TLS client task", lambda: running_tasks(berth, CLUSTER, "tls-client"),
                                  timeout=60, agent=agent)[0]["taskArn"])
    wait_for("the client with a certificate through",
             lambda: agent.curl_in_task(tls_client, "http://nginx/") == 200, timeout=20, agent=agent)
    identity = f"spiffe://{NAMESPACE}/{CLUSTER}/tls-client"
    servers = [task_id(t["taskArn"]) for t in running_tasks(berth, CLUSTER, SERVER)]
    assert sum(agent.proxy_metric(s, "ClientIdentityConnectionCount", ClientIdentity=identity)
               for s in servers) >= 1
    berth.aws("ecs", "untag-resource", "--resource-arn", svc_arn, "--tag-keys", "berth:mtls")
    wait_for("the client without a certificate back",
             lambda: agent.curl_in_task(client, "http://nginx/") == 200, timeout=20, agent=agent)
    berth.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", "tls-client", "--force")


def test_a_disabled_ca_issues_no_certificate(berth, agent, state, ca):
    berth.aws("acm-pca", "update-certificate-authority", "--certificate-authority-arn", ca[0],
              "--status", "DISABLED")
    try:
        berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVER, "--desired-count", "3")

        def stopped_for_tls():
            arns = berth.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--service-name", SERVER,
                             "--desired-status", "STOPPED")["taskArns"]
            tasks = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *arns)["tasks"] if arns else []
            return [t for t in tasks if "TLS certificate" in t.get("stoppedReason", "")]

        t = wait_for("a task stopped for its certificate", stopped_for_tls, timeout=60, agent=agent)[0]
        assert t["stoppedReason"].startswith("ResourceInitializationError: "), t["stoppedReason"]
        assert "DISABLED" in t["stoppedReason"], t["stoppedReason"]
        events = berth.aws("ecs", "describe-services", "--cluster", CLUSTER,
                           "--services", SERVER)["services"][0]["events"]
        said = [e["message"] for e in events if "unable to get a TLS certificate" in e["message"]]
        assert said and ca[0] in said[0], events[:5]
    finally:
        berth.aws("acm-pca", "update-certificate-authority", "--certificate-authority-arn", ca[0],
                  "--status", "ACTIVE")
        berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVER, "--desired-count", "2")
    wait_for("two servers again", lambda: len(running_tasks(berth, CLUSTER, SERVER)) == 2, timeout=60, agent=agent)
    assert agent.curl_in_task(state["client"], "http://nginx/") == 200


def test_killed_replica_costs_no_request(berth, agent, state):
    client = state["client"]
    tasks = running_tasks(berth, CLUSTER, SERVER)
    assert len(tasks) == 2
    victim = tasks[0]
    victim_ip = task_ip(victim)
    pid = int(victim["containers"][0]["runtimeId"])
    os.killpg(pid, signal.SIGKILL) if agent.runtime == "process" else state["kill"](victim)
    codes = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        codes.append(agent.curl_in_task(client, "http://nginx/"))
    assert codes and all(200 <= c < 300 for c in codes), codes
    wait_for("the dead endpoint to leave Cloud Map",
             lambda: victim_ip not in instance_ips(berth, NAMESPACE, "nginx"), timeout=30, agent=agent)
    stopped = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", victim["taskArn"])["tasks"][0]
    wait_for("the task to stop", lambda: berth.aws(
        "ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", victim["taskArn"]
    )["tasks"][0]["lastStatus"] == "STOPPED", timeout=30, agent=agent)
    stopped = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", victim["taskArn"])["tasks"][0]
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert stopped["containers"][0]["exitCode"] != 0
    # The scheduler replaces it.
    wait_for("a replacement", lambda: len(running_tasks(berth, CLUSTER, SERVER)) == 2, timeout=60, agent=agent)
    wait_for("two endpoints again", lambda: len(instance_ips(berth, NAMESPACE, "nginx")) == 2, timeout=30, agent=agent)
    assert all(200 <= agent.curl_in_task(client, "http://nginx/") < 300 for _ in range(4))


def test_standalone_task_with_a_missing_secret_stops_with_the_reason(berth, agent, state):
    td = json.loads(NGINX_TD)
    td["family"] = "secretive"
    td["containerDefinitions"][0]["secrets"] = [
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/nowhere"}
    ]
    berth.write("secretive.json", json.dumps(td))
    berth.aws("ecs", "register-task-definition", "--cli-input-json", "file://secretive.json")
    arn = berth.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "secretive",
                    "--launch-type", "FARGATE", "--network-configuration", NETWORK)["tasks"][0]["taskArn"]
    t = wait_for("the task to stop", lambda: (lambda x: x["lastStatus"] == "STOPPED" and x)(
        berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", arn)["tasks"][0]
    ), timeout=30, agent=agent)
    assert t["stoppedReason"].startswith("ResourceInitializationError"), t["stoppedReason"]
    assert "nowhere" in t["stoppedReason"]
    assert t["containerInstanceArn"] == state["instance"]
    with pytest.raises(AssertionError):
        agent.task_netns(task_id(arn))


# ---- security groups ------------------------------------------------------------------

SG_VPC = "vpc-0seed002tutorial"  # tests/cli/network.json: subnet-1's VPC


def _sg(berth, name: str) -> str:
    return berth.aws("ec2", "create-security-group", "--group-name", name,
                     "--description", f"walkthrough {name}", "--vpc-id", SG_VPC)["GroupId"]


def _sg_service(berth, name: str, group: str):
    berth.aws("logs", "create-log-group", "--log-group-name", name)
    berth.aws(
        "ecs", "create-service", "--cluster", CLUSTER, "--service-name", name,
        "--task-definition", "service-connect-nginx", "--desired-count", "1",
        "--launch-type", "FARGATE",
        "--network-configuration", f"awsvpcConfiguration={{subnets=[subnet-1],securityGroups=[{group}]}}",
        "--service-connect-configuration",
        json.dumps({"enabled": True, "namespace": NAMESPACE, "services": [
            {"portName": "nginx", "discoveryName": name, "clientAliases": [{"port": 80, "dnsName": name}]}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": name}},
            "accessLogConfiguration": {"format": "JSON"}}),
    )


def _connect(agent, task: str, ip: str, timeout: float = 1.0) -> int:
    """curl's exit code for a direct connection from `task` to ip:80 (0: answered,
    7: refused, 28: timed out: the SYN was dropped)."""
    r = agent.in_task(task, "curl", "-s", "-o", "/dev/null", "--connect-timeout", str(timeout),
                      "-m", str(timeout + 2), f"http://{ip}:80/")
    return r.returncode


def _eventually(what: str, fn, within: float, agent) -> float:
    """Seconds until fn() holds, which must be at most `within`."""
    start = time.monotonic()
    wait_for(what, fn, timeout=within + 5, interval=0.02, agent=agent)
    took = time.monotonic() - start
    assert took <= within, f"{what}: took {took:.2f} s (at most {within} s)"
    return took


def test_security_groups_allow_one_direction_only(berth, agent, state):
    """alpha's group takes port 80 from beta's; beta's takes nothing: beta reaches
    alpha, alpha's SYNs to beta are dropped and its proxy answers 503."""
    ga, gb = _sg(berth, "alpha-sg"), _sg(berth, "beta-sg")
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", ga,
              "--protocol", "tcp", "--port", "80", "--source-group", gb)
    _sg_service(berth, "alpha", ga)
    _sg_service(berth, "beta", gb)
    (ta,) = wait_for("alpha running", lambda: running_tasks(berth, CLUSTER, "alpha"), timeout=60, agent=agent)
    (tb,) = wait_for("beta running", lambda: running_tasks(berth, CLUSTER, "beta"), timeout=60, agent=agent)
    a, b = task_id(ta["taskArn"]), task_id(tb["taskArn"])
    eni = {d["name"]: d["value"] for d in tb["attachments"][0]["details"]}
    assert eni["securityGroups"] == gb and eni["subnetId"] == "subnet-1", eni
    wait_for("beta -> alpha through the proxy", lambda: agent.curl_in_task(b, "http://alpha/") == 200,
             timeout=30, agent=agent)
    assert _connect(agent, b, task_ip(ta)) == 0
    # The other way: the SYN is dropped (a timeout, not a refusal).
    assert _connect(agent, a, task_ip(tb)) == 28
    # Through alpha's proxy: one attempt, which times out connecting (5 s, the proxy's
    # connect timeout; no other endpoint to retry), answered 503.
    started = time.monotonic()
    r = agent.in_task(a, "curl", "-s", "-o", "/dev/null", "-m", "15", "-w", "%{http_code}", "http://beta/")
    took = time.monotonic() - started
    assert r.stdout.strip() == "503", (r.returncode, r.stdout)
    assert 4.5 < took < 7, f"503 after {took:.2f} s"
    print(f"\n[{agent.runtime}] refused by beta's group: 503 after {took:.2f} s")
    # The access log says why: a connect failure (UF) to beta's address; so do alpha's
    # proxy's metrics.
    # (The access log is written off the request path: the line may come a moment later.)
    def refused_logged():
        return [r for r in agent.access_log(a) if r.get("authority") == "beta" and r.get("response_code") == 503]

    refused = wait_for("the refused request in alpha's access log", refused_logged, timeout=5, agent=agent)
    assert "UF" in refused[-1]["response_flags"], agent.access_log(a)[-3:]
    metrics = subprocess.run(["curl", "-s", "--unix-socket", f"/run/berth/proxy/{a}/admin.sock",
                              "http://proxy/metrics"], capture_output=True, text=True).stdout
    failures = [l for l in metrics.splitlines()
                if l.startswith("TargetConnectionErrorCount{") and 'TargetDiscoveryName="beta"' in l]
    assert failures and float(failures[0].rsplit(" ", 1)[1]) >= 1, metrics[-3000:]
    state["sg"] = {"a": a, "b": b, "ga": ga, "gb": gb, "ta": ta, "tb": tb}


def test_security_group_changes_reach_tasks_within_a_second(berth, agent, state):
    sg = state["sg"]
    a, gb, tb_ip, ta_ip = sg["a"], sg["gb"], task_ip(sg["tb"]), task_ip(sg["ta"])
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", gb,
              "--protocol", "tcp", "--port", "80", "--source-group", sg["ga"])
    took = _eventually("alpha -> beta allowed", lambda: _connect(agent, a, tb_ip, 0.3) == 0, 1.0, agent)
    print(f"\n[{agent.runtime}] authorize -> first allowed connection: {took:.2f} s")
    assert agent.curl_in_task(a, "http://beta/") == 200
    berth.aws("ec2", "revoke-security-group-ingress", "--group-id", gb,
              "--protocol", "tcp", "--port", "80", "--source-group", sg["ga"])
    took = _eventually("alpha -> beta refused again", lambda: _connect(agent, a, tb_ip, 0.3) == 28, 1.0, agent)
    print(f"[{agent.runtime}] revoke -> new connections dropped: {took:.2f} s")
    # A CIDR rule: alpha's address alone.
    berth.aws("ec2", "authorize-security-group-ingress", "--group-id", gb,
              "--protocol", "tcp", "--port", "80", "--cidr", f"{ta_ip}/32")
    _eventually("alpha -> beta by CIDR", lambda: _connect(agent, a, tb_ip, 0.3) == 0, 1.0, agent)
    berth.aws("ec2", "revoke-security-group-ingress", "--group-id", gb,
              "--protocol", "tcp", "--port", "80", "--cidr", f"{ta_ip}/32")
    _eventually("the CIDR rule gone", lambda: _connect(agent, a, tb_ip, 0.3) == 28, 1.0, agent)


def test_default_group_and_stopped_members(berth, agent, state):
    """Tasks given no group are in the VPC's default group, which takes everything from
    its members only; a stopped task leaves no address behind."""
    sg = state["sg"]
    default = berth.aws("ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={SG_VPC}",
                        "Name=group-name,Values=default")["SecurityGroups"][0]["GroupId"]
    arns = berth.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "service-connect-nginx",
                     "--count", "2", "--launch-type", "FARGATE",
                     "--network-configuration", "awsvpcConfiguration={subnets=[subnet-1]}")["tasks"]
    arns = [t["taskArn"] for t in arns]

    def both_running():
        ts = berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *arns)["tasks"]
        return all(t["lastStatus"] == "RUNNING" for t in ts) and ts

    t1, t2 = wait_for("two default-group tasks", both_running, timeout=60, agent=agent)
    eni = {d["name"]: d["value"] for d in t1["attachments"][0]["details"]}
    assert eni["securityGroups"] == default, eni
    one, ip2 = task_id(t1["taskArn"]), task_ip(t2)
    wait_for("default group members reach each other", lambda: _connect(agent, one, ip2) == 0, timeout=10, agent=agent)
    assert _connect(agent, one, task_ip(sg["tb"])) == 28, "beta's group does not take the default group"
    assert _connect(agent, sg["a"], ip2) == 28, "the default group takes its members only"
    # beta stops: alpha's set of beta's members loses its address, EC2 its interface.
    tb_ip = task_ip(sg["tb"])
    ns_a = agent.task_netns(sg["a"])
    listed = lambda: subprocess.run(["ip", "netns", "exec", ns_a, "nft", "list", "table", "inet", "berth_sg"],
                                    capture_output=True, text=True).stdout
    assert tb_ip in listed()
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "beta", "--desired-count", "0")
    wait_for("beta's address gone from alpha's filter", lambda: tb_ip not in listed(), timeout=60, agent=agent)
    enis = berth.aws("ec2", "describe-network-interfaces", "--filters", f"Name=group-id,Values={sg['gb']}")
    assert enis["NetworkInterfaces"] == [], enis
    for arn in arns:
        berth.aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", arn)



def test_berth_logs_shows_containers_and_proxy(berth, agent, state):
    tid = state["client"]
    # The proxy's output (awslogs) is read from CloudWatch Logs, nginx's from its file.
    env = dict(berth.env(), AWS_ENDPOINT_URL=berth.url)
    out = subprocess.run([str(berth_bin()), "logs", tid[:12], "--state-dir", str(agent.state_dir)],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    assert "could not be read" not in out.stderr, out.stderr
    assert "==> ecs-service-connect <==" in out.stdout
    assert "==> webserver <==" in out.stdout
    assert '"upstream_host"' in out.stdout
    only = subprocess.run([str(berth_bin()), "logs", tid, "--container", "webserver",
                           "--state-dir", str(agent.state_dir)], capture_output=True, text=True, timeout=30)
    assert only.returncode == 0 and "==>" not in only.stdout
    bad = subprocess.run([str(berth_bin()), "logs", "nope", "--state-dir", str(agent.state_dir)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "no task 'nope'" in bad.stderr


def test_stop_task_runs_the_states_down(berth, agent, state):
    tasks = running_tasks(berth, CLUSTER, "client")
    arn = tasks[0]["taskArn"]
    berth.aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", arn, "--reason", "walkthrough")
    t = wait_for("STOPPED", lambda: (lambda x: x["lastStatus"] == "STOPPED" and x)(
        berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", arn)["tasks"][0]
    ), timeout=30, agent=agent)
    assert t["stoppedReason"] == "walkthrough"
    assert t["stopCode"] == "UserInitiated"
    for stamp in ("stoppingAt", "stoppedAt", "executionStoppedAt"):
        assert stamp in t, stamp
    assert t["containers"][0]["lastStatus"] == "STOPPED"
    proxy = t["containers"][-1]
    assert proxy["name"].startswith("ecs-service-connect-"), t["containers"]
    assert proxy["lastStatus"] == "STOPPED", proxy
    with pytest.raises(AssertionError):
        agent.task_netns(task_id(arn))


def test_agent_crash_is_cleaned_up_on_restart(berth, agent, state):
    before = running_tasks(berth, CLUSTER, SERVER)
    assert len(before) == 2
    ids = [c["runtimeId"] for t in before for c in t["containers"]]
    agent.proc.kill()  # SIGKILL: the agent leaves everything as it is
    agent.proc.wait()
    assert state["alive"](ids) == ids, "the tasks outlive a crashed agent"
    agent.start()
    # The restarted agent removes what its predecessor left and reports those tasks
    # STOPPED; the scheduler starts new ones.
    for t in before:
        stopped = wait_for("the old task to be reported STOPPED", lambda: (lambda x: x["lastStatus"] == "STOPPED" and x)(
            berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", t["taskArn"])["tasks"][0]
        ), timeout=30, agent=agent)
        assert "restarted" in stopped["stoppedReason"], stopped["stoppedReason"]
        with pytest.raises(AssertionError):
            agent.task_netns(task_id(t["taskArn"]))
    wait_for("the old containers to be gone", lambda: state["alive"](ids) == [], timeout=30, agent=agent)
    after = wait_for("two new server tasks", lambda: (lambda x: len(x) == 2 and x)(running_tasks(berth, CLUSTER, SERVER)),
                     timeout=60, agent=agent)
    assert not {t["taskArn"] for t in after} & {t["taskArn"] for t in before}
    wait_for("two endpoints", lambda: instance_ips(berth, NAMESPACE, SERVER_DISCOVERY) == {task_ip(t) for t in after},
             timeout=30, agent=agent)


def test_agent_stop_leaves_nothing_behind(berth, agent, state):
    prefix = agent.subnet.rsplit(".", 2)[0] + "."
    assert leftovers(agent.bridge, prefix), "tasks run before the agent stops"
    assert agent.stop() == 0
    assert leftovers(agent.bridge, prefix) == []
    # No container of any task of the walkthrough is left.
    arns = []
    for status in ("RUNNING", "STOPPED"):
        arns += berth.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--desired-status", status)["taskArns"]
    ids = []
    for i in range(0, len(arns), 100):
        for t in berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *arns[i:i + 100])["tasks"]:
            ids += [c["runtimeId"] for c in t["containers"] if c.get("runtimeId")]
    assert ids, "the walkthrough's containers reported runtime ids"
    assert state["alive"](ids) == []
    instance = berth.aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                         "--container-instances", state["instance"])["containerInstances"][0]
    assert instance["agentConnected"] is False
    for name in (SERVER, "client"):
        for t in berth.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks",
                           *berth.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--service-name", name,
                                      "--desired-status", "STOPPED")["taskArns"] or ["none"])["tasks"]:
            assert t["lastStatus"] in ("STOPPED",), t["lastStatus"]
