"""Debian's Prometheus for the tests: `promtool check metrics` on an
exposition, and a real Prometheus server on a free loopback port with its
own storage directory, scraping the module's endpoint and answering
queries through its HTTP API.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from pyhttpd import free_port

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def promtool_check(text):
    """(ok, output) of promtool check metrics: ok only when it exits 0 and
    has nothing to say (a lint finding is a failure too)."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    out = (p.stdout + p.stderr).strip()
    return p.returncode == 0 and not out, out


def openmetrics_check(text):
    """The families of an OpenMetrics 1.0 exposition, parsed by the
    reference parser (python3-prometheus-client), which raises on any
    departure from the format; promtool reads only the 0.0.4 text format."""
    from prometheus_client.openmetrics.parser import \
        text_string_to_metric_families
    return list(text_string_to_metric_families(text))


class Prometheus:
    """One prometheus process scraping `targets` ("host:port") at
    `metrics_path` every `interval` seconds."""

    def __init__(self, targets, metrics_path="/metrics", interval=1,
                 rule_files=()):
        self.dir = tempfile.mkdtemp(prefix="ss-prom-")
        self.port = free_port()
        self.targets = targets
        self.conf = os.path.join(self.dir, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: %ds\n"
                    "  scrape_timeout: %ds\n"
                    "  evaluation_interval: %ds\n"
                    "rule_files: [%s]\n"
                    "scrape_configs:\n"
                    "  - job_name: apache\n"
                    "    metrics_path: %s\n"
                    "    static_configs:\n"
                    "      - targets: [%s]\n"
                    % (interval, interval, interval,
                       ", ".join(json.dumps(r) for r in rule_files),
                       json.dumps(metrics_path),
                       ", ".join(json.dumps(t) for t in targets)))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = None

    def start(self, timeout=60):
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.conf,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while True:
            try:
                if self._get("/-/ready").startswith(b"Prometheus"):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("prometheus did not start:\n"
                                     + self.output())
            time.sleep(0.2)

    def _get(self, path):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read()

    def output(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def api(self, path, **params):
        body = json.loads(self._get("/api/v1/%s?%s" % (
            path, urllib.parse.urlencode(params))))
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        """The instant vector of expr: {frozenset(labels): value}."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return {frozenset(s["metric"].items()): float(s["value"][1])
                for s in data["result"]}

    def wait_for_scrape(self, after, timeout=30):
        """Wait until every target was scraped successfully after the time
        `after` (seconds since the epoch); returns the targets."""
        deadline = time.time() + timeout
        while True:
            active = self.api("targets")["activeTargets"]
            done = [t for t in active if t["health"] == "up"
                    and _epoch(t["lastScrape"]) > after]
            if len(done) == len(self.targets):
                return active
            if time.time() > deadline:
                raise AssertionError("no scrape after %f: %r" % (after,
                                                                 active))
            time.sleep(0.2)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _epoch(stamp):
    """Seconds since the epoch of an RFC 3339 time as Prometheus writes
    it (nanoseconds, a zone offset or Z)."""
    from datetime import datetime
    date, _, rest = stamp.partition("T")
    clock = rest.rstrip("Z")
    zone = "+00:00"
    for sign in "+-":
        if sign in clock:
            clock, _, z = clock.partition(sign)
            zone = sign + z
    if "." in clock:
        whole, frac = clock.split(".")
        clock = "%s.%s" % (whole, frac[:6])
    else:
        clock += ".0"
    return datetime.fromisoformat("%sT%s%s" % (date, clock, zone)).timestamp()
