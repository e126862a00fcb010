"""Tracing as operators run it (issue 16): a trace pipe that stops reading
never stalls the server, a piped trace log and StatusSetTraceLimit live
across graceful restarts, no query string or password reaches a record
with query=off, and the record says what went out and on which port.

Each test here failed against the code before issue 16.
"""

import json
import os
import subprocess
import threading
import time

import pytest

import pyhttpd
from conftest import (BACKEND_VHOST, asis, assert_config_rejected, http,
                      raw, start_server_obj, stop_server)
from pyhttpd import BASE_MODULES
from test_trace import records

ONE_PROCESS = pytest.mark.skipif(pyhttpd.VALGRIND,
                                 reason="one process under valgrind")


def wait_records(h, name, n, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        got = records(h, name)
        if len(got) >= n or time.time() > deadline:
            return got
        time.sleep(0.05)


def dropped(h):
    r = http(h.port, "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith("apache_status_set_trace_dropped_total "):
            return float(line.split()[1])
    raise AssertionError(r.body)


METRICS = """
StatusSetMetrics On
<Location /metrics>
    SetHandler status-set-metrics
</Location>
"""


@ONE_PROCESS
def test_a_trace_pipe_that_stops_reading_never_stalls_the_server(errlog):
    """The reader sleeps and never reads: once the pipe is full, records
    are dropped and counted, every request (traced or not) is answered at
    once, and the server stops on SIGTERM."""
    errlog.expect("SS0022")
    h = start_server_obj(pyhttpd.Httpd(
        METRICS + 'StatusSetTraceLog "|/bin/sleep 100000"\n'
        "StatusSetTraceLimit 0\n<Location /t/>\n    StatusSetTrace 404\n"
        "</Location>\n", files={"htdocs/ok.txt": "ok\n"},
        name="trace-stalled"))
    try:
        big = ["X-Fill: " + "f" * 2000]
        n = 200          # over 1 kB a record: 64 kB of pipe holds < 64
        t0 = time.time()
        for i in range(n):
            r = http(h.port, "/t/nope%d" % i, headers=big)
            assert r.status_line == b"HTTP/1.1 404 Not Found", i
        slowest_traced = time.time() - t0
        t1 = time.time()
        r = http(h.port, "/ok.txt")
        assert r.status_line == b"HTTP/1.1 200 OK"
        assert time.time() - t1 < 1.0
        assert slowest_traced < 30
        gone = dropped(h)
        # what the pipe took, and no more; the rest dropped and counted
        assert 10 <= n - gone <= 64, gone
        log = h.error_log()
        assert "SS0022: cannot write to StatusSetTraceLog |/bin/sleep " \
            "100000, whose reader does not keep up" in log
        # said once a minute per child, not once per record
        assert log.count("SS0022") <= 16
    finally:
        t2 = time.time()
        stop_server(h)
        assert time.time() - t2 < 10, "apache2 needed SIGKILL to stop"


@ONE_PROCESS
def test_a_piped_trace_log_keeps_its_program_across_graceful_restarts():
    """One program for the whole life of the server: no record written by
    a child of any generation is lost at a graceful restart."""
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetTraceLog \"|/bin/sh -c 'echo $$ >> @ROOT@/logs/pids; "
        "exec cat >> @ROOT@/logs/piped.log'\"\n"
        "StatusSetTraceLimit 0\nStatusSetTrace 404\n",
        name="trace-pipe-graceful"))
    sent, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                r = http(h.port, "/nope")
            except OSError:
                continue
            if r.status_line == b"HTTP/1.1 404 Not Found":
                sent.append(r.test_id)

    try:
        t = threading.Thread(target=load)
        t.start()
        try:
            for _ in range(3):
                time.sleep(0.3)
                h.restart(graceful=True)
            time.sleep(0.3)
        finally:
            stop.set()
            t.join()
        got = wait_records(h, "logs/piped.log", len(sent))
        ids = [dict(x["request_headers"]).get("X-Test-Id") for x in got]
        assert sorted(ids) == sorted(sent)
        assert len(sent) > 20
        with open(h.path("logs/pids")) as f:
            assert len(f.read().split()) == 1
    finally:
        stop_server(h)


@ONE_PROCESS
def test_trace_limit_holds_across_a_graceful_restart():
    """StatusSetTraceLimit 3: three records in a second, however many
    generations of children answer in it."""
    h = start_server_obj(pyhttpd.Httpd(
        METRICS + "StatusSetTraceLog logs/trace.log\n"
        "StatusSetTraceLimit 3\nStatusSetTrace 404\n",
        name="trace-limit-graceful"))
    try:
        for attempt in range(6):
            before = len(records(h, "logs/trace.log"))
            gone = dropped(h)
            # start right after a second begins, to stay within it
            time.sleep(1 - time.time() % 1 + 0.01)
            second = int(time.time())
            for _ in range(3):
                http(h.port, "/nope")
            h.restart(graceful=True)
            for _ in range(3):
                http(h.port, "/nope")
            if int(time.time()) != second:
                continue          # the restart took us past the second
            deadline = time.time() + 5
            while True:
                written = len(records(h, "logs/trace.log")) - before
                lost = dropped(h) - gone
                if written + lost == 6 or time.time() > deadline:
                    break
                time.sleep(0.05)
            assert (written, lost) == (3, 3)
            return
        pytest.skip("no graceful restart fit in one second")
    finally:
        stop_server(h)


def test_each_virtual_host_has_its_own_trace_limit():
    """Two hosts writing to one log: a noisy one never takes the other's
    records (adversary, #16)."""
    h = start_server_obj(pyhttpd.Httpd(
        METRICS + "StatusSetTraceLog logs/trace.log\nStatusSetTraceLimit 3\n"
        "StatusSetTrace 404\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName a.test\n"
        "</VirtualHost>\n<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName b.test\n</VirtualHost>\n", name="trace-vlimit"))
    try:
        for attempt in range(5):
            before = len(records(h, "logs/trace.log"))
            time.sleep(1 - time.time() % 1 + 0.01)
            second = int(time.time())
            for host in ("a.test", "b.test"):
                for _ in range(5):
                    http(h.port, "/nope", headers=["Host: " + host])
            if int(time.time()) != second:
                continue
            got = wait_records(h, "logs/trace.log", before + 6)[before:]
            time.sleep(0.3)
            got = records(h, "logs/trace.log")[before:]
            assert sorted(x["vhost"] for x in got) == \
                ["a.test"] * 3 + ["b.test"] * 3
            return
        pytest.skip("ten requests never fit in one second")
    finally:
        stop_server(h)


@ONE_PROCESS
def test_a_trace_file_that_is_a_stalled_pipe_never_blocks(errlog):
    """StatusSetTraceLog names a FIFO (as /dev/stdout under a container's
    log collector) whose reader stopped: requests never wait for it."""
    errlog.expect("SS0022")
    h = pyhttpd.Httpd(METRICS + "StatusSetTraceLog logs/fifo\n"
                      "StatusSetTraceLimit 0\nStatusSetTrace 404\n",
                      name="trace-fifo")
    os.mkfifo(h.path("logs/fifo"))
    reader = subprocess.Popen(["sh", "-c", "exec sleep 100000 < '%s'"
                               % h.path("logs/fifo")])
    try:
        start_server_obj(h)
        for i in range(120):
            r = http(h.port, "/nope%d" % i, headers=["X-Fill: " + "f" * 600])
            assert r.status_line == b"HTTP/1.1 404 Not Found", i
        assert dropped(h) > 0
    finally:
        t = time.time()
        stop_server(h)
        assert time.time() - t < 10, "apache2 needed SIGKILL to stop"
        reader.kill()
        reader.wait()


PRIVACY = BACKEND_VHOST + r"""
ProxyRequests On
<Proxy "*">
    Require all granted
</Proxy>
StatusSetTraceLog logs/trace.log
StatusSetTraceLimit 0
StatusSetTrace 4xx
<Location /dir>
    StatusSetTrace 3xx
</Location>
"""


def test_no_query_or_password_reaches_a_record_with_query_off(errlog):
    errlog.expect("AH00126")     # the bad request line, from core
    h = start_server_obj(pyhttpd.Httpd(
        PRIVACY + "ProxyPass /proto/ http://127.0.0.1:@PORT2@/\n",
        files={"htdocs/dir/index.html": "i\n",
               "backend/loc.asis": asis("404 Nope", [
                   "Content-Location: //user:SECRET12@evil.test/x"
                   "#access_token=SECRET13",
                   "Link: </next?token=SECRET14>; rel=next"])},
        modules=BASE_MODULES + ["proxy", "proxy_http", "asis"],
        name="trace-privacy", extra_ports=1))
    try:
        # a forward proxy's request: r->uri is the whole URL
        back = "http://127.0.0.1:%d" % h.extra_ports[0]
        r = http(h.port, back + "/x?tok=SECRET1", headers=[
            "Referer: http://u:PASSWORD@ref.test/p?tok=SECRET2"])
        assert r.status_line == b"HTTP/1.1 404 Not Found"
        # user:password in the target: httpd refuses it (400), and the
        # record masks it as %r does
        r = http(h.port, "http://u:PASSWORD@127.0.0.1/y?tok=SECRET5")
        assert r.status_line == b"HTTP/1.1 400 Bad Request"
        # a request line httpd refuses (400)
        raw(h.port, b"GET /a?tok=SECRET3 RET HTTP/1.1\r\nHost: x\r\n\r\n")
        # lines httpd refuses without the usual spaces (adversary, #16)
        for line in (b"GET/x?tok=SECRET6 HTTP/1.1", b"/x?tok=SECRET7 HTTP/1.1",
                     b"/x?tok=SECRET8"):
            raw(h.port, line + b"\r\nHost: x\r\n\r\n")
        # a password holding '@', and a protocol-relative URL; a fragment;
        # a Link; a token header that is not called Authorization
        r = http(h.port, "/nope", headers=[
            "Referer: http://bob:p@ssSECRET9@site.test/",
            "X-Amz-Security-Token: SECRET10",
            "Private-Token: SECRET11"])
        r = http(h.port, "/proto/loc.asis")
        assert r.header("Content-Location") == \
            "//user:SECRET12@evil.test/x#access_token=SECRET13"
        # mod_dir's redirect: a Location with the query
        r = http(h.port, "/dir?tok=SECRET4")
        assert r.status_line == b"HTTP/1.1 301 Moved Permanently"
        assert "SECRET4" in r.header("Location")
        got = wait_records(h, "logs/trace.log", 11)
        with open(h.path("logs/trace.log")) as f:
            text = f.read()
        for secret in ["PASSWORD", "ssSECRET9"] + \
                ["SECRET%d" % i for i in range(1, 15)]:
            assert secret not in text, (secret, text)
        assert "http://bob:XXXXXXXX@site.test/" in text
        assert '"//user:XXXXXXXX@evil.test/x"' in text
        proxied, = [x for x in got if x["uri"].startswith("http://")
                    and x["status"] == 404]
        assert proxied["uri"] == back + "/x"
        assert proxied["request"] == "GET %s/x HTTP/1.1" % back
        assert dict(proxied["request_headers"])["Referer"] == \
            "http://u:XXXXXXXX@ref.test/p"
        masked, = [x for x in got if "u:XXXXXXXX@127.0.0.1/y" in
                   (x["request"] or "")]
        assert masked["request"] == \
            "GET http://u:XXXXXXXX@127.0.0.1/y HTTP/1.1"
        assert sorted(x["request"] for x in got if x["status"] == 400
                      and "/x" in (x["request"] or "")) == \
            ["/x", "/x HTTP/1.1", "GET/x HTTP/1.1"]
        bad, = [x for x in got if (x["request"] or "").startswith("GET /a")]
        # httpd keeps "GET /a?tok=SECRET3 RET": nothing after the query
        assert bad["request"] == "GET /a", bad
        moved, = [x for x in got if x["status"] == 301]
        assert dict(moved["response_headers"])["Location"] == \
            "http://127.0.0.1:%d/dir" % h.port + "/"
    finally:
        stop_server(h)


def test_a_failed_error_document_is_traced_by_a_rule_on_the_code_sent(
        errlog):
    """The client gets the first request's 404 (its ErrorDocument is
    forbidden): a one-code rule on 404 traces it."""
    errlog.expect("AH01630")
    h = start_server_obj(pyhttpd.Httpd(
        "ErrorDocument 404 /locked/err.html\n"
        "<Location /locked>\n    Require all denied\n</Location>\n"
        "StatusSetTraceLog logs/trace.log\nStatusSetTrace 404\n",
        files={"htdocs/locked/err.html": "never\n"},
        name="trace-errdoc-fail"))
    try:
        r = http(h.port, "/nope")
        assert r.status_line == b"HTTP/1.1 404 Not Found"
        rec, = wait_records(h, "logs/trace.log", 1)
        assert (rec["uri"], rec["status"]) == ("/nope", 404)
    finally:
        stop_server(h)


def test_the_port_is_the_connections_not_the_host_headers():
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetTraceLog logs/trace.log\nStatusSetTrace 404,400\n",
        name="trace-port"))
    try:
        http(h.port, "/nope", headers=["Host: localhost"])
        raw(h.port, b"NOT A REQUEST LINE AT ALL\r\n\r\n")
        got = wait_records(h, "logs/trace.log", 2)
        assert [x["port"] for x in got] == [h.port, h.port]
    finally:
        stop_server(h)


@pytest.mark.parametrize("conf,message", [
    ("StatusSetTrace 4xx headers=",
     "StatusSetTrace: 'headers=' names no header: write "
     "headers=NAME[,NAME...]"),
    ("StatusSetTrace 4xx headers=,",
     "StatusSetTrace: 'headers=,' names no header"),
    ("StatusSetTrace 4xx query=yes",
     "StatusSetTrace: 'query=yes': query= is on (the record keeps the "
     "query string) or off (the default)"),
    ("StatusSetTrace",
     "StatusSetTrace: a MATCH list is required: StatusSetTrace MATCH "
     "[time>=DURATION] [expr=EXPRESSION] [sample=1/N] [query=on|off] "
     "[headers=NAME,...] [phases=on|off] [name=NAME]"),
    # one reader of integers: digits only, bounded, no overflow
    ("StatusSetTrace 4xx phases=yes", "StatusSetTrace: 'phases=yes': "
     "phases= is on"),
    ("StatusSetTraceLimit +5", "StatusSetTraceLimit: '+5' is not a number"),
    # a sign only where a value may be negative (adversary, #16)
    ("StatusSetTraceLimit -0", "StatusSetTraceLimit: '-0' is not a number"),
    ("StatusSetTraceLimit \" 5\"", "StatusSetTraceLimit: ' 5' is not a "
     "number"),
    ("StatusSetTrace 4xx sample=1/+3", "StatusSetTrace: 'sample=1/+3': "
     "write sample=1/N"),
    ("StatusSetMetricsCapacity 99999999999999999999999",
     "StatusSetMetricsCapacity: '99999999999999999999999' is not a number"),
])
def test_config_errors_say_what_is_allowed(conf, message):
    assert_config_rejected(conf, message, name="trace-conf16")


def test_help_texts_say_what_the_directives_do():
    h = pyhttpd.Httpd("", name="trace-help")
    try:
        import subprocess
        p = subprocess.run([pyhttpd.APACHE, "-L", "-f", h.conf_path],
                           capture_output=True, text=True, timeout=30,
                           env=h.env())
        out = p.stdout
        limit = out[out.index("StatusSetTraceLimit"):]
        limit = limit[:limit.index("Allowed in")]
        assert "per child" not in limit
        assert "per second for this server, all its children together" \
            in " ".join(limit.split())
        assert "[query=on|off] [headers=NAME,...] [phases=on|off]" in out
    finally:
        h.cleanup()


CAUSES = r"""
ErrorLogFormat "[%{u}t] [%-m:%l] [pid %P] [%L] [client\\ %a] %M"
StatusSetTraceLog logs/trace.log
StatusSetTraceLimit 0
StatusSetTrace 4xx,5xx phases=on
<Location /priv>
    Require all denied
</Location>
<Location /deep>
    LogLevel info
</Location>
<Directory "@ROOT@/htdocs/broken">
    AllowOverride All
</Directory>
<Directory "@ROOT@/htdocs/locked">
    AllowOverride All
</Directory>
"""


def test_a_record_names_the_cause_of_a_status_httpd_set(errlog):
    """FREB's promise: a Require 403, a broken .htaccess's 500 and a core
    404 under a per-directory LogLevel carry the error-log lines written
    for them, with the module, level and message; log_id joins the record
    with the error log's %L; phases tell when each phase ended."""
    errlog.expect("AH01630", "AH00529", "AH00128")
    errlog.expect_match(r"htaccess: Invalid command 'NoSuchDirective'")
    h = start_server_obj(pyhttpd.Httpd(
        CAUSES, files={"htdocs/broken/.htaccess": "NoSuchDirective on\n",
                       "htdocs/broken/x.txt": "x\n",
                       "htdocs/locked/.htaccess": "# unreadable\n",
                       "htdocs/locked/x.txt": "x\n"},
        name="trace-causes", log_level="warn"))
    os.chmod(h.path("htdocs/locked/.htaccess"), 0)
    if os.getuid() != 0:
        pytest.skip("the children must not be able to read a file")
    try:
        assert http(h.port, "/locked/x.txt").status_line == \
            b"HTTP/1.1 403 Forbidden"
        assert http(h.port, "/priv/x").status_line == \
            b"HTTP/1.1 403 Forbidden"
        assert http(h.port, "/broken/x.txt").status_line == \
            b"HTTP/1.1 500 Internal Server Error"
        assert http(h.port, "/deep/nope").status_line == \
            b"HTTP/1.1 404 Not Found"
        assert http(h.port, "/nope").status_line == b"HTTP/1.1 404 Not Found"
        got = {x["uri"]: x for x in wait_records(h, "logs/trace.log", 5)}
        locked, = got["/locked/x.txt"]["events"]
        assert (locked["module"], locked["level"]) == ("core", "crit")
        assert locked["msg"].startswith("(13)Permission denied: AH00529: ") \
            or locked["msg"].startswith("AH00529: "), locked
        denied = got["/priv/x"]
        ev, = denied["events"]
        assert (ev["module"], ev["level"]) == ("authz_core", "error")
        assert ev["msg"].startswith("AH01630: client denied by server "
                                    "configuration: ")
        assert ev["t_us"] >= 0
        # the error log's line for it carries the record's log_id
        assert denied["log_id"]
        line, = [x for x in h.error_log().splitlines() if "AH01630" in x]
        assert "[%s]" % denied["log_id"] in line
        assert list(denied["phases"]) == ["log"]   # refused before fixups
        bad, = got["/broken/x.txt"]["events"]
        assert (bad["module"], bad["level"]) == ("core", "alert")
        assert "htaccess: Invalid command 'NoSuchDirective'" in bad["msg"]
        deep = got["/deep/nope"]
        assert any(e["msg"].startswith("AH00128: File does not exist")
                   and e["level"] == "info" for e in deep["events"])
        p = deep["phases"]
        assert 0 <= p["fixups"] <= p["handler"] <= p["log"]
        # the server's LogLevel warn writes nothing for a core 404
        assert got["/nope"]["events"] == []
        assert list(got["/nope"]["phases"]) == ["fixups", "handler", "log"]
    finally:
        stop_server(h)


def test_events_are_bounded_and_keep_the_most_severe(errlog):
    errlog.expect_match(r"\[rewrite:trace\d\]")
    errlog.expect("AH01630")
    # mod_rewrite at trace3 writes lines for every rule it tries
    rules = "".join("RewriteRule ^/noisy/ - [E=N%d:1]\n" % i
                    for i in range(30))
    h = start_server_obj(pyhttpd.Httpd(
        CAUSES + "RewriteEngine On\n" + rules +
        "<Location /noisy/denied>\n    Require all denied\n"
        "</Location>\n", name="trace-noisy",
        log_level="warn rewrite:trace3"))
    try:
        r = http(h.port, "/noisy/denied?tok=SECRET", headers=[
            "X-Pad-%d: %s" % (i, "p" * 200) for i in range(5)])
        assert r.status_line == b"HTTP/1.1 403 Forbidden"
        rec, = wait_records(h, "logs/trace.log", 1)
        with open(h.path("logs/trace.log"), "rb") as f:
            assert len(f.read()) <= 4096
        assert len(rec["events"]) <= 16
        assert rec.get("events_dropped", 0) > 0
        # the error that decided the status is kept over trace lines
        assert any(e["msg"].startswith("AH01630") for e in rec["events"])
        assert "SECRET" not in json.dumps(rec)
        times = [e["t_us"] for e in rec["events"]]
        assert times == sorted(times)
    finally:
        stop_server(h)


def test_no_query_reaches_an_event_escaped_cut_or_from_a_subrequest(errlog):
    """Adversary, #16: a query the logs escape ("), a long one cut with
    its message, and a subrequest's, all reached events with query=off."""
    errlog.expect_match(r"unable to include|\[rewrite:trace\d\]")
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetTraceLog logs/trace.log\nStatusSetTraceLimit 0\n"
        "StatusSetTrace 4xx,200\n<Location /x>\n    StatusSet 404.2\n"
        "</Location>\nRewriteEngine On\n"
        "RewriteCond %{QUERY_STRING} ^nomatch$\nRewriteRule ^/y - [F]\n"
        "<Location /ssi.shtml>\n    Options +Includes\n</Location>\n",
        files={"htdocs/ssi.shtml":
               '<!--#include virtual="/missing.html?token=SUBSECRET" -->\n',
               "htdocs/y": "y\n"},
        name="trace-scrub", log_level="warn status_set:info "
        "rewrite:trace4"))
    try:
        for line in (b'GET /x?pw="SECRETA" HTTP/1.1',
                     b"GET /x?pw=SECRETB\\x HTTP/1.1",
                     b"GET /x?pw=SECRETC\xc3\xa9 HTTP/1.1",
                     b"GET /x?pw=SECRETD&pad=" + b"A" * 400 + b" HTTP/1.1",
                     b"GET /y?SECRETE" + b"B" * 400 + b" HTTP/1.1"):
            raw(h.port, line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        http(h.port, "/ssi.shtml?q=SECRETF")
        got = wait_records(h, "logs/trace.log", 6)
        assert len(got) == 6
        assert any(e["msg"].startswith("SS0001") for x in got
                   for e in x["events"])
        with open(h.path("logs/trace.log")) as f:
            text = f.read()
        for secret in ("SECRETA", "SECRETB", "SECRETC", "SECRETD",
                       "SECRETE", "SUBSECRET", "SECRETF"):
            assert secret not in text, (secret, text)
        assert "[query]" in text
    finally:
        stop_server(h)
