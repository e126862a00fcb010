"""Virtual host context: rules and phrases of one vhost stay in it."""

import pytest

from conftest import access, http, start_server, stop_server

CONF = r"""
StatusSetReason 404 "Server Level Phrase"
<VirtualHost 127.0.0.1:@PORT@>
    ServerName default.test
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vhost.test
    StatusSet 421.2 "Wrong Door" error=7 "expr=%{REQUEST_URI} =~ m#^/door#"
    StatusSetReason 404 "Not In This Vhost"
</VirtualHost>
"""

FILES = {"htdocs/door": "door\n"}


@pytest.fixture(scope="module")
def srv():
    h = start_server(CONF, FILES, name="vhost")
    yield h
    stop_server(h)


def test_vhost_rule_applies_in_its_vhost(srv):
    r = http(srv.port, "/door", headers=["Host: vhost.test"])
    assert r.status_line == b"HTTP/1.1 421 Wrong Door"
    a = access(srv, r)
    assert (a["sub"], a["error"]) == ("2", "7")
    line = srv.conf_line("StatusSet 421.2")
    assert a["note_src"] == "%s:%d" % (srv.conf_path, line)


def test_vhost_rule_not_in_other_vhost(srv):
    r = http(srv.port, "/door", headers=["Host: default.test"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"door\n"


def test_vhost_reason_overrides_server_reason(srv):
    r = http(srv.port, "/missing", headers=["Host: vhost.test"])
    assert r.status_line == b"HTTP/1.1 404 Not In This Vhost"
    r = http(srv.port, "/missing", headers=["Host: default.test"])
    assert r.status_line == b"HTTP/1.1 404 Server Level Phrase"
