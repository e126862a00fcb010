"""Tracing as operators run it (issue 16): a trace pipe that stops reading
never stalls the server, a piped trace log and StatusSetTraceLimit live
across graceful restarts, no query string or password reaches a record
with query=off, and the record says what went out and on which port.

Each test here failed against the code before issue 16.
"""

import json
import os
import threading
import time

import pytest

import pyhttpd
from conftest import (BACKEND_VHOST, assert_config_rejected, http, raw,
                      start_server_obj, stop_server)
from pyhttpd import BASE_MODULES

ONE_PROCESS = pytest.mark.skipif(pyhttpd.VALGRIND,
                                 reason="one process under valgrind")


def records(h, name):
    try:
        with open(h.path(name), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    assert not data or data.endswith(b"\n")
    return [json.loads(x) for x in data.splitlines()]


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
        PRIVACY, files={"htdocs/dir/index.html": "i\n"},
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
        # mod_dir's redirect: a Location with the query
        r = http(h.port, "/dir?tok=SECRET4")
        assert r.status_line == b"HTTP/1.1 301 Moved Permanently"
        assert "SECRET4" in r.header("Location")
        got = wait_records(h, "logs/trace.log", 5)
        with open(h.path("logs/trace.log")) as f:
            text = f.read()
        for secret in ("SECRET1", "SECRET2", "SECRET3", "SECRET4",
                       "SECRET5", "PASSWORD"):
            assert secret not in text, (secret, text)
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
     "[headers=NAME,...]"),
])
def test_config_errors_say_what_is_allowed(conf, message):
    assert_config_rejected(conf, message, name="trace-conf16")


def test_help_texts_say_what_the_directives_do():
    h = pyhttpd.Httpd("", name="trace-help")
    try:
        import subprocess
        p = subprocess.run([pyhttpd.APACHE, "-L", "-f", h.conf_path],
                           capture_output=True, text=True, timeout=30)
        out = p.stdout
        limit = out[out.index("StatusSetTraceLimit"):]
        limit = limit[:limit.index("Allowed in")]
        assert "per child" not in limit
        assert "per second for this server, all its children together" \
            in " ".join(limit.split())
        assert "[query=on|off] [headers=NAME,...]" in out
    finally:
        h.cleanup()
