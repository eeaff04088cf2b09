#!/usr/bin/env python3
"""Idle keep-alive connections for bench/proxy.sh (standard library only).

Opens N connections to a proxy (plain HTTP/1.1, or TLS 1.3 verified against a CA and a
server name), then sends one GET on every one of them at once and reads the answers,
then keeps them all open and idle: the proxy then holds N client connections (and
whatever it opened upstream to serve N concurrent requests), and its RSS can be read.

    idle_conns.py --target 127.0.0.1:PORT [--connections 1000] [--hold 60]
                  [--ca CA.pem --server-name b]      # TLS 1.3, verified
                  [--check]                           # one connection, one request, exit

Prints one line on stdout once the connections are idle:
    ready connections=N ok=N [tls=TLSv1.3 cipher=...]
and keeps them until --hold seconds have passed or it is killed (SIGTERM).
Exits 1 when a connection or a request fails (nothing is printed then but errors).
"""

import argparse
import asyncio
import ssl
import sys

CONNECT_AT_ONCE = 100  # connection attempts (and TLS handshakes) in flight


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    return ctx


async def run(args):
    host, _, port = args.target.rpartition(":")
    ctx = tls_context(args.ca) if args.ca else None
    n = 1 if args.check else args.connections
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def connect():
        async with gate:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    int(port),
                    ssl=ctx,
                    server_hostname=args.server_name if ctx else None,
                    limit=1 << 16,
                ),
                timeout=30,
            )

    conns = await asyncio.gather(*(connect() for _ in range(n)))
    request = (
        f"GET / HTTP/1.1\r\nHost: {args.server_name or host}\r\nUser-Agent: berth-bench-idle\r\n\r\n"
    ).encode()
    # Every request written before any answer is read: N requests in flight at once.
    for _, writer in conns:
        writer.write(request)
    await asyncio.gather(*(writer.drain() for _, writer in conns))
    statuses = await asyncio.wait_for(
        asyncio.gather(*(read_response(reader) for reader, _ in conns)), timeout=60
    )
    ok = sum(1 for s in statuses if s == 200)
    line = f"ready connections={len(conns)} ok={ok}"
    if ctx:
        tls = conns[0][1].get_extra_info("ssl_object")
        line += f" tls={tls.version()} cipher={tls.cipher()[0]}"
    if ok != len(conns):
        print(f"idle_conns: {len(conns) - ok} answers were not 200", file=sys.stderr)
        return 1
    print(line, flush=True)
    if args.check:
        return 0
    await asyncio.sleep(args.hold)
    for _, writer in conns:
        writer.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="HOST:PORT")
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--hold", type=float, default=60, help="seconds to keep them idle")
    p.add_argument("--ca", help="CA certificate (PEM): connect with TLS 1.3 and verify")
    p.add_argument("--server-name", help="the name to verify (and send as SNI)")
    p.add_argument("--check", action="store_true", help="one request on one connection")
    args = p.parse_args()
    try:
        sys.exit(asyncio.run(run(args)))
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
        print(f"idle_conns: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
