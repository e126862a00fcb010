"""Contexts: rules and phrases of one vhost stay in it, and sections are
tried in the reverse of the order in which httpd merges them."""

import pytest

from conftest import access, http, start_server, stop_server

CONF = r"""
StatusSetReason 404 "Server Level Phrase"

# httpd merges <Location> sections in file order (the later one wins),
# <Directory> sections shortest path first, and <If> after all of them.
<Location /ord>
    StatusSet 403 "Outer Location"
</Location>
<Location /ord/inner>
    StatusSet 403 "Inner Location"
</Location>
<Location /rev/inner>
    StatusSet 403 "Inner First In File"
</Location>
<Location /rev>
    StatusSet 403 "Outer Last In File"
    <If "%{HTTP:X-If} == 'on'">
        StatusSet 403 "If Section"
    </If>
</Location>
<Directory "@ROOT@/htdocs/d2/sub">
    StatusSet 403 "Deep Directory"
</Directory>
<Directory "@ROOT@/htdocs/d2">
    StatusSet 403 "Shallow Directory"
</Directory>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName default.test
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vhost.test
    StatusSet 421.2 "Wrong Door" error=7 "expr=%{REQUEST_URI} =~ m#^/door#"
    StatusSetReason 404 "Not In This Vhost"
</VirtualHost>
"""

FILES = {"htdocs/door": "door\n", "htdocs/d2/sub/f.txt": "f\n"}


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


def test_later_location_section_is_tried_first(srv):
    r = http(srv.port, "/ord/inner/x")
    assert r.status_line == b"HTTP/1.1 403 Inner Location"
    # Not the most specific one: the one httpd merges last.
    r = http(srv.port, "/rev/inner/x")
    assert r.status_line == b"HTTP/1.1 403 Outer Last In File"


def test_if_section_beats_location(srv):
    r = http(srv.port, "/rev/inner/x", headers=["X-If: on"])
    assert r.status_line == b"HTTP/1.1 403 If Section"


def test_deeper_directory_beats_shallower_whatever_the_file_order(srv):
    r = http(srv.port, "/d2/sub/f.txt")
    assert r.status_line == b"HTTP/1.1 403 Deep Directory"
