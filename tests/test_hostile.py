"""Hostile input from backends and clients (SPEC 2 and 8).

A backend header that is not a valid status value is ignored with exactly
one warning and leaves the response as it was; no byte of it reaches the
status line.  Absurd or broken requests, and clients that go away in the
middle of a body, never crash a child or desynchronise a connection.
"""

import socket

import pytest

from conftest import access, http, raw, start_server, stop_server

CONF = r"""
LoadModule ss_test_module "@TESTMOD@"
LimitRequestLine 1024
LimitRequestFieldSize 12000
<Location /emit>
    SetHandler ss-test
    StatusSetFromHeader X-App-Status
</Location>
<Location /api>
    SetHandler ss-test
</Location>
<Location /empty200>
    StatusSet 200.4 "Nothing Here"
</Location>
<Location /limited>
    LimitRequestBody 5
    StatusSet 202 "Accepted For Later"
    ErrorDocument 413 /errors/413.html
</Location>
ScriptAlias /limited-cgi/ "@ROOT@/cgi-bin/"
<Location /limited-cgi>
    LimitRequestBody 5
    StatusSetResponse 200 299 "Custom OK"
    ErrorDocument 413 /errors/413.html
</Location>
<Directory "@ROOT@/cgi-bin">
    Require all granted
</Directory>
StatusSetResponse 400,414 400.9 "Bad Request Seen"
StatusSetResponse 431 431.9 "Headers Too Big"
"""

# Values a backend might send in X-App-Status, %-encoded for X-SS-Emit.
BAD_VALUES = [
    ("99", "'99' is not a status"),
    ("600", "status code 600 is out of range"),
    ("1000", "'1000' is not a status"),
    ("abc", "'abc' is not a status"),
    ("%20", "a status is required"),
    ("404.70000", "substatus 70000 is out of range"),
    ("404.-1", "substatus in '404.-1' is not a number"),
    ("404.1.2", "substatus in '404.1.2' is not a number"),
    ("404%20%22unterminated", "unterminated quote"),
    ("404%20%22a%3Cb%22", "contains '<'"),
    ("404%20%22a%26b%22", "contains '&'"),
    ("404%20%22%3E%22", "contains '>'"),
    ("404%20%22ctl%01byte%22", "control byte 0x01"),
    ("404%20del%7F", "control byte 0x7f"),
    ("404%0D%0AX-Injected:%201", "control byte 0x0d"),
    ("404%0AX-Injected:%201", "control byte 0x0a"),
    ("404%20Evil%0D", "control byte 0x0d"),
    ("404%20error=abc", "error=abc is not a number"),
    ("404%20error=99999999999", "error=99999999999 is not a number"),
    ("404%20expr=true", "unknown option 'expr=true'"),
    ("404%20location=/x", "unknown option 'location=/x'"),
    ("404%20%22A%22%20%22B%22", "unexpected 'B'"),
    ("404%20%22%20padded%22", "starts or ends with white space"),
    ("404%20%22" + "x" * 10000 + "%22", "is 10000 bytes long"),
    ("404%20" + "y" * 10000, "is 10000 bytes long"),
]


FILES = {
    "htdocs/errors/413.html": "<p>too large</p>\n",
    "cgi-bin/cat.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n"
                       "\\r\\n'\ncat 2>/dev/null\n",
}


@pytest.fixture(scope="module")
def srv(ss_test_module):
    h = start_server(CONF.replace("@TESTMOD@", ss_test_module), FILES,
                     name="hostile")
    yield h
    stop_server(h)



def test_catalogue_is_large_enough():
    assert len(BAD_VALUES) >= 15


@pytest.mark.parametrize("value,why", BAD_VALUES,
                         ids=[v[:30] for v, _ in BAD_VALUES])
def test_bad_backend_header_ignored_with_one_warning(srv, errlog, value, why):
    errlog.expect("SS0004")
    r = http(srv.port, "/emit", headers=["X-SS-Emit: " + value])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-App-Status") is None
    assert r.header("X-Injected") is None
    warn = [line for line in errlog.new_lines() if "SS0004:" in line]
    assert len(warn) == 1, warn
    assert why in warn[0], warn[0]
    assert len(warn[0]) < 1000          # a 10 KB value is cut, not logged
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["note_src"]) == \
        ("200", "0", "0", "-")


def test_repeated_header_ignored(srv, errlog):
    errlog.expect("SS0004")
    r = http(srv.port, "/emit", headers=["X-SS-Emit: 404.1",
                                         "X-SS-Emit2: 404.1"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert len([x for x in errlog.new_lines() if "SS0004:" in x]) == 1


def test_valid_header_after_bad_ones(srv):
    r = http(srv.port, "/emit",
             headers=["X-SS-Emit: 409.3 %22Still Works%22 error=-1"])
    assert r.status_line == b"HTTP/1.1 409 Still Works"


# -- requests -------------------------------------------------------------

def test_absurd_url_rewritten_without_crash(srv, errlog):
    errlog.expect("AH00565")   # request failed: URI too long
    r = http(srv.port, "/" + "a" * 5000)
    assert r.status_line == b"HTTP/1.1 400 Bad Request Seen"
    r = http(srv.port, "/api")
    assert r.status_line == b"HTTP/1.1 200 OK"


def test_absurd_header_rewritten_without_crash(srv, errlog):
    errlog.expect("AH00561")   # request header exceeds LimitRequestFieldSize
    r = http(srv.port, "/api", headers=["X-Big: " + "b" * 20000])
    assert r.status_line in (b"HTTP/1.1 400 Bad Request Seen",
                             b"HTTP/1.1 431 Headers Too Big")
    assert http(srv.port, "/api").status_line == b"HTTP/1.1 200 OK"


def test_malformed_request_line(srv, errlog):
    errlog.expect("AH02430", "AH00126", "AH10173", "AH02418", "AH00566",
                  "AH00567", "AH00568", "AH00569", "AH02427")
    (r,), _ = raw(srv.port, b"GET /\x01bad HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.code == 400
    assert b"\x01" not in r.status_line


@pytest.mark.parametrize("path,headers", [
    ("/empty200", []),
    ("/api", ["X-SS-Phase: handler", "X-SS-Call1: 404 1 1 Gone%20Away"]),
])
def test_client_abort_mid_body(srv, errlog, path, headers):
    errlog.expect("AH01382", "AH02428", "AH00574", "AH01095", "AH10155")
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
            head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n" % path
            head += "".join(h + "\r\n" for h in headers) + "\r\n"
            s.sendall(head.encode() + b"z" * 1000)
    # Every child still serves, and a whole request still works.
    for _ in range(5):
        assert http(srv.port, "/api").status_line == b"HTTP/1.1 200 OK"
    assert "exit signal" not in srv.error_log()


@pytest.mark.parametrize("path", ["/limited", "/limited-cgi/cat.cgi"])
def test_request_body_too_large_is_httpds_error(srv, errlog, path):
    # httpd reports it with an error bucket: its 413 and ErrorDocument
    # stand, and nothing of ours is recorded for it.
    errlog.expect("AH01391", "AH02430", "AH01215", "AH01225", "AH01224",
                  "AH01226", "AH00574", "AH01270")
    errlog.expect_match(r"\[cgid:error\] .*(Timeout|End of script|"
                        r"request body)")
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("POST " + path + " HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           "10\r\n0123456789abcdef\r\n0\r\n\r\n").encode()
    (r,), _ = raw(srv.port, req)
    assert r.status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert r.body == b"<p>too large</p>\n"
    assert "Additionally" not in r.body.decode()


def test_pipelined_head_and_get(srv):
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("HEAD /empty200 HTTP/1.1\r\n" + host + "\r\n"
           "GET /empty200 HTTP/1.1\r\n" + host + "\r\n"
           "HEAD /emit HTTP/1.1\r\n" + host + "X-SS-Emit: 410.1\r\n\r\n"
           "GET /emit HTTP/1.1\r\n" + host + "X-SS-Emit: 410.1\r\n"
           "Connection: close\r\n\r\n").encode()
    (a, b, c, d), trailing = raw(srv.port, req, responses=4, heads=(0, 2))
    assert a.status_line == b.status_line == b"HTTP/1.1 200 Nothing Here"
    assert b.body == b""
    assert c.status_line == d.status_line == b"HTTP/1.1 410 Gone"
    assert d.body.startswith(b"get=0 status=200")
    assert trailing == b""


def test_http10_keepalive(srv):
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("GET /empty200 HTTP/1.0\r\n" + host +
           "Connection: keep-alive\r\n\r\n"
           "GET /emit HTTP/1.0\r\n" + host + "X-SS-Emit: 299\r\n\r\n").encode()
    (a, b), trailing = raw(srv.port, req, responses=2)
    assert a.status_line == b"HTTP/1.1 200 Nothing Here"
    assert a.header("Content-Length") == "0"
    assert b.status_line == b"HTTP/1.1 299 Successful"
    assert trailing == b""
