#!/usr/bin/python3
"""Load with graceful restarts, then memory over a million requests.

    make load                      (LOAD_SECONDS=60 RSS_REQUESTS=1000000)

Phase 1: wrk drives a mixed configuration -- StatusSet rules, response
rules, a proxied backend with the StatusSetFromHeader bridge, untouched
requests -- on two children for LOAD_SECONDS, while the server is
gracefully restarted every 5 s, each time after an edit of its
configuration (comment lines added on top, which moves every rule, and a
rule of its own added or removed), as operators and Debian's daily
reload do.  Afterwards the error log must show no
crashed child and no unexpected line, and every access-log line must
carry the status, substatus and error that its URL must get.  The
counters (StatusSetMetrics) must equal the access log's count of each
code and code.substatus exactly, and each rule's hits (by its name=) the
access log's count of its status-set-source note: no lost increment, no
series mixing two rules, and the trace log (StatusSetTrace on two
of the URLs, with 8 request headers of 450 bytes so that records reach
their 4 kB bound and are cut) must hold one whole JSON record per traced access-log line,
none torn or interleaved.

Phase 2: trace logs whose reader stops (a program that never reads) and
whose reader dies (a program that exits after 64 kB, restarted by httpd)
while one wrk asks for traced URLs: the latency of untraced requests from
a second wrk must stay within 2x of the same run without tracing, and
the records that did not fit must be counted as dropped.

Phase 3: one child (no restarts) serves RSS_REQUESTS requests; its RSS after
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
LogFormat "%U %>s.%^SS %^SE %{status-set-source}n" load
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
# edits go here
<Location /deny>
    StatusSet 403.6 "IP address rejected" error=5 name=deny
</Location>
<Location /closed>
    StatusSet 499.1 error=104 name=closed
    StatusSetTrace 499
</Location>
<Location /empty>
    StatusSet 204.2 name=empty
</Location>
<Location /hidden>
    StatusSet 403.6 "IP address rejected" error=5 name=hidden-set
    StatusSetResponse 403.6 404 name=hidden
</Location>
<Location /app/>
    StatusSetFromHeader X-App-Status
    StatusSetResponse 5xx 503.2 "Service Unavailable" error=111 name=app-down
    StatusSetTrace 5xx
</Location>
<Location /rw>
    StatusSetResponse 200 299.3 "Rewritten" error=-1 name=rw
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


def edit(h, n):
    """The n-th edit: n % 7 comment lines on top of the rules (every rule
    moves) and, every other time, a rule of its own for a URL no one asks
    for."""
    with open(h.conf_path) as f:
        conf = f.read()
    head, rest = conf.split("# edits go here\n", 1)
    rest = rest.split("# end of edits\n", 1)[-1]
    added = "".join("# edit %d\n" % i for i in range(n % 7))
    if n % 2:
        added += "<Location /extra>\n    StatusSet 410.%d\n</Location>\n" \
            % (n % 5 + 1)
    with open(h.conf_path, "w") as f:
        f.write(head + "# edits go here\n" + added + "# end of edits\n"
                + rest)


def phase_load(h):
    proc = wrk(h.port, LOAD_SECONDS)
    restarts = 0
    t0 = time.time()
    while proc.poll() is None:
        time.sleep(0.5)
        if time.time() - t0 >= RESTART_EVERY * (restarts + 1) \
                and time.time() - t0 < LOAD_SECONDS - 2:
            edit(h, restarts + 1)
            os.kill(h.proc.pid, signal.SIGUSR1)    # graceful restart
            restarts += 1
    out = proc.stdout.read()
    time.sleep(2)
    bad, counts, total = [], {}, 0
    with open(h.path("logs/load_log")) as f:
        for line in f:
            total += 1
            url, fields = line.rstrip("\n").split(" ", 1)
            fields = fields.rsplit(" ", 1)[0]
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
    """{"404.7": n, ...} and {source: n} of the access log."""
    out, sources = {}, {}
    with open(h.path("logs/load_log")) as f:
        for line in f:
            fields = line.split()
            out[fields[1]] = out.get(fields[1], 0) + 1
            if fields[3] != "-":
                sources[fields[3]] = sources.get(fields[3], 0) + 1
    return out, sources


def check_counters(h, logged_all):
    """The counters against the access log: (differences, series)."""
    logged, by_source = logged_all
    body = subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/metrics?format=json"
                           % h.port], capture_output=True, check=True).stdout
    doc = json.loads(body)
    hits = {s["source"]: s["count"] for s in doc["sources"] if s["count"]}
    source_diff = {k: (by_source.get(k, 0), hits.get(k, 0))
                   for k in set(by_source) | set(hits)
                   if by_source.get(k, 0) != hits.get(k, 0)}
    counted = {}
    for cell in doc["responses"]:
        if cell["count"]:
            counted["%s.%s" % (cell["code"], cell["substatus"])] = \
                cell["count"]
    diff = {k: (logged.get(k, 0), counted.get(k, 0))
            for k in set(logged) | set(counted)
            if logged.get(k, 0) != counted.get(k, 0)}
    return {"diff": diff, "series": len(counted),
            "total": sum(counted.values()), "source_diff": source_diff,
            "sources": len(hits), "dup": len(doc["sources"])
            - len({s["source"] for s in doc["sources"]})}


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


PIPE_SECONDS = int(os.environ.get("PIPE_SECONDS", "10"))

PIPE_CONF = r"""
LogLevel warn
CustomLog /dev/null tests
StatusSetMetrics On
<Location /metrics>
    SetHandler status-set-metrics
</Location>
StatusSetTraceLimit 0
<Location /traced>
    StatusSet 404.9
</Location>
"""

# A reader that stops, and one that dies after 64 kB (httpd restarts it).
PIPES = {
    "stalled": '"|/bin/sleep 100000"',
    "dying": "\"|/bin/sh -c 'head -c 65536 > /dev/null'\"",
}


def wrk_latency(out):
    """wrk's average latency, in microseconds."""
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", out)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def pipe_run(mode, modules):
    conf = PIPE_CONF
    if mode != "none":
        conf += "StatusSetTraceLog %s\nStatusSetTrace 404\n" % PIPES[mode]
    h = pyhttpd.Httpd(conf, {"htdocs/plain.txt": "plain\n"},
                      name="pipe-" + mode, modules=modules)
    h.start()
    try:
        scripts = []
        for path in ("/traced", "/plain.txt"):
            with tempfile.NamedTemporaryFile("w", suffix=".lua",
                                             delete=False) as f:
                f.write(WRK_SCRIPT % ('"%s"' % path))
                scripts.append(f.name)
        traced = subprocess.Popen(
            ["wrk", "-t1", "-c8", "-d%ds" % PIPE_SECONDS, "-s", scripts[0],
             "http://127.0.0.1:%d" % h.port], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        plain = subprocess.run(
            ["wrk", "-t1", "-c8", "-d%ds" % PIPE_SECONDS, "-s", scripts[1],
             "http://127.0.0.1:%d" % h.port], capture_output=True, text=True)
        traced.communicate()
        for f in scripts:
            os.unlink(f)
        doc = json.loads(subprocess.run(
            ["curl", "-sf", "http://127.0.0.1:%d/metrics?format=json"
             % h.port], capture_output=True, check=True).stdout)
        t = time.time()
        h.stop()
        return {"latency_us": wrk_latency(plain.stdout),
                "dropped": doc["trace_dropped"],
                "traced": sum(c["count"] for c in doc["responses"]
                              if c["code"] == 404),
                "stop_s": time.time() - t}
    finally:
        h.cleanup()


def phase_pipes(modules):
    return {mode: pipe_run(mode, modules)
            for mode in ("none", "stalled", "dying")}


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
        pipes = phase_pipes(modules)
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
    if load["metrics"]["source_diff"]:
        failures.append("rule hits differ from the access log's sources "
                        "(logged, counted): %s"
                        % load["metrics"]["source_diff"])
    if load["metrics"]["dup"]:
        failures.append("%d duplicate source series" % load["metrics"]["dup"])
    base = pipes["none"]["latency_us"]
    for mode in ("stalled", "dying"):
        if pipes[mode]["latency_us"] > 2 * base:
            failures.append("untraced latency with a %s trace pipe: %.0f us,"
                            " over twice %.0f us" % (
                                mode, pipes[mode]["latency_us"], base))
        if pipes[mode]["stop_s"] > 10:
            failures.append("apache2 took %.1f s to stop with a %s pipe"
                            % (pipes[mode]["stop_s"], mode))
    if not pipes["stalled"]["dropped"]:
        failures.append("no record counted as dropped with a stalled pipe")
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
| rule hits vs the access log's source notes (%d rules, named) | %d differences, %d duplicate series |
| untraced latency: no trace log / stalled pipe / dying pipe | %.0f / %.0f / %.0f us (bar: 2x) |
| traced responses, records dropped: stalled / dying pipe | %d, %d / %d, %d |
| trace records (largest %d bytes) for traced requests | %d for %d, %d torn |
| requests served by one child (no restarts) | %d |
| child RSS after 10,000 requests | %d kB |
| child RSS after %d requests | %d kB |
| growth (bar: at most %d kB) | %+d kB |
""" % (LOAD_SECONDS, load["restarts"], RESTART_EVERY, load["lines"],
       len(load["counts"]), load["rps"], len(load["errors"]),
       load["metrics"]["series"], load["metrics"]["total"],
       len(load["metrics"]["diff"]), load["metrics"]["sources"],
       len(load["metrics"]["source_diff"]), load["metrics"]["dup"],
       pipes["none"]["latency_us"], pipes["stalled"]["latency_us"],
       pipes["dying"]["latency_us"], pipes["stalled"]["traced"],
       pipes["stalled"]["dropped"], pipes["dying"]["traced"],
       pipes["dying"]["dropped"], load["trace"]["largest"],
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
