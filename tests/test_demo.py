"""`make run`'s demo configuration and the README's curl examples.

The README promises that its examples work against `make run`: this runs
every one of them, as written but for the port, against conf/demo.conf.
"""

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
