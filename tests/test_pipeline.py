"""Where httpd's own parts meet the module (issue 9): mod_cache, httpd's word
splitting, the API and httpd's status-dependent paths (100-continue,
internal redirects), ProxyErrorOverride, byte ranges, subrequests and fast
redirects, the wire's phrase in the log, 3xx targets of response rules.

Each test here failed against the module before the fix it names.  The
backend is a mod_asis virtual host of the same server (@PORT2@), so every
backend status line and header is exact.
"""

import os
import re
import socket
import time

import pytest

import pyhttpd
from conftest import (BACKEND_VHOST, access, asis, curl, fields, http, new_id,
                      raw, start_server_obj, stop_server)
from pyhttpd import BASE_MODULES

MODULES = BASE_MODULES + ["proxy", "proxy_http", "asis", "cache",
                          "cache_socache", "socache_shmcb", "cache_disk"]

CONF = BACKEND_VHOST + r"""
LoadModule ss_test_module "@TESTMOD@"
ScriptAlias /cgi-bin/ "@ROOT@/cgi-bin/"
<Directory "@ROOT@/cgi-bin">
    Require all granted
</Directory>

# 1: the bridged header must never reach the cache or a client.
CacheSocache shmcb
CacheRoot "@ROOT@/cache"
CacheEnable socache /app/
CacheEnable disk /dapp/
CacheHeader on
ProxyPass /app/ http://127.0.0.1:@PORT2@/
ProxyPass /dapp/ http://127.0.0.1:@PORT2@/
<Location /app/>
    StatusSetFromHeader X-App-Status
</Location>
<Location /dapp/>
    StatusSetFromHeader X-App-Status
</Location>

# 2: words as httpd splits them, as mod_headers reads them.
<Location /tok/quote>
    StatusSet 403 "Quote Blocked" expr=%{HTTP:X-Block}=='yes'
</Location>
<Location /tok/php>
    StatusSet 403 "Php Blocked" expr=%{REQUEST_URI}=~m#\\.php$#
</Location>
<Location /tok/hdr>
    Header always set X-Php-Hdr yes expr=%{REQUEST_URI}=~m#\\.php$#
</Location>

# 3: API state kept until the status is decided.
<Location /api/>
    SetHandler ss-test
</Location>
<Location /denied/>
    Require all denied
    ErrorDocument 403 "denied text"
</Location>
<Location /ruled/>
    StatusSet 409.3 "Ruled Here"
</Location>

# 4: ProxyErrorOverride sends the backend's error through ap_die().
ProxyPass /peo/ http://127.0.0.1:@PORT2@/
<Location /peo/>
    ProxyErrorOverride On
    StatusSetFromHeader X-App-Status
</Location>

# 5: byte ranges are cut before the status line is written.
<Location /range/>
    StatusSetResponse 206 299 "Partial Rewritten"
</Location>
<Location /range2/>
    StatusSetResponse 200 200.5 "Tagged OK" error=3
</Location>

# 6: a subrequest's status stays on the subrequest.
<Directory "@ROOT@/htdocs/dir">
    DirectoryIndex index.html
</Directory>
<Location /dir/>
    SetHandler ss-test
</Location>
<Location /dir/index.html>
    SetHandler ss-test
</Location>

# 8: a 3xx target of a response rule carries its Location.
ProxyPass /moved/ http://127.0.0.1:@PORT2@/
<Location /moved/>
    StatusSetResponse 500 301 location=/elsewhere
</Location>

# 10: the client's URI in SS0001, every step logged, one status in the tags.
<Directory "@ROOT@/htdocs/idx">
    DirectoryIndex index.html
    <Files index.html>
        StatusSet 403.9 "Index Rule"
    </Files>
</Directory>
ProxyPass /chain/ http://127.0.0.1:@PORT2@/
<Location /chain/>
    StatusSetFromHeader X-App-Status
    StatusSetResponse 500 503.2 "Chained"
</Location>
<Location /rec/>
    StatusSet 503.1 "Down"
    ErrorDocument 503 /nonexistent/x.html
</Location>
<Location /rec2/>
    StatusSetResponse 404 410.3 "Gone Three"
    ErrorDocument 404 /nonexistent/x.html
</Location>

# The bridge header may come from mod_headers too (after ORIGIN ran).
<Location /hdr/>
    StatusSetFromHeader X-App-Status
    Header set X-App-Status "299.4 \"Via Headers\""
</Location>
<Location /hdrerr/>
    StatusSetFromHeader X-App-Status
    Require all denied
    Header always set X-App-Status "451.4 \"Legal\""
</Location>

<Location /mhk/>
    StatusSetFromHeader X-App-Status keep
    Header set X-App-Status "299.2 \"Via Headers\""
</Location>
<Location /denied2/>
    Require all denied
</Location>
<Location /denieddoc/>
    Require all denied
    ErrorDocument 403 /errdoc.html
</Location>
<Location /upg/>
    StatusSet 403.6 "IP Rejected"
    ErrorDocument 403 /errdoc.html
</Location>

# ProxyErrorOverride with an ErrorDocument that is a local URL.
ProxyPass /peodoc/ http://127.0.0.1:@PORT2@/
<Location /peodoc/>
    ProxyErrorOverride On
    StatusSetFromHeader X-App-Status
    ErrorDocument 500 /errdoc.html
</Location>

# The API from a subrequest of a page whose body is going out (SSI).
<Directory "@ROOT@/htdocs/ssi">
    Options +Includes
</Directory>

<Location /noerrpage/>
    StatusSet 403.6 "IP address rejected" error=5
    ErrorDocument 403 /missing-error-page.html
</Location>

# Review 4: a rule whose MATCH items overlap is tried once.
<Location /overlap/>
    StatusSetResponse 404,4xx 410 "Overlap" "expr=file('@ROOT@/no-such') == 'x'"
</Location>
# Review 4: a backend phrase with a quote cannot forge SS0001's fields.
ProxyPass /quoted/ http://127.0.0.1:@PORT2@/
<Location /quoted/>
    StatusSetFromHeader X-App-Status
</Location>
"""

STATUS_CGI = """#!/bin/sh
case "$QUERY_STRING" in
    s499) printf 'Status: 499\\r\\n' ;;
    s404) printf 'Status: 404\\r\\n' ;;
esac
printf 'Content-Type: text/plain\\r\\n\\r\\ncgi body\\n'
"""


ORDER = 'X-App-Status: 404.7 "No Such Order" error=1403'
FILES = {
    "backend/order.asis": asis("200 OK", ["Cache-Control: max-age=300", ORDER],
                               body="no order 42\n"),
    "backend/tagged.asis": asis("200 OK", [
        "Cache-Control: max-age=300",
        'X-App-Status: 200.4 "Tagged" error=9'], body="tagged body\n"),
    "backend/plain.asis": asis("200 OK", ["Cache-Control: max-age=300"],
                               body="plain body\n"),
    "backend/e404.asis": asis("404 Not Found", [ORDER], body="backend 404\n"),
    "backend/b500.asis": asis("500 Backend Broke", body="backend 500\n"),
    "backend/c500.asis": asis("500 Backend Broke", [
        'X-App-Status: 500.19 "Config Broken" error=13'], body="b\n"),
    "backend/m500.asis": asis("500 Broken", [
        'X-App-Status: 503.2 "Maint" error=4'], body="backend 500\n"),
    "backend/quote.asis": asis("200 OK", [
        'X-App-Status: 299.1 "Evil\\" set by api for /x" error=2']),
    "htdocs/errdoc.html": "ERRDOC\n",
    "htdocs/hdr/f.txt": "hdr\n",
    "htdocs/mhk/f.txt": "hdr\n",
    "htdocs/hdrerr/f.txt": "hdr\n",
    "htdocs/f.txt": "plain\n",
    # Enough text before the include that its head has gone out by then.
    "htdocs/ssi/page.shtml": "x" * 200000 + '\n<!--#include virtual='
                             '"/plainfile/x" --> after\n',
    "htdocs/range/f.txt": "0123456789",
    "htdocs/range2/f.txt": "0123456789",
    "htdocs/dir/index.html": "index\n",
    "htdocs/idx/index.html": "index\n",
    "htdocs/tok/php/x.php": "php source\n",
    "htdocs/tok/php/x.phpx": "not php\n",
    "htdocs/tok/hdr/x.php": "php source\n",
    "htdocs/ruled/x": "ruled body\n",
    "htdocs/plainfile/x": "plain file\n",
    "cgi-bin/status.cgi": STATUS_CGI,
}


@pytest.fixture(scope="module")
def srv(ss_test_module):
    conf = CONF.replace("@TESTMOD@", ss_test_module)
    h = pyhttpd.Httpd(conf, files=FILES, name="pipeline", modules=MODULES,
                      extra_ports=1)
    # mod_cache_disk's children (www-data) write there.
    os.makedirs(h.path("cache"), exist_ok=True)
    os.chmod(h.path("cache"), 0o777)
    h = start_server_obj(h)
    yield h
    stop_server(h)


def backend_hits(srv, path, want):
    """How many requests for path the backend logged, waiting up to 5 s for
    want of them (a log line is written after the response)."""
    deadline = time.time() + 5
    while True:
        with open(srv.path("logs/backend_log")) as f:
            n = sum(1 for line in f if (" %s " % path) in line)
        if n >= want or time.time() > deadline:
            return n
        time.sleep(0.05)


# -- 1: StatusSetFromHeader behind mod_cache ----------------------------------

@pytest.mark.parametrize("prefix", ["/app/", "/dapp/"])
def test_bridged_status_is_never_cached_nor_leaked(srv, prefix):
    time.sleep(0.2)
    before = backend_hits(srv, "/order.asis", 0)
    for _ in range(3):
        r = http(srv.port, prefix + "order.asis")
        assert r.status_line == b"HTTP/1.1 404 No Such Order"
        assert r.header("X-App-Status") is None
        assert r.body == b"no order 42\n"
        assert fields(access(srv, r)) == ("404", "7", "1403", "No Such Order")
    # Every request went to the backend: nothing was stored.
    assert backend_hits(srv, "/order.asis", before + 3) == before + 3


@pytest.mark.parametrize("prefix", ["/app/", "/dapp/"])
def test_bridged_200_keeps_substatus_on_every_request(srv, prefix):
    for _ in range(3):
        r = http(srv.port, prefix + "tagged.asis")
        assert r.status_line == b"HTTP/1.1 200 Tagged"
        assert r.header("X-App-Status") is None
        assert fields(access(srv, r)) == ("200", "4", "9", "Tagged")


@pytest.mark.parametrize("prefix", ["/app/", "/dapp/"])
def test_plain_response_is_still_cached(srv, prefix):
    """The set-up caches: without a setter, the second answer is a hit."""
    http(srv.port, prefix + "plain.asis")
    time.sleep(0.1)
    r = http(srv.port, prefix + "plain.asis")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-Cache") and r.header("X-Cache").startswith("HIT")


# -- 2: httpd's word splitting -------------------------------------------------

def test_quote_inside_a_word_as_mod_headers_reads_it(srv):
    assert http(srv.port, "/tok/quote", headers=["X-Block: yes"]) \
        .status_line == b"HTTP/1.1 403 Quote Blocked"
    assert http(srv.port, "/tok/quote", headers=["X-Block: no"]).code == 404


def test_backslashes_unescaped_as_for_every_directive(srv):
    """`\\\\.` is `\\.` in httpd's words: the deny rule matches .php."""
    r = http(srv.port, "/tok/php/x.php")
    assert r.status_line == b"HTTP/1.1 403 Php Blocked"
    assert http(srv.port, "/tok/php/x.phpx").code == 200
    # mod_headers, same expression, same file: the same verdict.
    assert http(srv.port, "/tok/hdr/x.php").header("X-Php-Hdr") == "yes"


# -- 3: the API does not write r->status early ---------------------------------

def test_api_status_then_100_continue_body_is_read(srv):
    tid = new_id()
    head = ("POST /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test-Id: %s\r\n"
            "X-SS-Phase: handler\r\nX-SS-Call1: 422 0 0 Unprocessable%%20Thing"
            "\r\nX-SS-Read-Body: 1\r\nExpect: 100-continue\r\n"
            "Content-Length: 5\r\nConnection: close\r\n\r\n" % tid)
    with socket.create_connection(("127.0.0.1", srv.port), 10) as s:
        s.sendall(head.encode())
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        s.sendall(b"hello")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 422 Unprocessable Thing\r\n"), data
    assert b"body=5\n" in data
    a = pyhttpd.parse_access(srv.access_line(tid))
    assert fields(a) == ("422", "0", "0", "Unprocessable Thing")


def test_api_status_then_redirect_to_denied_url(srv, errlog):
    errlog.expect("AH01630")    # client denied by server configuration
    r = http(srv.port, "/api/x", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 451 7 0 Legal%20Hold",
        "X-SS-Redirect: /denied/x"])
    assert r.status_line == b"HTTP/1.1 403 Forbidden"
    assert r.body == b"denied text"
    a = access(srv, r)
    assert fields(a) == ("403", "0", "0", "Forbidden")
    assert a["note_sub"] == "-"


def test_api_status_then_redirect_to_denied_url_h2(srv, errlog):
    errlog.expect("AH01630")
    r = curl(srv.port, "/api/x", "--http2-prior-knowledge",
             "-H", "X-SS-Phase: handler", "-H", "X-SS-Call1: 451 7 0 Legal%20Hold",
             "-H", "X-SS-Redirect: /denied/x")
    assert r.status_line.startswith("HTTP/2 403")
    assert r.body == b"denied text"
    assert fields(access(srv, r)) == ("403", "0", "0", "Forbidden")


def test_api_status_then_redirect_to_url_with_its_own_rule(srv):
    r = http(srv.port, "/api/x", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 451 7 0 Legal%20Hold",
        "X-SS-Redirect: /ruled/x"])
    assert r.status_line == b"HTTP/1.1 409 Ruled Here"
    assert fields(access(srv, r)) == ("409", "3", "0", "Ruled Here")


def test_api_status_survives_plain_redirect(srv):
    r = http(srv.port, "/api/x", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 451 7 0 Legal%20Hold",
        "X-SS-Redirect: /plainfile/x"])
    assert r.status_line == b"HTTP/1.1 451 Legal Hold"
    assert r.body == b"plain file\n"
    assert fields(access(srv, r)) == ("451", "7", "0", "Legal Hold")


def test_api_status_is_not_cut_into_ranges(srv):
    r = http(srv.port, "/api/x", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 422 0 0 -", "Range: bytes=0-3"])
    assert r.status_line == b"HTTP/1.1 422 Unprocessable Entity"
    assert r.header("Content-Range") is None
    assert r.body.startswith(b"get=0 status=422")


# -- 4: ProxyErrorOverride -----------------------------------------------------

def test_proxy_error_override_reads_the_bridge_header(srv):
    r = http(srv.port, "/peo/e404.asis")
    assert r.status_line == b"HTTP/1.1 404 No Such Order"
    assert r.header("X-App-Status") is None
    # httpd's own error page replaced the backend's body.
    assert b"<title>404 No Such Order</title>" in r.body
    assert fields(access(srv, r)) == ("404", "7", "1403", "No Such Order")


# -- 5: byte ranges ------------------------------------------------------------

def test_rule_sees_the_206_of_a_range(srv):
    r = http(srv.port, "/range/f.txt", headers=["Range: bytes=0-3"])
    assert r.status_line == b"HTTP/1.1 299 Partial Rewritten"
    assert r.body == b"0123"
    assert r.header("Content-Range") == "bytes 0-3/10"
    assert fields(access(srv, r)) == ("299", "0", "0", "Partial Rewritten")


def test_rule_on_200_does_not_fire_on_a_206(srv):
    r = http(srv.port, "/range2/f.txt", headers=["Range: bytes=0-3"])
    assert r.status_line == b"HTTP/1.1 206 Partial Content"
    a = access(srv, r)
    assert fields(a) == ("206", "0", "0", "Partial Content")
    assert a["note_reason"] == "-"
    r = http(srv.port, "/range2/f.txt")
    assert r.status_line == b"HTTP/1.1 200 Tagged OK"
    assert fields(access(srv, r)) == ("200", "5", "3", "Tagged OK")


def test_rule_sees_the_206_of_a_range_h2(srv):
    r = curl(srv.port, "/range/f.txt", "--http2-prior-knowledge", "-r", "0-3")
    assert r.status_line.startswith("HTTP/2 299")
    assert r.body == b"0123"
    assert fields(access(srv, r)) == ("299", "0", "0", "Partial Rewritten")


# -- 6: a subrequest's status stays there --------------------------------------

def test_subrequest_api_status_does_not_leak_through_fast_redirect(srv):
    r = http(srv.port, "/dir/", headers=["X-SS-Phase: subreq_fixups",
                                         "X-SS-Call1: 200 5 77 -"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    a = access(srv, r)
    assert fields(a) == ("200", "0", "0", "OK")
    assert (a["note_sub"], a["note_err"], a["env_sub"], a["env_err"]) == \
        ("-", "-", "-", "-")


# -- 7: %^SR is the phrase on the wire -----------------------------------------

@pytest.mark.parametrize("query,line,reason", [
    ("s499", b"HTTP/1.1 499 ", ""),
    ("s404", b"HTTP/1.1 404 Not Found", "Not Found"),
])
def test_logged_reason_is_the_wire_phrase(srv, query, line, reason):
    r = http(srv.port, "/cgi-bin/status.cgi?" + query)
    assert r.status_line == line
    assert access(srv, r)["reason"] == reason


# -- 8: a 3xx response rule needs and sends location= --------------------------

def test_response_rule_to_3xx_sends_location(srv):
    r = http(srv.port, "/moved/b500.asis")
    assert r.status_line == b"HTTP/1.1 301 Moved Permanently"
    assert r.header("Location") == "/elsewhere"


# -- 10: messages and one status in the tags -----------------------------------

def test_ss0001_names_the_clients_uri(srv, errlog):
    r = http(srv.port, "/idx/")
    assert r.status_line == b"HTTP/1.1 403 Index Rule"
    lines = errlog.lines_with("SS0001")
    assert len(lines) == 1 and lines[0].endswith(" for /idx/"), lines


def test_each_step_of_a_chain_is_logged(srv, errlog):
    r = http(srv.port, "/chain/c500.asis")
    assert r.status_line == b"HTTP/1.1 503 Chained"
    lines = errlog.lines_with("SS0001")
    assert len(lines) == 2, lines
    assert 'status 500.19 "Config Broken" error=13 set by ' \
           'header:X-App-Status' in lines[0]
    assert re.search(r'status 503\.2 "Chained" error=0 set by \S+:%d ' % (
        srv.conf_line('StatusSetResponse 500 503.2')), lines[1]), lines[1]
    assert fields(access(srv, r)) == ("503", "2", "0", "Chained")


def test_missing_errordocument_tags_describe_the_wire(srv):
    r = http(srv.port, "/noerrpage/x")
    assert r.status_line == b"HTTP/1.1 403 IP address rejected"
    assert b"Additionally, a " in r.body
    a = access(srv, r)
    # %>s is httpd's (the last request's); the tags are the wire's status.
    assert (a["sub"], a["error"], a["reason"]) == \
        ("6", "5", "IP address rejected")


# -- found by review: late headers, bodiless recursive errors, late calls ------

def test_bridge_header_set_by_mod_headers(srv):
    r = http(srv.port, "/hdr/f.txt")
    assert r.status_line == b"HTTP/1.1 299 Via Headers"
    assert r.header("X-App-Status") is None
    assert fields(access(srv, r)) == ("299", "4", "0", "Via Headers")


def test_bridge_header_set_by_mod_headers_always_on_error(srv, errlog):
    errlog.expect("AH01630")
    r = http(srv.port, "/hdrerr/f.txt")
    assert r.status_line == b"HTTP/1.1 451 Legal"
    assert r.header("X-App-Status") is None
    assert fields(access(srv, r)) == ("451", "4", "0", "Legal")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_failed_errordocument_tags_describe_the_wire(srv, method):
    r = http(srv.port, "/rec/x", method=method)
    assert r.status_line == b"HTTP/1.1 503 Down"
    a = access(srv, r)
    assert (a["sub"], a["reason"], a["note_sub"]) == ("1", "Down", "1")
    r = http(srv.port, "/rec2/x", method=method)
    assert r.status_line == b"HTTP/1.1 410 Gone Three"
    a = access(srv, r)
    assert (a["sub"], a["reason"], a["note_sub"], a["note_reason"]) == \
        ("3", "Gone Three", "3", "Gone Three")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_api_call_after_the_response_is_refused(srv, method):
    r = http(srv.port, "/f.txt", method=method, headers=[
        "X-SS-Phase: log_transaction", "X-SS-Call1: 299 9 9 Late%20Set"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert fields(access(srv, r)) == ("200", "0", "0", "OK")


def test_proxy_error_override_with_local_errordocument(srv):
    r = http(srv.port, "/peodoc/m500.asis")
    assert r.status_line == b"HTTP/1.1 503 Maint"
    assert r.header("X-App-Status") is None
    assert r.body == b"ERRDOC\n"
    assert fields(access(srv, r)) == ("503", "2", "4", "Maint")


def test_api_call_from_an_ssi_subrequest_is_recorded_there(srv, errlog):
    r = http(srv.port, "/ssi/page.shtml", headers=[
        "X-SS-Phase: subreq_fixups", "X-SS-Call1: 299 5 77 -"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body.endswith(b"\nplain file\n after\n")
    assert fields(access(srv, r)) == ("200", "0", "0", "OK")
    lines = errlog.lines_with("SS0001")
    assert len(lines) == 1 and "status 299.5" in lines[0], lines


# -- found by the second review ------------------------------------------------

def test_bridge_header_set_by_mod_headers_with_keep(srv):
    r = http(srv.port, "/mhk/f.txt")
    assert r.status_line == b"HTTP/1.1 299 Via Headers"
    assert r.header("X-App-Status") == '299.2 "Via Headers"'
    assert fields(access(srv, r)) == ("299", "2", "0", "Via Headers")


@pytest.mark.parametrize("path,page", [("/denied2/", None),
                                       ("/denieddoc/", b"ERRDOC\n")])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_api_call_after_an_error_response_is_refused(srv, errlog, method,
                                                     path, page):
    errlog.expect("AH01630")
    r = http(srv.port, path, method=method, headers=[
        "X-SS-Phase: log_transaction", "X-SS-Call1: 299 3 4 Api%20Late"])
    assert r.status_line == b"HTTP/1.1 403 Forbidden"
    if page and method == "GET":
        assert r.body == page
    a = access(srv, r)
    assert fields(a) == ("403", "0", "0", "Forbidden")
    assert (a["note_sub"], a["note_src"]) == ("-", "-")
    assert not errlog.lines_with("SS0001")


def test_h2c_upgrade_does_not_swallow_an_errordocument_status(srv):
    """curl --http2 on http:// asks to upgrade; the ErrorDocument's own
    request must not switch protocols (httpd would then send its page as
    a 200 on stream 1)."""
    r = curl(srv.port, "/upg/x", "--http2")
    assert r.status_line == "HTTP/1.1 403 IP Rejected"
    assert r.body == b"ERRDOC\n"
    assert fields(access(srv, r)) == ("403", "6", "0", "IP Rejected")


def test_httpds_own_error_after_an_api_call_is_not_marked_uncacheable(srv):
    """The API marks a response it sets as not cacheable (httpd then adds
    Expires); when httpd's own error replaces that status, the mark goes."""
    req = ("POST /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test-Id: %s\r\n"
           "X-SS-Phase: handler\r\nX-SS-Call1: 422 0 0 -\r\n"
           "X-SS-Read-Body: 1\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n" % new_id())
    (r,), _ = raw(srv.port, req.encode())
    assert r.status_line == b"HTTP/1.1 400 Bad Request"
    assert r.header("Expires") is None
    # The same call with a good body: the setter's status, not cacheable.
    r = http(srv.port, "/api/x", method="POST", body=b"hello", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 422 0 0 -", "X-SS-Read-Body: 1"])
    assert r.status_line == b"HTTP/1.1 422 Unprocessable Entity"
    assert r.header("Expires") == r.header("Date")


# Review 4 (finding 2): MATCH "404,4xx" puts one rule in two lists; its
# expr= must be evaluated once per response, not once per item.
def test_overlapping_match_items_evaluate_the_rule_once(srv, errlog):
    errlog.expect("SS0002")
    errlog.expect_match(r"\[status_set:error\] .* Evaluation of expression "
                        r"from .*httpd\.conf:\d+ failed: Cannot open file")
    r = http(srv.port, "/overlap/missing.txt")
    assert r.status_line == b"HTTP/1.1 404 Not Found"
    warn = [line for line in errlog.new_lines() if "SS0002:" in line]
    assert len(warn) == 1, warn


# Review 4 (finding 3): the phrase is escaped in SS0001, so a quote in it
# cannot end the quoted field early and forge "set by api".  httpd escapes
# the whole message again (a backslash is doubled): a reader undoes that
# layer first, then reads the quoted field with its \" escapes.
def test_ss0001_escapes_the_phrase(srv, errlog):
    r = http(srv.port, "/quoted/quote.asis")
    assert r.status_line == b'HTTP/1.1 299 Evil" set by api for /x'
    lines = errlog.lines_with("SS0001")
    assert len(lines) == 1, lines
    msg = lines[0].split("SS0001: ", 1)[1].replace("\\\\", "\\")
    m = re.fullmatch(r'status 299\.1 "((?:[^"\\]|\\.)*)" error=2 set by (\S+) '
                     r'for (\S+)', msg)
    assert m, msg
    assert re.sub(r'\\(.)', r'\1', m.group(1)) == 'Evil" set by api for /x'
    assert m.group(2, 3) == ("header:X-App-Status", "/quoted/quote.asis")
