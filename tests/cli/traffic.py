"""Steady HTTP GETs to URL (one connection per request, as a plain client does) at about
RATE requests/s until STOP_FILE exists (at most 300 s); writes the counts by status code
(0: no answer) to OUT as JSON. Run inside a task's network namespace by the tests."""

import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

url, stop_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 200.0
u = urlsplit(url)
codes: dict[str, int] = {}
errors: list[str] = []
deadline = time.monotonic() + 300
interval = 1.0 / rate
next_at = time.monotonic()
while not os.path.exists(stop_file) and time.monotonic() < deadline:
    try:
        c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
        c.request("GET", u.path or "/")
        r = c.getresponse()
        r.read()
        code = str(r.status)
        c.close()
    except Exception as e:  # noqa: BLE001 - every failure is counted
        code = "0"
        if len(errors) < 20:
            errors.append(repr(e))
    codes[code] = codes.get(code, 0) + 1
    next_at += interval
    pause = next_at - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    else:
        next_at = time.monotonic()
with open(out, "w") as f:
    json.dump({"codes": codes, "total": sum(codes.values()), "errors": errors}, f)
