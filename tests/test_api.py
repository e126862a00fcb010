"""The C API (SPEC section 5) through a real third-party module.

tests/modules/mod_ss_test.c is compiled with apxs against mod_status_set.h
and calls ss_set_status()/ss_get_status() in the hook and with the
arguments that the request headers name; examples/mod_status_echo.c is the
IIS SetStatus sample.
"""

import pytest

from conftest import access, curl, http, start_server, stop_server
from pyhttpd import ECHO_MODULE

EINVAL, EGENERAL = 22, 20014

CONF = r"""
LoadModule ss_test_module "@TESTMOD@"
LoadModule status_echo_module "@ECHOMOD@"

# No StatusSetReason outside /api-reason: elsewhere the module's filter is
# inserted only because the API was called.
<Location /api>
    SetHandler ss-test
</Location>
<Location /api-reason>
    SetHandler ss-test
    StatusSetReason 499 "Client Closed Request"
</Location>
<Location /api-ed-page>
    SetHandler ss-test
    ErrorDocument 403 /errors/403.html
</Location>
<Location /api-ed-echo>
    SetHandler ss-test
    ErrorDocument 403 /status-echo
</Location>
<Location /status-echo>
    SetHandler status-echo
</Location>
<Location /rule-echo>
    StatusSet 403.6 "IP address rejected" error=5
    ErrorDocument 403 /status-echo
</Location>
<Location /plain-echo>
    Require all denied
    ErrorDocument 403 /status-echo
</Location>
"""

FILES = {"htdocs/errors/403.html": "<p>custom 403 page</p>\n"}


@pytest.fixture(scope="module")
def srv(ss_test_module):
    conf = CONF.replace("@TESTMOD@", ss_test_module)
    conf = conf.replace("@ECHOMOD@", ECHO_MODULE)
    h = start_server(conf, FILES, name="api")
    yield h
    stop_server(h)


def call(srv, path="/api", phase="handler", calls=(), ret=None, flush=False,
         method="GET"):
    headers = ["X-SS-Phase: " + phase]
    for i, c in enumerate(calls, 1):
        headers.append("X-SS-Call%d: %s" % (i, c))
    if ret is not None:
        headers.append("X-SS-Return: %d" % ret)
    if flush:
        headers.append("X-SS-Flush: 1")
    return http(srv.port, path, headers=headers, method=method)


def report(resp):
    """The handler's ss_get_status() report as a dict."""
    lines = resp.body.decode().splitlines()
    get = lines[-4]
    assert get.startswith("get=0 "), resp.body
    out = {"getnull": lines[-3], "getnullr": lines[-2], "rc": lines[-1]}
    head, reason = get.split(" reason=", 1)
    out["status"] = int(head.split("status=")[1])
    out["reason"], tail = reason.rsplit(" sub=", 1)
    sub, err = tail.split(" error=")
    out["sub"], out["error"] = int(sub), int(err)
    return out


def rcs(resp):
    return [int(x) for x in resp.header("X-SS-RC").split(",")]




# -- success ----------------------------------------------------------------

def test_handler_sets_status_and_sends_its_body(srv, errlog):
    r = call(srv, calls=["404 13 2 Not%20Here"])
    assert r.status_line == b"HTTP/1.1 404 Not Here"
    assert rcs(r) == [0]
    rep = report(r)
    assert (rep["status"], rep["reason"], rep["sub"], rep["error"]) == \
        (404, "Not Here", 13, 2)
    assert rep["getnull"] == "getnull=0"
    assert rep["getnullr"] == "getnullr=%d" % EINVAL
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("404", "13", "2", "Not Here")
    assert (a["note_sub"], a["note_err"], a["note_src"]) == ("13", "2", "api")
    assert (a["env_sub"], a["env_err"], a["env_reason"]) == \
        ("13", "2", "Not Here")
    logged = errlog.lines_with("SS0001")
    assert len(logged) == 1
    assert 'SS0001: status 404.13 "Not Here" error=2 set by api for /api' \
        in logged[0]


@pytest.mark.parametrize("path,spec,line", [
    ("/api-reason", "499 0 0 -", b"HTTP/1.1 499 Client Closed Request"),
    ("/api", "499 0 0 -", b"HTTP/1.1 499 Client Error"),
    ("/api", "201 0 0 -", b"HTTP/1.1 201 Created"),         # Apache's
    ("/api", "299 0 0 -", b"HTTP/1.1 299 Successful"),      # class
    ("/api", "200 0 0 Fine%20Thanks", b"HTTP/1.1 200 Fine Thanks"),
    ("/api", "599 65535 -2147483648 Edge%09Case%20%E9",
     b"HTTP/1.1 599 Edge\tCase \xe9"),
])
def test_reason_null_takes_default_phrase(srv, path, spec, line):
    r = call(srv, path, calls=[spec])
    assert rcs(r) == [0]
    assert r.status_line == line


def test_last_setter_wins(srv):
    r = call(srv, calls=["404 1 1 First", "410 2 -2 Second"])
    assert rcs(r) == [0, 0]
    assert r.status_line == b"HTTP/1.1 410 Second"
    rep = report(r)
    assert (rep["status"], rep["sub"], rep["error"]) == (410, 2, -2)


def test_get_without_setter_reports_current_status(srv):
    r = call(srv)
    assert r.status_line == b"HTTP/1.1 200 OK"
    rep = report(r)
    assert (rep["status"], rep["reason"], rep["sub"], rep["error"]) == \
        (200, "OK", 0, 0)


# -- errors: EINVAL, and nothing changes --------------------------------------

INVALID = [
    "nullr 0 0 Fine",            # NULL request
    "199 0 0 -", "100 0 0 -", "600 0 0 -", "0 0 0 -", "-404 0 0 -",
    "404 -1 0 -", "404 65536 0 -", "404 2147483647 0 -",
    "404 0 0 Bad%0D%0AX-Injected:%201",   # CR LF: response splitting
    "404 0 0 Bad%0AX-Injected:%201",
    "404 0 0 Bad%0D",
    "404 0 0 ctl%01byte", "404 0 0 del%7Fbyte", "404 0 0 esc%1B",
    "404 0 0 a%3Cb", "404 0 0 a%3Eb", "404 0 0 a%26b",
    "404 0 0 %20leading", "404 0 0 trailing%20", "404 0 0 tab%09",
    "404 0 0 " + "x" * 257,
]


@pytest.mark.parametrize("spec", INVALID)
def test_invalid_arguments_return_einval_and_change_nothing(srv, errlog, spec):
    r = call(srv, calls=[spec])
    assert rcs(r) == [EINVAL]
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-Injected") is None
    rep = report(r)
    assert (rep["status"], rep["reason"], rep["sub"], rep["error"]) == \
        (200, "OK", 0, 0)
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("200", "0", "0", "OK")
    assert a["note_src"] == "-" and a["env_sub"] == "-"
    assert not errlog.lines_with("SS0001")


def test_empty_reason_is_invalid(srv):
    # An empty %-encoded word cannot be written in the header: use "%00"
    # cut by C's string end, which leaves an empty phrase.
    r = call(srv, calls=["404 0 0 %00"])
    assert rcs(r) == [EINVAL]
    assert r.status_line == b"HTTP/1.1 200 OK"


@pytest.mark.parametrize("bad", ["404 0 0 Bad%0D%0AX-Injected:%201",
                                 "700 1 1 -", "404 99999 0 -"])
def test_error_after_success_keeps_first_status(srv, bad):
    r = call(srv, calls=["404 13 2 First", bad])
    assert rcs(r) == [0, EINVAL]
    assert r.status_line == b"HTTP/1.1 404 First"
    assert r.header("X-Injected") is None
    rep = report(r)
    assert (rep["status"], rep["reason"], rep["sub"], rep["error"]) == \
        (404, "First", 13, 2)
    a = access(srv, r)
    assert (a["sub"], a["error"], a["reason"]) == ("13", "2", "First")


def test_late_call_after_flush_is_egeneral(srv, errlog):
    r = call(srv, calls=["404 13 2 Too%20Late"], flush=True)
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body.startswith(b"early\n")
    assert b"rc=%d\n" % EGENERAL in r.body
    rep = report(r)
    assert (rep["status"], rep["sub"]) == (200, 0)
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("200", "0", "0")
    assert not errlog.lines_with("SS0001")


# -- phases -----------------------------------------------------------------

def test_post_read_request_default_phrase_is_the_servers(srv):
    # Before the URL is mapped only the server's configuration applies:
    # /api-reason's StatusSetReason is not known yet.
    r = call(srv, "/api-reason", phase="post_read_request",
             calls=["499 4 104 -"])
    assert rcs(r) == [0]
    assert r.status_line == b"HTTP/1.1 499 Client Error"
    assert report(r)["sub"] == 4


def test_output_filter_before_headers(srv):
    r = call(srv, phase="filter", calls=["502 3 -1 Upstream%20Sad"])
    assert rcs(r) == [0]
    assert r.status_line == b"HTTP/1.1 502 Upstream Sad"
    assert b"get=0 status=200" in r.body   # the handler ran before it
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("502", "3", "-1")


def test_fixups_then_same_error_goes_through_errordocument(srv):
    r = call(srv, "/api-ed-page", phase="fixups",
             calls=["403 6 5 IP%20address%20rejected"], ret=403)
    assert r.status_line == b"HTTP/1.1 403 IP address rejected"
    assert r.body == b"<p>custom 403 page</p>\n"
    assert rcs(r) == [0]
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("403", "6", "5")


def test_fixups_then_same_error_canned_page(srv):
    r = call(srv, "/api", phase="fixups",
             calls=["451 2 0 Unavailable%20Here"], ret=451)
    assert r.status_line == b"HTTP/1.1 451 Unavailable Here"
    assert b"<title>451 Unavailable Here</title>" in r.body


def test_later_failure_with_other_code_wins(srv):
    r = call(srv, "/api", phase="fixups", calls=["404 1 1 Mine"], ret=500)
    assert r.status_line == b"HTTP/1.1 500 Internal Server Error"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("500", "0", "0")
    assert a["note_src"] == "-"


def test_handler_returning_same_error(srv):
    r = call(srv, "/api-ed-page", calls=["403 9 0 Handler%20Says%20No"],
             ret=403)
    assert r.status_line == b"HTTP/1.1 403 Handler Says No"
    assert r.body == b"<p>custom 403 page</p>\n"


def test_head(srv):
    r = call(srv, calls=["404 13 2 Not%20Here"], method="HEAD")
    assert r.status_line == b"HTTP/1.1 404 Not Here"
    assert r.body == b""


# -- the echo example ---------------------------------------------------------

def test_echo_after_api_error(srv):
    r = call(srv, "/api-ed-echo", phase="fixups",
             calls=["403 6 5 IP%20address%20rejected"], ret=403)
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("Content-Type") == "text/plain"
    assert r.body == b"HTTP Status: 403.6 IP address rejected\n"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("200", "0", "0", "OK")


def test_echo_does_not_report_a_status_the_error_replaced(srv):
    # Set 404.7, then fail with 403: the ErrorDocument answers the 403.
    r = call(srv, "/api-ed-echo", calls=["404 7 0 -"], ret=403)
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"HTTP Status: 403.0 Forbidden\n"


def test_echo_after_status_set_rule(srv):
    r = http(srv.port, "/rule-echo")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"HTTP Status: 403.6 IP address rejected\n"


def test_echo_after_plain_apache_error(srv, errlog):
    errlog.expect("AH01630")   # client denied by server configuration
    r = http(srv.port, "/plain-echo")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"HTTP Status: 403.0 Forbidden\n"


def test_echo_called_directly(srv):
    r = http(srv.port, "/status-echo")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"HTTP Status: 200.0 OK\n"


# -- HTTP/2 -----------------------------------------------------------------

def test_http2_handler_call(srv):
    r = curl(srv.port, "/api", "--http2-prior-knowledge",
             "-H", "X-SS-Phase: handler", "-H", "X-SS-Call1: 404 13 2 Not%20Here")
    assert r.status_line.startswith("HTTP/2 404")
    assert r.header("x-ss-rc") == "0"
    a = access(srv, r)
    assert a["request"].endswith("HTTP/2.0")
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("404", "13", "2", "Not Here")


def test_http2_late_call_after_flush(srv):
    r = curl(srv.port, "/api", "--http2-prior-knowledge",
             "-H", "X-SS-Phase: handler", "-H", "X-SS-Flush: 1",
             "-H", "X-SS-Call1: 404 13 2 Too%20Late")
    assert r.status_line.startswith("HTTP/2 200")
    assert b"rc=%d\n" % EGENERAL in r.body


def test_http2_echo(srv):
    r = curl(srv.port, "/rule-echo", "--http2-prior-knowledge")
    assert r.status_line.startswith("HTTP/2 200")
    assert r.body == b"HTTP Status: 403.6 IP address rejected\n"
