#!/usr/bin/env python3
"""How long a proxy keeps sending requests to a target that turned unhealthy
(bench/alb.sh runs it): berth's load balancer and HAProxy, with the same active health
checks (GET /health every 5 s, 2 s timeout, unhealthy after 2 failures, healthy after 2
passes).

Two targets, A and B (HTTP/1.1 keep-alive servers here). A steady client sends about
200 requests/s through the proxy (round robin: half reach A). Once both targets are
healthy and serving, A starts answering 503 to everything (health checks included) at
T0; the figure is the time from T0 to the last request (not a health check) that reached
A. For berth, also the time from T0 to the health report line saying A is unhealthy.

    bench/alb_unhealthy.py --berth target/release/berth-proxy [--runs 3] [--workers 2]

Prints a markdown table.
"""

import argparse
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time

CHECK = {"interval": 5, "timeout": 2, "unhealthy": 2, "healthy": 2}


class Target:
    def __init__(self, name):
        self.name = name
        self.failing = False
        self.hits = []  # times of requests that are not health checks
        self.lock = threading.Lock()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path != "/health":
                    with target.lock:
                        target.hits.append(time.monotonic())
                status = 503 if target.failing else 200
                body = target.name.encode()
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = self.server.server_address
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_hit(self):
        with self.lock:
            return self.hits[-1] if self.hits else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client(threading.Thread):
    """About `rate` GETs a second through the proxy, on one keep-alive connection."""

    def __init__(self, port, rate=200):
        super().__init__(daemon=True)
        self.port, self.period, self.stop = port, 1.0 / rate, False
        self.statuses = {}

    def run(self):
        conn = None
        while not self.stop:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/work")
                r = conn.getresponse()
                r.read()
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            except Exception:
                self.statuses["error"] = self.statuses.get("error", 0) + 1
                conn = None
            time.sleep(self.period)


def berth_start(args, a, b, tmp):
    port, admin = free_port(), free_port()
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
    snap = {"version": 1, "loadBalancer": {
        "name": "bench", "arn": f"{arn}:loadbalancer/app/bench/0123456789abcdef",
        "listeners": [{"address": "127.0.0.1", "port": port,
                       "defaultActions": [{"type": "forward", "targetGroups": [{"targetGroup": "g"}]}]}],
        "targetGroups": {"g": {
            "name": "g", "arn": f"{arn}:targetgroup/g/0123456789abcdef", "port": 80,
            "healthCheck": {"path": "/health", "intervalSeconds": CHECK["interval"],
                            "timeoutSeconds": CHECK["timeout"],
                            "unhealthyThreshold": CHECK["unhealthy"],
                            "healthyThreshold": CHECK["healthy"]},
            "targets": [{"id": n, "ip": t.addr[0], "port": t.addr[1]}
                        for n, t in (("a", a), ("b", b))]}}}}
    cfg = os.path.join(tmp, "unhealthy-berth.json")
    report = os.path.join(tmp, "unhealthy-berth-health.ndjson")
    with open(cfg, "w") as f:
        json.dump(snap, f)
    if os.path.exists(report):
        os.remove(report)
    p = subprocess.Popen([args.berth, "--config", cfg, "--admin", f"127.0.0.1:{admin}",
                          "--workers", str(args.workers), "--health-report", report],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "BERTH_LOG": "warn"})
    return p, port, report


def haproxy_start(args, a, b, tmp):
    port = free_port()
    cfg = os.path.join(tmp, "unhealthy-haproxy.cfg")
    check = (f"check inter {CHECK['interval']}s fall {CHECK['unhealthy']} rise {CHECK['healthy']}")
    with open(cfg, "w") as f:
        f.write(f"""global
    nbthread {args.workers}
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout check {CHECK['timeout']}s
    option http-keep-alive
frontend f
    bind 127.0.0.1:{port}
    default_backend g
backend g
    balance roundrobin
    option httpchk GET /health
    server a {a.addr[0]}:{a.addr[1]} {check}
    server b {b.addr[0]}:{b.addr[1]} {check}
""")
    p = subprocess.Popen(["haproxy", "-db", "-f", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, port, None


def unhealthy_at(report, t0_wall):
    """When the report said A is unhealthy, in seconds after t0_wall (None: not yet)."""
    try:
        with open(report) as f:
            for line in f:
                c = json.loads(line)
                if c["target"]["id"] == "a" and c["target"]["state"] == "unhealthy":
                    return c["target"]["since"] / 1000 - t0_wall
    except FileNotFoundError:
        pass
    return None


def one_run(args, start, tmp):
    a, b = Target("a"), Target("b")
    proc, port, report = start(args, a, b, tmp)
    client = None
    try:
        # Both serving: each target got requests (HAProxy starts them up, berth initial).
        client = Client(port)
        client.start()
        deadline = time.monotonic() + 60
        while not (a.hits and b.hits):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the targets never both got traffic")
            time.sleep(0.05)
        time.sleep(1 + (time.time() % CHECK["interval"]))  # a random phase of the checks
        t0, t0_wall = time.monotonic(), time.time()
        a.failing = True
        # Done when A got nothing for 3 intervals.
        while True:
            last = a.last_hit() or t0
            if time.monotonic() - max(last, t0) > 3 * CHECK["interval"]:
                break
            if time.monotonic() - t0 > 60:
                raise RuntimeError("A still gets requests after 60 s")
            time.sleep(0.05)
        stopped = max((a.last_hit() or t0) - t0, 0.0)
        detected = unhealthy_at(report, t0_wall) if report else None
        bad = client.statuses.get(503, 0) + client.statuses.get("error", 0)
        return stopped, detected, bad
    finally:
        if client:
            client.stop = True
        proc.terminate()
        proc.wait()
        a.server.shutdown()
        b.server.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    tmp = args.tmp or tempfile.mkdtemp()
    rows = []
    for name, start in (("berth (ALB mode)", berth_start), ("haproxy", haproxy_start)):
        runs = [one_run(args, start, tmp) for _ in range(args.runs)]
        stopped = [r[0] for r in runs]
        detected = [r[1] for r in runs if r[1] is not None]
        rows.append((name, stopped, detected, [r[2] for r in runs]))
    print(f"Target turning unhealthy -> no more traffic to it (checks every {CHECK['interval']} s, "
          f"{CHECK['timeout']} s timeout, unhealthy after {CHECK['unhealthy']}; ~200 req/s, "
          f"round robin over 2 targets; {args.runs} runs each, seconds):")
    print()
    print("| proxy | last request to it: min | median | max | health report says unhealthy (median) | 503s/errors seen by clients per run |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, stopped, detected, bad in rows:
        d = f"{statistics.median(detected):.2f}" if detected else "-"
        print(f"| {name} | {min(stopped):.2f} | {statistics.median(stopped):.2f} | "
              f"{max(stopped):.2f} | {d} | {', '.join(map(str, bad))} |")


if __name__ == "__main__":
    main()
