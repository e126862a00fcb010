"""The monitoring that ships (SPEC 10, issue 18): monitoring/
status_set.rules.yml (recording and alerting rules) passes promtool's
checks and its own unit tests; a real Prometheus loads it, scrapes a real
apache2 whose traffic makes StatusSet5xxSubstatusHigh go pending; and every
expression of monitoring/grafana-dashboard.json returns data from that
Prometheus's HTTP API."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

import pyhttpd
from conftest import http, start_server, stop_server
from prom import PROMTOOL, Prometheus

MON = os.path.join(pyhttpd.TOP, "monitoring")
RULES = os.path.join(MON, "status_set.rules.yml")
DASHBOARD = os.path.join(MON, "grafana-dashboard.json")

pytestmark = pytest.mark.skipif(not os.path.exists(PROMTOOL),
                                reason="prometheus is not installed")


def promtool(*args):
    p = subprocess.run([PROMTOOL] + list(args), cwd=MON, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_promtool_checks_the_rules():
    rc, out = promtool("check", "rules", "status_set.rules.yml")
    assert rc == 0, out
    assert "SUCCESS: 7 rules found" in out, out


def test_promtool_runs_the_rules_unit_tests():
    rc, out = promtool("test", "rules", "status_set.rules.test.yml")
    assert rc == 0, out
    assert "SUCCESS" in out, out


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    return [(p["title"], t["expr"]) for p in dash["panels"]
            for t in p["targets"]]


def test_dashboard_uses_only_the_rules_and_the_modules_series():
    with open(RULES) as f:
        recorded = set(re.findall(r"record: (\S+)", f.read()))
    exprs = dashboard_exprs()
    assert len(exprs) == 6
    for title, expr in exprs:
        names = set(re.findall(r"\b([a-z_:]+:[a-z_:0-9]+|apache_status_set_"
                               r"[a-z_]+)\b", expr))
        assert names, (title, expr)
        for n in names:
            assert n in recorded or n.startswith("apache_status_set_"), n


CONF = """
StatusSetMetrics On
<Location /metrics>
    SetHandler status-set-metrics
</Location>
<Location /busy>
    StatusSet 503.2 "Backend Busy" name=backend-busy
</Location>
"""


@pytest.fixture(scope="module")
def stack():
    srv = start_server(CONF, {"htdocs/ok.txt": "ok\n"}, name="monitor")
    http(srv.port, "/ok.txt", method="HEAD")   # start-up lines logged
    rules = os.path.join(srv.root, "status_set.rules.yml")
    shutil.copy(RULES, rules)
    prom = Prometheus(["127.0.0.1:%d" % srv.port], rule_files=[rules])
    prom.start()
    yield srv, prom
    prom.stop()
    stop_server(srv)


def wait_for(what, fn, timeout=40):
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.5)


def test_real_traffic_makes_the_alert_pend_and_the_dashboard_shows_it(stack):
    srv, prom = stack
    prom.wait_for_scrape(time.time())
    # Two rounds of traffic a few scrapes apart, so that rate() has
    # samples on both sides: one response in five is 503.2.
    for _ in range(2):
        for i in range(50):
            r = http(srv.port, "/busy" if i % 5 == 0 else "/ok.txt")
            assert r.status_line in (b"HTTP/1.1 503 Backend Busy",
                                     b"HTTP/1.1 200 OK")
        prom.wait_for_scrape(time.time())
        time.sleep(1.5)

    ratio = wait_for("the 5xx-substatus ratio", lambda: prom.query(
        "instance:apache_status_set_5xx_substatus:ratio_rate5m"))
    (value,) = ratio.values()
    assert 0.05 < value <= 0.5, ratio

    def pending():
        alerts = prom.api("alerts")["alerts"]
        return [a for a in alerts
                if a["labels"]["alertname"] == "StatusSet5xxSubstatusHigh"
                and a["state"] == "pending"]
    (alert,) = wait_for("StatusSet5xxSubstatusHigh pending", pending)
    assert alert["labels"]["severity"] == "warning"
    assert alert["labels"]["instance"] == "127.0.0.1:%d" % srv.port
    # The table alerts stay quiet: nothing overflowed or was dropped.
    firing = [a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]]
    assert "StatusSetCounterTableFull" not in firing
    assert "StatusSetTraceRecordsDropped" not in firing

    for title, expr in dashboard_exprs():
        got = prom.query(expr.replace("$job", ".+"))
        assert got, "no data for panel %r: %s" % (title, expr)
    by_source = prom.query(dict(dashboard_exprs())[
        "Responses/s by rule or source"].replace("$job", ".+"))
    rates = {dict(k)["source"]: v for k, v in by_source.items()}
    assert rates.pop("backend-busy") > 0, by_source
    assert not any(rates.values()), by_source    # api, header:...: none
