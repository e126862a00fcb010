"""`make run`'s demo configuration and the README's curl examples.

The README promises that its examples work against `make run`: this runs
every one of them, as written but for the port, against conf/demo.conf.
"""

import os
import re
import subprocess

import pytest

from conftest import start_server, stop_server
from pyhttpd import (DEMO_EXTRA_PORTS, DEMO_FILES, DEMO_MODULES, TOP,
                     readme_examples)


@pytest.fixture(scope="module")
def demo():
    with open(TOP + "/conf/demo.conf") as f:
        conf = f.read()
    # The demo logs to the terminal; here the test's own log is enough.
    conf = conf.replace("CustomLog /dev/stdout iis", "")
    h = start_server(conf, DEMO_FILES, name="demo", modules=DEMO_MODULES,
                     extra_ports=DEMO_EXTRA_PORTS)
    yield h
    stop_server(h)


def test_readme_has_examples():
    assert len(readme_examples()) >= 8


@pytest.mark.parametrize("command,expected", readme_examples(),
                         ids=[c for c, _ in readme_examples()])
def test_readme_example(demo, errlog, command, expected):
    errlog.expect("AH01630")    # the demo's Require denial (/guarded)
    run_example(demo, command, expected)


def test_iis_guide_has_examples():
    assert len(readme_examples("docs/iis.md")) >= 9


@pytest.mark.parametrize("command,expected", readme_examples("docs/iis.md"),
                         ids=[c[:80] for c, _ in
                              readme_examples("docs/iis.md")])
def test_iis_guide_example(demo, errlog, command, expected):
    # Require ip's denial (403.6), a broken .htaccess (500.19), a full
    # connection pool (503.2)
    errlog.expect("AH01630", "AH00941")
    errlog.expect_match(r"\.htaccess: Invalid command 'NoSuchDirective'")
    run_example(demo, command, expected)


def run_example(demo, command, expected):
    command = command.replace(":8080/", ":%d/" % demo.port)
    p = subprocess.run(["bash", "-o", "pipefail", "-c", command],
                       capture_output=True, timeout=30)
    got = [line.rstrip() for line in
           p.stdout.decode("latin-1").replace("\r", "").splitlines()]
    assert got == expected, (command, p.stderr)


def iis_block(lang, needle):
    """The ```lang block of docs/iis.md that contains needle."""
    with open(TOP + "/docs/iis.md") as f:
        text = f.read()
    for block in text.split("```%s\n" % lang)[1:]:
        block = block.split("```")[0]
        if needle in block:
            return block
    raise KeyError(needle)


def test_iis_w3c_log_format(demo):
    """The guide's LogFormat, as written, logs IIS's W3C fields."""
    conf = iis_block("apache", "LogFormat").replace(
        "${APACHE_LOG_DIR}/access.log", "logs/w3c_log")
    h = start_server(conf + '<Location /old-api>\n    StatusSet 410.1 '
                     '"API v1 Retired" error=2\n</Location>\n',
                     {"htdocs/index.html": "index\n"}, name="iis-w3c")
    try:
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-A", "curl/test",
                        "http://127.0.0.1:%d/old-api" % h.port], check=True)
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-A", "curl/test",
                        "http://127.0.0.1:%d/?q=1" % h.port], check=True)
        h.stop()                    # the log lines are written by then
        with open(h.path("logs/w3c_log")) as f:
            lines = f.read().splitlines()
    finally:
        stop_server(h)
    (date, time_, sip, method, uri, query, port, user, cip, ua, ref,
     status, sub, win32, taken) = lines[0].split(" ")
    assert (sip, method, uri, query, port, user, cip, ua, ref) == (
        "127.0.0.1", "GET", "/old-api", "", str(h.port), "-", "127.0.0.1",
        '"curl/test"', '"-"')
    assert (status, sub, win32) == ("410", "1", "2") and int(taken) >= 0
    assert len(date) == 10 and len(time_) == 8
    fields = lines[1].split(" ")
    assert fields[5] == "?q=1" and fields[-4:-1] == ["200", "0", "0"]


def test_iis_failed_request_tracing_recipe(demo):
    """The guide's tracing block is valid configuration, and the demo's
    trace rule writes its record."""
    import json
    import time
    block = iis_block("apache", "StatusSetTrace")
    h = start_server(block.replace("${APACHE_LOG_DIR}", "logs"),
                     name="iis-freb")
    try:
        subprocess.run(["curl", "-s", "-o", "/dev/null",
                        "http://127.0.0.1:%d/nope" % h.port], check=True)
    finally:
        stop_server(h)
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-d", "x" * 2000,
                    "http://127.0.0.1:%d/upload" % demo.port], check=True)
    deadline = time.time() + 5
    while True:
        with open(demo.path("logs/trace.log")) as f:
            recs = [json.loads(x) for x in f if '"/upload"' in x]
        if recs or time.time() > deadline:
            break
        time.sleep(0.05)
    assert (recs[-1]["status"], recs[-1]["substatus"]) == (404, 13)


def test_iis_w3c_log_format_logs_the_clients_request_under_an_errordocument():
    """Issue 18: the guide's W3C format logs the method and query the client
    sent, also when a local ErrorDocument answered (httpd's redirect is a
    GET of the error page, without the query)."""
    conf = iis_block("apache", "LogFormat").replace(
        "${APACHE_LOG_DIR}/access.log", "logs/w3c_log")
    h = start_server(conf + 'ErrorDocument 404 /errors/404.html\n',
                     {"htdocs/errors/404.html": "no such page\n"},
                     name="iis-w3c-errdoc")
    try:
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                            "%{http_code}", "-d", "x=1",
                            "http://127.0.0.1:%d/nope?abc=1" % h.port],
                           check=True, capture_output=True, text=True)
        assert p.stdout == "404"
        h.stop()
        with open(h.path("logs/w3c_log")) as f:
            (line,) = f.read().splitlines()
    finally:
        stop_server(h)
    fields = line.split(" ")
    assert fields[3:6] == ["POST", "/nope", "?abc=1"], line
    assert fields[-4:-1] == ["404", "0", "0"], line


def test_iis_trace_rotation_recipe_is_not_rotated_twice_by_logrotate():
    """Issue 18: the guide's rotatelogs recipe keeps a bounded number of
    files (-n, as maxLogFiles) under a name that Debian's logrotate for
    apache2 does not rotate as well."""
    import fnmatch
    block = iis_block("apache", "StatusSetTrace")
    cmd = re.search(r'StatusSetTraceLog "\|([^"]+)"', block).group(1).split()
    assert cmd[0] == "/usr/bin/rotatelogs" and os.access(cmd[0], os.X_OK)
    assert cmd[1] == "-n" and int(cmd[2]) > 0
    target = cmd[3].replace("${APACHE_LOG_DIR}", "/var/log/apache2")
    with open("/etc/logrotate.d/apache2") as f:
        patterns = f.read().split("{")[0].split()
    assert patterns and not any(fnmatch.fnmatch(target, p)
                                for p in patterns), (target, patterns)


def test_iis_404_13_recipe_and_a_vhost_errordocument_413():
    """docs/iis.md: the 404.13 rule as written answers 404.13; with a local
    ErrorDocument 413 in the virtual host, the error page's request is
    outside the rule's <Location> and the client gets the 413, as the
    guide says; the rule placed to cover the page's URL too applies."""
    block = iis_block("apache", "LimitRequestBody 1000")
    files = {"htdocs/iis/upload": "upload\n",
             "htdocs/errors/413.html": "too large\n"}
    body = "x" * 2000
    for extra, want in (
            ("", b"HTTP/1.1 404 Content Too Long"),
            ("ErrorDocument 413 /errors/413.html\n",
             b"HTTP/1.1 413 Request Entity Too Large"),
            ("ErrorDocument 413 /errors/413.html\n<Location /errors/>\n"
             '    StatusSetResponse 413 404.13 "Content Too Long"\n'
             "</Location>\n", b"HTTP/1.1 404 Content Too Long")):
        h = start_server(block + extra, files, name="iis-404-13")
        try:
            p = subprocess.run(["curl", "-s", "-i", "-d", body,
                                "http://127.0.0.1:%d/iis/upload" % h.port],
                               capture_output=True, timeout=30)
            assert p.stdout.split(b"\r\n")[0] == want, (extra, p.stdout[:200])
        finally:
            stop_server(h)
