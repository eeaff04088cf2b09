"""Service Connect control-loop benchmark (run by bench/services.sh, as root).

Starts a real `berth server` and `berth agent` (process runtime) and measures, in one run:

1. Endpoint propagation: a server service is scaled up and down CHANGES times while
   CLIENTS client tasks (each with its own berth proxy) watch it. For each change, the
   time from Cloud Map showing it (polled every few ms; the time of the last poll that
   did not yet show it is taken, so the figure errs high) to each client proxy applying
   the snapshot with it (the proxy's own log line). p50 / p99 / max over all
   proxies and changes.
2. Failed requests during a rolling deploy at RATE requests/s: berth-bench-load runs
   inside a client task against the server's alias while UpdateService rolls the
   service to a new task definition.
3. Task replacement: a server task's process group is SIGKILLed; the time until a
   replacement is published in Cloud Map (RUNNING, its proxy ready).
4. Memory: resident set of every client proxy (one worker each).
5. Security groups: the web tasks' group takes port 80 from the clients' group. The
   rule is revoked and authorized again ROUNDS times with every task running; each
   time, the time from sending AuthorizeSecurityGroupIngress to the first connection a
   client task's prober (a connect every 5 ms from inside the task) gets through, and
   from RevokeSecurityGroupIngress to the first connection dropped.

Prints a markdown table on stdout, progress on stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

BERTH = os.environ["BERTH_BIN"]
LOAD = os.environ["LOAD_BIN"]
CLIENTS = int(os.environ.get("CLIENTS", "50"))
CHANGES = int(os.environ.get("CHANGES", "20"))
RATE = float(os.environ.get("RATE", "1000"))
REPLACEMENTS = int(os.environ.get("REPLACEMENTS", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
BRIDGE = os.environ.get("BRIDGE", "berthb0")
SUBNET = os.environ.get("SUBNET", "10.219.0.0/16")
REGION = "us-east-1"
CLUSTER = "bench"
NS = "bench.local"
ECS = "AmazonEC2ContainerServiceV20141113"
SD = "Route53AutoNaming_v20170314"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log(*a):
    print("[services-bench]", *a, file=sys.stderr, flush=True)


def signed(url, body, service, headers):
    """`headers` plus a SigV4 signature (botocore's) with the test credential, which a
    berth server on loopback accepts."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials("test", "test"), service, REGION).add_auth(req)
    return dict(req.headers.items())


class Api:
    def __init__(self, url):
        self.url = url

    def call(self, target, op, body):
        svc = "ecs" if target == ECS else "servicediscovery"
        data = json.dumps(body).encode()
        headers = signed(self.url + "/", data, svc, {
            "X-Amz-Target": f"{target}.{op}",
            "Content-Type": "application/x-amz-json-1.1",
        })
        req = urllib.request.Request(self.url + "/", data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{op}: {e.code} {e.read()!r}") from None

    def ecs(self, op, **body):
        return self.call(ECS, op, body)

    def ec2(self, op, **params):
        """An EC2 query call; returns the XML answer."""
        form = urllib.parse.urlencode({"Action": op, "Version": "2016-11-15", **params}).encode()
        headers = signed(self.url + "/", form, "ec2", {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        })
        req = urllib.request.Request(self.url + "/", data=form, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{op}: {e.code} {e.read()!r}") from None

    def group(self, name, vpc):
        xml = self.ec2("CreateSecurityGroup", GroupName=name, GroupDescription=name, VpcId=vpc)
        return re.search(r"<groupId>(sg-[0-9a-f]+)</groupId>", xml).group(1)

    def ingress(self, op, group, source):
        self.ec2(op, GroupId=group, **{"IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "80",
                                       "IpPermissions.1.ToPort": "80", "IpPermissions.1.Groups.1.GroupId": source})

    def endpoints(self, service="web"):
        out = self.call(SD, "DiscoverInstances", {"NamespaceName": NS, "ServiceName": service})
        return {i["Attributes"]["AWS_INSTANCE_IPV4"] for i in out["Instances"]}


# (name, process, log file) of the server and the agent: waiting stops at once when
# one of them has exited, with the end of its log.
WATCHED = []


def check_alive():
    for name, proc, log_path in WATCHED:
        if proc.poll() is not None:
            lines = Path(log_path).read_text(errors="replace").splitlines()
            # Its error (without a backtrace), else the end of its log.
            start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), None)
            if start is None:
                shown = lines[-5:]
            else:
                shown = lines[start:]
                end = next((i for i, line in enumerate(shown) if "backtrace" in line.lower()), len(shown))
                shown = shown[:end]
            raise SystemExit(f"the {name} exited ({proc.returncode}):\n" + "\n".join(shown).rstrip())


def wait(what, fn, timeout=120, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive()
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def running(api, service):
    arns = api.ecs("ListTasks", cluster=CLUSTER, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    out = []
    for i in range(0, len(arns), 100):
        out += [t for t in api.ecs("DescribeTasks", cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]
                if t["lastStatus"] == "RUNNING"]
    return out


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def applied_times(log_path: Path) -> list[float]:
    """Epoch seconds of each 'snapshot applied' line of a proxy log."""
    out = []
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = ANSI.sub("", line)
        if "snapshot applied" not in line:
            continue
        stamp = line.split()[0]
        try:
            out.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return out


def bridge_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def remove_bridge(name: str) -> None:
    """Removes the bench's bridge, the FORWARD rules the agent added for it and its
    address allocations (berth-tasknet's state, /run/berth/tasknet/<bridge>.json)."""
    subprocess.run(["ip", "link", "del", name], capture_output=True)
    for ext in ("json", "lock"):
        Path(f"/run/berth/tasknet/{name}.{ext}").unlink(missing_ok=True)
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    for rule in rules.splitlines():
        if f'"berth bridge {name}"' in rule and rule.startswith("-A "):
            subprocess.run(["sh", "-c", f"iptables -D {rule[3:]}"], capture_output=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


PROBER = """
import socket, sys, time
ip, want = sys.argv[1], sys.argv[2] == "open"
while True:
    s = socket.socket()
    s.settimeout(0.05)
    try:
        s.connect((ip, 80))
        ok = True
    except OSError:
        ok = False
    s.close()
    if ok == want:
        print(time.time(), flush=True)
        break
    time.sleep(0.005)
"""


def netns_of(task_id: str) -> str:
    return next(d.name for d in Path("/etc/netns").glob("berth-*")
                if task_id in (d / "hosts").read_text().splitlines()[0])


def probe(ns: str, ip: str, want: str) -> subprocess.Popen:
    """A prober in `ns` that prints the time it first finds ip:80 `want` (open or shut)."""
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PROBER, ip, want],
                            stdout=subprocess.PIPE, text=True)


def security_group_rounds(api, client_ids, web_sg, clients_sg):
    """Seconds from each authorize to the first allowed connection, and from each revoke
    to the first dropped one, from a client task to a web task."""
    ns = netns_of(client_ids[-1])
    ip = next(d["value"] for t in running(api, "web") for a in t["attachments"]
              for d in a["details"] if d["name"] == "privateIPv4Address")
    grant, cut = [], []
    for i in range(ROUNDS):
        for op, want, out in (("RevokeSecurityGroupIngress", "shut", cut),
                              ("AuthorizeSecurityGroupIngress", "open", grant)):
            p = probe(ns, ip, want if op.startswith("Auth") else "shut")
            time.sleep(0.2)
            t0 = time.time()
            api.ingress(op, web_sg, clients_sg)
            line, _ = p.communicate(timeout=30)
            out.append(float(line) - t0)
            time.sleep(0.3)
        log(f"security groups {i + 1}/{ROUNDS}: revoke {cut[-1] * 1000:.0f} ms, authorize {grant[-1] * 1000:.0f} ms")
    return grant, cut


def main():
    tmp = Path(tempfile.mkdtemp(prefix="berth-services-bench-"))
    procs = []
    bridge_existed = bridge_exists(BRIDGE)
    try:
        server = subprocess.Popen([BERTH, "server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp / "data")],
                                  stdout=subprocess.PIPE, stderr=open(tmp / "server.log", "wb"), text=True)
        procs.append(server)
        url = None
        for line in server.stdout:
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        api = Api(url)
        state = tmp / "agent"
        token = subprocess.run([BERTH, "token", "create", "--cluster", CLUSTER, "--region", REGION,
                                "--data-dir", str(tmp / "data")],
                               capture_output=True, text=True, check=True).stdout.strip()
        agent = subprocess.Popen(
            [BERTH, "agent", "--server", url, "--cluster", CLUSTER, "--region", REGION, "--state-dir", str(state),
             "--bridge", BRIDGE, "--subnet", SUBNET, "--drain-seconds", "2"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "agent.log", "wb"),
            env=dict(os.environ, BERTH_LOG="info", BERTH_JOIN_TOKEN=token))
        procs.append(agent)
        WATCHED.append(("agent", agent, tmp / "agent.log"))
        api.ecs("CreateCluster", clusterName=CLUSTER, serviceConnectDefaults={"namespace": NS})
        web = {"family": "web", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": "public.ecr.aws/docker/library/nginx:latest",
                                         "essential": True, "portMappings": [
                                             {"name": "web", "containerPort": 80, "appProtocol": "http"}]}]}
        td1 = api.ecs("RegisterTaskDefinition", **web)["taskDefinition"]["taskDefinitionArn"]
        web["containerDefinitions"][0]["environment"] = [{"name": "V", "value": "2"}]
        td2 = api.ecs("RegisterTaskDefinition", **web)["taskDefinition"]["taskDefinitionArn"]
        # Small clients (no task-level CPU, 64 MiB) so that 50 fit this host's resources.
        client_td = {"family": "client", "networkMode": "awsvpc", "memory": "64",
                     "containerDefinitions": [{"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest",
                                               "essential": True, "command": ["sleep", "86400"]}]}
        api.ecs("RegisterTaskDefinition", **client_td)
        # The default VPC, its first subnet, a group for each service: web's takes port 80
        # from the clients'.
        xml = api.ec2("DescribeSubnets", **{"Filter.1.Name": "default-for-az", "Filter.1.Value.1": "true"})
        subnet = re.search(r"<subnetId>(subnet-[0-9a-f]+)</subnetId>", xml).group(1)
        vpc = re.search(r"<vpcId>(vpc-[0-9a-f]+)</vpcId>", xml).group(1)
        web_sg, clients_sg = api.group("web", vpc), api.group("clients", vpc)
        api.ingress("AuthorizeSecurityGroupIngress", web_sg, clients_sg)
        net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [web_sg]}}
        clients_net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [clients_sg]}}
        api.ecs("CreateService", cluster=CLUSTER, serviceName="web", taskDefinition=td1, desiredCount=2,
                launchType="FARGATE", networkConfiguration=net,
                deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
                serviceConnectConfiguration={"enabled": True, "services": [
                    {"portName": "web", "clientAliases": [{"port": 80}]}]})
        api.ecs("CreateService", cluster=CLUSTER, serviceName="clients", taskDefinition="client",
                desiredCount=CLIENTS, launchType="EC2", networkConfiguration=clients_net,
                serviceConnectConfiguration={"enabled": True})
        log(f"starting 2 server tasks and {CLIENTS} client tasks")
        clients = wait(f"{CLIENTS} client tasks", lambda: (lambda r: len(r) == CLIENTS and r)(running(api, "clients")),
                       timeout=300, interval=0.5)
        wait("2 endpoints", lambda: len(api.endpoints()) == 2, timeout=60)
        client_ids = [t["taskArn"].rsplit("/", 1)[1] for t in clients]
        logs = [state / "tasks" / c / "logs" / "ecs-service-connect.log" for c in client_ids]
        time.sleep(1)

        # 1. Propagation.
        lat = []
        for i in range(CHANGES):
            before = api.endpoints()
            desired = 3 if len(before) == 2 else 2
            api.ecs("UpdateService", cluster=CLUSTER, service="web", desiredCount=desired)
            last_unchanged = time.time()
            while True:
                now_eps = api.endpoints()
                if len(now_eps) == desired and now_eps != before:
                    break
                last_unchanged = time.time()
                time.sleep(0.002)
            t0 = last_unchanged
            # Every client proxy's first snapshot applied after t0.
            deadline = time.monotonic() + 10
            pending = set(range(len(logs)))
            got = {}
            while pending and time.monotonic() < deadline:
                for k in list(pending):
                    ts = [t for t in applied_times(logs[k]) if t > t0]
                    if ts:
                        got[k] = min(ts) - t0
                        pending.discard(k)
                time.sleep(0.05)
            if pending:
                log(f"change {i}: {len(pending)} proxies did not apply a snapshot in 10 s")
            lat += list(got.values())
            log(f"change {i + 1}/{CHANGES}: {len(before)} -> {desired} endpoints, "
                f"slowest proxy {max(got.values()) * 1000:.1f} ms")
            # Let the scale-down's drain finish before the next change.
            wait("steady", lambda: len(running(api, "web")) == desired, timeout=60, interval=0.2)
            time.sleep(0.3)

        # 2. A rolling deploy under fixed-rate load, from 2 server tasks (an odd CHANGES
        # ends on 3).
        api.ecs("UpdateService", cluster=CLUSTER, service="web", desiredCount=2)
        wait("2 server tasks", lambda: len(running(api, "web")) == 2 and len(api.endpoints()) == 2, timeout=60)
        c0 = client_ids[0]
        ns = next(d.name for d in Path("/etc/netns").glob("berth-*") if c0 in (d / "hosts").read_text().splitlines()[0])
        vip = next(line.split()[0] for line in (Path("/etc/netns") / ns / "hosts").read_text().splitlines()
                   if line.strip().endswith(" web") or line.strip().endswith("\tweb"))
        duration = 20
        load = subprocess.Popen(["ip", "netns", "exec", ns, LOAD, "--target", f"{vip}:80", "--rate", str(RATE),
                                 "--duration", str(duration), "--warmup", "1", "--connections", "8"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        t_deploy = time.monotonic()
        api.ecs("UpdateService", cluster=CLUSTER, service="web", taskDefinition=td2)

        def completed():
            s = api.ecs("DescribeServices", cluster=CLUSTER, services=["web"])["services"][0]
            d = s["deployments"]
            return len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and d[0]["taskDefinition"] == td2
        wait("the rolling deploy", completed, timeout=60, interval=0.1)
        deploy_s = time.monotonic() - t_deploy
        out, err = load.communicate(timeout=duration + 30)
        m = dict(kv.split("=", 1) for kv in out.split())
        log(f"rolling deploy took {deploy_s:.1f} s; load: {out.strip()}")

        # 3. Task replacement.
        repl = []
        for i in range(REPLACEMENTS):
            wait("2 published", lambda: len(api.endpoints()) == 2, timeout=60)
            # A task that has served a while (one that dies within 10 s of starting
            # counts as failing to start, and repeated ones are throttled, as on ECS).
            victim = wait("a task running for 10 s", lambda: next(
                (t for t in running(api, "web") if time.time() - t["startedAt"] > 10.5), None), timeout=60, interval=0.5)
            ip = next(d["value"] for a in victim["attachments"] for d in a["details"] if d["name"] == "privateIPv4Address")
            pid = int(victim["containers"][0]["runtimeId"])
            t0 = time.monotonic()
            os.killpg(pid, signal.SIGKILL)
            wait("a replacement", lambda: (lambda e: len(e) == 2 and ip not in e)(api.endpoints()), timeout=60,
                 interval=0.005)
            repl.append(time.monotonic() - t0)
            log(f"replacement {i + 1}/{REPLACEMENTS}: {repl[-1]:.2f} s")

        # 4. Memory of the client proxies.
        rss = []
        proxy_bin = ""
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # A task's proxy: berth-proxy (or `berth proxy`), its admin socket under
            # /run/berth/proxy/.
            is_proxy = cmd[0].endswith(b"/berth-proxy") or (len(cmd) > 1 and cmd[1] == b"proxy")
            if is_proxy and any(c.startswith(b"unix:/run/berth/proxy/") for c in cmd):
                rss.append(rss_kib(int(d.name)))
                proxy_bin = Path(cmd[0].decode()).name + (" proxy" if cmd[1:2] == [b"proxy"] else "")

        # 5. Security groups.
        grant, cut = security_group_rounds(api, client_ids, web_sg, clients_sg)
        tasks_now = len(running(api, "clients")) + len(running(api, "web"))

        ms = [x * 1000 for x in lat]
        print("| measurement | result | target |")
        print("|---|---:|---|")
        print(f"| endpoint propagation, {CLIENTS} client proxies × {CHANGES} changes: p50 / p99 / max | "
              f"{pct(ms, 50):.1f} / {pct(ms, 99):.1f} / {max(ms):.1f} ms | p99 < 100 ms |")
        print(f"| failed requests during a rolling deploy of 2 tasks at {RATE:.0f} req/s ({deploy_s:.1f} s) | "
              f"{m.get('errors')} of {m.get('requests')} (p99 {int(m.get('p99_us', 0)) / 1000:.1f} ms) | 0 |")
        print(f"| task replacement, process killed → replacement published: p50 / max of {REPLACEMENTS} | "
              f"{statistics.median(repl):.2f} / {max(repl):.2f} s | < 2 s |")
        if rss:
            print(f"| proxy resident memory ({proxy_bin}), {len(rss)} proxies: mean / max | "
                  f"{statistics.mean(rss) / 1024:.1f} / {max(rss) / 1024:.1f} MiB | ECS reserves 64 MiB |")
        print(f"| security groups, {tasks_now} running tasks: authorize → first allowed connection, "
              f"p50 / max of {ROUNDS} | {statistics.median(grant) * 1000:.0f} / {max(grant) * 1000:.0f} ms | < 1 s |")
        print(f"| security groups: revoke → first new connection dropped, p50 / max of {ROUNDS} | "
              f"{statistics.median(cut) * 1000:.0f} / {max(cut) * 1000:.0f} ms | < 1 s |")
        ok = max(grant) < 1 and max(cut) < 1 and pct(ms, 99) < 100 and m.get("errors") == "0" and max(repl) < 2
        return 0 if ok or os.environ.get("STRICT") != "1" else 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not bridge_existed:
            remove_bridge(BRIDGE)
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")


if __name__ == "__main__":
    sys.exit(main())
