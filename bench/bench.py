#!/usr/bin/python3
"""make bench: what mod_status_set costs, as ratios measured side by side.

For each comparison, two servers (A and B) run at once on loopback:

  * instructions per request: each configuration runs under
    `valgrind --tool=callgrind apache2 -X` twice, serving N1 and then N2
    requests over one keep-alive connection; (I(N2) - I(N1)) / (N2 - N1)
    cancels start-up and shut-down.  Deterministic: the bars are on these.
  * requests/s: ROUNDS rounds; in each, wrk (HTTP/1.1) or h2load (HTTP/2)
    load A and B at the same time, both servers on one core and the
    clients on the other, so that the machine's noise weighs on both
    alike; the median of the B/A ratios, with min and max.  (Run one after
    the other, A B A B, two identical servers differ by up to 10% here;
    side by side, by under 1%: the first row measures that floor.)
  * RSS: peak (VmHWM) and steady (VmRSS) of each server's child after its
    runs.

The table goes to stdout and between the bench markers of BENCHMARKS.md.
Exits non-zero if a bar is missed.  Environment: BENCH_SECONDS (3),
BENCH_ROUNDS (5), BENCH_N1 (200), BENCH_N2 (3200).
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import pyhttpd  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
N1 = int(os.environ.get("BENCH_N1", "200"))
N2 = int(os.environ.get("BENCH_N2", "3200"))

# On a machine with two cores or more the servers run on one and the
# load generator on another, so that they do not take turns on the same.
if (os.cpu_count() or 1) >= 2:
    SERVER_CPU, CLIENT_CPU = "1", ["taskset", "-c", "0"]
else:
    SERVER_CPU, CLIENT_CPU = None, []

# No mod_cgid (its daemon is a second child); the rest as in the tests.
MODULES = [m for m in pyhttpd.BASE_MODULES if m != "cgid"]

FILES = {"htdocs/index.html": "<h1>bench</h1>\n" + "x" * 1000 + "\n",
         "htdocs/deny/index.html": "never served\n"}

COMMON = """
StartServers 1
ServerLimit 1
ThreadsPerChild 32
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
MaxConnectionsPerChild 0
KeepAliveTimeout 30
MaxKeepAliveRequests 0
"""

# A realistic configuration that concerns none of the measured requests: a
# reason table, 20 <Location> sections with StatusSet rules, 10 response
# rules on other codes.
UNMATCHED = COMMON + "".join(
    'StatusSetReason %d "Phrase %d"\n' % (code, code)
    for code in (420, 444, 449, 450, 460, 463, 494, 495, 496, 499)
) + "".join(
    '<Location /app%d>\n    StatusSet 403.%d "Blocked %d" error=%d '
    '"expr=%%{HTTP:X-Block} == \'yes\'"\n</Location>\n' % (i, i, i, i)
    for i in range(20)
) + "".join(
    'StatusSetResponse %s %s "Mapped %d"\n' % (match, to, i)
    for i, (match, to) in enumerate([
        ("500", "503.1"), ("502", "503.2"), ("504", "503.3"),
        ("404.13", "404"), ("403.6", "404"), ("401", "401.1"),
        ("429", "429.1"), ("501", "501.1"), ("505", "505.1"),
        ("418", "404")])
)

DENY_STATUSSET = COMMON + """
<Location /deny>
    StatusSet 403
</Location>
"""
DENY_REWRITE = COMMON + """
<Location /deny>
    RewriteEngine On
    RewriteRule ^ - [F]
</Location>
"""
DENY_REQUIRE = COMMON + """
<Location /deny>
    Require all denied
</Location>
"""

RULE_200 = 'StatusSetResponse 200 299 "Matched"\n'
RULES_1 = COMMON + RULE_200
# 999 rules keyed on other codes, then the one that matches, last.
RULES_1000 = COMMON + "".join(
    'StatusSetResponse %d 299.%d "Rule %d"\n'
    % (201 + i % 399, i, i) for i in range(999)
) + RULE_200

API = COMMON + """
LoadModule ss_bench_module "@BENCHMOD@"
<Location /bench>
    SetHandler ss-bench-@MODE@
</Location>
"""


# .htaccess files are read on every request: 200 lines of each kind, the
# module's as in issue 9 (every line a `*` rule).
HTACCESS_CONF = COMMON + """
<Directory "@ROOT@/htdocs/ht">
    AllowOverride FileInfo
</Directory>
"""
HTACCESS_HEADERS = "".join('Header set X-Ht-%d "v%d"\n' % (i, i)
                           for i in range(200))
HTACCESS_RULES = "".join('StatusSetResponse * 299 "R%d"\n' % i
                         for i in range(200))


# Counters on: every response counted in shared memory (issue 10).
METRICS_ON = UNMATCHED + "StatusSetMetrics On\n"
# Tracing set up as a site would: server-wide rules for 5xx and some 4xx,
# and a catch-all rule in one section; the measured request (a 200 outside
# that section) matches none of them.
TRACE_NOMATCH = UNMATCHED + """
StatusSetTraceLog logs/trace.log
StatusSetTrace 5xx
StatusSetTrace 404.13,403 time>=2s
<Location /app3>
    StatusSetTrace *
</Location>
"""
# The same rules in the requested URL's own section, which the server's
# configuration is merged with on every request (a cost of the section,
# as for any directive: reported, not barred).
TRACE_SECTION = UNMATCHED + """
StatusSetTraceLog logs/trace.log
<Location />
    StatusSetTrace 5xx
    StatusSetTrace 404.13,403 time>=2s
</Location>
"""


def without_trace(conf):
    return re.sub(r"(?m)^\s*StatusSetTrace\b.*$", "", conf)


def scrape_conf(rules, per_code, capacity):
    """A server whose configuration names `rules` (code, substatus) pairs,
    4xx.1-4xx.per_code from 400 on, each in a StatusSetResponse rule that no
    request meets: 2 x rules series (each pair and its rule's source) shown
    from the start."""
    return COMMON + "StatusSetMetrics On\nStatusSetMetricsCapacity %d\n" \
        % capacity + "".join("StatusSetResponse 599 %d.%d\n"
                             % (400 + i // per_code, 1 + i % per_code)
                             for i in range(rules)) + """
LogFormat "%D %>s" took
CustomLog logs/scrape_log took
<Location /metrics>
    SetHandler status-set-metrics
</Location>
"""


# 10,000 series: 5,000 pairs (400-449 x 1-100) and their rules' sources.
SCRAPE_10K = scrape_conf(5000, 100, 16)
SCRAPE_SERIES = 10000
SCRAPE_BAR_MS = 10.0

# 65,536 series: 32,768 pairs (400-599 x 1-164) and their rules' sources,
# in a segment with room for 65,536 more.
SCRAPE_64K = scrape_conf(32768, 164, 65536)
SCRAPE_64K_SERIES = 65536
SCRAPE_64K_BAR_MS = 50.0


class Config:
    def __init__(self, name, conf, path, loaded=True, h2=False, files=None):
        self.name, self.conf, self.path = name, conf, path
        self.loaded, self.h2 = loaded, h2
        self.files = dict(FILES, **(files or {}))


def server(cfg, **kw):
    return pyhttpd.Httpd(cfg.conf, cfg.files, name="bench", modules=MODULES,
                         load_status_set=cfg.loaded, access_log=False,
                         log_level="warn", **kw)


def without_module(conf):
    """The same configuration, <Location> sections and all, without the
    module's directives: the baseline for "loaded but matching nothing"."""
    return re.sub(r"(?m)^\s*StatusSet\w*\b.*$", "# (status_set directive)",
                  conf)


# -- clients ------------------------------------------------------------------

def keepalive_requests(port, path, n):
    """n GETs, one after another, on one keep-alive connection."""
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    with socket.create_connection(("127.0.0.1", port), 300) as s:
        buf = b""
        for _ in range(n):
            s.sendall(req)
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, buf = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            length = int(m.group(1)) if m else 0
            while len(buf) < length:
                buf += s.recv(65536)
            buf = buf[length:]


def h2_requests(port, path, n):
    subprocess.run(["h2load", "-n%d" % n, "-c1", "-m1",
                    "http://127.0.0.1:%d%s" % (port, path)],
                   check=True, capture_output=True, timeout=600)


def load_client(port, cfg, seconds):
    """Start wrk (HTTP/1.1) or h2load (HTTP/2) on cfg's path."""
    url = "http://127.0.0.1:%d%s" % (port, cfg.path)
    if cfg.h2:
        cmd = ["h2load", "-D%d" % seconds, "-c4", "-m10", "-t1", url]
    else:
        cmd = ["wrk", "-t1", "-c4", "-d%ds" % seconds, url]
    return subprocess.Popen(CLIENT_CPU + cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def client_rate(proc):
    out = proc.communicate(timeout=SECONDS + 120)[0]
    m = (re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
         or re.search(r"Requests/sec:\s+([\d.]+)", out))
    if not m:
        raise RuntimeError("no rate in:\n" + out)
    return float(m.group(1))


def paired_rates(ha, a, hb, b, b_first=False, warmup=False):
    """One round: A and B loaded at the same time, on the same core, so
    that whatever else the machine does weighs on both alike.  Which client
    starts first alternates from round to round."""
    seconds = 1 if warmup else SECONDS
    if b_first:
        pb = load_client(hb.port, b, seconds)
        pa = load_client(ha.port, a, seconds)
    else:
        pa = load_client(ha.port, a, seconds)
        pb = load_client(hb.port, b, seconds)
    return client_rate(pa), client_rate(pb)


# -- measurements --------------------------------------------------------------

def instructions(cfg):
    """Instructions per request, from two callgrind runs."""
    totals = []
    for n in (N1, N2):
        h = server(cfg)
        out = h.path("logs/callgrind.out")
        # The process becomes www-data when started as root; the profile is
        # written at exit, so that user must be able to write it.
        with open(out, "w"):
            pass
        os.chmod(out, 0o666)
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
               pyhttpd.APACHE, "-X", "-f", h.conf_path]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            deadline = time.time() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", h.port), 1).close()
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise RuntimeError("callgrind apache2 did not start: "
                                           + h.error_log())
                    time.sleep(0.2)
            (h2_requests if cfg.h2 else keepalive_requests)(h.port, cfg.path,
                                                            n)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
        with open(out) as f:
            m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
        totals.append(int(m.group(1)))
        h.cleanup()
    return (totals[1] - totals[0]) / (N2 - N1)


def child_rss(h):
    kids = subprocess.run(["pgrep", "-P", str(h.proc.pid)],
                          capture_output=True, text=True).stdout.split()
    peak = steady = 0
    for pid in kids:
        with open("/proc/%s/status" % pid) as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        peak = max(peak, int(st["VmHWM"].split()[0]))
        steady = max(steady, int(st["VmRSS"].split()[0]))
    return peak, steady


def compare(a, b):
    """Run A and B side by side; return the figures of the comparison.

    Every round starts both servers afresh (which one first alternates):
    two instances of one configuration can differ by 2% for as long as
    they live (where their memory lies, which ports they have), so a
    figure taken from one pair of processes would measure that pair."""
    ia, ib = instructions(a), instructions(b)
    ra, rb, ratios = [], [], []
    rss_a = rss_b = (0, 0)
    for i in range(ROUNDS):
        ha, hb = server(a), server(b)
        first, second = (hb, ha) if i % 2 else (ha, hb)
        first.start(cpus=SERVER_CPU)
        second.start(cpus=SERVER_CPU)
        try:
            paired_rates(ha, a, hb, b, warmup=True)
            x, y = paired_rates(ha, a, hb, b, b_first=i % 2 == 1)
            rss_a, rss_b = child_rss(ha), child_rss(hb)
        finally:
            ha.cleanup()
            hb.cleanup()
        ra.append(x)
        rb.append(y)
        ratios.append(y / x)
    return {"a": a.name, "b": b.name, "ia": ia, "ib": ib, "iratio": ib / ia,
            "ra": statistics.median(ra), "rb": statistics.median(rb),
            "rratio": statistics.median(ratios), "rmin": min(ratios),
            "rmax": max(ratios), "rss_a": rss_a, "rss_b": rss_b}


def build_bench_module():
    d = tempfile.mkdtemp(prefix="ss-benchmod-")
    shutil.copy(os.path.join(HERE, "mod_ss_bench.c"), d)
    subprocess.run(["apxs", "-c", "-I", pyhttpd.TOP, "-Wc,-Wall",
                    "-Wc,-Wextra", "-Wc,-Werror", "mod_ss_bench.c"], cwd=d,
                   check=True, capture_output=True)
    return d, os.path.join(d, ".libs", "mod_ss_bench.so")


def main():
    moddir, benchmod = build_bench_module()
    api = API.replace("@BENCHMOD@", benchmod)
    comparisons = [
        ("noise floor: the same server twice",
         Config("not loaded", without_module(UNMATCHED), "/index.html",
                loaded=False),
         Config("not loaded", without_module(UNMATCHED), "/index.html",
                loaded=False), []),
        ("loaded, matching nothing vs not loaded (HTTP/1.1)",
         Config("not loaded", without_module(UNMATCHED), "/index.html",
                loaded=False),
         Config("loaded, 40 rules", UNMATCHED, "/index.html"),
         [("instructions", "iratio", "<=", 1.01),
          ("requests/s", "rratio", ">=", 0.99)]),
        ("loaded, matching nothing vs not loaded (HTTP/2)",
         Config("not loaded", without_module(UNMATCHED), "/index.html",
                loaded=False, h2=True),
         Config("loaded, 40 rules", UNMATCHED, "/index.html", h2=True),
         [("instructions", "iratio", "<=", 1.01),
          ("requests/s", "rratio", ">=", 0.99)]),
        ("StatusSet 403 vs mod_rewrite [F], same <Location>",
         Config("RewriteRule [F]", DENY_REWRITE, "/deny/index.html"),
         Config("StatusSet 403", DENY_STATUSSET, "/deny/index.html"),
         [("instructions", "iratio", "<=", 0.95)]),
        ("StatusSet 403 vs Require all denied, same <Location>",
         Config("Require all denied", DENY_REQUIRE, "/deny/index.html"),
         Config("StatusSet 403", DENY_STATUSSET, "/deny/index.html"), []),
        ("1,000 StatusSetResponse rules vs 1",
         Config("1 rule", RULES_1, "/index.html"),
         Config("1,000 rules", RULES_1000, "/index.html"),
         [("instructions", "iratio", "<=", 1.10)]),
        (".htaccess: 200 StatusSetResponse lines vs 200 mod_headers lines",
         Config("200 Header lines", HTACCESS_CONF, "/ht/index.html",
                files={"htdocs/ht/index.html": "ht\n",
                       "htdocs/ht/.htaccess": HTACCESS_HEADERS}),
         Config("200 StatusSetResponse lines", HTACCESS_CONF,
                "/ht/index.html",
                files={"htdocs/ht/index.html": "ht\n",
                       "htdocs/ht/.htaccess": HTACCESS_RULES}),
         [("instructions", "iratio", "<=", 1.0)]),
        ("StatusSetMetrics On vs Off (static file)",
         Config("metrics Off", UNMATCHED, "/index.html"),
         Config("metrics On", METRICS_ON, "/index.html"),
         [("instructions", "iratio", "<=", 1.003)]),
        ("StatusSetTrace rules matching nothing vs none (static file)",
         Config("no trace rule", without_trace(TRACE_NOMATCH),
                "/index.html"),
         Config("3 rules, none matching", TRACE_NOMATCH, "/index.html"),
         [("instructions", "iratio", "<=", 1.001)]),
        ("StatusSetTrace rules in the requested URL's section vs none",
         Config("empty <Location />", without_trace(TRACE_SECTION),
                "/index.html"),
         Config("2 rules in <Location />", TRACE_SECTION, "/index.html"),
         []),
        ("ss_set_status() in a handler vs r->status set by the handler",
         Config("r->status", api.replace("@MODE@", "plain"), "/bench"),
         Config("ss_set_status()", api.replace("@MODE@", "api"), "/bench"),
         [("instructions", "iratio", "<=", 1.03)]),
    ]
    only = os.environ.get("BENCH_ONLY")
    if only:
        comparisons = [c for c in comparisons if only in c[0]]
    rows, failures = [], []
    for title, a, b, bars in comparisons:
        print("measuring: %s" % title, flush=True)
        res = compare(a, b)
        res["title"] = title
        res["bars"] = []
        for what, key, op, limit in bars:
            ok = res[key] <= limit if op == "<=" else res[key] >= limit
            res["bars"].append("%s %s %.3f: %s" % (what, op, limit,
                                                   "met" if ok else "MISSED"))
            if not ok:
                failures.append("%s: %s ratio %.4f, bar %s %.3f"
                                % (title, what, res[key], op, limit))
        rows.append(res)
    shutil.rmtree(moddir, ignore_errors=True)

    table = render(rows)
    if not only or "scrape" in only:
        for conf, want, bar in ((SCRAPE_10K, SCRAPE_SERIES, SCRAPE_BAR_MS),
                                (SCRAPE_64K, SCRAPE_64K_SERIES,
                                 SCRAPE_64K_BAR_MS)):
            line, ok = scrape_time(conf, want, bar)
            table += "\n" + line + "\n"
            if not ok:
                failures.append(line)
    print(table)
    if not only:
        write_benchmarks(table)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("bench: all bars met")
    return 0


def segment_kb(pid):
    """Size and resident kB of the counters' segment in process pid: the
    largest shared anonymous mapping."""
    best = (0, 0)
    with open("/proc/%d/smaps" % pid) as f:
        cur = None
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5:
                cur = line.rstrip().endswith("/dev/zero (deleted)") \
                    or "/SYSV" in line
                size = rss = 0
            elif cur and parts[0] == "Size:":
                size = int(parts[1])
            elif cur and parts[0] == "Rss:":
                rss = int(parts[1])
                if size > best[0]:
                    best = (size, rss)
    return best


def scrape_time(conf, want, bar_ms, scrapes=30):
    """Server time of a scrape of `want` series (%D, from the request's
    first line to its log line, the body sent), median of `scrapes`, the
    first two left out as warm-up; and how much of the counters' segment a
    child holds resident before and after."""
    h = pyhttpd.Httpd(conf, FILES, name="bench-scrape", modules=MODULES,
                      access_log=False, log_level="warn")
    h.start()
    try:
        subprocess.run(["curl", "-sf", "-o", "/dev/null",
                        "http://127.0.0.1:%d/index.html" % h.port])
        kids = subprocess.run(["pgrep", "-P", str(h.proc.pid)],
                              capture_output=True, text=True).stdout.split()
        size, before = max(segment_kb(int(k)) for k in kids)
        url = "http://127.0.0.1:%d/metrics" % h.port
        for _ in range(scrapes + 2):
            body = subprocess.run(["curl", "-sf", url], capture_output=True,
                                  check=True).stdout.decode()
        series = sum(1 for line in body.splitlines()
                     if line and not line.startswith("#"))
        deadline = time.time() + 10
        while True:
            with open(h.path("logs/scrape_log")) as f:
                took = [int(line.split()[0]) for line in f
                        if line.split()[1] == "200"]
            if len(took) >= scrapes + 2 or time.time() > deadline:
                break
            time.sleep(0.1)
        after = max(segment_kb(int(k))[1] for k in subprocess.run(
            ["pgrep", "-P", str(h.proc.pid)], capture_output=True,
            text=True).stdout.split())
    finally:
        h.cleanup()
    ms = statistics.median(took[2:]) / 1000.0
    ok = series >= want and ms < bar_ms
    return ("Scrape of %d series (Prometheus text, %d bytes): median %.2f ms "
            "of server time over %d scrapes, max %.2f ms; bar < %.0f ms: %s. "
            "Counters' segment %d kB, resident in a child %d kB before the "
            "first scrape, %d kB after."
            % (series, len(body), ms, len(took) - 2, max(took[2:]) / 1000.0,
               bar_ms, "met" if ok else "MISSED", size, before, after)), ok


def render(rows):
    out = ["| comparison (A → B) | instructions/request A → B | ratio | "
           "requests/s A → B (median) | ratio median [min, max] | "
           "child RSS peak/steady A; B (kB) | bars |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            "| %s: %s → %s | %.0f → %.0f | %.4f | %.0f → %.0f | "
            "%.4f [%.4f, %.4f] | %d/%d; %d/%d | %s |" % (
                r["title"], r["a"], r["b"], r["ia"], r["ib"], r["iratio"],
                r["ra"], r["rb"], r["rratio"], r["rmin"], r["rmax"],
                r["rss_a"][0], r["rss_a"][1], r["rss_b"][0], r["rss_b"][1],
                "; ".join(r["bars"]) or "reported"))
    return "\n".join(out) + "\n\n(%s; %d rounds of %d s; callgrind N1=%d, " \
        "N2=%d.)\n" % (time.strftime("%Y-%m-%d"), ROUNDS, SECONDS, N1, N2)


def write_benchmarks(table):
    path = os.path.join(pyhttpd.TOP, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    start, end = "<!-- bench:start -->\n", "<!-- bench:end -->\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + start + table + end + tail
    else:
        text += "\n" + start + table + end
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
