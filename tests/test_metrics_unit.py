"""The counters (status_set_metrics.c), APR only, without a server: a C
driver (tests/unit/metrics_unit.c) counts into a segment in plain memory
and prints the JSON exposition."""

import json
import subprocess

import pytest

from conftest import build_unit


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return build_unit(tmp_path_factory, "metrics_unit",
                      ["status_set_metrics.c", "status_set_expose.c"],
                      ["-pthread", "-DSS_METRICS_TEST"])


def run(driver, case):
    return json.loads(subprocess.run([driver, case], capture_output=True,
                                     check=True, timeout=120).stdout)


def sources(doc):
    return [(s["source"], s["count"]) for s in doc["sources"]]


def test_a_slow_writer_never_makes_a_source_twice(driver):
    """While one writer holds a claimed slot, another counting the same
    source waits, then counts it as "other": the source is listed once
    (adversary, #10: two identical series when a child was descheduled)."""
    doc = run(driver, "race")
    assert sources(doc) == [("a.conf:7", 1), ("other", 1)]
    assert doc["overflow"] == 1


def test_threads_lose_no_count(driver):
    doc = run(driver, "threads")
    total = 8 * 20000
    cells = {(r["code"], r["substatus"]): r["count"] for r in doc["responses"]}
    assert cells[(200, 0)] == total
    assert cells[(503, 0)] == total
    assert sum(v for (c, _), v in cells.items() if c == 404) == total
    assert len([k for k in cells if k[0] == 404]) == 30
    names = [n for n, _ in sources(doc)]
    assert len(names) == len(set(names)) == 51
    assert dict(sources(doc))["api"] == total
    assert sum(c for n, c in sources(doc) if n != "api") == total
    assert doc["overflow"] == 0
