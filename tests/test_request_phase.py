"""StatusSet and StatusSetReason against a real httpd (SPEC sections 2-4).

One server for the module, configured below; each test names the
Location it exercises.  Status lines are checked byte for byte on raw
sockets; the access log (tests/pyhttpd.LOG_FORMAT) and the error log are
read for every applied status.
"""

import re

import pytest

from conftest import access, curl, http, raw, start_server, stop_server

CONF = r"""
StatusSetReason 499 "Client Closed Request"
ScriptAlias /cgi-bin/ "@ROOT@/cgi-bin/"
ScriptAlias /reasons/cgi/ "@ROOT@/cgi-bin/"
<Directory "@ROOT@/cgi-bin">
    Require all granted
</Directory>

<Location /unknown/299>
    StatusSet 299
</Location>
<Location /unknown/420>
    StatusSet 420 "Enhance Your Calm"
</Location>
<Location /unknown/499>
    StatusSet 499.7 error=104
</Location>
<Location /unknown/599>
    StatusSet 599
</Location>

<Location /s/200>
    StatusSet 200 "Custom OK"
</Location>
<Location /s/201>
    StatusSet 201.3
</Location>
<Location /s/204>
    StatusSet 204
</Location>

<Location /r/301>
    StatusSet 301 location=http://example.com/new
</Location>
<Location /r/302>
    StatusSet 302.4 "Found It" location=/elsewhere
</Location>

<Location /expr>
    StatusSet 403.2 "Blocked By Header" error=13 "expr=%{HTTP:X-Block} == 'yes'"
</Location>
<Location /expr-error>
    StatusSet 403 "Never Reached" "expr=file('@ROOT@/no-such-file') == 'x'"
</Location>
<Location /order>
    StatusSet 410 "Only With Header" "expr=%{HTTP:X-First} == 'on'"
    StatusSet 451.1 "First Match"
    StatusSet 452 "Second Match"
</Location>

StatusSet 503.9 "From Server" "expr=%{HTTP:X-Server} == 'on'"
<Directory "@ROOT@/htdocs/prec">
    StatusSet 403.1 "From Directory" "expr=%{HTTP:X-Dir} == 'on'"
</Directory>
<Location /prec>
    StatusSet 409 "From Outer Location" "expr=%{HTTP:X-Outer} == 'on'"
</Location>
<Location /prec/inner>
    StatusSet 418 "From Inner Location" "expr=%{HTTP:X-Inner} == 'on'"
</Location>

<Location /ed/text>
    StatusSet 403.6 "IP address rejected" error=5
    ErrorDocument 403 "Denied: substatus %{note:status-set-substatus} error %{reqenv:STATUS_SET_ERROR}"
</Location>
<Location /ed/local>
    StatusSet 403.6 "IP address rejected" error=5
    ErrorDocument 403 /errors/403.html
</Location>
<Location /ed/cgi>
    StatusSet 503.12 "Backend Sleeping" error=-3
    ErrorDocument 503 /cgi-bin/env.cgi
</Location>
<Location /ed/loop>
    StatusSet 403 "Loop Outer"
    ErrorDocument 403 /ed/loop-target.html
</Location>
<Location /ed/loop-target.html>
    StatusSet 404 "Target Rule"
</Location>
<Location /ed/cgi-redirect>
    StatusSet 403.6 "IP address rejected" error=5
    ErrorDocument 403 /cgi-bin/redirect.cgi
</Location>
<Location /ed/external>
    StatusSet 403.6 "IP address rejected" error=5
    ErrorDocument 403 http://example.com/denied
</Location>
<Location /ed/missing>
    StatusSet 403 "Custom Forbidden"
    ErrorDocument 403 /errors/no-such-page.html
</Location>

<Directory "@ROOT@/htdocs/ht">
    AllowOverride FileInfo
</Directory>
<Directory "@ROOT@/htdocs/ht-noperm">
    AllowOverride AuthConfig
</Directory>
<Directory "@ROOT@/htdocs/ht-all">
    AllowOverride All
</Directory>

<Location /hdr>
    StatusSet 403.1 "Header Test"
    Header always set X-Always yes
    Header set X-Onsuccess yes
</Location>
<Location /hdr204>
    StatusSet 204
    Header always set X-Always yes
    Header set X-Onsuccess yes
</Location>

<Location /reasons>
    StatusSetReason 404 "Nothing Here"
    StatusSetReason 410 "Long Gone"
    StatusSetReason 410 "Long Gone For Good"
</Location>
<Location /reasons/rule>
    StatusSet 410.5
</Location>
<Location /reasons/rule-own>
    StatusSet 410 "Rule Phrase"
</Location>

<Location /deny>
    StatusSet 403 "Denied Main"
</Location>

<Directory "@ROOT@/htdocs/dix">
    DirectoryIndex secret.html
    <Files "secret.html">
        StatusSet 403.9 "Index Denied"
    </Files>
</Directory>
<Directory "@ROOT@/htdocs/lix">
    DirectoryIndex secret.html
</Directory>
<Location /lix/secret.html>
    StatusSet 404.4 "Loc Denied"
</Location>
<Location /typed>
    RewriteEngine On
    RewriteRule ^ - [T=application/x-blocked]
    StatusSet 403.1 "Blocked Type" "expr=%{CONTENT_TYPE} == 'application/x-blocked'"
</Location>
<Directory "@ROOT@/htdocs/ssi">
    Options +Includes
</Directory>
"""

ENV_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
env | grep -E '^(REDIRECT_)?(STATUS_SET_|STATUS=|REDIRECT_STATUS=)' | sort
"""

STATUS_CGI = """#!/bin/sh
case "$QUERY_STRING" in
    mine) printf 'Status: 404 Mine\\r\\n' ;;
    bare499) printf 'Status: 499\\r\\n' ;;
    bare404) printf 'Status: 404\\r\\n' ;;
esac
printf 'Content-Type: text/plain\\r\\n\\r\\nbody\\n'
"""

FILES = {
    "htdocs/ok.txt": "plain file\n",
    "htdocs/unknown/420": "never served\n",
    "htdocs/s/200": "never served\n",
    "htdocs/expr/file.txt": "expr file\n",
    "htdocs/expr-error/file.txt": "expr-error file\n",
    "htdocs/order/file.txt": "order file\n",
    "htdocs/prec/inner/file.txt": "inner file\n",
    "htdocs/errors/403.html": "<p>custom 403 page</p>\n",
    "htdocs/ed/loop-target.html": "<p>loop target</p>\n",
    "htdocs/ht/a/.htaccess": 'StatusSet 410.2 "Gone Away" error=2\n',
    "htdocs/ht/a/file.txt": "ht file\n",
    "htdocs/ht/b/.htaccess": 'StatusSetReason 404 "Not In Here"\n',
    "htdocs/ht-noperm/.htaccess": "StatusSet 410\n",
    "htdocs/ht-noperm/file.txt": "noperm file\n",
    "htdocs/ht-all/.htaccess": "StatusSetFromHeader X-App-Status\n",
    "htdocs/ht-all/file.txt": "all file\n",
    "htdocs/deny/file.txt": "denied content\n",
    "htdocs/dix/secret.html": "SECRET\n",
    "htdocs/lix/secret.html": "SECRET\n",
    "htdocs/typed/file.txt": "typed\n",
    "htdocs/ssi/page.shtml":
        'before <!--#include virtual="/deny/file.txt" --> after\n',
    "cgi-bin/env.cgi": ENV_CGI,
    "cgi-bin/status.cgi": STATUS_CGI,
    "cgi-bin/redirect.cgi": "#!/bin/sh\nprintf 'Status: 302 Found\\r\\n"
                            "Location: /elsewhere\\r\\n\\r\\n'\n",
}


@pytest.fixture(scope="module")
def srv():
    h = start_server(CONF, FILES, name="request")
    yield h
    stop_server(h)




# -- codes Apache has no name for --------------------------------------------

def test_unknown_2xx_gets_class_phrase_and_empty_body(srv):
    r = http(srv.port, "/unknown/299")
    assert r.status_line == b"HTTP/1.1 299 Successful"
    assert r.header("Content-Length") == "0"
    assert r.body == b""


def test_unknown_4xx_with_reason(srv):
    r = http(srv.port, "/unknown/420")
    assert r.status_line == b"HTTP/1.1 420 Enhance Your Calm"
    # Apache's canned error page, titled with our status line.
    assert b"<title>420 Enhance Your Calm</title>" in r.body
    assert b"<h1>Enhance Your Calm</h1>" in r.body
    assert int(r.header("Content-Length")) == len(r.body)


def test_499_named_by_status_set_reason_not_500(srv):
    r = http(srv.port, "/unknown/499")
    assert r.status_line == b"HTTP/1.1 499 Client Closed Request"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("499", "7", "104")
    assert a["reason"] == "Client Closed Request"


def test_unknown_5xx_gets_class_phrase(srv):
    r = http(srv.port, "/unknown/599")
    assert r.status_line == b"HTTP/1.1 599 Server Error"
    assert b"<title>599 Server Error</title>" in r.body


# -- 2xx and 3xx ----------------------------------------------------------

def test_200_with_reason_sends_empty_body(srv):
    r = http(srv.port, "/s/200")
    assert r.status_line == b"HTTP/1.1 200 Custom OK"
    assert r.header("Content-Length") == "0"
    assert r.body == b""


def test_201_default_phrase_and_substatus(srv):
    r = http(srv.port, "/s/201")
    assert r.status_line == b"HTTP/1.1 201 Created"
    assert r.header("Content-Length") == "0"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("201", "3", "0")


def test_204_has_no_body_and_no_content_length(srv):
    r = http(srv.port, "/s/204", keepalive=True,
             headers=["Connection: close"])
    assert r.status_line == b"HTTP/1.1 204 No Content"
    assert r.header("Content-Length") is None
    assert r.header("Transfer-Encoding") is None
    assert r.body == b""


def test_301_with_absolute_location(srv):
    r = http(srv.port, "/r/301")
    assert r.status_line == b"HTTP/1.1 301 Moved Permanently"
    assert r.header("Location") == "http://example.com/new"
    assert b"http://example.com/new" in r.body


def test_302_with_reason_and_path_location(srv):
    r = http(srv.port, "/r/302")
    assert r.status_line == b"HTTP/1.1 302 Found It"
    assert r.header("Location") == "/elsewhere"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["reason"]) == ("302", "4", "Found It")


# -- expr= and rule order -------------------------------------------------

def test_expr_true_applies(srv):
    r = http(srv.port, "/expr/file.txt", headers=["X-Block: yes"])
    assert r.status_line == b"HTTP/1.1 403 Blocked By Header"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("403", "2", "13")


def test_expr_false_leaves_request_alone(srv):
    r = http(srv.port, "/expr/file.txt", headers=["X-Block: no"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"expr file\n"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("200", "0", "0", "OK")
    assert a["note_sub"] == "-" and a["env_sub"] == "-"


def test_expr_runtime_error_skips_rule_with_warning(srv, errlog):
    errlog.expect("SS0002")
    # ap_expr_exec() reports the failure itself, without a message id.
    errlog.expect_match(r"\[status_set:error\] .* Evaluation of expression "
                        r"from .*httpd\.conf:\d+ failed: Cannot open file")
    r = http(srv.port, "/expr-error/file.txt")
    assert r.status_line == b"HTTP/1.1 200 OK"
    warn = [line for line in errlog.new_lines() if "SS0002:" in line]
    assert len(warn) == 1, warn
    assert "[status_set:warn]" in warn[0]
    assert "httpd.conf:%d" % srv.conf_line("Never Reached") in warn[0]


def test_first_matching_rule_wins_in_file_order(srv):
    r = http(srv.port, "/order/file.txt")
    assert r.status_line == b"HTTP/1.1 451 First Match"
    r = http(srv.port, "/order/file.txt", headers=["X-First: on"])
    assert r.status_line == b"HTTP/1.1 410 Only With Header"


@pytest.mark.parametrize("headers,expected", [
    (["X-Inner: on", "X-Outer: on", "X-Dir: on", "X-Server: on"],
     b"HTTP/1.1 418 From Inner Location"),
    (["X-Outer: on", "X-Dir: on", "X-Server: on"],
     b"HTTP/1.1 409 From Outer Location"),
    (["X-Dir: on", "X-Server: on"], b"HTTP/1.1 403 From Directory"),
    (["X-Server: on"], b"HTTP/1.1 503 From Server"),
    ([], b"HTTP/1.1 200 OK"),
])
def test_most_specific_context_first(srv, headers, expected):
    r = http(srv.port, "/prec/inner/file.txt", headers=headers)
    assert r.status_line == expected


# -- ErrorDocument --------------------------------------------------------

def test_errordocument_text_sees_notes_and_env(srv):
    r = http(srv.port, "/ed/text")
    assert r.status_line == b"HTTP/1.1 403 IP address rejected"
    assert r.body == b"Denied: substatus 6 error 5"


def test_errordocument_local_url_keeps_reason(srv):
    r = http(srv.port, "/ed/local")
    assert r.status_line == b"HTTP/1.1 403 IP address rejected"
    assert r.body == b"<p>custom 403 page</p>\n"
    a = access(srv, r)
    # The final request is the ErrorDocument's; the tags follow it there.
    assert (a["status"], a["sub"], a["error"]) == ("403", "6", "5")
    assert a["reason"] == "IP address rejected"
    assert a["note_sub"] == "6" and a["note_err"] == "5"
    assert a["note_reason"] == "IP address rejected"


def test_errordocument_cgi_sees_redirect_env(srv):
    r = http(srv.port, "/ed/cgi")
    assert r.status_line == b"HTTP/1.1 503 Backend Sleeping"
    env = dict(line.split("=", 1) for line in r.body.decode().splitlines())
    assert env["REDIRECT_STATUS"] == "503"
    assert env["REDIRECT_STATUS_SET_SUBSTATUS"] == "12"
    assert env["REDIRECT_STATUS_SET_ERROR"] == "-3"
    assert env["REDIRECT_STATUS_SET_REASON"] == "Backend Sleeping"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"]) == ("503", "12", "-3")


def test_rules_skip_the_errordocument_request(srv):
    # The target has a rule of its own; it answers the error instead.
    r = http(srv.port, "/ed/loop")
    assert r.status_line == b"HTTP/1.1 403 Loop Outer"
    assert r.body == b"<p>loop target</p>\n"
    r = http(srv.port, "/ed/loop-target.html")
    assert r.status_line == b"HTTP/1.1 404 Target Rule"


def test_errordocument_target_may_choose_its_status(srv):
    # As without the module: a CGI ErrorDocument that answers 302 sends 302.
    r = http(srv.port, "/ed/cgi-redirect")
    assert r.status_line == b"HTTP/1.1 302 Found"
    assert r.header("Location") == "/elsewhere"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["note_src"]) == \
        ("302", "0", "0", "-")


def test_errordocument_external_url_redirects(srv):
    # Apache answers with a redirect to the external page: that 302 is the
    # response, and nothing of the 403 is sent or logged as if it were.
    r = http(srv.port, "/ed/external")
    assert r.status_line == b"HTTP/1.1 302 Found"
    assert r.header("Location") == "http://example.com/denied"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["note_src"]) == \
        ("302", "0", "0", "-")


def test_errordocument_that_fails_keeps_reason(srv, errlog):
    r = http(srv.port, "/ed/missing")
    assert r.status_line == b"HTTP/1.1 403 Custom Forbidden"
    assert b"<title>403 Custom Forbidden</title>" in r.body
    assert b"error was encountered while trying to use an ErrorDocument" \
        in r.body


# -- .htaccess ------------------------------------------------------------

def test_htaccess_status_set(srv):
    r = http(srv.port, "/ht/a/file.txt")
    assert r.status_line == b"HTTP/1.1 410 Gone Away"
    a = access(srv, r)
    assert (a["sub"], a["error"]) == ("2", "2")
    assert a["note_src"] == srv.path("htdocs/ht/a/.htaccess") + ":1"


def test_htaccess_status_set_reason(srv):
    r = http(srv.port, "/ht/b/missing.txt")
    assert r.status_line == b"HTTP/1.1 404 Not In Here"
    assert b"<title>404 Not In Here</title>" in r.body


def test_htaccess_needs_allowoverride_fileinfo(srv, errlog):
    # httpd reports a forbidden .htaccess directive without a message id.
    errlog.expect_match(r"\[core:alert\] .*/ht-noperm/\.htaccess: "
                        r"StatusSet not allowed here$")
    r = http(srv.port, "/ht-noperm/file.txt")
    assert r.status_line == b"HTTP/1.1 500 Internal Server Error"
    lines = errlog.new_lines()
    assert len(lines) == 1 and "StatusSet not allowed here" in lines[0]


def test_from_header_never_in_htaccess(srv, errlog):
    # Which response header is trusted is the server administrator's call.
    errlog.expect_match(r"\[core:alert\] .*/ht-all/\.htaccess: "
                        r"StatusSetFromHeader not allowed here$")
    r = http(srv.port, "/ht-all/file.txt")
    assert r.status_line == b"HTTP/1.1 500 Internal Server Error"


# -- mod_headers, HEAD, HTTP/1.0, keep-alive, HTTP/2 -------------------------

def test_header_always_on_error_response(srv):
    r = http(srv.port, "/hdr")
    assert r.status_line == b"HTTP/1.1 403 Header Test"
    assert r.header("X-Always") == "yes"
    assert r.header("X-Onsuccess") is None   # Apache's rule for errors


def test_headers_on_2xx_response(srv):
    r = http(srv.port, "/hdr204")
    assert r.status_line == b"HTTP/1.1 204 No Content"
    assert r.header("X-Always") == "yes"
    assert r.header("X-Onsuccess") == "yes"


@pytest.mark.parametrize("path,line", [
    ("/unknown/420", b"HTTP/1.1 420 Enhance Your Calm"),
    ("/s/200", b"HTTP/1.1 200 Custom OK"),
    ("/ed/local", b"HTTP/1.1 403 IP address rejected"),
])
def test_head(srv, path, line):
    r = http(srv.port, path, method="HEAD")
    assert r.status_line == line
    assert r.body == b""


def test_http10(srv):
    r = http(srv.port, "/unknown/420", version="HTTP/1.0")
    assert r.status_line == b"HTTP/1.1 420 Enhance Your Calm"
    r = http(srv.port, "/s/200", version="HTTP/1.0")
    assert r.status_line == b"HTTP/1.1 200 Custom OK"
    assert r.body == b""


def test_keepalive_pipeline_with_request_body(srv):
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("POST /s/200 HTTP/1.1\r\n" + host +
           "Content-Length: 5\r\n\r\nhello"
           "GET /unknown/420 HTTP/1.1\r\n" + host + "\r\n"
           "GET /ok.txt HTTP/1.1\r\n" + host +
           "Connection: close\r\n\r\n").encode()
    (a, b, c), trailing = raw(srv.port, req, responses=3)
    assert a.status_line == b"HTTP/1.1 200 Custom OK" and a.body == b""
    assert b.status_line == b"HTTP/1.1 420 Enhance Your Calm"
    assert c.status_line == b"HTTP/1.1 200 OK"
    assert c.body == b"plain file\n"
    assert trailing == b""


@pytest.mark.parametrize("path,code,sub,reason", [
    ("/unknown/420", 420, "0", "Enhance Your Calm"),
    ("/unknown/499", 499, "7", "Client Closed Request"),
    ("/s/200", 200, "0", "Custom OK"),
    ("/ed/local", 403, "6", "IP address rejected"),
])
def test_http2_h2c(srv, path, code, sub, reason):
    r = curl(srv.port, path, "--http2-prior-knowledge")
    assert r.status_line.startswith("HTTP/2 %d" % code)
    a = access(srv, r)
    assert a["request"].endswith("HTTP/2.0")
    assert (a["status"], a["sub"], a["reason"]) == (str(code), sub, reason)


# -- StatusSetReason ------------------------------------------------------

def test_reason_table_names_apache_404(srv):
    r = http(srv.port, "/reasons/missing")
    assert r.status_line == b"HTTP/1.1 404 Nothing Here"
    assert b"<title>404 Nothing Here</title>" in r.body
    a = access(srv, r)
    # No setter acted: nothing recorded, the tags show the final line.
    assert (a["sub"], a["error"], a["reason"]) == ("0", "0", "Nothing Here")
    assert a["note_src"] == "-"


def test_reason_table_outside_its_scope(srv):
    r = http(srv.port, "/missing")
    assert r.status_line == b"HTTP/1.1 404 Not Found"


def test_rule_without_reason_uses_table_last_wins(srv):
    r = http(srv.port, "/reasons/rule")
    assert r.status_line == b"HTTP/1.1 410 Long Gone For Good"


def test_rule_reason_beats_table(srv):
    r = http(srv.port, "/reasons/rule-own")
    assert r.status_line == b"HTTP/1.1 410 Rule Phrase"


def test_reason_table_never_overrides_handler_phrase(srv):
    r = http(srv.port, "/reasons/cgi/status.cgi?mine")
    assert r.status_line == b"HTTP/1.1 404 Mine"
    assert r.body == b"body\n"


def test_reason_table_names_bare_cgi_status(srv):
    r = http(srv.port, "/cgi-bin/status.cgi?bare499")
    assert r.status_line == b"HTTP/1.1 499 Client Closed Request"
    r = http(srv.port, "/cgi-bin/status.cgi?bare404")
    assert r.status_line == b"HTTP/1.1 404 Not Found"


# -- what is recorded -------------------------------------------------------

def test_notes_env_and_error_log(srv, errlog):
    r = http(srv.port, "/unknown/499")
    line = srv.conf_line("StatusSet 499.7 error=104")
    a = access(srv, r)
    assert a["note_sub"] == "7" and a["note_err"] == "104"
    assert a["note_reason"] == "Client Closed Request"
    assert a["note_src"] == "%s:%d" % (srv.conf_path, line)
    assert a["env_sub"] == "7" and a["env_err"] == "104"
    assert a["env_reason"] == "Client Closed Request"
    logged = errlog.lines_with("SS0001")
    assert len(logged) == 1, logged
    assert "[status_set:info]" in logged[0]
    assert ('SS0001: status 499.7 "Client Closed Request" error=104 set by '
            '%s:%d for /unknown/499' % (srv.conf_path, line)) in logged[0]


def test_untouched_request_logs_zeros(srv, errlog):
    r = http(srv.port, "/ok.txt")
    assert r.status_line == b"HTTP/1.1 200 OK"
    a = access(srv, r)
    assert (a["status"], a["sub"], a["error"], a["reason"]) == \
        ("200", "0", "0", "OK")
    assert not errlog.lines_with("SS0001")


@pytest.mark.parametrize("path,line", [
    ("/dix/", b"HTTP/1.1 403 Index Denied"),
    ("/dix/secret.html", b"HTTP/1.1 403 Index Denied"),
    ("/lix/", b"HTTP/1.1 404 Loc Denied"),
])
def test_rules_of_the_directory_index_apply_to_the_directory(srv, path,
                                                             line):
    # mod_dir swaps in the index file's configuration in its fixup; the
    # rules run after it, so a rule on the index file guards "/dir/" too.
    r = http(srv.port, path)
    assert r.status_line == line
    assert b"SECRET" not in r.body


def test_rules_see_mod_rewrite_type(srv):
    # mod_rewrite's [T=] acts in its late fixup; the rules run after it.
    r = http(srv.port, "/typed/file.txt")
    assert r.status_line == b"HTTP/1.1 403 Blocked Type"


def test_subrequests_are_never_changed(srv):
    r = http(srv.port, "/deny/file.txt")
    assert r.status_line == b"HTTP/1.1 403 Denied Main"
    r = http(srv.port, "/ssi/page.shtml")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert re.search(rb"before denied content\s+after", r.body), r.body
