"""StatusSetFromEnv where requests fail (issue 18's adversary, each test a
finding it proved on the first version, fixed):

  F1  an ErrorDocument that chooses its own status (mod_status_echo, a CGI
      printing "Status: 200") keeps it, and sees the variable's 403.18 as
      the failing request's status, as with a StatusSet rule;
  F2  Apache's own error (a handler's 500 or 404, a missing file) and a 304
      are not replaced by a variable naming another code;
  F3  the failing request's configuration decides (off, another NAME),
      also when a local ErrorDocument outside its section answers;
  F4  a header that mod_headers adds is applied before the variable, as
      SPEC 3 orders them;
  F5  an empty variable is no value (no SS0005).
"""

import pytest

from conftest import access, fields, http, start_server, stop_server
from pyhttpd import BASE_MODULES, ECHO_MODULE

CONF = r"""
LoadModule ss_test_module "@TESTMOD@"
LoadModule status_echo_module "@ECHOMOD@"
StatusSetFromEnv STATUS_SET
# The value comes from a request header here only to drive the tests; the
# same happens with mod_security2 setenv:, mod_rewrite [E=], mod_lua...
SetEnvIf X-Mark ^(.+)$ STATUS_SET=$1
SetEnvIf X-App ^(.+)$ APP_STATUS=$1

<Location /status-echo>
    SetHandler status-echo
</Location>
ScriptAlias /cgi/ "@ROOT@/cgi/"
<Directory "@ROOT@/cgi">
    Require all granted
</Directory>

# F1: an ErrorDocument target that chooses its own status.
<Location /echo-env>
    Require all denied
    ErrorDocument 403 /status-echo
</Location>
<Location /echo-rule>
    StatusSet 403.18 "SQL Injection" error=1801
    ErrorDocument 403 /status-echo
</Location>
<Location /cgi-env>
    Require all denied
    ErrorDocument 403 /cgi/ok.cgi
</Location>
<Location /cgi-rule>
    StatusSet 403.18 "SQL Injection" error=1801
    ErrorDocument 403 /cgi/ok.cgi
</Location>

# F2: an error that happens after the variable was set.
<Location /api>
    SetHandler ss-test
</Location>
RewriteEngine On
RewriteRule ^/marked/ - [E=STATUS_SET:299.4]
RewriteRule ^/empty/ - [E=STATUS_SET:%{ENV:NOT_SET_ANYWHERE}]

# F3: off / another NAME in the failing request's section, local
# ErrorDocument outside it.
<Location /quiet/>
    StatusSetFromEnv off
    Require all denied
</Location>
<Location /quiet-text/>
    StatusSetFromEnv off
    Require all denied
    ErrorDocument 403 "denied"
</Location>
<Location /other/>
    StatusSetFromEnv APP_STATUS
    Require all denied
</Location>
ErrorDocument 403 /errdoc/e.txt

# F4: a header written by mod_headers vs the variable.
StatusSetFromHeader X-App-Status
<Location /hdr/>
    Header set X-App-Status "404.1"
</Location>
"""

FILES = {
    "htdocs/page.txt": "page\n",
    "htdocs/hdr/page.txt": "hdr\n",
    "htdocs/marked/page.txt": "marked\n",
    "htdocs/empty/page.txt": "empty\n",
    "htdocs/errdoc/e.txt": "errdoc\n",
    "cgi/ok.cgi": "#!/bin/sh\nprintf 'Status: 200 OK\\r\\nContent-Type: "
                  "text/plain\\r\\n\\r\\ncgi ok\\n'\n",
    "cgi/hdr.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n"
                   "X-App-Status: 404.1\\r\\n\\r\\ncgi hdr\\n'\n",
}

WAF = 'X-Mark: 403.18 "SQL Injection" error=1801'


@pytest.fixture(scope="module")
def srv(ss_test_module):
    conf = CONF.replace("@TESTMOD@", ss_test_module).replace(
        "@ECHOMOD@", ECHO_MODULE)
    h = start_server(conf, FILES, name="adv18", modules=BASE_MODULES)
    http(h.port, "/", method="HEAD")   # start-up lines before any snapshot
    yield h
    stop_server(h)


@pytest.fixture(autouse=True)
def quiet(errlog):
    errlog.expect("AH01630", "SS0003", "SS0005")


# -- F1 -----------------------------------------------------------------------

def test_f1_baseline_rule_echo(srv):
    """README 'The example: mod_status_echo': the client gets 200 OK and the
    original status as text.  Holds for a StatusSet rule."""
    r = http(srv.port, "/echo-rule")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"HTTP Status: 403.18 SQL Injection\n"


def test_f1_env_echo(srv):
    """The same with the status in the variable (the WAF recipe + the
    documented echo page).  Actual: '403 SQL Injection' with the body
    'HTTP Status: 403.0 Forbidden' -- the echo target's 200 is overridden by
    the first request's variable, and the echo never sees 403.18."""
    r = http(srv.port, "/echo-env", headers=[WAF])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"HTTP Status: 403.18 SQL Injection\n"


def test_f1_baseline_rule_cgi(srv):
    """A CGI ErrorDocument that says 'Status: 200 OK' is the answer
    (ss_current(): 'the target of a redirect chose its own status')."""
    r = http(srv.port, "/cgi-rule")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"cgi ok\n"


def test_f1_env_cgi(srv):
    """Actual: 'HTTP/1.1 403 SQL Injection' with the CGI's 'cgi ok' body."""
    r = http(srv.port, "/cgi-env", headers=[WAF])
    assert r.body == b"cgi ok\n"
    assert r.status_line == b"HTTP/1.1 200 OK"


# -- F2 -----------------------------------------------------------------------

def test_f2_baseline_api_then_error(srv):
    """API 299.1 in fixups, then the handler fails with 404: Apache's 404
    is the answer (ss_insert_error_filter, SS0003)."""
    r = http(srv.port, "/api", headers=["X-SS-Phase: fixups",
                                        "X-SS-Call1: 299 1 0 -",
                                        "X-SS-Handler-Return: 404"])
    assert r.status_line == b"HTTP/1.1 404 Not Found"


@pytest.mark.parametrize("ret, line", [
    ("404", b"HTTP/1.1 404 Not Found"),
    ("500", b"HTTP/1.1 500 Internal Server Error"),
])
def test_f2_env_then_error(srv, ret, line):
    """The variable (299.1) was set before the handler, which then fails.
    Actual: 'HTTP/1.1 299 Successful' with Apache's 404 / 500 page titled
    '299 Successful' -- a server error is logged and counted as 299.1."""
    r = http(srv.port, "/api", headers=["X-Mark: 299.1",
                                        "X-SS-Handler-Return: " + ret])
    assert r.status_line == line


def test_f2_missing_file_under_marked(srv):
    """RewriteRule ^/marked/ - [E=STATUS_SET:299.4] (README's style) and a
    file that does not exist.  Actual: '299 Successful', body 'The requested
    URL was not found', access log 299.4."""
    r = http(srv.port, "/marked/nothere")
    assert r.status_line == b"HTTP/1.1 404 Not Found"


def test_f2_conditional_get_under_marked(srv):
    """A revalidation of /marked/page.txt.  Actual: the 304 becomes
    '299 Successful' with Content-Length: 0 (an empty 2xx body replaces the
    client's copy)."""
    etag = http(srv.port, "/marked/page.txt").header("ETag")
    r = http(srv.port, "/marked/page.txt",
             headers=["If-None-Match: " + etag])
    assert r.status_line == b"HTTP/1.1 304 Not Modified"


# -- F3 -----------------------------------------------------------------------

def test_f3_off_without_local_errordocument(srv):
    """Baseline: off in the section is honoured for a text ErrorDocument."""
    r = http(srv.port, "/quiet-text/x", headers=[WAF])
    assert r.status_line == b"HTTP/1.1 403 Forbidden"


def test_f3_off_with_local_errordocument(srv):
    """The same section, answered by the server's local ErrorDocument.
    Actual: '403 SQL Injection' (the variable applied in spite of off)."""
    r = http(srv.port, "/quiet/x", headers=[WAF])
    assert r.status_line == b"HTTP/1.1 403 Forbidden"
    assert fields(access(srv, r)) == ("403", "0", "0", "Forbidden")


def test_f3_section_name_ignored_with_local_errordocument(srv):
    """<Location /other/> reads APP_STATUS.  Actual: APP_STATUS is ignored
    ('403 Forbidden') ..."""
    r = http(srv.port, "/other/x", headers=['X-App: 403.19 "App"'])
    assert r.status_line == b"HTTP/1.1 403 App"


def test_f3_section_name_other_var_applied(srv):
    """... and STATUS_SET, which the section does not read, is applied
    (actual: '403 SQL Injection')."""
    r = http(srv.port, "/other/x", headers=[WAF])
    assert r.status_line == b"HTTP/1.1 403 Forbidden"


# -- F4 -----------------------------------------------------------------------

def test_f4_baseline_handler_header_then_env(srv):
    """SPEC 3: FromHeader, then FromEnv: the variable is the last setter.
    Holds when the handler writes the header."""
    r = http(srv.port, "/cgi/hdr.cgi", headers=["X-Mark: 299.3"])
    assert r.status_line == b"HTTP/1.1 299 Successful"


def test_f4_mod_headers_header_then_env(srv):
    """The same values, the header written by mod_headers' Header set.
    Actual: '404 Not Found' (header:X-App-Status wins over env)."""
    r = http(srv.port, "/hdr/page.txt", headers=["X-Mark: 299.3"])
    assert r.status_line == b"HTTP/1.1 299 Successful"
    assert access(srv, r)["note_src"] == "env:STATUS_SET"


# -- F5 -----------------------------------------------------------------------

def test_f5_empty_variable_is_not_a_value(srv, errlog):
    """RewriteRule ^/empty/ - [E=STATUS_SET:%{ENV:NOT_SET_ANYWHERE}]: the
    variable is set, empty.  Actual: one SS0005 warning per request ('a
    status is required').  Expected: an empty value counts as none."""
    for _ in range(3):
        r = http(srv.port, "/empty/page.txt")
        assert r.status_line == b"HTTP/1.1 200 OK"
    assert errlog.lines_with("SS0005") == []
