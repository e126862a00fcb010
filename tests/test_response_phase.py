"""StatusSetResponse and StatusSetFromHeader (SPEC sections 3, 4 and 6).

The server proxies to a backend virtual host of its own (@PORT2@) that
serves mod_asis files, so every backend status line and header is exact;
@PORT3@ is a port where nothing listens (a dead backend).  mod_cache caches
/cached/ in shared memory; @PORT4@ is a virtual host with CacheQuickHandler
off.
"""


import pytest

from conftest import access, asis, curl, http, raw, start_server, stop_server
from pyhttpd import BASE_MODULES

MODULES = BASE_MODULES + ["proxy", "proxy_http", "asis", "cache",
                          "cache_socache", "socache_shmcb"]

CONF = r"""
LoadModule ss_test_module "@TESTMOD@"
ScriptAlias /cgi-bin/ "@ROOT@/cgi-bin/"
<Directory "@ROOT@/cgi-bin">
    Require all granted
</Directory>

Listen 127.0.0.1:@PORT2@
<VirtualHost 127.0.0.1:@PORT2@>
    DocumentRoot "@ROOT@/backend"
    CustomLog "@ROOT@/logs/backend_log" tests
    <Directory "@ROOT@/backend">
        Require all granted
        AddHandler send-as-is .asis
    </Directory>
</VirtualHost>

ProxyPass /backend/ http://127.0.0.1:@PORT2@/
ProxyPass /keep/ http://127.0.0.1:@PORT2@/
ProxyPass /cached/ http://127.0.0.1:@PORT2@/
ProxyPass /dead/ http://127.0.0.1:@PORT3@/ retry=0

<Location /backend/>
    StatusSetFromHeader X-App-Status
    StatusSetReason 404 "Table Phrase"
</Location>
<Location /backend/mapped/>
    StatusSetResponse 500-599 503.4 "Backend Trouble" error=11
</Location>
<Location /cgi-bin/>
    StatusSetFromHeader X-App-Status
</Location>
<Location /keep/>
    StatusSetFromHeader X-App-Status keep
</Location>
<Location /dead/>
    StatusSetResponse 502-503 503.7 "Backend Down" error=111
</Location>

# mod_cache serves hits from its quick handler, before <Location> sections
# are merged: there, only server and virtual-host rules apply.  With
# CacheQuickHandler off (the vhost on @PORT4@) every rule does.
CacheSocache shmcb
CacheEnable socache /cached/
CacheHeader on
# (The backend vhost inherits server rules too: keep it out by port.)
StatusSetResponse 200 202.5 "Server Level On Hits" "expr=%{HTTP:X-Cache-Rule} == 'on' && %{SERVER_PORT} == '@PORT@'"
Listen 127.0.0.1:@PORT4@
<VirtualHost 127.0.0.1:@PORT4@>
    CacheQuickHandler off
    ProxyPass /cached/ http://127.0.0.1:@PORT2@/
    <Location /cached/>
        StatusSetResponse 200 203 "Served Here"
    </Location>
</VirtualHost>

<Location /rw/exact>
    StatusSetResponse 404 410.3 "Gone For Now" error=9
</Location>
<Location /rw/sub>
    StatusSet 403.6 "IP address rejected" "expr=%{HTTP:X-Six} == 'on'"
    StatusSet 403.7 "Other Reason"
    StatusSetResponse 403.6 404
</Location>
<Location /rw/class>
    StatusSetResponse 4xx 400.1 "Bad Anything"
</Location>
<Location /rw/range>
    StatusSetResponse 500-504 503.2 "Range Hit"
</Location>
ScriptAlias /rw/range/cgi/ "@ROOT@/cgi-bin/"
<Location /rw/star>
    StatusSetResponse * 299 "Star"
</Location>
<Location /rw/list>
    StatusSetResponse 201,404.2,3xx,500-501 299 "In The List"
</Location>
ScriptAlias /rw/list/cgi/ "@ROOT@/cgi-bin/"
<Location /rw/tofine>
    StatusSetResponse 404 200 "Fine After All"
</Location>
<Location /rw/to204>
    StatusSetResponse 200 204
</Location>
<Location /rw/304>
    StatusSetResponse 304 200 "Not Modified Really"
</Location>
<Location /rw/expr>
    StatusSetResponse 200 451 "By Header" "expr=%{resp:X-Flag} == 'yes'"
</Location>
ScriptAlias /rw/expr/cgi/ "@ROOT@/cgi-bin/"
<Location /rw/order>
    StatusSetResponse 200 452 "Only With Header" "expr=%{HTTP:X-First} == 'on'"
    StatusSetResponse 200 453 "First Plain Rule"
    StatusSetResponse 200 454 "Second Plain Rule"
</Location>
StatusSetResponse 200 455 "Server Rule" "expr=%{HTTP:X-Server-Rule} == 'on'"
<Location /rw/nested>
    StatusSetResponse 200 456 "Outer" "expr=%{HTTP:X-Outer} == 'on'"
</Location>
<Location /rw/nested/inner>
    StatusSetResponse 200 457 "Inner" "expr=%{HTTP:X-Inner} == 'on'"
</Location>
<Location /rw/ed>
    ErrorDocument 404 "custom not found text"
    StatusSetResponse 404 410.1 "Gone With Text"
</Location>
<Location /rw/edlocal>
    StatusSet 403.2 "Local Page"
    ErrorDocument 403 /errors/403.html
</Location>
<Location /errors/403.html>
    StatusSetResponse 403 409.8 "From The Page Rules"
</Location>
<Location /rw/ssi>
    StatusSetResponse * 299 "Never On Subrequests"
</Location>
<Directory "@ROOT@/htdocs/ssi">
    Options +Includes
</Directory>

CacheEnable socache /apicache/
<Location /apicache/>
    SetHandler ss-test
    CacheIgnoreNoLastMod On
    CacheDefaultExpire 300
    Header always set X-Seen-Status "expr=%{REQUEST_STATUS}"
</Location>

<Directory "@ROOT@/htdocs/rw-api">
    RewriteEngine On
    RewriteRule ^go$ /order [L]
</Directory>

<Location /order>
    SetHandler ss-test
    StatusSetFromHeader X-App-Status
    ErrorDocument 403 /order-errors/403.html
</Location>
<Location /order/rule>
    StatusSetResponse 409.2 410.3 "Rule Last"
</Location>
"""

STATUS_CGI = """#!/bin/sh
case "$QUERY_STRING" in
    s502) printf 'Status: 502\\r\\n' ;;
    s505) printf 'Status: 505\\r\\n' ;;
    s501) printf 'Status: 501 Not Here\\r\\n' ;;
    flag) printf 'X-Flag: yes\\r\\n' ;;
    app) printf 'X-App-Status: 418.3 "Cgi Says" error=-7\\r\\n' ;;
    noflag) printf 'X-Flag: no\\r\\n' ;;
esac
printf 'Content-Type: text/plain\\r\\n\\r\\ncgi body\\n'
"""


FILES = {
    "htdocs/rw-api/.keep": "",
    "htdocs/rw/exact/.keep": "",
    "htdocs/rw/star/file.txt": "star body\n",
    "htdocs/rw/list/file.txt": "list body\n",
    "htdocs/rw/to204/file.txt": "dropped body\n",
    "htdocs/rw/304/file.txt": "conditional body\n",
    "htdocs/rw/order/file.txt": "order body\n",
    "htdocs/rw/nested/inner/file.txt": "nested body\n",
    "htdocs/rw/ssi/file.txt": "included body\n",
    "htdocs/ssi/page.shtml":
        'before <!--#include virtual="/rw/ssi/file.txt" --> after\n',
    "htdocs/errors/403.html": "<p>custom 403 page</p>\n",
    "htdocs/order-errors/403.html": "<p>order 403 page</p>\n",
    "cgi-bin/status.cgi": STATUS_CGI,
    "backend/b404.asis": asis("404 Backend Phrase", body="backend 404\n"),
    "backend/b500.asis": asis("500 Backend Broke", body="backend 500\n"),
    "backend/app.asis": asis("200 OK", ['X-App-Status: 404.13 "Not Here" '
                                        'error=2']),
    "backend/app-bare.asis": asis("200 OK", ["X-App-Status: 503.1"]),
    "backend/app-bad.asis": asis("200 OK", ["X-App-Status: 99 bogus"]),
    "backend/app-twice.asis": asis("200 OK", ["X-App-Status: 404",
                                              "X-App-Status: 410"]),
    "backend/mapped/b500.asis": asis("500 Backend Broke"),
    "backend/mapped/b502.asis": asis("502 Bad Gateway"),
    "backend/mapped/app.asis": asis("200 OK", ["X-App-Status: 500.5"]),
    "backend/cacheable.asis": asis("200 OK", ["Cache-Control: max-age=300"],
                                   body="cacheable body\n"),
}


@pytest.fixture(scope="module")
def srv(ss_test_module):
    conf = CONF.replace("@TESTMOD@", ss_test_module)
    h = start_server(conf, FILES, name="response", modules=MODULES,
                     extra_ports=3)
    yield h
    stop_server(h)




# -- MATCH: exact, substatus, class, range, *, lists ---------------------------

def test_exact_code_rewrites_keeping_body(srv):
    r = http(srv.port, "/rw/exact/missing")
    assert r.status_line == b"HTTP/1.1 410 Gone For Now"
    # Too late for ErrorDocument: Apache's 404 page stays, framed right.
    assert b"<title>404 Not Found</title>" in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("410", "3", "9", "Gone For Now")
    assert a["note_src"] == "%s:%d" % (
        srv.conf_path, srv.conf_line('StatusSetResponse 404 410.3'))


def test_substatus_match_hides_403_6_as_404(srv):
    r = http(srv.port, "/rw/sub", headers=["X-Six: on"])
    assert r.status_line == b"HTTP/1.1 404 Not Found"
    a = access(srv, r)
    assert (a["status"], a["sub"]) == ("404", "0")
    r = http(srv.port, "/rw/sub")
    assert r.status_line == b"HTTP/1.1 403 Other Reason"
    assert access(srv, r)["sub"] == "7"


def test_class_match(srv):
    r = http(srv.port, "/rw/class/missing")
    assert r.status_line == b"HTTP/1.1 400 Bad Anything"
    assert access(srv, r)["sub"] == "1"


@pytest.mark.parametrize("query,line", [
    ("s502", b"HTTP/1.1 503 Range Hit"),
    ("s505", b"HTTP/1.1 505 HTTP Version Not Supported"),
])
def test_range_match(srv, query, line):
    r = http(srv.port, "/rw/range/cgi/status.cgi?" + query)
    assert r.status_line == line
    assert r.body == b"cgi body\n"


def test_star_matches_success_and_keeps_body(srv):
    r = http(srv.port, "/rw/star/file.txt")
    assert r.status_line == b"HTTP/1.1 299 Star"
    assert r.body == b"star body\n"
    assert r.header("Content-Length") == "10"


@pytest.mark.parametrize("path,line", [
    ("/rw/list/missing", b"HTTP/1.1 404 Not Found"),      # 404.2 only
    ("/rw/list/file.txt", b"HTTP/1.1 200 OK"),
    ("/rw/list/cgi/status.cgi?s501", b"HTTP/1.1 299 In The List"),
    ("/rw/list/cgi/status.cgi?s505", b"HTTP/1.1 505 HTTP Version Not Supported"),
])
def test_match_list(srv, path, line):
    assert http(srv.port, path).status_line == line


def test_4xx_to_2xx_keeps_body_and_framing(srv):
    r = http(srv.port, "/rw/tofine/missing")
    assert r.status_line == b"HTTP/1.1 200 Fine After All"
    assert b"<title>404 Not Found</title>" in r.body
    assert int(r.header("Content-Length")) == len(r.body)


def test_expr_reads_response_headers(srv):
    r = http(srv.port, "/rw/expr/cgi/status.cgi?flag")
    assert r.status_line == b"HTTP/1.1 451 By Header"
    r = http(srv.port, "/rw/expr/cgi/status.cgi?noflag")
    assert r.status_line == b"HTTP/1.1 200 OK"


def test_first_matching_rule_in_file_order(srv):
    r = http(srv.port, "/rw/order/file.txt")
    assert r.status_line == b"HTTP/1.1 453 First Plain Rule"
    r = http(srv.port, "/rw/order/file.txt", headers=["X-First: on"])
    assert r.status_line == b"HTTP/1.1 452 Only With Header"


@pytest.mark.parametrize("headers,line", [
    (["X-Inner: on", "X-Outer: on", "X-Server-Rule: on"],
     b"HTTP/1.1 457 Inner"),
    (["X-Outer: on", "X-Server-Rule: on"], b"HTTP/1.1 456 Outer"),
    (["X-Server-Rule: on"], b"HTTP/1.1 455 Server Rule"),
    ([], b"HTTP/1.1 200 OK"),
])
def test_most_specific_context_first(srv, headers, line):
    r = http(srv.port, "/rw/nested/inner/file.txt", headers=headers)
    assert r.status_line == line


# -- bodies and framing: HEAD, 204, 304, pipelining ---------------------------

def test_head_has_no_body(srv):
    r = http(srv.port, "/rw/star/file.txt", method="HEAD")
    assert r.status_line == b"HTTP/1.1 299 Star"
    assert r.body == b""


def test_rewrite_to_204_drops_body_pipelined(srv):
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("GET /rw/to204/file.txt HTTP/1.1\r\n" + host + "\r\n"
           "GET /rw/star/file.txt HTTP/1.1\r\n" + host + "\r\n"
           "GET /rw/exact/missing HTTP/1.1\r\n" + host +
           "Connection: close\r\n\r\n").encode()
    (a, b, c), trailing = raw(srv.port, req, responses=3)
    assert a.status_line == b"HTTP/1.1 204 No Content"
    assert a.header("Content-Length") is None
    assert a.header("Transfer-Encoding") is None
    assert b.status_line == b"HTTP/1.1 299 Star" and b.body == b"star body\n"
    assert c.status_line == b"HTTP/1.1 410 Gone For Now"
    assert b"<title>404 Not Found</title>" in c.body
    assert trailing == b""


def test_rewritten_304_keeps_framing(srv):
    first = http(srv.port, "/rw/304/file.txt")
    assert first.status_line == b"HTTP/1.1 200 OK"
    etag = first.header("ETag")
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("GET /rw/304/file.txt HTTP/1.1\r\n" + host +
           "If-None-Match: " + etag + "\r\n\r\n"
           "GET /rw/star/file.txt HTTP/1.1\r\n" + host +
           "Connection: close\r\n\r\n").encode()
    (a, b), trailing = raw(srv.port, req, responses=2)
    assert a.status_line == b"HTTP/1.1 200 Not Modified Really"
    assert a.header("Content-Length") == "0" and a.body == b""
    assert b.status_line == b"HTTP/1.1 299 Star" and b.body == b"star body\n"
    assert trailing == b""


# -- error responses and ErrorDocument ---------------------------------------

def test_errordocument_text_response_rewritten(srv):
    r = http(srv.port, "/rw/ed/missing")
    assert r.status_line == b"HTTP/1.1 410 Gone With Text"
    assert r.body == b"custom not found text"


def test_errordocument_local_url_uses_its_own_rules(srv):
    r = http(srv.port, "/rw/edlocal")
    assert r.status_line == b"HTTP/1.1 409 From The Page Rules"
    assert r.body == b"<p>custom 403 page</p>\n"
    a = access(srv, r)
    assert (a["status"], a["sub"]) == ("409", "8")


def test_subrequests_never_rewritten(srv):
    r = http(srv.port, "/ssi/page.shtml")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert b"before included body\n after" in r.body


# -- proxied backends -------------------------------------------------------

def test_backend_phrase_passes_through(srv):
    r = http(srv.port, "/backend/b404.asis")
    # StatusSetReason 404 applies here, but never over a backend's phrase.
    assert r.status_line == b"HTTP/1.1 404 Backend Phrase"
    assert r.body == b"backend 404\n"
    a = access(srv, r)
    assert (a["sub"], a["error"], a["reason"]) == ("0", "0", "Backend Phrase")


def test_backend_5xx_mapped_to_503_with_substatus(srv):
    for path in ("/backend/mapped/b500.asis", "/backend/mapped/b502.asis"):
        r = http(srv.port, path)
        assert r.status_line == b"HTTP/1.1 503 Backend Trouble"
        assert r.body == b"backend body\n"
        a = access(srv, r)
        assert (a["sub"], a["error"]) == ("4", "11")


def test_dead_backend_rewritten(srv, errlog):
    errlog.expect("AH00957", "AH00959", "AH01114", "AH02805", "AH01102",
                  "AH00898")
    r = http(srv.port, "/dead/x")
    assert r.status_line == b"HTTP/1.1 503 Backend Down"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("503", "7", "111")


def test_header_bridge_applies_and_removes(srv):
    r = http(srv.port, "/backend/app.asis")
    assert r.status_line == b"HTTP/1.1 404 Not Here"
    assert r.header("X-App-Status") is None
    assert r.body == b"backend body\n"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("404", "13", "2", "Not Here")
    assert a["note_src"] == "header:X-App-Status"


def test_header_bridge_from_cgi(srv):
    r = http(srv.port, "/cgi-bin/status.cgi?app")
    assert r.status_line == b"HTTP/1.1 418 Cgi Says"
    assert r.header("X-App-Status") is None
    assert r.body == b"cgi body\n"
    a = access(srv, r)
    assert (a["sub"], a["error"]) == ("3", "-7")


def test_header_bridge_default_phrase(srv):
    r = http(srv.port, "/backend/app-bare.asis")
    assert r.status_line == b"HTTP/1.1 503 Service Unavailable"
    assert access(srv, r)["sub"] == "1"


def test_header_bridge_keep(srv):
    r = http(srv.port, "/keep/app.asis")
    assert r.status_line == b"HTTP/1.1 404 Not Here"
    assert r.header("X-App-Status") == '404.13 "Not Here" error=2'


@pytest.mark.parametrize("path,headers,why", [
    ("/backend/app-bad.asis", [], "'99' is not a status"),
    # mod_proxy joins a repeated header into one: "404, 410".
    ("/backend/app-twice.asis", [], "'404,' is not a status"),
    ("/order", ["X-SS-Emit: 404", "X-SS-Emit2: 410"], "it is repeated"),
])
def test_header_bridge_invalid_ignored_with_one_warning(srv, errlog, path,
                                                        headers, why):
    errlog.expect("SS0004")
    r = http(srv.port, path, headers=headers)
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-App-Status") is None
    w = errlog.lines_with("SS0004")
    assert len(w) == 1, w
    assert "[status_set:warn]" in w[0] and why in w[0]
    a = access(srv, r)
    assert (a["status"], a["sub"], a["note_src"]) == ("200", "0", "-")


def test_header_then_rule(srv):
    r = http(srv.port, "/backend/mapped/app.asis")
    assert r.status_line == b"HTTP/1.1 503 Backend Trouble"
    a = access(srv, r)
    assert (a["sub"], a["error"]) == ("4", "11")


def fetch_three(port, path, headers=()):
    out = []
    for _ in range(3):
        r = http(port, path, headers=list(headers))
        out.append((r.status_line, r.header("X-Cache") or "", r.body))
    assert all(o[2] == b"cacheable body\n" for o in out), out
    assert out[0][1].startswith("MISS") and out[2][1].startswith("HIT"), out
    return [o[0] for o in out]


def test_cache_quick_handler_hit_rewritten_by_server_rule(srv):
    lines = fetch_three(srv.port, "/cached/cacheable.asis?quick",
                        ["X-Cache-Rule: on"])
    assert lines == [b"HTTP/1.1 202 Server Level On Hits"] * 3


def test_cache_hit_rewritten_by_location_rule(srv):
    port = srv.extra_ports[2]
    lines = fetch_three(port, "/cached/cacheable.asis?normal")
    assert lines == [b"HTTP/1.1 203 Served Here"] * 3


# -- the order of SPEC 3: handler, API, header, rules, reasons ---------------------

def test_header_beats_api(srv):
    r = http(srv.port, "/order", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 404 1 1 From%20Api",
        "X-SS-Emit: 409.2 %22From Header%22 error=4"])
    assert r.status_line == b"HTTP/1.1 409 From Header"
    a = access(srv, r)
    assert (a["sub"], a["error"], a["note_src"]) == \
        ("2", "4", "header:X-App-Status")


def test_rule_beats_header(srv):
    r = http(srv.port, "/order/rule", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 404 1 1 From%20Api",
        "X-SS-Emit: 409.2 %22From Header%22 error=4"])
    assert r.status_line == b"HTTP/1.1 410 Rule Last"
    a = access(srv, r)
    assert (a["sub"], a["error"]) == ("3", "0")


def test_api_alone(srv):
    r = http(srv.port, "/order", headers=[
        "X-SS-Phase: handler", "X-SS-Call1: 404 1 1 From%20Api"])
    assert r.status_line == b"HTTP/1.1 404 From Api"


def test_api_status_seen_by_content_filters_and_not_cached(srv):
    # Control: without the API the handler's 200 is cached.
    first = http(srv.port, "/apicache/plain")
    again = http(srv.port, "/apicache/plain")
    assert first.header("X-Cache").startswith("MISS")
    assert again.header("X-Cache").startswith("HIT")
    for _ in range(3):
        r = http(srv.port, "/apicache/set", headers=[
            "X-SS-Phase: handler", "X-SS-Call1: 410 2 0 Gone%20Here"])
        assert r.status_line == b"HTTP/1.1 410 Gone Here"
        # mod_headers (a content filter, before ours) saw the API's status.
        assert r.header("X-Seen-Status") == "410"
        assert not r.header("X-Cache").startswith("HIT")


def test_api_in_fixups_response_not_cached_under_wrong_status(srv):
    # mod_cache's CACHE_SAVE runs before the module's filter and sees the
    # handler's 200: caching that would serve the 410's body as 200 later.
    r = http(srv.port, "/apicache/fix", headers=[
        "X-SS-Phase: fixups", "X-SS-Call1: 410 2 0 Gone%20Here"])
    assert r.status_line == b"HTTP/1.1 410 Gone Here"
    r = http(srv.port, "/apicache/fix")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-Cache").startswith("MISS")


def test_late_call_on_head_after_flush_is_refused(srv):
    # A HEAD response has no body, so sent_bodyct never says the status
    # went out; the module's own filter (present here) does.
    r = http(srv.port, "/order", method="HEAD", headers=[
        "X-SS-Phase: handler", "X-SS-Flush: 1",
        "X-SS-Call1: 404 7 0 Too%20Late"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    a = access(srv, r)
    assert (a["status"], a["sub"]) == ("200", "0")


def test_api_status_survives_internal_redirect(srv):
    # Set before the handler, then mod_rewrite redirects internally: the
    # target's response carries the status set.
    r = http(srv.port, "/rw-api/go", headers=[
        "X-SS-Phase: post_read_request",
        "X-SS-Call1: 451 7 0 Legal%20Reasons"])
    assert r.status_line == b"HTTP/1.1 451 Legal Reasons"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["note_src"]) == ("451", "7", "api")


def test_api_in_redirect_target_then_error_uses_errordocument(srv):
    # The redirect target's handler sets 403.6 and returns 403: httpd's
    # error path with its ErrorDocument, as on a request of its own.
    r = http(srv.port, "/rw-api/go", headers=[
        "X-SS-Phase: handler", "X-SS-Target: 1",
        "X-SS-Call1: 403 6 0 Nope", "X-SS-Return: 403"])
    assert r.status_line == b"HTTP/1.1 403 Nope"
    assert r.body == b"<p>order 403 page</p>\n"


def test_api_dropped_when_redirect_target_fails(srv):
    # Set in post_read_request, then mod_rewrite redirects internally and
    # the new request fails with 500: Apache's 500 is the answer, and no
    # request of the chain reports the dropped 404.7.
    r = http(srv.port, "/rw-api/go", headers=[
        "X-SS-Phase: post_read_request", "X-SS-Call1: 404 7 42 -",
        "X-SS-Handler-Return: 500"])
    assert r.status_line == b"HTTP/1.1 500 Internal Server Error"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["note_src"]) == \
        ("500", "0", "0", "-")


# -- HTTP/2 -----------------------------------------------------------------

def test_http2_rule(srv):
    r = curl(srv.port, "/rw/star/file.txt", "--http2-prior-knowledge")
    assert r.status_line.startswith("HTTP/2 299")
    assert r.body == b"star body\n"
    a = access(srv, r)
    assert a["request"].endswith("HTTP/2.0")
    assert (a["status"], a["reason"]) == ("299", "Star")


def test_http2_header_bridge(srv):
    r = curl(srv.port, "/backend/app.asis", "--http2-prior-knowledge")
    assert r.status_line.startswith("HTTP/2 404")
    assert r.header("x-app-status") is None
    a = access(srv, r)
    assert (a["sub"], a["error"], a["reason"]) == ("13", "2", "Not Here")


def test_http2_rewrite_to_204(srv):
    r = curl(srv.port, "/rw/to204/file.txt", "--http2-prior-knowledge")
    assert r.status_line.startswith("HTTP/2 204")
    assert r.body == b""
