"""Counters as operators run them (issue 16): series keyed by rule name or
by the rule's own identity, never by a line another rule can take; config
edits with graceful restarts neither mix two rules in one series nor grow
the table; counting starts again from zero whenever it starts again; a
full restart that grows the table warns of nothing.

Each test here failed against the code before issue 16.
"""

import json
import threading
import time

import pytest

import pyhttpd
from conftest import assert_config_rejected, http, raw, start_server_obj, \
    stop_server
from test_metrics import parse, resp, rewrite_conf, scrape, wait_for
from test_trace_operation import wait_records

ONE_PROCESS = pytest.mark.skipif(pyhttpd.VALGRIND,
                                 reason="one process under valgrind")

HEAD = """StatusSetMetrics On
StatusSetMetricsCapacity 1
<Location /metrics>
    SetHandler status-set-metrics
</Location>
"""


def hits(h):
    got = parse(scrape(h).body.decode())
    return {dict(k[1])["source"]: v for k, v in got.items()
            if k[0] == "apache_status_set_rule_hits_total"}


def settle(h):
    """Give the old generation's idle children time to go, as a daily
    reload does."""
    time.sleep(1.0)


def where(h, needle):
    return "%s:%d" % (h.conf_path, h.conf_line(needle))


def wait_hits(h, want, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        got = hits(h)
        if got == want or time.time() > deadline:
            assert got == want
            return got
        time.sleep(0.05)


@ONE_PROCESS
def test_an_edit_that_moves_lines_never_mixes_two_rules():
    """Three comment lines on top: /a's rule moves to the line where /b's
    was.  The series of that line does not carry /b's hits over to /a."""
    h = start_server_obj(pyhttpd.Httpd(
        HEAD + "# top\n"
        "<Location /a>\n    StatusSet 403.1\n</Location>\n"
        "<Location /b>\n    StatusSet 403.2\n</Location>\n",
        name="metrics-moved"))
    try:
        a, b = where(h, "StatusSet 403.1"), where(h, "StatusSet 403.2")
        http(h.port, "/b")
        http(h.port, "/b")
        http(h.port, "/a")
        wait_hits(h, {a: 1, b: 2, "api": 0})
        rewrite_conf(h, "# top\n", "# top\n# one\n# two\n# three\n")
        h.restart(graceful=True)
        a2, b2 = where(h, "StatusSet 403.1"), where(h, "StatusSet 403.2")
        assert a2 == b            # /a's rule now stands where /b's stood
        http(h.port, "/a")
        # the line's series is /a's own, from zero: never 2 + 1
        wait_hits(h, {a2: 1, b2: 0, "api": 0})
        # edits and reloads do not grow the table
        for n in range(4):
            settle(h)
            rewrite_conf(h, "# top\n", "# top\n# more %d\n" % n)
            h.restart(graceful=True)
        settle(h)
        h.restart(graceful=True)
        got = json.loads(scrape(h, "/metrics?format=json").body)
        assert got["sources_used"] == 3, got
        assert got["overflow"] == 0
        assert len(got["sources"]) == 3
    finally:
        stop_server(h)


@ONE_PROCESS
def test_named_rules_keep_their_series_across_edits_and_reloads():
    h = start_server_obj(pyhttpd.Httpd(
        HEAD + "# top\n"
        "<Location /a>\n    StatusSet 403.1 name=deny-a\n</Location>\n"
        "<Location /b>\n    StatusSet 403.2 name=deny-b\n</Location>\n"
        "StatusSetResponse 404 410.4 \"Gone For Good\" name=gone\n",
        name="metrics-named"))
    try:
        http(h.port, "/b")
        http(h.port, "/b")
        r = http(h.port, "/a")
        assert r.status_line == b"HTTP/1.1 403 Forbidden"
        r = http(h.port, "/nope")
        assert r.status_line == b"HTTP/1.1 410 Gone For Good"
        wait_hits(h, {"deny-a": 1, "deny-b": 2, "gone": 1, "api": 0})
        # the name is the source wherever it is shown
        line = h.access_line(r.test_id)
        assert "note_src=gone " in line, line
        rewrite_conf(h, "# top\n", "# top\n# one\n# two\n# three\n")
        h.restart(graceful=True)
        http(h.port, "/a")
        wait_hits(h, {"deny-a": 2, "deny-b": 2, "gone": 1, "api": 0})
        # a rule renamed is another series; the old one goes
        settle(h)
        rewrite_conf(h, "name=deny-b", "name=deny-b2")
        h.restart(graceful=True)
        settle(h)
        h.restart(graceful=True)
        http(h.port, "/b")
        wait_hits(h, {"deny-a": 2, "deny-b2": 1, "gone": 1, "api": 0})
    finally:
        stop_server(h)


@ONE_PROCESS
def test_off_then_on_by_graceful_restarts_starts_from_zero():
    """The responses served while Off are not counted: when counting starts
    again it starts from zero, with a new start time Prometheus sees as a
    reset."""
    h = start_server_obj(pyhttpd.Httpd(
        HEAD + "<Location /gone>\n    StatusSet 404.13\n</Location>\n",
        name="metrics-offon-graceful"))
    try:
        for _ in range(3):
            http(h.port, "/gone")
        got = wait_for(h, resp(404, 13), 3)
        start = got[("apache_status_set_start_time_seconds", ())]
        rewrite_conf(h, "StatusSetMetrics On", "StatusSetMetrics Off")
        h.restart(graceful=True)
        http(h.port, "/gone")
        rewrite_conf(h, "StatusSetMetrics Off", "StatusSetMetrics On")
        time.sleep(0.01)
        h.restart(graceful=True)
        got = parse(scrape(h).body.decode())
        assert got[resp(404, 13)] == 0
        assert got[("apache_status_set_start_time_seconds", ())] > start
    finally:
        stop_server(h)


@ONE_PROCESS
def test_a_full_restart_that_grows_the_table_warns_of_nothing(errlog):
    """The segment is sized and made before anything is reserved in it:
    no SS0011 for room that the new segment has (the errlog check fails
    the test on any)."""
    conf = HEAD + "".join("<Location /r%d>\n    StatusSet 403.%d\n"
                          "</Location>\n" % (i, i + 1) for i in range(2))
    h = start_server_obj(pyhttpd.Httpd(conf, name="metrics-grow"))
    try:
        more = "".join("<Location /s%d>\n    StatusSet 410.%d\n"
                       "</Location>\n" % (i, i + 1) for i in range(20))
        rewrite_conf(h, "<Location /r0>", more + "<Location /r0>")
        h.restart(graceful=False)
        got = parse(scrape(h).body.decode())
        assert all(got[resp(410, i + 1)] == 0 for i in range(20))
        assert len(hits(h)) == 23
        assert "SS0011" not in h.error_log()
    finally:
        stop_server(h)


@pytest.mark.parametrize("conf,message", [
    ("StatusSet 403 name=a\nStatusSet 404 name=a",
     "StatusSet: name=a is already the name of the rule at "),
    ("StatusSet 403 name=a\nStatusSetTrace 404 name=a",
     "StatusSetTrace: name=a is already the name of the rule at "),
    ("StatusSet 403 name=bad/name",
     "StatusSet: name=bad/name is not a rule name: 1 to 64 letters, digits "
     "and _ . : -"),
    ("StatusSetResponse 404 410 name=",
     "StatusSetResponse: name= is not a rule name"),
    ("StatusSet 403 name=%s" % ("x" * 65), "is not a rule name"),
    ("StatusSetTrace 404 name=a name=b",
     "StatusSetTrace: name= is given twice"),
    ("StatusSet 403 name=a name=b", "StatusSet: name= is given twice"),
    # the counters' own sources (adversary, #16: a rule named "other" made
    # a second series labelled other, "api" added into the API's)
    ("StatusSet 403 name=other", "StatusSet: name=other is reserved: "
     "other, api and header:NAME name the counters' own sources"),
    ("StatusSetResponse 404 410 name=API", "name=API is reserved"),
    ("StatusSetTrace 404 name=header:X-St", "name=header:X-St is reserved"),
])
def test_rule_name_errors(conf, message):
    assert_config_rejected(conf, message, name="metrics-names")


def test_a_trace_record_names_the_rules():
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetTraceLog logs/trace.log\n"
        "StatusSetTrace 4xx name=client-errors\n"
        "<Location /a>\n    StatusSet 403.1 name=deny-a\n</Location>\n",
        name="trace-names"))
    try:
        http(h.port, "/a")
        recs = wait_records(h, "logs/trace.log", 1)
        rec, = recs
        assert rec["rule"] == "client-errors"
        assert rec["source"] == "deny-a"
        assert rec["chain"][0]["source"] == "deny-a"
    finally:
        stop_server(h)


@ONE_PROCESS
def test_a_long_request_in_an_old_child_holds_only_its_own_cells(errlog):
    """A request of generation 0 that outlives four graceful restarts keeps
    the cells of the rules it knew, not those of rules removed after it
    (adversary, #16: it held every cell freed after it, and new rules
    counted as other)."""
    # Children of old generations hold their scoreboard slots while they
    # finish; on a loaded machine worker says so (once a second) while the
    # restarts pile up.  The request lasts 15 s so that the four restarts
    # fit in it there too (CI once took more than 8 s).
    errlog.expect("AH00288")
    h = start_server_obj(pyhttpd.Httpd(
        HEAD.replace("Capacity 1", "Capacity 4") +
        "Timeout 60\n<IfModule !mpm_prefork_module>\n"
        "    ServerLimit 8\n</IfModule>\n"
        "<Location /cgi/>\n    SetHandler cgi-script\n"
        "    Options +ExecCGI\n</Location>\n"
        "# rules\n<Location /r0>\n    StatusSet 403 name=gen0\n"
        "</Location>\n",
        files={"htdocs/cgi/slow.cgi": "#!/bin/sh\nsleep 15\n"
               "printf 'Content-Type: text/plain\\n\\nslow\\n'\n"},
        name="metrics-longreq"))
    slow = threading.Thread(target=lambda: raw(
        h.port, b"GET /cgi/slow.cgi HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Connection: close\r\n\r\n", timeout=30))
    try:
        slow.start()
        time.sleep(0.5)
        rules = "<Location /r0>\n    StatusSet 403 name=gen0\n</Location>\n"
        for gen in range(1, 5):
            new = "".join("<Location /r%d>\n    StatusSet 403 name=g%d_%d\n"
                          "</Location>\n" % (i, gen, i) for i in (1, 2))
            rewrite_conf(h, rules, new)
            rules = new
            h.restart(graceful=True)
            settle(h)
            for i in (1, 2):
                assert http(h.port, "/r%d" % i).status_line == \
                    b"HTTP/1.1 403 Forbidden"
            want = {"g%d_%d" % (gen, i): 1 for i in (1, 2)}
            want["api"] = 0
            wait_hits(h, want)
        assert slow.is_alive(), "the slow request ended too soon"
    finally:
        slow.join()
        stop_server(h)


@ONE_PROCESS
def test_counts_by_virtual_host_on_request(errlog):
    """StatusSetMetrics On vhost: responses_total carries the ServerName of
    the host that answered, in every format, kept across a graceful
    restart; the access log's %v agrees cell by cell."""
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetMetrics On vhost\nStatusSetMetricsCapacity 64\n"
        "LogFormat \"%v %>s.%^SS\" byhost\n"
        "CustomLog logs/byhost_log byhost\n"
        "<Location /metrics>\n    SetHandler status-set-metrics\n"
        "</Location>\n<Location /gone>\n    StatusSet 410.3\n</Location>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName a.test\n"
        "</VirtualHost>\n<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName b.test\n    StatusSet 404.2\n</VirtualHost>\n",
        name="metrics-vhost"))
    try:
        for host, path in (("a.test", "/gone"), ("a.test", "/nope"),
                           ("b.test", "/x"), ("b.test", "/x")):
            http(h.port, path, headers=["Host: " + host])
        h.restart(graceful=True)
        http(h.port, "/gone", headers=["Host: a.test"])
        deadline = time.time() + 5
        while True:
            log = {}
            with open(h.path("logs/byhost_log")) as f:
                for line in f:
                    host, cell = line.split()
                    key = (host,) + tuple(cell.split("."))
                    log[key] = log.get(key, 0) + 1
            doc = json.loads(scrape(h, "/metrics?format=json",
                                    "-H", "Host: a.test").body)
            got = {(r["vhost"], str(r["code"]), str(r["substatus"])):
                   r["count"] for r in doc["responses"] if r["count"]}
            # the scrape just made is not logged yet
            if got == log or time.time() > deadline:
                break
            time.sleep(0.1)
        assert got == log
        assert got[("a.test", "410", "3")] == 2
        assert got[("b.test", "404", "2")] == 2
        text = scrape(h, "/metrics", "-H", "Host: a.test").body.decode()
        assert 'apache_status_set_responses_total{vhost="b.test",code="404",' \
            'substatus="2"} 2' in text
    finally:
        stop_server(h)


def test_host_labels_are_one_per_host_as_the_access_log_writes_them():
    """Two ServerNames that differ only outside ASCII are two series,
    labelled as %v logs them (adversary, #16: both were caf??.test)."""
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetMetrics On vhost\n"
        "<Location /metrics>\n    SetHandler status-set-metrics\n"
        "</Location>\nListen 127.0.0.1:@PORT2@\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName caf\u00e9.test\n"
        "</VirtualHost>\n<VirtualHost 127.0.0.1:@PORT2@>\n"
        "    ServerName caf\u00e8.test\n</VirtualHost>\n",
        name="metrics-vhost-utf8", extra_ports=1))
    try:
        http(h.port, "/nope")
        http(h.extra_ports[0], "/nope")
        deadline = time.time() + 5
        while True:
            doc = json.loads(scrape(h, "/metrics?format=json").body)
            got = {r["vhost"]: r["count"] for r in doc["responses"]
                   if r.get("vhost") and r["code"] == 404}
            if len(got) == 2 or time.time() > deadline:
                break
            time.sleep(0.05)
        assert got == {"caf\\xc3\\xa9.test": 1, "caf\\xc3\\xa8.test": 1}
    finally:
        stop_server(h)


@pytest.mark.parametrize("conf,message", [
    ("StatusSetMetrics On hosts",
     "StatusSetMetrics: 'On hosts': expected On, On vhost, or Off"),
    ("StatusSetMetrics Off vhost",
     "StatusSetMetrics: 'Off vhost': expected On, On vhost, or Off"),
    ("StatusSetMetrics maybe",
     "StatusSetMetrics: 'maybe': expected On, On vhost, or Off"),
])
def test_metrics_mode_errors(conf, message):
    assert_config_rejected(conf, message, name="metrics-mode")
