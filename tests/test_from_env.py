"""StatusSetFromEnv (SPEC 3, issue 18): a status value that any module or
script puts into a request environment variable (or else a note) is applied
as a setter in the response phase, with source env:NAME.  Each source is a
real Debian module: mod_security2 (setenv:), mod_rewrite ([E=]), mod_setenvif,
mod_lua (r.subprocess_env, r.notes) and mod_php under prefork
(apache_setenv(), apache_note())."""

import glob
import json
import os
import time

import pytest

import pyhttpd
from conftest import (access, assert_config_rejected, fields, http,
                      start_server, start_server_obj, stop_server)
from pyhttpd import BASE_MODULES

CONF = r"""
StatusSetMetrics On
<Location /metrics>
    SetHandler status-set-metrics
</Location>
StatusSetTraceLog logs/trace.log
StatusSetTrace 403,410,299,404

StatusSetFromEnv STATUS_SET

# mod_security2: a WAF rule names the substatus and the phrase.
SecRuleEngine On
SecRequestBodyAccess Off
SecAuditEngine Off
SecRule ARGS:q "@contains select" "id:1801,phase:2,deny,status:403,log,setenv:'STATUS_SET=403.18 \"SQL Injection\" error=1801'"

# mod_rewrite: a gone page, and a 200 marked by an environment variable.
RewriteEngine On
RewriteRule ^/old/ - [G,E=STATUS_SET:410.1]
RewriteRule ^/marked/ - [E=STATUS_SET:299.4]

# mod_setenvif, overridden in a section by "off".
SetEnvIf X-Mark ^yes$ STATUS_SET=404.9
<Location /quiet/>
    StatusSetFromEnv off
</Location>

# A second variable name in one section; a bad value.
<Location /other/>
    StatusSetFromEnv APP_STATUS
</Location>
SetEnvIf X-Bad ^yes$ STATUS_SET=999

# mod_lua: the variable from a handler, the note from a fixup.
LuaHookFixups @ROOT@/hooks.lua set_note
<Location /lua/>
    SetHandler lua-script
</Location>
ErrorDocument 403 /errdoc/403.txt
"""

FILES = {
    "htdocs/page.txt": "page\n",
    "htdocs/marked/page.txt": "marked\n",
    "htdocs/quiet/page.txt": "quiet\n",
    "htdocs/other/page.txt": "other\n",
    "htdocs/errdoc/403.txt": "denied page\n",
    "htdocs/lua/env.lua": (
        "function handle(r)\n"
        "    r.content_type = 'text/plain'\n"
        "    r.subprocess_env['STATUS_SET'] = '404.7 \"No Such Order\" "
        "error=1403'\n"
        "    r:puts('lua body\\n')\n"
        "    return apache2.OK\n"
        "end\n"),
    "htdocs/lua/plain.lua": (
        "function handle(r)\n"
        "    r.content_type = 'text/plain'\n"
        "    r:puts('lua note\\n')\n"
        "    return apache2.OK\n"
        "end\n"),
    "hooks.lua": (
        "function set_note(r)\n"
        "    if r.uri == '/lua/plain.lua' then\n"
        "        r.notes['STATUS_SET'] = '299.5 \"Noted\"'\n"
        "    end\n"
        "    return apache2.DECLINED\n"
        "end\n"),
}

MODULES = BASE_MODULES + ["unique_id", "security2", "lua"]


def settled(h):
    """h, once it answered one request: its children are forked after
    post_config, so every start-up line (mod_security2's notices) is in the
    error log before the first test's snapshot, also under valgrind."""
    http(h.port, "/", method="HEAD")
    return h


@pytest.fixture(scope="module")
def srv():
    h = settled(start_server(CONF, FILES, name="fromenv", modules=MODULES))
    yield h
    stop_server(h)


def trace_records(srv):
    with open(srv.path("logs/trace.log")) as f:
        return [json.loads(line) for line in f if line.strip()]


def metric(srv, name_and_labels):
    body = http(srv.port, "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name_and_labels + " "):
            return int(float(line.split()[-1]))
    return 0


def test_modsecurity_setenv_names_the_substatus(srv, errlog):
    errlog.expect_match(r"\[security2:error\] .*ModSecurity: Access denied "
                        r"with code 403 \(phase 2\)")
    before = metric(srv, 'apache_status_set_rule_hits_total'
                         '{source="env:STATUS_SET"}')
    r = http(srv.port, "/page.txt?q=1+union+select+2")
    assert r.status_line == b"HTTP/1.1 403 SQL Injection"
    # The ErrorDocument answers it, with the phrase on the status line.
    assert r.body == b"denied page\n"
    a = access(srv, r)
    assert fields(a) == ("403", "18", "1801", "SQL Injection")
    assert a["note_src"] == "env:STATUS_SET"
    after = metric(srv, 'apache_status_set_rule_hits_total'
                        '{source="env:STATUS_SET"}')
    assert after == before + 1
    time.sleep(0.2)
    rec = [x for x in trace_records(srv)
           if x.get("substatus") == 18 and x.get("status") == 403]
    assert rec and rec[-1]["source"] == "env:STATUS_SET"
    assert rec[-1]["reason"] == "SQL Injection"


def test_clean_request_is_untouched(srv):
    r = http(srv.port, "/page.txt?q=hello")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert fields(access(srv, r)) == ("200", "0", "0", "OK")
    assert access(srv, r)["note_src"] == "-"


def test_rewrite_gone_with_a_substatus(srv):
    r = http(srv.port, "/old/thing")
    assert r.status_line == b"HTTP/1.1 410 Gone"
    a = access(srv, r)
    assert fields(a) == ("410", "1", "0", "Gone")
    assert a["note_src"] == "env:STATUS_SET"


def test_rewrite_variable_on_a_served_file(srv):
    r = http(srv.port, "/marked/page.txt")
    assert r.status_line == b"HTTP/1.1 299 Successful"
    assert r.body == b"marked\n"
    assert fields(access(srv, r)) == ("299", "4", "0", "Successful")


def test_setenvif_and_off_in_a_section(srv):
    r = http(srv.port, "/page.txt", headers=["X-Mark: yes"])
    assert r.status_line == b"HTTP/1.1 404 Not Found"
    assert r.body == b"page\n"
    assert fields(access(srv, r)) == ("404", "9", "0", "Not Found")
    r = http(srv.port, "/quiet/page.txt", headers=["X-Mark: yes"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert fields(access(srv, r)) == ("200", "0", "0", "OK")


def test_a_section_reads_its_own_variable(srv):
    r = http(srv.port, "/other/page.txt", headers=["X-Mark: yes"])
    assert r.status_line == b"HTTP/1.1 200 OK"


def test_invalid_value_is_ignored_with_one_warning(srv, errlog):
    errlog.expect("SS0005")
    r = http(srv.port, "/page.txt", headers=["X-Bad: yes"])
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"page\n"
    assert fields(access(srv, r)) == ("200", "0", "0", "OK")
    warn = errlog.lines_with("SS0005")
    assert len(warn) == 1, warn
    assert "STATUS_SET" in warn[0] and "999" in warn[0]


def test_lua_handler_sets_the_variable(srv):
    r = http(srv.port, "/lua/env.lua")
    assert r.status_line == b"HTTP/1.1 404 No Such Order"
    assert r.body == b"lua body\n"
    a = access(srv, r)
    assert fields(a) == ("404", "7", "1403", "No Such Order")
    assert a["note_src"] == "env:STATUS_SET"


def test_lua_fixup_sets_a_note(srv):
    r = http(srv.port, "/lua/plain.lua")
    assert r.status_line == b"HTTP/1.1 299 Noted"
    assert fields(access(srv, r)) == ("299", "5", "0", "Noted")


def test_http2_carries_the_substatus(srv):
    import subprocess
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                          "%{http_version} %{http_code}", "--http2-prior-"
                          "knowledge", "http://127.0.0.1:%d/old/x" % srv.port],
                         capture_output=True, text=True, timeout=20).stdout
    if not out.startswith("2"):
        pytest.skip("no h2c on this server: %r" % out)
    assert out == "2 410"


@pytest.mark.parametrize("conf, message", [
    ("StatusSetFromEnv", "StatusSetFromEnv takes one argument"),
    ('StatusSetFromEnv "A B"', "'A B' is not a variable name"),
    ("StatusSetFromEnv A B", "StatusSetFromEnv takes one argument"),
    ("<Location /x>\nStatusSet 403 name=env:X\n</Location>",
     "name=env:X is reserved"),
])
def test_config_errors(conf, message):
    assert_config_rejected(conf, message)


# -- mod_php (prefork) ---------------------------------------------------------

PHP_CONF = r"""
StatusSetFromEnv STATUS_SET
<FilesMatch "\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
"""

PHP_FILES = {
    "htdocs/env.php": "<?php apache_setenv('STATUS_SET', "
                      "'404.3 \"Gone Fishing\" error=3'); echo \"php env\\n\";",
    "htdocs/note.php": "<?php apache_note('STATUS_SET', '403.14'); "
                       "echo \"php note\\n\";",
}


def php_module():
    found = sorted(glob.glob(os.path.join(pyhttpd.MODDIR, "libphp*.so")))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def php_srv():
    so = php_module()
    if not so:
        pytest.skip("libapache2-mod-php is not installed")
    if pyhttpd.PRELOAD:
        # make test-asan: PHP dlopens its extensions with RTLD_DEEPBIND,
        # which the ASan runtime refuses (google/sanitizers#611), and
        # apache2 exits at start-up; the plain and valgrind suites run it.
        pytest.skip("mod_php cannot run under the preloaded ASan runtime")
    # (mod_http2 warns that it does not work with prefork.)
    mods = [m for m in BASE_MODULES
            if not m.startswith("mpm_") and m != "http2"]
    h = pyhttpd.Httpd('LoadModule php_module "%s"\n' % so + PHP_CONF,
                      PHP_FILES, name="php", modules=["mpm_prefork"] + mods)
    h = settled(start_server_obj(h))
    yield h
    stop_server(h)


def test_php_apache_setenv(php_srv):
    r = http(php_srv.port, "/env.php")
    assert r.status_line == b"HTTP/1.1 404 Gone Fishing"
    assert r.body == b"php env\n"
    a = access(php_srv, r)
    assert fields(a) == ("404", "3", "3", "Gone Fishing")
    assert a["note_src"] == "env:STATUS_SET"


def test_php_apache_note(php_srv):
    r = http(php_srv.port, "/note.php")
    assert r.status_line == b"HTTP/1.1 403 Forbidden"
    assert r.body == b"php note\n"
    assert fields(access(php_srv, r)) == ("403", "14", "0", "Forbidden")


def test_iis_guide_waf_recipe(errlog):
    """docs/iis.md's WAF recipe, as written, with Debian's mod_security2:
    IIS's 403.18-style denial and request filtering's 404.5."""
    from test_demo import iis_block
    # mod_security2's start-up notices, and its two denials.
    errlog.expect_match(r"\[security2:notice\] .*ModSecurity")
    errlog.expect_match(r"\[security2:error\] .*ModSecurity: Access denied "
                        r"with code (403 \(phase 2\)|404 \(phase 1\))")
    block = iis_block("apache", "StatusSetFromEnv STATUS_SET")
    h = start_server(block, {"htdocs/page.txt": "page\n"}, name="iis-waf",
                     modules=BASE_MODULES + ["unique_id", "security2"])
    try:
        r = http(h.port, "/page.txt?q=1+union+select+2")
        assert r.status_line == b"HTTP/1.1 403 SQL Injection"
        assert fields(access(h, r)) == ("403", "18", "1801",
                                        "SQL Injection")
        r = http(h.port, "/x/../page.txt")
        assert r.status_line == b"HTTP/1.1 404 Not Found"
        a = access(h, r)
        assert fields(a) == ("404", "5", "0", "Not Found")
        assert a["note_src"] == "env:STATUS_SET"
        r = http(h.port, "/page.txt?q=hello")
        assert r.status_line == b"HTTP/1.1 200 OK"
    finally:
        stop_server(h)
