#!/usr/bin/python3
"""Load with graceful restarts, then memory over a million requests.

    make load                      (LOAD_SECONDS=60 RSS_REQUESTS=1000000)

Phase 1: wrk drives a mixed configuration -- StatusSet rules, response
rules, a proxied backend with the StatusSetFromHeader bridge, untouched
requests -- on two children for LOAD_SECONDS, while the server is
gracefully restarted every 5 s.  Afterwards the error log must show no
crashed child and no unexpected line, and every access-log line must
carry the status, substatus and error that its URL must get.  The
counters (StatusSetMetrics) must equal the access log's count of each
code and code.substatus exactly, and the trace log (StatusSetTrace on two
of the URLs, with 8 request headers of 450 bytes so that records reach
their 4 kB bound and are cut) must hold one whole JSON record per traced access-log line,
none torn or interleaved.

Phase 2: one child (no restarts) serves RSS_REQUESTS requests; its RSS after
the first 10,000 and at the end must differ by at most 1 MB.

Loopback only, bounded in time and count.  Prints a Markdown summary for
BENCHMARKS.md and exits non-zero when a bar is missed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))

import pyhttpd  # noqa: E402

LOAD_SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
RESTART_EVERY = 5
RSS_REQUESTS = int(os.environ.get("RSS_REQUESTS", "1000000"))
RSS_BAR_KB = 1024

CONF = r"""
LogLevel warn
LogFormat "%U %>s.%^SS %^SE" load
CustomLog "@ROOT@/logs/load_log" load
MaxConnectionsPerChild 0
StartServers 2
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
GracefulShutdownTimeout 5

StatusSetMetrics On
<Location /metrics>
    SetHandler status-set-metrics
</Location>
StatusSetTraceLog "@ROOT@/logs/trace.log"
StatusSetTraceLimit 0

ProxyPass /app/ http://127.0.0.1:@BACKEND@/

StatusSetReason 499 "Client Closed Request"
<Location /deny>
    StatusSet 403.6 "IP address rejected" error=5
</Location>
<Location /closed>
    StatusSet 499.1 error=104
    StatusSetTrace 499
</Location>
<Location /empty>
    StatusSet 204.2
</Location>
<Location /hidden>
    StatusSet 403.6 "IP address rejected" error=5
    StatusSetResponse 403.6 404
</Location>
<Location /app/>
    StatusSetFromHeader X-App-Status
    StatusSetResponse 5xx 503.2 "Service Unavailable" error=111
    StatusSetTrace 5xx
</Location>
<Location /rw>
    StatusSetResponse 200 299.3 "Rewritten" error=-1
</Location>
"""

# The backend is a server of its own, which the restarts leave alone.
BACKEND_CONF = """
LogLevel warn
CustomLog /dev/null tests
ServerLimit 2
ThreadsPerChild 128
MaxRequestWorkers 256
MaxSpareThreads 256
KeepAliveTimeout 60
MaxKeepAliveRequests 0
<Directory "@ROOT@/htdocs">
    AddHandler send-as-is .asis
</Directory>
"""

FILES = {
    "htdocs/plain.txt": "plain\n",
    "htdocs/rw/file.txt": "rewritten\n",
}

BACKEND_FILES = {
    "htdocs/orders.asis": "Status: 200 OK\nContent-Type: text/plain\n"
                           'X-App-Status: 404.7 "No Such Order" error=1403'
                           "\n\nno order\n",
    "htdocs/broken.asis": "Status: 500 Broke\nContent-Type: text/plain\n\n"
                           "broken\n",
}

# URL -> what the access log must say: status.substatus error
EXPECTED = {
    "/plain.txt": "200.0 0",
    "/deny": "403.6 5",
    "/closed": "499.1 104",
    "/empty": "204.2 0",
    "/hidden": "404.0 0",
    "/app/orders.asis": "404.7 1403",
    "/app/broken.asis": "503.2 111",
    "/rw/file.txt": "299.3 -1",
}

# The URLs StatusSetTrace picks.
TRACED = ("/closed", "/app/broken.asis")

WRK_SCRIPT = """
local paths = {%s}
local pad = {}
for k = 1, 8 do pad["X-Pad-" .. k] = string.rep("p", 450) end
local i = 0
request = function()
    i = i %% #paths + 1
    return wrk.format("GET", paths[i], pad)
end
"""

CRASH_RE = re.compile(r"exit signal|AH00052|AH00060|segfault|Segmentation",
                      re.I)


def wrk(port, seconds, conns=32):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join('"%s"' % p for p in EXPECTED))
        script = f.name
    try:
        return subprocess.Popen(
            ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "-s", script,
             "http://127.0.0.1:%d" % port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        # wrk reads the script at start-up.
        time.sleep(0.5)
        os.unlink(script)


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                         text=True).stdout.split()
    return [int(x) for x in out]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def phase_load(h):
    proc = wrk(h.port, LOAD_SECONDS)
    restarts = 0
    t0 = time.time()
    while proc.poll() is None:
        time.sleep(0.5)
        if time.time() - t0 >= RESTART_EVERY * (restarts + 1) \
                and time.time() - t0 < LOAD_SECONDS - 2:
            os.kill(h.proc.pid, signal.SIGUSR1)    # graceful restart
            restarts += 1
    out = proc.stdout.read()
    time.sleep(2)
    bad, counts, total = [], {}, 0
    with open(h.path("logs/load_log")) as f:
        for line in f:
            total += 1
            url, fields = line.rstrip("\n").split(" ", 1)
            counts[url] = counts.get(url, 0) + 1
            if EXPECTED.get(url) != fields:
                bad.append(line.rstrip())
    metrics, trace = check_counters(h, counts_by_status(h)), check_trace(
        h, sum(counts.get(u, 0) for u in TRACED))
    errors = [line for line in h.error_log().splitlines()
              if CRASH_RE.search(line) or "[status_set:" in line
              or ":error]" in line or ":crit]" in line or ":emerg]" in line]
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"output": out, "restarts": restarts, "lines": total,
            "wrong": bad, "errors": errors, "counts": counts,
            "rps": float(m.group(1)) if m else 0.0,
            "metrics": metrics, "trace": trace,
            "non2xx": re.search(r"Non-2xx or 3xx responses: (\d+)", out)}


def counts_by_status(h):
    """{"404.7": n, ...} of the access log."""
    out = {}
    with open(h.path("logs/load_log")) as f:
        for line in f:
            key = line.split(" ")[1]
            out[key] = out.get(key, 0) + 1
    return out


def check_counters(h, logged):
    """The counters against the access log: (differences, series)."""
    body = subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/metrics?format=json"
                           % h.port], capture_output=True, check=True).stdout
    doc = json.loads(body)
    counted = {}
    for cell in doc["responses"]:
        if cell["count"]:
            counted["%s.%s" % (cell["code"], cell["substatus"])] = \
                cell["count"]
    diff = {k: (logged.get(k, 0), counted.get(k, 0))
            for k in set(logged) | set(counted)
            if logged.get(k, 0) != counted.get(k, 0)}
    return {"diff": diff, "series": len(counted),
            "total": sum(counted.values())}


def check_trace(h, want):
    """Trace records: each line one whole JSON object of a traced URL."""
    torn, n, big = [], 0, 0
    with open(h.path("logs/trace.log"), "rb") as f:
        for line in f:
            n += 1
            big = max(big, len(line))
            try:
                rec = json.loads(line)
                ok = line.endswith(b"\n") and rec["uri"] in TRACED \
                    and len(line) <= 4096
            except ValueError:
                ok = False
            if not ok:
                torn.append(line[:120])
    return {"records": n, "want": want, "torn": torn, "largest": big}


def one_child(h):
    """Phase 2 measures one child: the same configuration on one process."""
    with open(h.conf_path) as f:
        conf = f.read()
    for a, b in (("StartServers 2", "StartServers 1"),
                 ("ServerLimit 4", "ServerLimit 1"),
                 ("ThreadsPerChild 16", "ThreadsPerChild 32"),
                 ("MaxRequestWorkers 64", "MaxRequestWorkers 32"),
                 ("MaxSpareThreads 64", "MaxSpareThreads 32")):
        assert a in conf, a
        conf = conf.replace(a, b)
    with open(h.conf_path, "w") as f:
        f.write(conf)


def phase_rss(h):
    log = h.path("logs/load_log")
    base = count_lines(log)
    kids = children(h.proc.pid)
    assert len(kids) == 1, "want one child, have %s" % kids
    child = kids[0]

    def serve(n):
        start = count_lines(log)
        proc = wrk(h.port, 600, conns=16)
        while count_lines(log) - start < n and proc.poll() is None:
            time.sleep(0.5)
        proc.terminate()
        proc.wait()
        time.sleep(1)

    serve(10000)
    first = rss_kb(child)
    serve(RSS_REQUESTS - 10000)
    last = rss_kb(child)
    served = count_lines(log) - base
    assert children(h.proc.pid) == [child], "the child was replaced"
    return {"first": first, "last": last, "served": served}


def main():
    # No mod_cgid: its script daemon would be a second child process.
    modules = [m for m in pyhttpd.BASE_MODULES if m != "cgid"]
    backend = pyhttpd.Httpd(BACKEND_CONF, BACKEND_FILES, name="backend",
                            modules=modules + ["asis"])
    h = pyhttpd.Httpd(CONF.replace("@BACKEND@", str(backend.port)), FILES,
                      name="load", modules=modules + ["proxy", "proxy_http"])
    failures = []
    try:
        backend.start()
        h.start()
        load = phase_load(h)
        h.stop()
        os.unlink(h.path("logs/load_log"))
        one_child(h)
        h.start()
        rss = phase_rss(h)
    finally:
        h.stop()
        backend.cleanup()
    if load["restarts"] < LOAD_SECONDS // RESTART_EVERY - 1:
        failures.append("only %d graceful restarts" % load["restarts"])
    if load["wrong"]:
        failures.append("%d access-log lines with the wrong status, e.g. %s"
                        % (len(load["wrong"]), load["wrong"][:3]))
    if set(load["counts"]) != set(EXPECTED):
        failures.append("URLs in the log: %s" % sorted(load["counts"]))
    if load["errors"]:
        failures.append("error log: %s" % load["errors"][:5])
    if load["metrics"]["diff"]:
        failures.append("counters differ from the access log "
                        "(logged, counted): %s" % load["metrics"]["diff"])
    if load["trace"]["torn"]:
        failures.append("%d torn trace records, e.g. %s"
                        % (len(load["trace"]["torn"]),
                           load["trace"]["torn"][:2]))
    if load["trace"]["records"] != load["trace"]["want"]:
        failures.append("%d trace records for %d traced requests"
                        % (load["trace"]["records"], load["trace"]["want"]))
    growth = rss["last"] - rss["first"]
    if growth > RSS_BAR_KB:
        failures.append("RSS grew by %d kB" % growth)
    if rss["served"] < RSS_REQUESTS:
        failures.append("served only %d requests" % rss["served"])

    print("""
### Load with graceful restarts, and memory (`make load`)

| figure | value |
|---|---|
| load duration, graceful restarts | %d s, %d (every %d s) |
| requests served (access-log lines) | %d, %d URLs, every line with its expected status.substatus error |
| requests/s under restarts (wrk, 2 threads, 32 connections) | %.0f |
| crashed children, unexpected error-log lines | %d |
| counters vs access log (%d series, %d responses) | %d differences |
| trace records (largest %d bytes) for traced requests | %d for %d, %d torn |
| requests served by one child (no restarts) | %d |
| child RSS after 10,000 requests | %d kB |
| child RSS after %d requests | %d kB |
| growth (bar: at most %d kB) | %+d kB |
""" % (LOAD_SECONDS, load["restarts"], RESTART_EVERY, load["lines"],
       len(load["counts"]), load["rps"], len(load["errors"]),
       load["metrics"]["series"], load["metrics"]["total"],
       len(load["metrics"]["diff"]), load["trace"]["largest"],
       load["trace"]["records"], load["trace"]["want"],
       len(load["trace"]["torn"]), rss["served"],
       rss["first"], rss["served"], rss["last"], RSS_BAR_KB, growth))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        print(load["output"])
        h.cleanup()
        return 1
    h.cleanup()
    print("load: all bars met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
