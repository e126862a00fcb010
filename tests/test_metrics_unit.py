"""The counters (status_set_metrics.c), APR only, without a server: a C
driver (tests/unit/metrics_unit.c) counts into a segment in shared memory
and prints the JSON exposition.  Every case runs twice: built with gcc, and
built with clang under ThreadSanitizer, which fails the case on any data
race (halt_on_error)."""

import json
import os
import subprocess

import pytest

from conftest import build_unit

SOURCES = ["status_set_metrics.c", "status_set_expose.c"]


@pytest.fixture(scope="module", params=["plain", "tsan"])
def driver(request, tmp_path_factory):
    if request.param == "plain":
        return build_unit(tmp_path_factory, "metrics_unit", SOURCES,
                          ["-pthread", "-DSS_METRICS_TEST"])
    old = os.environ.get("CC")
    os.environ["CC"] = "clang"
    try:
        return build_unit(tmp_path_factory, "metrics_unit", SOURCES,
                          ["-pthread", "-DSS_METRICS_TEST",
                           "-fsanitize=thread", "-O1"])
    finally:
        if old is None:
            del os.environ["CC"]
        else:
            os.environ["CC"] = old


def run(driver, case):
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    p = subprocess.run([driver, case], capture_output=True, timeout=300,
                       env=env)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-4000:]
    assert b"ThreadSanitizer" not in p.stderr, p.stderr.decode()[-4000:]
    return json.loads(p.stdout)


def sources(doc):
    return [(s["source"], s["count"]) for s in doc["sources"]]


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
    assert all(c == total // 50 for n, c in sources(doc) if n != "api")
    assert doc["overflow"] == 0


def test_a_name_being_claimed_is_waited_for_not_made_twice(driver):
    """While one writer holds the claim lock with the slot written but not
    published, another counting the same name waits for the lock and then
    finds it: one series, no "other" (#10 and #16: a slow writer made a
    duplicate series, or its readers spun and counted as other)."""
    doc = run(driver, "wait")
    assert sources(doc) == [("/srv/www/.htaccess:3", 2), ("api", 0)]
    assert doc["overflow"] == 0


def test_a_writer_killed_while_claiming_stalls_nothing(driver):
    """A process killed between claim and publish: its slot is still free,
    the next writer claims it at once (#16: the slot stayed BUSY for good
    and every later request of that source spun, then counted as other)."""
    doc = run(driver, "dead")
    assert sources(doc) == [("/srv/www/.htaccess:3", 2), ("api", 0)]
    assert doc["overflow"] == 0


def test_a_segment_of_another_layout_is_never_read(driver):
    doc = run(driver, "layout")
    assert doc == {"own": 1, "short": 0, "other": 0, "garbage": 0}
