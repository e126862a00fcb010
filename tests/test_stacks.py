"""The stacks administrators run (SPEC 6): MPMs event, worker and prefork;
TLS with HTTP/2 over ALPN; PHP-FPM behind mod_proxy_fcgi; mod_cache (disk
and socache, quick handler on and off); mod_security2 phases 1 and 2;
mod_deflate, mod_include, ProxyErrorOverride, mod_rewrite [R]/[F]/[G] and
mod_negotiation's MultiViews.

Each stack is one real Debian apache2 (module-scoped, shared by its tests)
with Debian's own modules loaded next to mod_status_set; status lines are
compared byte for byte, access-log fields one by one, and the error log is
checked after every test (conftest.errlog).  Backends are mod_asis virtual
hosts of the same server (@PORT2@), so every backend status line and
header is exact.
"""

import concurrent.futures
import gzip
import json
import os
import re
import subprocess
import time

import pytest

import pyhttpd
from conftest import (BACKEND_VHOST, access, asis, curl, fields, http,
                      new_id, raw, start_server_obj, stop_server)
from pyhttpd import BASE_MODULES
from stacks import PhpFpm, curl_https, make_cert, php_fpm_binary, tls_http

NO_MPM = [m for m in BASE_MODULES if not m.startswith("mpm_")]
ORDER = 'X-App-Status: 404.7 "No Such Order" error=1403'


def rule_src(srv, needle):
    """status-set-source of the rule on the config line holding needle."""
    return "%s:%d" % (srv.conf_path, srv.conf_line(needle))


def log_hits(srv, log, path, want):
    """How many lines of logs/<log> name path, waiting up to 5 s for want
    of them (httpd logs a request after its response)."""
    deadline = time.time() + 5
    while True:
        try:
            with open(srv.path("logs/" + log)) as f:
                n = sum(1 for line in f if (" %s " % path) in line)
        except FileNotFoundError:
            n = 0
        if n >= want or time.time() > deadline:
            return n
        time.sleep(0.05)


# The counters and the tracing (issue 10) ride along in every stack: each
# server counts every response and traces every 2xx-5xx, and when its
# tests are done the counters must equal its access logs cell by cell, and
# the trace log hold one whole record per logged response.
OBSERVE = """
StatusSetMetrics On
StatusSetTraceLog logs/trace.log
StatusSetTraceLimit 0
StatusSetTrace *
<Location /ss-metrics>
    SetHandler status-set-metrics
</Location>
"""


def logged(h):
    """{(code, substatus): n} of the access logs (the main one and the
    backend virtual host's), without the scrapes of /ss-metrics."""
    cells = {}
    lines = [(m.group(1), m.group(2), line) for line in
             h.access_log().splitlines()
             for m in [re.search(r'" (\d{3})\.(\d+) ', line)] if m]
    try:
        with open(h.path("logs/backend_log")) as f:
            lines += [(m.group(1), m.group(2), line) for line in f
                      for m in [re.search(r" (\d{3})\.(\d+)$", line)] if m]
    except FileNotFoundError:
        pass
    for code, sub, line in lines:
        if "/ss-metrics" not in line:
            key = (int(code), int(sub))
            cells[key] = cells.get(key, 0) + 1
    return cells


def check_observed(h):
    deadline = time.time() + 15
    scrapes = 0
    while True:
        doc = json.loads(http(h.port, "/ss-metrics?format=json").body)
        scrapes += 1
        counted = {(c["code"], c["substatus"]): c["count"]
                   for c in doc["responses"] if c["count"]}
        # every earlier scrape is counted as a 200
        counted[(200, 0)] = counted.get((200, 0), 0) - (scrapes - 1)
        counted = {k: v for k, v in counted.items() if v}
        log = logged(h)
        with open(h.path("logs/trace.log"), "rb") as f:
            data = f.read()
        records = [json.loads(line) for line in data.splitlines()]
        traced = {}
        for r in records:
            if r["uri"] != "/ss-metrics":
                key = (r["status"], r["substatus"])
                traced[key] = traced.get(key, 0) + 1
        want = {k: v for k, v in log.items() if 200 <= k[0] <= 599}
        if (counted == log and traced == want) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert log and want, "no response logged"
    assert counted == log
    assert traced == want
    assert data.endswith(b"\n")


def finish(h):
    try:
        check_observed(h)
    finally:
        stop_server(h)


def start(h):
    """Start h, then wait for one response: children are forked after
    post_config, so every start-up warning (mod_ssl's, mod_http2's) is in
    the error log before the first test's snapshot."""
    with open(h.conf_path, "a") as f:
        f.write(OBSERVE)
    try:
        h = start_server_obj(h)
    except Exception:
        h.cleanup()
        raise
    try:
        http(h.port, "/.settle", method="HEAD")
    except Exception:
        stop_server(h)
        raise
    return h




# -- 1. MPMs ------------------------------------------------------------------

MPM_CONF = r"""
StatusSetReason 499 "Client Closed Request"
<Location /mpm/deny>
    StatusSet 403.6 "IP address rejected" error=5
</Location>
<Location /mpm/closed>
    StatusSet 499.1 error=104
</Location>
<Location /mpm/files/>
    StatusSetResponse 404 410.2 "Gone Under MPM" error=2
    StatusSetResponse 200 203.1 "Served Under MPM" error=1
</Location>
"""

MPM_FILES = {"htdocs/mpm/files/f.txt": "mpm body\n"}

# What each MPM writes when it is ready (the proof that it is the one).
MPM_READY = {"event": "AH00489", "worker": "AH00292", "prefork": "AH00163"}


@pytest.fixture(scope="module", params=["event", "worker", "prefork"])
def mpm_srv(request):
    mpm = request.param
    h = pyhttpd.Httpd(MPM_CONF, files=MPM_FILES, name="mpm-" + mpm,
                      modules=["mpm_" + mpm] + NO_MPM)
    h = start(h)
    h.mpm = mpm
    yield h
    finish(h)


def test_mpm_request_and_response_rules(mpm_srv):
    srv = mpm_srv
    p = subprocess.run([pyhttpd.APACHE, "-M", "-f", srv.conf_path],
                       capture_output=True, text=True, timeout=30,
                       env=srv.env())
    mpms = re.findall(r"^ (mpm_\w+)_module ", p.stdout, re.M)
    assert mpms == ["mpm_" + srv.mpm], p.stdout + p.stderr
    if not pyhttpd.VALGRIND:    # apache2 -X writes no such line
        assert re.search(r"\[mpm_%s:notice\] .* %s: " % (
            srv.mpm, MPM_READY[srv.mpm]), srv.error_log()), srv.error_log()
    r = http(srv.port, "/mpm/deny")
    assert r.status_line == b"HTTP/1.1 403 IP address rejected"
    assert b"<title>403 IP address rejected</title>" in r.body
    a = access(srv, r)
    assert fields(a) == ("403", "6", "5", "IP address rejected")
    assert (a["note_sub"], a["note_err"], a["env_sub"], a["env_err"]) == \
        ("6", "5", "6", "5")
    assert a["note_src"] == rule_src(srv, "StatusSet 403.6")

    r = http(srv.port, "/mpm/closed")
    assert r.status_line == b"HTTP/1.1 499 Client Closed Request"
    assert fields(access(srv, r)) == ("499", "1", "104",
                                      "Client Closed Request")

    r = http(srv.port, "/mpm/files/f.txt")
    assert r.status_line == b"HTTP/1.1 203 Served Under MPM"
    assert r.body == b"mpm body\n"
    a = access(srv, r)
    assert fields(a) == ("203", "1", "1", "Served Under MPM")
    assert a["note_src"] == rule_src(srv, "StatusSetResponse 200 203.1")

    r = http(srv.port, "/mpm/files/missing")
    assert r.status_line == b"HTTP/1.1 410 Gone Under MPM"
    assert b"<title>404 Not Found</title>" in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    assert fields(access(srv, r)) == ("410", "2", "2", "Gone Under MPM")


def test_mpm_pipelined_and_concurrent(mpm_srv):
    """Keep-alive pipelining, and many connections at once (threads of one
    child, or several prefork children), each answer exact."""
    srv = mpm_srv
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    req = ("GET /mpm/files/f.txt HTTP/1.1\r\n" + host + "\r\n"
           "GET /mpm/deny HTTP/1.1\r\n" + host + "\r\n"
           "GET /mpm/files/missing HTTP/1.1\r\n" + host +
           "Connection: close\r\n\r\n").encode()
    (a, b, c), trailing = raw(srv.port, req, responses=3)
    assert [a.status_line, b.status_line, c.status_line] == [
        b"HTTP/1.1 203 Served Under MPM", b"HTTP/1.1 403 IP address rejected",
        b"HTTP/1.1 410 Gone Under MPM"]
    assert a.body == b"mpm body\n" and trailing == b""

    want = {"/mpm/deny": b"HTTP/1.1 403 IP address rejected",
            "/mpm/closed": b"HTTP/1.1 499 Client Closed Request",
            "/mpm/files/f.txt": b"HTTP/1.1 203 Served Under MPM",
            "/mpm/files/missing": b"HTTP/1.1 410 Gone Under MPM"}
    paths = list(want) * 8
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda p: http(srv.port, p).status_line, paths))
    assert got == [want[p] for p in paths]


# -- 2. TLS, HTTP/2 over ALPN -------------------------------------------------

TLS_CONF = r"""
SSLSessionCache "shmcb:@ROOT@/run/ssl_scache(512000)"
Listen 127.0.0.1:@PORT2@ https
<VirtualHost 127.0.0.1:@PORT2@>
    ServerName 127.0.0.1
    SSLEngine on
    SSLCertificateFile "@ROOT@/conf/cert.pem"
    SSLCertificateKeyFile "@ROOT@/conf/key.pem"
    Protocols h2 http/1.1
    <Location /tls/deny>
        StatusSet 403.6 "IP address rejected" error=5
    </Location>
    <Location /tls/files/>
        StatusSetResponse 404 410.3 "Gone For Now" error=9
        StatusSetResponse 200 299 "Over TLS" error=1
    </Location>
</VirtualHost>
"""

TLS_FILES = {"htdocs/tls/files/f.txt": "tls body\n"}


@pytest.fixture(scope="module")
def tls_srv():
    # mod_http2 refuses h2 over TLS under prefork (AH10034: "the HTTP/2
    # protocol will be inactive"): with SS_MPM=prefork this stack runs
    # under event.
    mpm = "event" if pyhttpd.MPM == "prefork" else pyhttpd.MPM
    mods = ["mpm_" + mpm] + NO_MPM + ["socache_shmcb", "ssl"]
    h = pyhttpd.Httpd(TLS_CONF, files=TLS_FILES, name="tls", modules=mods,
                      extra_ports=1)
    make_cert(h.path("conf"))
    h = start(h)
    h.tls_port = h.extra_ports[0]
    yield h
    finish(h)


def test_tls_h2_request_rule(tls_srv):
    srv = tls_srv
    r = curl_https(srv.tls_port, "/tls/deny", "--http2")
    assert r.http_version == "2"
    assert r.status_line.rstrip() == "HTTP/2 403"
    # No phrase on the wire; Apache's page still carries the status line.
    assert b"<title>403 IP address rejected</title>" in r.body
    a = access(srv, r)
    assert a["request"] == "GET /tls/deny HTTP/2.0"
    assert fields(a) == ("403", "6", "5", "IP address rejected")
    assert (a["note_sub"], a["note_err"], a["note_reason"]) == \
        ("6", "5", "IP address rejected")
    assert (a["env_sub"], a["env_err"], a["env_reason"]) == \
        ("6", "5", "IP address rejected")
    assert a["note_src"] == rule_src(srv, "StatusSet 403.6")


def test_tls_h2_response_rules(tls_srv):
    srv = tls_srv
    r = curl_https(srv.tls_port, "/tls/files/f.txt", "--http2")
    assert r.http_version == "2"
    assert r.status_line.rstrip() == "HTTP/2 299"
    assert r.body == b"tls body\n"
    a = access(srv, r)
    assert a["request"] == "GET /tls/files/f.txt HTTP/2.0"
    assert fields(a) == ("299", "0", "1", "Over TLS")
    assert a["note_src"] == rule_src(srv, "StatusSetResponse 200 299")

    r = curl_https(srv.tls_port, "/tls/files/missing", "--http2")
    assert r.http_version == "2"
    assert r.status_line.rstrip() == "HTTP/2 410"
    assert b"<title>404 Not Found</title>" in r.body
    assert fields(access(srv, r)) == ("410", "3", "9", "Gone For Now")


@pytest.mark.parametrize("path,line,body,logged", [
    ("/tls/deny", b"HTTP/1.1 403 IP address rejected",
     b"<title>403 IP address rejected</title>",
     ("403", "6", "5", "IP address rejected")),
    ("/tls/files/f.txt", b"HTTP/1.1 299 Over TLS", b"tls body\n",
     ("299", "0", "1", "Over TLS")),
    ("/tls/files/missing", b"HTTP/1.1 410 Gone For Now",
     b"<title>404 Not Found</title>", ("410", "3", "9", "Gone For Now")),
])
def test_tls_http11_phrase_on_the_wire(tls_srv, path, line, body, logged):
    srv = tls_srv
    r = tls_http(srv.tls_port, path)
    assert r.alpn == "http/1.1"
    assert r.status_line == line
    assert body in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    a = access(srv, r)
    assert a["request"] == "GET %s HTTP/1.1" % path
    assert fields(a) == logged


# -- 3. PHP-FPM behind mod_proxy_fcgi -----------------------------------------

PHP_CONF = r"""
<FilesMatch \.php$>
    SetHandler "proxy:unix:@ROOT@/run/php-fpm.sock|fcgi://localhost"
</FilesMatch>
<Location /php/>
    StatusSetFromHeader X-Status-Set
    StatusSetReason 499 "Client Closed Request"
</Location>
# The same scripts with no rule: what PHP-FPM and httpd do alone.
Alias /php-bare/ "@ROOT@/htdocs/php/"
"""

PHP_FILES = {
    "htdocs/php/order.php":
        "<?php\nheader('X-Status-Set: 404.7 \"No Such Order\" error=1403');\n"
        "echo \"no order 42\\n\";\n",
    "htdocs/php/closed.php":
        "<?php\nhttp_response_code(499);\necho \"closed\\n\";\n",
    "htdocs/php/bad.php":
        "<?php\nheader('X-Status-Set: 404.7 \"Bad <b>\" error=1403');\n"
        "echo \"bad header\\n\";\n",
    "htdocs/php/plain.php": "<?php\necho \"plain php\\n\";\n",
}


@pytest.fixture(scope="module")
def php_srv():
    if not php_fpm_binary():
        pytest.fail("php-fpm is not installed: apt-get install php-fpm")
    h = pyhttpd.Httpd(PHP_CONF, files=PHP_FILES, name="php",
                      modules=BASE_MODULES + ["proxy", "proxy_fcgi"])
    fpm = PhpFpm(h.root).start()
    try:
        h = start(h)
    except Exception:
        fpm.stop()
        raise
    h.fpm = fpm
    yield h
    finish(h)
    log = fpm.log_text()
    fpm.stop()
    bad = [line for line in log.splitlines()
           if re.search(r"\b(WARNING|ERROR|ALERT)\b", line)]
    assert not bad, "php-fpm log:\n" + log


def test_php_control_runs_through_fpm(php_srv):
    r = http(php_srv.port, "/php/plain.php")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"plain php\n"
    assert r.header("X-Powered-By").startswith("PHP/")
    a = access(php_srv, r)
    assert fields(a) == ("200", "0", "0", "OK") and a["note_src"] == "-"


def test_php_control_without_rules(php_srv):
    """PHP sends a bare "Status: 499" and the header as it is: what the
    module changes below is its own doing."""
    r = http(php_srv.port, "/php-bare/closed.php")
    assert r.status_line == b"HTTP/1.1 499 "
    r = http(php_srv.port, "/php-bare/order.php")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-Status-Set") == '404.7 "No Such Order" error=1403'
    assert fields(access(php_srv, r)) == ("200", "0", "0", "OK")


def test_php_header_bridge(php_srv):
    r = http(php_srv.port, "/php/order.php")
    assert r.status_line == b"HTTP/1.1 404 No Such Order"
    assert r.header("X-Status-Set") is None
    assert r.body == b"no order 42\n"
    a = access(php_srv, r)
    assert fields(a) == ("404", "7", "1403", "No Such Order")
    assert a["note_src"] == "header:X-Status-Set"
    assert (a["env_sub"], a["env_err"]) == ("7", "1403")


def test_php_http_response_code_takes_configured_phrase(php_srv):
    r = http(php_srv.port, "/php/closed.php")
    assert r.status_line == b"HTTP/1.1 499 Client Closed Request"
    assert r.body == b"closed\n"
    a = access(php_srv, r)
    assert fields(a) == ("499", "0", "0", "Client Closed Request")


def test_php_invalid_header_ignored_with_one_warning(php_srv, errlog):
    errlog.expect("SS0004")
    r = http(php_srv.port, "/php/bad.php")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.header("X-Status-Set") is None
    assert r.body == b"bad header\n"
    w = errlog.lines_with("SS0004")
    assert len(w) == 1, w
    assert "[status_set:warn]" in w[0] and "X-Status-Set" in w[0], w
    assert "Bad <b>" in w[0], w
    a = access(php_srv, r)
    assert fields(a) == ("200", "0", "0", "OK")
    assert a["note_src"] == "-"


def test_php_over_h2c(php_srv):
    r = curl(php_srv.port, "/php/order.php", "--http2-prior-knowledge")
    assert r.status_line.rstrip() == "HTTP/2 404"
    assert r.header("x-status-set") is None
    assert r.body == b"no order 42\n"
    assert fields(access(php_srv, r)) == ("404", "7", "1403", "No Such Order")


# -- 4. mod_cache: disk and socache, quick handler on and off -----------------

CACHE_CONF = BACKEND_VHOST + r"""
CacheSocache shmcb
CacheRoot "@ROOT@/cache"
CacheHeader on
CacheEnable socache /app/
CacheEnable disk /dapp/
ProxyPass /app/ http://127.0.0.1:@PORT2@/
ProxyPass /dapp/ http://127.0.0.1:@PORT2@/
<Location /app/>
    StatusSetFromHeader X-App-Status
</Location>
<Location /dapp/>
    StatusSetFromHeader X-App-Status
</Location>

# The same, with the cache looked up by the handler, after <Location>
# sections are merged.
Listen 127.0.0.1:@PORT3@
<VirtualHost 127.0.0.1:@PORT3@>
    CacheQuickHandler off
</VirtualHost>
"""

CACHE_FILES = {
    "backend/order.asis": asis("200 OK", ["Cache-Control: max-age=300", ORDER],
                               body="no order 42\n"),
    "backend/tagged.asis": asis("200 OK", [
        "Cache-Control: max-age=300", 'X-App-Status: 200.4 "Tagged"'],
        body="tagged body\n"),
    "backend/plain.asis": asis("200 OK", ["Cache-Control: max-age=300"],
                               body="plain body\n"),
}

CACHES = [("socache", "/app/"), ("disk", "/dapp/")]


@pytest.fixture(scope="module")
def cache_srv():
    mods = BASE_MODULES + ["proxy", "proxy_http", "asis", "cache",
                           "cache_socache", "socache_shmcb", "cache_disk"]
    h = pyhttpd.Httpd(CACHE_CONF, files=CACHE_FILES, name="cache",
                      modules=mods, extra_ports=2)
    # mod_cache_disk's children (www-data when we are root) write there.
    os.makedirs(h.path("cache"), exist_ok=True)
    os.chmod(h.path("cache"), 0o777)
    h = start(h)
    yield h
    finish(h)


def cache_port(srv, quick):
    return srv.port if quick == "on" else srv.extra_ports[1]


@pytest.mark.parametrize("quick", ["on", "off"])
@pytest.mark.parametrize("store,prefix", CACHES)
def test_cache_bridged_404_never_stored(cache_srv, store, prefix, quick):
    srv = cache_srv
    port = cache_port(srv, quick)
    # A path of its own per case: the backend log counts its requests.
    path = "/order.asis?%s-%s" % (store, quick)
    for _ in range(3):
        r = http(port, prefix + path[1:])
        assert r.status_line == b"HTTP/1.1 404 No Such Order"
        assert r.header("X-App-Status") is None
        assert r.body == b"no order 42\n"
        assert not (r.header("X-Cache") or "").startswith("HIT"), r.headers
        assert r.header("Age") is None
        assert fields(access(srv, r)) == ("404", "7", "1403", "No Such Order")
    # Every request reached the backend: nothing was stored.
    assert log_hits(srv, "backend_log", path, 3) == 3


@pytest.mark.parametrize("quick", ["on", "off"])
@pytest.mark.parametrize("store,prefix", CACHES)
def test_cache_bridged_200_keeps_phrase_and_substatus(cache_srv, store, prefix,
                                                      quick):
    srv = cache_srv
    port = cache_port(srv, quick)
    path = "/tagged.asis?%s-%s" % (store, quick)
    for _ in range(3):
        r = http(port, prefix + path[1:])
        assert r.status_line == b"HTTP/1.1 200 Tagged"
        assert r.header("X-App-Status") is None
        assert r.body == b"tagged body\n"
        a = access(srv, r)
        assert fields(a) == ("200", "4", "0", "Tagged")
        assert a["note_src"] == "header:X-App-Status"


@pytest.mark.parametrize("quick", ["on", "off"])
@pytest.mark.parametrize("store,prefix", CACHES)
def test_cache_plain_200_is_cached(cache_srv, store, prefix, quick):
    """The control: the set-up caches what no setter touched."""
    srv = cache_srv
    port = cache_port(srv, quick)
    path = "/plain.asis?%s-%s" % (store, quick)
    first = http(port, prefix + path[1:])
    assert first.status_line == b"HTTP/1.1 200 OK"
    assert first.header("X-Cache").startswith("MISS"), first.headers
    assert log_hits(srv, "backend_log", path, 1) == 1
    time.sleep(0.1)
    for _ in range(2):
        r = http(port, prefix + path[1:])
        assert r.status_line == b"HTTP/1.1 200 OK"
        assert r.body == b"plain body\n"
        assert r.header("X-Cache").startswith("HIT"), r.headers
        assert r.header("Age") is not None
        assert fields(access(srv, r)) == ("200", "0", "0", "OK")
    assert log_hits(srv, "backend_log", path, 1) == 1


# -- 5. mod_security2 ---------------------------------------------------------

MODSEC_CONF = r"""
SecRuleEngine On
SecRequestBodyAccess Off
SecAuditEngine Off
SecRule ARGS:block "@streq yes" "id:1001,phase:2,deny,status:403"
SecRule REQUEST_HEADERS:X-Early "@streq yes" "id:1002,phase:1,deny,status:403"

<Location /waf/>
    StatusSetResponse 403 403.501 "Blocked By WAF" error=1001
</Location>

# Phase 1 denies before <Location> sections are merged: only the
# virtual host's rules apply then.
Listen 127.0.0.1:@PORT2@
<VirtualHost 127.0.0.1:@PORT2@>
    StatusSetResponse 403 403.502 "Blocked Early" error=1002
</VirtualHost>
"""

MODSEC_FILES = {"htdocs/waf/page.txt": "waf page\n"}


@pytest.fixture(scope="module")
def modsec_srv():
    # Debian's security2.load: "Depends: unique_id".  mod_security2 2.9.7
    # crashes children on a graceful restart: this server never gets one.
    h = pyhttpd.Httpd(MODSEC_CONF, files=MODSEC_FILES, name="modsec",
                      modules=BASE_MODULES + ["unique_id", "security2"],
                      extra_ports=1)
    h = start(h)
    yield h
    finish(h)


def modsec_denials(errlog, phase, rule_id):
    return [line for line in errlog.new_lines()
            if "ModSecurity: Access denied with code 403 (phase %d)" % phase
            in line and '[id "%d"]' % rule_id in line]


def test_modsec_passes_clean_request(modsec_srv):
    r = http(modsec_srv.port, "/waf/page.txt?block=no")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"waf page\n"


def test_modsec_phase2_deny_rewritten_by_location_rule(modsec_srv, errlog):
    errlog.expect_match(r"\[security2:error\] .*ModSecurity: ")
    r = http(modsec_srv.port, "/waf/page.txt?block=yes")
    assert r.status_line == b"HTTP/1.1 403 Blocked By WAF"
    assert b"<title>403 Forbidden</title>" in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    a = access(modsec_srv, r)
    assert fields(a) == ("403", "501", "1001", "Blocked By WAF")
    assert a["note_src"] == rule_src(modsec_srv,
                                     "StatusSetResponse 403 403.501")
    assert len(modsec_denials(errlog, 2, 1001)) == 1, errlog.new_lines()


def test_modsec_phase1_deny_not_rewritten_by_location_rule(modsec_srv, errlog):
    errlog.expect_match(r"\[security2:error\] .*ModSecurity: ")
    r = http(modsec_srv.port, "/waf/page.txt", headers=["X-Early: yes"])
    assert r.status_line == b"HTTP/1.1 403 Forbidden"
    a = access(modsec_srv, r)
    assert fields(a) == ("403", "0", "0", "Forbidden")
    assert a["note_src"] == "-"
    assert len(modsec_denials(errlog, 1, 1002)) == 1, errlog.new_lines()


def test_modsec_phase1_deny_rewritten_by_vhost_rule(modsec_srv, errlog):
    errlog.expect_match(r"\[security2:error\] .*ModSecurity: ")
    port = modsec_srv.extra_ports[0]
    r = http(port, "/waf/page.txt", headers=["X-Early: yes"])
    assert r.status_line == b"HTTP/1.1 403 Blocked Early"
    a = access(modsec_srv, r)
    assert fields(a) == ("403", "502", "1002", "Blocked Early")
    assert a["note_src"] == rule_src(modsec_srv,
                                     "StatusSetResponse 403 403.502")
    assert len(modsec_denials(errlog, 1, 1002)) == 1, errlog.new_lines()


# -- 6. mod_deflate, mod_include, ProxyErrorOverride, mod_rewrite, MultiViews -

MISC_CONF = BACKEND_VHOST + r"""
# mod_deflate
<Location /gz/>
    SetOutputFilter DEFLATE
    StatusSetResponse 200 200.3 "Squeezed" error=7
</Location>

# mod_include: the include target has rules, which never run in subrequests
<Directory "@ROOT@/htdocs/ssi">
    Options +Includes
</Directory>
<Location /inc/>
    StatusSet 403.9 "Never In Includes" error=9
    StatusSetResponse 200 299 "Never On Subrequests"
</Location>

# ProxyErrorOverride: the backend's error goes through httpd's error path
ProxyPass /peo/ http://127.0.0.1:@PORT2@/
<Location /peo/>
    ProxyErrorOverride On
    StatusSetFromHeader X-App-Status
</Location>
ProxyPass /peoed/ http://127.0.0.1:@PORT2@/
<Location /peoed/>
    ProxyErrorOverride On
    StatusSetFromHeader X-App-Status
    ErrorDocument 404 /errors/404.html
</Location>
ProxyPass /nopeo/ http://127.0.0.1:@PORT2@/
<Location /nopeo/>
    ProxyErrorOverride Off
    StatusSetFromHeader X-App-Status
</Location>

# mod_rewrite: [R=302], [F] and [G], each rewritten in the same context
<Directory "@ROOT@/htdocs/rw">
    RewriteEngine On
    RewriteRule ^moved$ /target.html [R=302,L]
    RewriteRule ^forbidden$ - [F]
    RewriteRule ^gone$ - [G]
    StatusSetResponse 302 307.2 "Rewrite Redirect" error=302 location=/elsewhere.html
    StatusSetResponse 403 403.18 "Rewrite Forbidden" error=13
    StatusSetResponse 410 410.4 "Rewrite Gone"
</Directory>

# mod_negotiation: MultiViews maps /mv/page to page.html (a fast redirect)
<Directory "@ROOT@/htdocs/mv">
    Options +MultiViews
    StatusSetResponse 200 200.6 "Negotiated" error=6
</Directory>
"""

SMALL = "small text to squeeze, " * 40 + "\n"
# Compresses to far more than mod_deflate's 8 KB buffer: sent in pieces,
# so HTTP/1.1 must chunk it.
BIG = "".join("%08x line %d of the big file\n" % ((i * 2654435761) % 2 ** 32,
                                                  i)
              for i in range(12000))

MISC_FILES = {
    "htdocs/gz/small.txt": SMALL,
    "htdocs/gz/big.txt": BIG,
    "htdocs/ssi/page.shtml":
        'head <!--#include virtual="/inc/target.txt" --> tail\n',
    "htdocs/inc/target.txt": "included text\n",
    "htdocs/errors/404.html": "<p>local 404 page</p>\n",
    "htdocs/rw/.keep": "",
    "htdocs/target.html": "target\n",
    "htdocs/mv/page.html": "<p>negotiated page</p>\n",
    "backend/e404.asis": asis("404 Not Found", [ORDER], body="backend 404\n"),
}


@pytest.fixture(scope="module")
def misc_srv():
    mods = BASE_MODULES + ["proxy", "proxy_http", "asis", "filter", "deflate",
                           "negotiation"]
    h = pyhttpd.Httpd(MISC_CONF, files=MISC_FILES, name="misc", modules=mods,
                      extra_ports=1)
    h = start(h)
    yield h
    finish(h)


def test_deflate_with_response_rule(misc_srv):
    srv = misc_srv
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    ids = [new_id() for _ in range(3)]
    req = ("GET /gz/small.txt HTTP/1.1\r\n" + host + "X-Test-Id: " + ids[0] +
           "\r\nAccept-Encoding: gzip\r\n\r\n"
           "GET /gz/big.txt HTTP/1.1\r\n" + host + "X-Test-Id: " + ids[1] +
           "\r\nAccept-Encoding: gzip\r\n\r\n"
           "GET /gz/small.txt HTTP/1.1\r\n" + host + "X-Test-Id: " + ids[2] +
           "\r\nConnection: close\r\n\r\n").encode()
    (small, big, plain), trailing = raw(srv.port, req, responses=3)
    assert trailing == b""
    for r in (small, big, plain):
        assert r.status_line == b"HTTP/1.1 200 Squeezed"
    # Framing: the small one whole with its length, the big one chunked.
    assert small.header("Content-Encoding") == "gzip"
    assert int(small.header("Content-Length")) == len(small.body)
    assert gzip.decompress(small.body) == SMALL.encode()
    assert big.header("Content-Encoding") == "gzip"
    assert big.header("Transfer-Encoding") == "chunked"
    assert big.header("Content-Length") is None
    assert gzip.decompress(big.body) == BIG.encode()
    assert plain.header("Content-Encoding") is None
    assert plain.body == SMALL.encode()
    for tid in ids:
        a = pyhttpd.parse_access(srv.access_line(tid))
        assert fields(a) == ("200", "3", "7", "Squeezed")


def test_include_target_rules_do_not_touch_main_response(misc_srv):
    srv = misc_srv
    # The target's own rule is live...
    r = http(srv.port, "/inc/target.txt")
    assert r.status_line == b"HTTP/1.1 403 Never In Includes"
    # ...but not in the subrequest of an include.
    r = http(srv.port, "/ssi/page.shtml")
    assert r.status_line == b"HTTP/1.1 200 OK"
    assert r.body == b"head included text\n tail\n"
    a = access(srv, r)
    assert fields(a) == ("200", "0", "0", "OK")
    assert (a["note_sub"], a["note_src"], a["env_sub"]) == ("-", "-", "-")


def test_proxy_error_override_reads_bridge_header(misc_srv):
    srv = misc_srv
    r = http(srv.port, "/peo/e404.asis")
    assert r.status_line == b"HTTP/1.1 404 No Such Order"
    assert r.header("X-App-Status") is None
    # httpd's own error page replaced the backend's body.
    assert b"<title>404 No Such Order</title>" in r.body
    assert b"backend 404" not in r.body
    a = access(srv, r)
    assert fields(a) == ("404", "7", "1403", "No Such Order")
    assert a["note_src"] == "header:X-App-Status"


def test_proxy_error_override_with_local_errordocument(misc_srv):
    srv = misc_srv
    r = http(srv.port, "/peoed/e404.asis")
    assert r.status_line == b"HTTP/1.1 404 No Such Order"
    assert r.header("X-App-Status") is None
    assert r.body == b"<p>local 404 page</p>\n"
    a = access(srv, r)
    assert (a["sub"], a["error"], a["reason"]) == ("7", "1403",
                                                   "No Such Order")


def test_proxy_error_override_off_passes_backend_body(misc_srv):
    srv = misc_srv
    r = http(srv.port, "/nopeo/e404.asis")
    assert r.status_line == b"HTTP/1.1 404 No Such Order"
    assert r.header("X-App-Status") is None
    assert r.body == b"backend 404\n"
    assert fields(access(srv, r)) == ("404", "7", "1403", "No Such Order")


@pytest.mark.parametrize("path,rule,line,logged,title", [
    ("/rw/moved", "StatusSetResponse 302 307.2",
     b"HTTP/1.1 307 Rewrite Redirect",
     ("307", "2", "302", "Rewrite Redirect"), b"<title>302 Found</title>"),
    ("/rw/forbidden", "StatusSetResponse 403 403.18",
     b"HTTP/1.1 403 Rewrite Forbidden",
     ("403", "18", "13", "Rewrite Forbidden"),
     b"<title>403 Forbidden</title>"),
    ("/rw/gone", "StatusSetResponse 410 410.4", b"HTTP/1.1 410 Rewrite Gone",
     ("410", "4", "0", "Rewrite Gone"), b"<title>410 Gone</title>"),
])
def test_rewrite_flags_rewritten(misc_srv, path, rule, line, logged, title):
    srv = misc_srv
    r = http(srv.port, path)
    assert r.status_line == line
    # Too late for another page: mod_rewrite's error page stays, framed.
    assert title in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    if path == "/rw/moved":
        # The rule's location= replaced mod_rewrite's target.
        assert r.header("Location") == "/elsewhere.html"
    a = access(srv, r)
    assert fields(a) == logged
    assert a["note_src"] == rule_src(srv, rule)


def test_multiviews_fast_redirect(misc_srv, errlog):
    srv = misc_srv
    r = http(srv.port, "/mv/page")
    assert r.status_line == b"HTTP/1.1 200 Negotiated"
    assert r.body == b"<p>negotiated page</p>\n"
    assert r.header("Content-Location") == "page.html"
    a = access(srv, r)
    assert fields(a) == ("200", "6", "6", "Negotiated")
    assert a["note_src"] == rule_src(srv, "StatusSetResponse 200 200.6")
    # One status applied, to the main request only.
    lines = errlog.lines_with("SS0001")
    assert len(lines) == 1 and lines[0].endswith(" for /mv/page"), lines
