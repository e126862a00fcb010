"""Counters (issue 10, SPEC 9): every final response by code, substatus and
source, in shared memory across children and graceful restarts; exposed as
Prometheus text, OpenMetrics and JSON, and on mod_status's page.

Counts are taken after the response went out (log_transaction), so a scrape
right after a response may not see it yet: the tests wait for the figure
they expect, and fail with the last one seen.
"""

import json
import re
import time

import pytest

import pyhttpd
from conftest import (assert_config_rejected, curl, http, raw,
                      start_server_obj, stop_server)
from prom import Prometheus, openmetrics_check, promtool_check
from pyhttpd import BASE_MODULES

MODULES = BASE_MODULES + ["status"]

CONF = r"""
LoadModule ss_test_module "@TESTMOD@"
StatusSetMetrics On
StatusSetMetricsCapacity 4
<Location /metrics>
    SetHandler status-set-metrics
</Location>
<Location /server-status>
    SetHandler server-status
</Location>
<Location /gone>
    StatusSet 404.13 "Too Big"
</Location>
<Location /never>
    StatusSet 410.9 "Never Asked"
</Location>
<Location /api/>
    SetHandler ss-test
</Location>
<Location /hdr/>
    SetHandler ss-test
    StatusSetFromHeader X-App-Status
</Location>
<Location /inc.shtml>
    Options +Includes
</Location>
<Location /denied/>
    Require all denied
    ErrorDocument 403 /errdoc.html
</Location>
"""

FILES = {
    "htdocs/f.txt": "f\n",
    "htdocs/inc.shtml": '<!--#include virtual="/f.txt" -->'
                        '<!--#include virtual="/gone" -->\n',
    "htdocs/errdoc.html": "ERRDOC\n",
}

SAMPLE_RE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? '
                       r'(?P<value>\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): float} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, line
        labels = tuple(LABEL_RE.findall(m.group("labels") or ""))
        out[(m.group("name"), labels)] = float(m.group("value"))
    return out


def resp(code, sub):
    return ("apache_status_set_responses_total",
            (("code", str(code)), ("substatus", str(sub))))


def single(name):
    return ("apache_status_set_%s_total" % name, ())


def scrape(srv, path="/metrics", *args):
    r = curl(srv.port, path, *args)
    assert r.code == 200, r.status_line
    return r


def wait_for(srv, key, want, timeout=5.0):
    """Scrape until the sample key has value want; returns the last scrape's
    samples."""
    deadline = time.time() + timeout
    while True:
        got = parse(scrape(srv).body.decode())
        if got.get(key) == want or time.time() > deadline:
            assert got.get(key) == want, (key, got.get(key), want)
            return got
        time.sleep(0.05)


@pytest.fixture(scope="module")
def srv(ss_test_module):
    conf = CONF.replace("@TESTMOD@", ss_test_module)
    h = pyhttpd.Httpd(conf, files=FILES, name="metrics", modules=MODULES)
    h = start_server_obj(h)
    yield h
    stop_server(h)


def count(srv, key):
    return parse(scrape(srv).body.decode()).get(key, 0)


def test_counts_by_code_and_substatus(srv):
    before = count(srv, resp(404, 13))
    for _ in range(3):
        assert http(srv.port, "/gone").status_line == \
            b"HTTP/1.1 404 Too Big"
    wait_for(srv, resp(404, 13), before + 3)


def test_configured_pair_is_shown_before_its_first_response(srv):
    got = parse(scrape(srv).body.decode())
    assert got[resp(410, 9)] == 0


def test_every_response_counts_not_only_those_a_rule_set(srv, errlog):
    errlog.expect("AH01630")
    before = count(srv, resp(403, 0))
    assert http(srv.port, "/denied/x").status_line == \
        b"HTTP/1.1 403 Forbidden"
    # The ErrorDocument's internal redirect is one response, counted once.
    wait_for(srv, resp(403, 0), before + 1)


def test_sources_name_the_rule_the_api_and_the_header(srv):
    line = srv.conf_line('StatusSet 404.13 "Too Big"')
    rule = ("apache_status_set_rule_hits_total",
            (("source", "%s:%d" % (srv.conf_path, line)),))
    api = ("apache_status_set_rule_hits_total", (("source", "api"),))
    hdr = ("apache_status_set_rule_hits_total",
           (("source", "header:X-App-Status"),))
    got = parse(scrape(srv).body.decode())
    b_rule, b_api, b_hdr = (got.get(k, 0) for k in (rule, api, hdr))
    http(srv.port, "/gone")
    http(srv.port, "/api/x", headers=["X-SS-Phase: handler",
                                      "X-SS-Call1: 299 0 0 -"])
    http(srv.port, "/hdr/x", headers=["X-SS-Emit: 298.2"])
    wait_for(srv, rule, b_rule + 1)
    wait_for(srv, api, b_api + 1)
    wait_for(srv, hdr, b_hdr + 1)


def test_rejected_header_and_refused_api_call_are_counted(srv, errlog):
    errlog.expect("SS0004")
    got = parse(scrape(srv).body.decode())
    rej, ref = got[single("header_rejected")], got[single("api_refused")]
    r = http(srv.port, "/hdr/x", headers=["X-SS-Emit: 99"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    r = http(srv.port, "/api/x", headers=["X-SS-Phase: handler",
                                          "X-SS-Call1: 700 0 0 -"])
    assert r.header("X-SS-RC") == "22"
    wait_for(srv, single("header_rejected"), rej + 1)
    wait_for(srv, single("api_refused"), ref + 1)


def test_pairs_past_the_capacity_count_as_other(srv):
    # Room: the two configured pairs plus StatusSetMetricsCapacity 4.
    got = parse(scrape(srv).body.decode())
    over = got[single("overflow")]
    for sub in range(1, 9):
        http(srv.port, "/api/x", headers=["X-SS-Phase: handler",
                                          "X-SS-Call1: 297 %d 0 -" % sub])
    got = wait_for(srv, single("overflow"), over + 4 + 1)
    # The fifth source ("header:..." and "api" and the rules came first)
    # may take the overflow's last unit: count pairs only.
    cells = [k for k in got if k[0] == "apache_status_set_responses_total"
             and ("code", "297") in k[1]]
    kept = [k for k in cells if ("substatus", "other") not in k[1]]
    other = got[resp(297, "other")]
    assert sum(got[k] for k in kept) + other == 8
    assert other == 8 - len(kept)


def test_labels_never_carry_a_phrase_or_a_url(srv):
    http(srv.port, "/api/evil%22path", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 451 0 0 Secret%20Phrase"])
    text = scrape(srv).body.decode()
    assert "Secret" not in text and "evil" not in text


def test_promtool_accepts_the_exposition(srv):
    r = scrape(srv)
    assert r.header("Content-Type") == \
        "text/plain; version=0.0.4; charset=utf-8"
    ok, out = promtool_check(r.body.decode())
    assert ok, out


def test_a_real_prometheus_scrapes_and_answers_with_the_right_count(srv):
    prom = Prometheus(["127.0.0.1:%d" % srv.port]).start()
    try:
        for _ in range(5):
            http(srv.port, "/gone")
        want = count(srv, resp(404, 13))
        wait_for(srv, resp(404, 13), want)
        active = prom.wait_for_scrape(time.time())
        assert active[0]["lastError"] == "", active
        got = prom.query('apache_status_set_responses_total'
                         '{code="404",substatus="13"}')
        assert list(got.values()) == [want], got
        assert prom.query("up") and list(prom.query("up").values()) == [1]
        assert prom.query("apache_status_set_start_time_seconds")
    finally:
        out = prom.output()
        prom.stop()
    assert "level=error" not in out, out


def test_openmetrics_when_accept_asks_for_it(srv):
    r = scrape(srv, "/metrics", "-H",
               "Accept: application/openmetrics-text;version=1.0.0,"
               "text/plain;version=0.0.4;q=0.5")
    assert r.header("Content-Type") == \
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    text = r.body.decode()
    assert text.endswith("\n# EOF\n")
    assert "# TYPE apache_status_set_responses counter\n" in text
    assert "# TYPE apache_status_set_responses_total" not in text
    families = {f.name: f for f in openmetrics_check(text)}
    fam = families["apache_status_set_responses"]
    assert fam.type == "counter" and fam.documentation
    assert fam.samples and all(s.name == "apache_status_set_responses_total"
                               for s in fam.samples)
    assert families["apache_status_set_start_time_seconds"].type == "gauge"
    # A client that prefers the text format gets it.
    r = scrape(srv, "/metrics", "-H",
               "Accept: application/openmetrics-text;q=0.3,text/plain")
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")


def test_json_has_the_same_counts(srv):
    http(srv.port, "/gone")
    wait_for(srv, resp(404, 13), count(srv, resp(404, 13)))
    r = scrape(srv, "/metrics?format=json")
    assert r.header("Content-Type") == "application/json"
    doc = json.loads(r.body)
    text = parse(scrape(srv).body.decode())
    cell = [x for x in doc["responses"]
            if x["code"] == 404 and x["substatus"] == 13]
    assert cell and cell[0]["count"] == text[resp(404, 13)]
    assert doc["capacity"] == 6
    assert doc["start_time"] == text[("apache_status_set_start_time_seconds",
                                      ())]


def test_head_and_other_methods(srv):
    r = http(srv.port, "/metrics", method="HEAD")
    assert r.status_line == b"HTTP/1.1 200 OK" and r.body == b""
    assert int(r.header("Content-Length")) > 0
    r = http(srv.port, "/metrics", method="POST",
             headers=["Content-Length: 0"])
    assert r.status_line == b"HTTP/1.1 405 Method Not Allowed"
    allow = [m.strip() for m in r.header("Allow").split(",")]
    assert {"GET", "HEAD", "OPTIONS"} <= set(allow), allow
    r = http(srv.port, "/metrics", method="OPTIONS")
    assert r.status_line == b"HTTP/1.1 200 OK"
    # answered by the handler, as the 405 is: the same list, never a POST
    # that would then be refused (#16)
    options = [m.strip() for m in r.header("Allow").split(",")]
    assert sorted(options) == sorted(allow)
    assert "POST" not in options and r.body == b""


def test_json_only_for_the_format_parameter(srv):
    for q in ("format=json", "a=1&format=json", "x=1;format=json"):
        assert scrape(srv, "/metrics?" + q).header("Content-Type") == \
            "application/json", q
    for q in ("xformat=jsonp", "format=json2", "format=jsonx&y"):
        assert scrape(srv, "/metrics?" + q).header("Content-Type") \
            .startswith("text/plain; version=0.0.4"), q


def test_mod_status_page_and_auto(srv):
    http(srv.port, "/gone")
    deadline = time.time() + 5
    while True:
        r = curl(srv.port, "/server-status?auto")
        m = re.search(r"^StatusSetResponses\[404\.13\]: (\d+)$",
                      r.body.decode(), re.M)
        if m or time.time() > deadline:
            break
        time.sleep(0.05)
    assert m, r.body
    assert int(m.group(1)) == count(srv, resp(404, 13))
    assert re.search(r"^StatusSetOverflow: \d+$", r.body.decode(), re.M)
    # the same figures as the handler's, sources and trace_dropped too (#16)
    auto = dict(line.split(": ", 1) for line in r.body.decode().splitlines()
                if line.startswith("StatusSet"))
    doc = json.loads(scrape(srv, "/metrics?format=json").body)
    for src in doc["sources"]:
        assert int(auto["StatusSetRuleHits[%s]" % src["source"]]) \
            >= src["count"]
    assert len([k for k in auto if k.startswith("StatusSetRuleHits[")]) \
        == len(doc["sources"])
    assert int(auto["StatusSetTraceDropped"]) == doc["trace_dropped"]
    r = curl(srv.port, "/server-status")
    assert "trace records dropped: " in r.body.decode()
    assert "<h2>Responses by status (mod_status_set)</h2>" in r.body.decode()
    assert "<td>404.13</td>" in r.body.decode()


def test_http2_responses_count(srv):
    before = count(srv, resp(404, 13))
    r = curl(srv.port, "/gone", "--http2-prior-knowledge")
    assert r.code == 404
    wait_for(srv, resp(404, 13), before + 1)


@pytest.mark.skipif(pyhttpd.VALGRIND, reason="one process under valgrind")
def test_graceful_restart_keeps_counts_full_restart_resets(srv):
    http(srv.port, "/gone")
    got = wait_for(srv, resp(404, 13), count(srv, resp(404, 13)))
    n, start = got[resp(404, 13)], \
        got[("apache_status_set_start_time_seconds", ())]
    assert n >= 1
    srv.restart(graceful=True)
    got = parse(scrape(srv).body.decode())
    assert got[resp(404, 13)] == n
    assert got[("apache_status_set_start_time_seconds", ())] == start
    time.sleep(0.01)
    srv.restart(graceful=False)
    got = parse(scrape(srv).body.decode())
    assert got[resp(404, 13)] == 0
    assert got[resp(410, 9)] == 0      # still reserved
    assert got[("apache_status_set_start_time_seconds", ())] > start


def test_counts_equal_the_access_log(srv, errlog):
    """Every final response of this server (curl, raw HTTP/1.0, h2, errors,
    ErrorDocuments, API and header setters) in the counters as in %>s.%^SS
    of the access log, cell by cell, after a full restart zeroed both."""
    if pyhttpd.VALGRIND:
        pytest.skip("one process under valgrind")
    errlog.expect("AH01630")
    # mod_include's subrequest of a missing file (no rule runs in it)
    errlog.expect_match(r'unable to include "/gone"')
    srv.restart(graceful=False)
    with open(srv.path("logs/access_log"), "w"):
        pass
    for _ in range(2):
        http(srv.port, "/gone")
        http(srv.port, "/f.txt")
        http(srv.port, "/nope")
        http(srv.port, "/denied/x")
        http(srv.port, "/api/x", headers=["X-SS-Phase: handler",
                                          "X-SS-Call1: 299 7 0 -"])
        http(srv.port, "/hdr/x", headers=["X-SS-Emit: 298.2"])
        curl(srv.port, "/gone", "--http2-prior-knowledge")
        raw(srv.port, b"GET /f.txt HTTP/1.0\r\n\r\n")
        raw(srv.port, b"BAD\r\n\r\n")
        # a byte range (206), a body after 100-continue, and subrequests
        # (SSI of a file and of a URL a rule sets 404.13) count once each
        curl(srv.port, "/f.txt", "-r", "0-0")
        curl(srv.port, "/gone", "-H", "Expect: 100-continue", "-d", "x" * 2000)
        curl(srv.port, "/inc.shtml")
    deadline = time.time() + 5
    while True:
        log = {}
        for line in srv.access_log().splitlines():
            m = re.search(r'" (\d{3})\.(\d+) ', line)
            assert m, line
            key = resp(m.group(1), m.group(2))
            log[key] = log.get(key, 0) + 1
        got = parse(scrape(srv).body.decode())
        cells = {k: v for k, v in got.items()
                 if k[0] == "apache_status_set_responses_total" and v}
        # The scrape just made is not logged yet; earlier ones are.
        if cells == log or time.time() > deadline:
            break
        time.sleep(0.1)
    assert cells == log


def test_metrics_off_serves_nothing_and_counts_nothing(errlog):
    errlog.expect("SS0012")
    h = pyhttpd.Httpd("<Location /metrics>\n SetHandler status-set-metrics\n"
                      "</Location>\n", name="metrics-off")
    h = start_server_obj(h)
    try:
        r = http(h.port, "/metrics")
        assert r.status_line == b"HTTP/1.1 404 Not Found"
    finally:
        stop_server(h)


@pytest.mark.parametrize("conf,message", [
    ("<VirtualHost 127.0.0.1:@PORT@>\nStatusSetMetrics On\n</VirtualHost>",
     "StatusSetMetrics cannot occur within <VirtualHost> section"),
    ("StatusSetMetricsCapacity 0",
     "StatusSetMetricsCapacity: '0' is not a number of pairs from 1 to 65536"),
    ("StatusSetMetricsCapacity 12x",
     "StatusSetMetricsCapacity: '12x' is not a number of pairs"),
    ("StatusSetMetrics maybe",
     "StatusSetMetrics: 'maybe': expected On, On vhost, or Off"),
])
def test_config_errors(conf, message):
    assert_config_rejected(conf, message, name="metrics-conf")


def rewrite_conf(h, old, new):
    with open(h.conf_path) as f:
        conf = f.read()
    assert old in conf, old
    with open(h.conf_path, "w") as f:
        f.write(conf.replace(old, new))


@pytest.mark.skipif(pyhttpd.VALGRIND, reason="one process under valgrind")
def test_off_at_a_full_restart_then_on_at_a_graceful_starts_from_zero(
        errlog):
    """Counts of before a full restart never come back (adversary, #10)."""
    errlog.expect("SS0012")
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetMetrics On\n<Location /metrics>\n"
        "    SetHandler status-set-metrics\n</Location>\n"
        "<Location /gone>\n    StatusSet 404.13\n</Location>\n",
        name="metrics-offon"))
    try:
        for _ in range(3):
            http(h.port, "/gone")
        got = wait_for(h, resp(404, 13), 3)
        start = got[("apache_status_set_start_time_seconds", ())]
        rewrite_conf(h, "StatusSetMetrics On", "StatusSetMetrics Off")
        h.restart(graceful=False)
        assert http(h.port, "/metrics").status_line == \
            b"HTTP/1.1 404 Not Found"
        rewrite_conf(h, "StatusSetMetrics Off", "StatusSetMetrics On")
        h.restart(graceful=True)
        got = parse(scrape(h).body.decode())
        assert got[resp(404, 13)] == 0
        assert got[("apache_status_set_start_time_seconds", ())] > start
    finally:
        stop_server(h)


def test_configured_sources_have_room_whatever_the_capacity():
    """Every rule of the configuration keeps its own source series, even
    with room for one more (adversary, #10)."""
    conf = "StatusSetMetrics On\nStatusSetMetricsCapacity 1\n" \
        "<Location /metrics>\n    SetHandler status-set-metrics\n" \
        "</Location>\n" + "".join(
            "<Location /r%d>\n    StatusSet 403\n</Location>\n" % i
            for i in range(3))
    h = start_server_obj(pyhttpd.Httpd(conf, name="metrics-sources"))
    def hits(got):
        return {dict(k[1])["source"]: v for k, v in got.items()
                if k[0] == "apache_status_set_rule_hits_total"}
    try:
        # shown from the start, as configured pairs are
        rules = {"%s:%d" % (h.conf_path, h.conf_line("<Location /r%d>" % i)
                            + 1): 0 for i in range(3)}
        assert hits(parse(scrape(h).body.decode())) == dict(rules, api=0)
        for i in range(3):
            http(h.port, "/r%d" % i)
        got = wait_for(h, ("apache_status_set_responses_total",
                           (("code", "403"), ("substatus", "0"))), 3)
        assert hits(got) == dict({k: 1 for k in rules}, api=0)
        assert got[single("overflow")] == 0
    finally:
        stop_server(h)


def test_failed_error_document_counts_what_went_out(errlog):
    """An ErrorDocument that fails: httpd sends the first request's error
    (here rewritten to 599.77) while %>s logs the ErrorDocument's 403; the
    counters and the trace record the 599.77 that went out, never a 403.77
    that no client saw (adversary, #10)."""
    errlog.expect("AH01630")
    h = start_server_obj(pyhttpd.Httpd(
        "StatusSetMetrics On\n<Location /metrics>\n"
        "    SetHandler status-set-metrics\n</Location>\n"
        "ErrorDocument 404 /locked/err.html\n"
        "<Location /locked>\n    Require all denied\n</Location>\n"
        "StatusSetResponse 404 599.77\n"
        "StatusSetTraceLog logs/trace.log\nStatusSetTrace 5xx,403\n",
        files={"htdocs/locked/err.html": "never\n"},
        name="metrics-errdoc"))
    try:
        r = http(h.port, "/nope")
        assert r.status_line.startswith(b"HTTP/1.1 599")
        got = wait_for(h, resp(599, 77), 1)
        assert got.get(resp(403, 77), 0) == 0
        deadline = time.time() + 5
        while True:
            try:
                with open(h.path("logs/trace.log")) as f:
                    recs = [json.loads(x) for x in f]
            except FileNotFoundError:
                recs = []
            if recs or time.time() > deadline:
                break
            time.sleep(0.05)
        rec, = recs
        assert (rec["status"], rec["substatus"]) == (599, 77)
    finally:
        stop_server(h)
