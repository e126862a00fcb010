"""Fixtures and clients for the mod_status_set tests.

Every test talks to a real apache2 (tests/pyhttpd.py) over loopback, with
raw sockets when the exact bytes matter and with curl otherwise.  After
every test the error logs of all running servers are read: a line whose
message id is not expected fails the test.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyhttpd  # noqa: E402

RUNNING = []
# The error logs of servers stopped by stop_server(), (server, text), so
# that the errlog check also reads the servers a test started and stopped.
STOPPED = []

# Lines httpd itself writes at start and stop.  The parent listens before
# it writes them, so they may come after a test's snapshot: each MPM's
# (SS_MPM, tests/test_stacks.py) has its own ids.
STARTUP_IDS = {
    "AH00489",  # resuming normal operations (event)
    "AH00292",  # resuming normal operations (worker)
    "AH00163",  # resuming normal operations (prefork)
    "AH00094",  # Command line
    "AH00491",  # caught SIGTERM, shutting down (event)
    "AH00295",  # caught SIGTERM, shutting down (worker)
    "AH00169",  # caught SIGTERM, shutting down (prefork)
    "AH00492",  # caught SIGWINCH, shutting down gracefully (event)
    "AH00296",  # caught SIGWINCH, shutting down gracefully (worker)
    "AH00170",  # caught SIGWINCH, shutting down gracefully (prefork)
    "AH00493",  # SIGUSR1 received.  Doing graceful restart (event)
    "AH00297",  # SIGUSR1 received.  Doing graceful restart (worker)
    "AH00171",  # Graceful restart requested, doing restart (prefork)
    "AH00494",  # SIGHUP received.  Attempting to restart (event)
    "AH00298",  # SIGHUP received.  Attempting to restart (worker)
    "AH00173",  # SIGHUP received.  Attempting to restart (prefork)
    "AH00558",  # could not determine the FQDN
    # The event MPM stopped while a connection is in lingering close
    # ("process_lingering_close: apr_pollset_add failure"): seen in 3 of 25
    # stops right after a 400 without mod_status_set loaded.
    "AH03092",
    # mod_http2 under prefork, written in post_config (after the parent
    # listens): "The mpm module (prefork.c) is not supported by mod_http2".
    "AH10034",
}

# [time] [module:level] [pid N:tid M] [(errno)text: ][client A:P] ID: text
LOG_ID_RE = re.compile(r"^\[[^\]]*\] \[(?P<module>[^\]]*)\] .*?\] "
                       r"(?:\(-?\d+\)[^:]*: )?(?:\[client [^\]]*\] )?"
                       r"(?P<id>AH\d{5}|SS\d{4}): ")


@pytest.fixture(scope="session")
def ss_test_module():
    """tests/modules/mod_ss_test.c, built with apxs against the public
    header, as a third-party module would be."""
    d = tempfile.mkdtemp(prefix="ss-testmod-")
    shutil.copy(os.path.join(pyhttpd.TOP, "tests", "modules", "mod_ss_test.c"),
                d)
    p = subprocess.run(["apxs", "-c", "-I", pyhttpd.TOP, "-Wc,-Wall",
                        "-Wc,-Wextra", "-Wc,-Werror", "mod_ss_test.c"],
                       cwd=d, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    yield os.path.join(d, ".libs", "mod_ss_test.so")
    shutil.rmtree(d, ignore_errors=True)


def start_server(conf, files=None, name="httpd", **kw):
    return start_server_obj(pyhttpd.Httpd(conf, files=files, name=name, **kw))


def start_server_obj(h):
    """Start a server made by pyhttpd.Httpd (and prepared further)."""
    assert os.path.exists(pyhttpd.MODULE), "build the module first: make"
    h.start()
    RUNNING.append(h)
    return h


def build_unit(tmp_path_factory, name, sources, flags=()):
    """Compile tests/unit/NAME.c with the module's APR-only sources into a
    test driver; returns its path."""
    exe = str(tmp_path_factory.mktemp("unit") / name)
    apr = subprocess.run(["apr-1-config", "--includes", "--cppflags",
                          "--link-ld", "--libs"], capture_output=True,
                         text=True, check=True).stdout.split()
    subprocess.run([os.environ.get("CC", "cc"), "-g", "-O2", "-Wall",
                    "-Wextra", "-Werror"] + list(flags)
                   + ["-I" + pyhttpd.TOP, "-I" + pyhttpd.TOP + "/tests/unit",
                      "%s/tests/unit/%s.c" % (pyhttpd.TOP, name)]
                   + ["%s/%s" % (pyhttpd.TOP, s) for s in sources]
                   + ["-o", exe] + apr, check=True)
    return exe


def assert_config_rejected(conf, message, name="conf"):
    """apache2 -t refuses conf, and says message."""
    h = pyhttpd.Httpd(conf, name=name)
    try:
        p = h.check_config()
        assert p.returncode != 0, "accepted: %r" % conf
        assert message in p.stderr, p.stderr
    finally:
        h.cleanup()


def stop_server(h):
    if h in RUNNING:
        RUNNING.remove(h)
    h.stop()
    STOPPED.append((h, h.error_log()))
    # Reports written while the children exit count too.
    reports = h.sanitizer_reports()
    h.cleanup()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


# httpd's event MPM sometimes crashes a child as it stops: the child's main
# thread faults in apr_os_sock_get() called from mod_mpm_event (seen in 4 of
# 80 stops, and as often with mod_status_set not loaded; core dump read with
# gdb).  The parent logs it as it reaps the child, right before or after its
# own "shutting down" (or a full restart's "SIGHUP received") line.  Such a line is httpd's, not the module's; a
# crash anywhere else still fails the test.
SHUTDOWN_IDS = ("AH00491", "AH00295", "AH00169",   # SIGTERM
                "AH00494", "AH00298", "AH00173")   # SIGHUP: a full restart
RESUMING_IDS = ("AH00489", "AH00292", "AH00163")
CRASH_RE = re.compile(r"AH0005[12]: child pid \d+ exit signal "
                      r"Segmentation fault")


def shutdown_noise(text):
    """text without the child crashes logged as the parent stopped."""
    out, pending, stopping = [], [], False
    for line in text.splitlines(keepends=True):
        if CRASH_RE.search(line):
            if not stopping:
                pending.append(line)
            continue
        if any(i + ":" in line for i in SHUTDOWN_IDS):
            stopping = True
            pending = []
        elif any(i + ":" in line for i in RESUMING_IDS):
            stopping = False      # a restart is done: crashes count again
        out.extend(pending)
        pending = []
        out.append(line)
    out.extend(pending)
    return "".join(out)


class ErrorLogCheck:
    """What a test expects to see in the error logs."""

    def __init__(self):
        self.expected = set(STARTUP_IDS) | {"SS0001"}
        if pyhttpd.VALGRIND:
            # apache2 -X stops mod_cgid's daemon, which runs as www-data,
            # after it made its socket as root: "Couldn't unlink unix
            # domain socket" (without mod_status_set too).
            self.expected.add("AH01240")
        self.patterns = []
        self.offsets = {}

    def expect(self, *ids):
        self.expected.update(ids)

    def expect_match(self, regex):
        """Allow lines httpd writes without a message id (ap_expr's)."""
        self.patterns.append(re.compile(regex))

    def snapshot(self):
        self.offsets = {h: len(h.error_log()) for h in RUNNING}
        self.stopped = len(STOPPED)

    def new_lines(self, h=None):
        out = []
        logs = [(srv, srv.error_log()) for srv in RUNNING]
        if h is None:
            logs += STOPPED[self.stopped:]
        for srv, text in logs:
            if h is not None and srv is not h:
                continue
            text = shutdown_noise(text[self.offsets.get(srv, 0):])
            out.extend(line for line in text.splitlines() if line.strip())
        return out

    def lines_with(self, mid):
        """The new lines that carry message id mid ("SS0001")."""
        return [line for line in self.new_lines() if mid + ":" in line]

    def unexpected(self):
        bad = []
        for line in self.new_lines():
            m = LOG_ID_RE.match(line)
            if any(p.search(line) for p in self.patterns):
                continue
            if not m or m.group("id") not in self.expected:
                bad.append(line)
        return bad


@pytest.fixture(autouse=True)
def errlog():
    check = ErrorLogCheck()
    check.snapshot()
    yield check
    bad = check.unexpected()
    assert not bad, "unexpected error-log lines:\n" + "\n".join(bad)
    reports = [rep for h in RUNNING for rep in h.sanitizer_reports()]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


# -- HTTP/1.x over a raw socket --------------------------------------------

class Response:
    def __init__(self, status_line, headers, body, test_id=None):
        self.status_line = status_line          # bytes, without CRLF
        parts = status_line.split(b" ", 2)
        self.version = parts[0].decode()
        self.code = int(parts[1])
        self.reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        self.headers = headers                  # [(name, value)], str
        self.body = body
        self.test_id = test_id

    def header(self, name):
        vals = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(vals) <= 1, "header %s repeated: %r" % (name, vals)
        return vals[0] if vals else None

    def __repr__(self):
        return "<Response %r %r>" % (self.status_line, self.headers)


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self):
        try:
            while True:
                self._fill()
        except (EOFError, ConnectionResetError):
            pass
        data, self.buf = self.buf, b""
        return data

    def response(self, head=False, test_id=None):
        status_line = self.line()
        headers = []
        while True:
            line = self.line()
            if not line:
                break
            name, value = line.split(b":", 1)
            headers.append((name.decode(), value.strip().decode("latin-1")))
        resp = Response(status_line, headers, b"", test_id)
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if head or resp.code in (204, 304):
            return resp
        if te and "chunked" in te.lower():
            body = b""
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    break
                body += self.exact(size)
                assert self.line() == b""
            resp.body = body
        elif cl is not None:
            resp.body = self.exact(int(cl))
        else:
            resp.body = self.rest()
        return resp


def raw(port, data, responses=1, heads=(), timeout=10):
    """Send data, read that many responses; heads: indexes of HEAD ones."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        r = Reader(s)
        out = [r.response(head=i in heads) for i in range(responses)]
        s.shutdown(socket.SHUT_WR)
        trailing = r.rest()
    return out, trailing


def access(srv, resp):
    """The parsed access-log line of a response from http() or curl()."""
    return pyhttpd.parse_access(srv.access_line(resp.test_id))


def new_id():
    return uuid.uuid4().hex[:16]


def http(port, path, method="GET", version="HTTP/1.1", headers=(),
         body=b"", keepalive=False):
    """One request on its own connection; returns the Response."""
    test_id = new_id()
    lines = ["%s %s %s" % (method, path, version)]
    if not any(h.lower().startswith("host:") for h in headers):
        lines.append("Host: 127.0.0.1:%d" % port)
    lines.append("X-Test-Id: %s" % test_id)
    if not keepalive and version == "HTTP/1.1":
        lines.append("Connection: close")
    for h in headers:
        lines.append(h)
    if body:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    (resp,), trailing = raw(port, data, heads=(0,) if method == "HEAD" else ())
    assert trailing == b"", "bytes after the response: %r" % trailing
    resp.test_id = test_id
    return resp


class CurlResult:
    def __init__(self, head, body, test_id):
        blocks = [b for b in head.split("\r\n\r\n") if b.strip()]
        assert blocks, "no response head: %r" % head
        lines = blocks[-1].split("\r\n")         # the final response
        self.status_line = lines[0]
        self.code = int(lines[0].split()[1])
        self.headers = [tuple(x.strip() for x in line.split(":", 1))
                        for line in lines[1:] if ":" in line]
        self.body = body
        self.test_id = test_id

    def header(self, name):
        vals = [v for n, v in self.headers if n.lower() == name.lower()]
        return vals[0] if vals else None


def curl(port, path, *args, scheme="http"):
    """Run curl against the server; args are extra curl options.  With
    scheme "https" curl takes the suite's self-signed certificate (-k).
    The result carries http_version as curl's %{http_version} says it."""
    test_id = new_id()
    with tempfile.TemporaryDirectory() as d:
        hfile, bfile = os.path.join(d, "head"), os.path.join(d, "body")
        cmd = ["curl", "-sS", "-D", hfile, "-o", bfile,
               "-w", "%{http_version}", "-H", "X-Test-Id: " + test_id]
        if scheme == "https":
            cmd.append("-k")
        cmd += list(args) + ["%s://127.0.0.1:%d%s" % (scheme, port, path)]
        p = subprocess.run(cmd, capture_output=True, timeout=30)
        assert p.returncode == 0, "curl failed: %s" % p.stderr.decode()
        with open(hfile, "rb") as f:
            head = f.read().decode("latin-1")
        body = b""
        if os.path.exists(bfile):
            with open(bfile, "rb") as f:
                body = f.read()
    r = CurlResult(head, body, test_id)
    r.http_version = p.stdout.decode().strip()
    return r


# -- backends and log fields shared by the test modules ----------------------

# A virtual host of the test server itself on @PORT2@ serving mod_asis
# files, so that every backend status line and header is exact.
BACKEND_VHOST = r"""
Listen 127.0.0.1:@PORT2@
<VirtualHost 127.0.0.1:@PORT2@>
    DocumentRoot "@ROOT@/backend"
    CustomLog "@ROOT@/logs/backend_log" "%r %>s.%^SS"
    <Directory "@ROOT@/backend">
        Require all granted
        AddHandler send-as-is .asis
    </Directory>
</VirtualHost>
"""


def asis(status, headers=(), body="backend body\n"):
    """A mod_asis file: that status line, those headers, that body."""
    head = "Status: %s\nContent-Type: text/plain\n" % status
    head += "".join(h + "\n" for h in headers)
    return head + "\n" + body


def fields(a):
    """status, substatus, error and reason of a parsed access-log line."""
    return (a["status"], a["sub"], a["error"], a["reason"])
