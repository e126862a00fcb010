"""Every bad directive fails `apache2 -t` and says what was wrong.

Each case is one line added to an otherwise valid configuration.  The
check: a non-zero exit, httpd's "Syntax error on line N of FILE", and a
message that names the directive, repeats the bad value and says what is
allowed.
"""

import pytest

from pyhttpd import Httpd

LONG = "x" * 257

# (directive line, bad value quoted back, what is allowed)
CASES = [
    ("StatusSet", "a status is required", "CODE[.SUBSTATUS]"),
    ("StatusSet abc", "'abc' is not a status", "3 digits from 200 to 599"),
    ("StatusSet 4044", "'4044' is not a status", "3 digits from 200 to 599"),
    ("StatusSet 40", "'40' is not a status", "3 digits from 200 to 599"),
    ("StatusSet -404", "'-404' is not a status", "3 digits"),
    ("StatusSet 199", "status code 199 is out of range",
     "allowed are 200 to 599"),
    ("StatusSet 100", "status code 100", "allowed are 200 to 599"),
    ("StatusSet 600", "status code 600", "allowed are 200 to 599"),
    ("StatusSet 404.70000", "substatus 70000 is out of range: allowed are "
     "0 to 65535 (in '404.70000')", None),
    ("StatusSet 404.x", "substatus in '404.x' is not a number",
     "from 0 to 65535"),
    ("StatusSet 404.", "substatus in '404.' is not a number",
     "from 0 to 65535"),
    ("StatusSet 404.123456", "substatus in '404.123456'", "from 0 to 65535"),
    ('StatusSet 404 "bad<reason"', "'bad<reason' contains '<'",
     "< > & are not allowed"),
    ('StatusSet 404 "a>b"', "'a>b' contains '>'", "< > & are not allowed"),
    ('StatusSet 404 "Tom & Jerry"', "'Tom & Jerry' contains '&'",
     "< > & are not allowed"),
    ('StatusSet 404 " leading"', "' leading' starts or ends with white space",
     "trim it"),
    ('StatusSet 404 "trailing "', "'trailing ' starts or ends", "trim it"),
    ('StatusSet 404 ""', "the reason phrase is empty", "1 to 256 bytes"),
    ('StatusSet 404 "%s"' % LONG, "is 257 bytes long", "at most 256"),
    # httpd escapes the backslash of our \x01 once more when it prints.
    ('StatusSet 404 "ctl\x01byte"', "'ctl\\\\x01byte' contains the "
     "control byte 0x01 at offset 3", "tab, space, visible ASCII"),
    ('StatusSet 404 "del\x7fbyte"', "control byte 0x7f at offset 3",
     "tab, space, visible ASCII"),
    ('StatusSetResponse 404 410 "a\x02b"', "control byte 0x02",
     "tab, space, visible ASCII"),
    ('StatusSet 404 "unterminated', "unterminated quote in '\"unterminated'",
     "close it"),
    ("StatusSet 404 error=abc", "error=abc is not a number",
     "-2147483648 to 2147483647"),
    ("StatusSet 404 error=2147483648", "error=2147483648 is not a number",
     "-2147483648 to 2147483647"),
    ("StatusSet 404 error=", "error= is not a number",
     "-2147483648 to 2147483647"),
    ("StatusSet 404 error=1 error=2", "error= is given twice",
     "at most once"),
    ("StatusSet 404 foo=bar", "unknown option 'foo=bar'",
     "allowed are error=N, location=URL, expr=EXPRESSION"),
    ("StatusSet 302", "status 302 is a redirection",
     "needs location=URL"),
    ("StatusSet 404 location=/x", "location= is allowed only with a 3xx "
     "status, not with 404", None),
    ("StatusSet 301 location=", "location= is empty", "absolute URL"),
    ('StatusSet 301 "location=/a b"', "location=/a b contains white space",
     "%-encoded"),
    ('StatusSet 404 "expr=%{REQUEST_URI"', "cannot parse expr=%{REQUEST_URI",
     None),
    ("StatusSet 404 expr=", "expr= is empty", "ap_expr condition"),
    ('StatusSet 404 "expr=true" "expr=false"', "expr= is given twice",
     "combine the conditions"),
    ('StatusSet 404 "One" "Two"', "unexpected 'Two' after the reason "
     "phrase 'One'", 'quote a phrase that has spaces, as in "One Two"'),
    ("StatusSet 404 Not Found", "unexpected 'Found' after the reason "
     "phrase 'Not'", 'quote a phrase that has spaces, as in "Not Found"'),
    # httpd splits at spaces: an unquoted expression is cut, and the message
    # says to quote the whole option (issue 9).
    ('StatusSet 503 "Down" expr=-f /etc/apache2/maint', "unexpected "
     "'/etc/apache2/maint' after expr=-f", 'quote the whole option, as in '
     '"expr=-f /etc/apache2/maint ..."'),
    ("StatusSet 403 expr=%{HTTP:X} == 'y'", "unexpected '==' after "
     "expr=%{HTTP:X}", "quote the whole option"),
    # A quote inside a word is an ordinary byte, as for every directive.
    ('StatusSet 403 expr="%{REMOTE_ADDR} == \'10.0.0.1\'"', "unterminated "
     "quote in '\"'", "quote the whole option, as in \"expr="),
    ("StatusSet 404 Error=5", "unknown option 'Error=5'",
     "option names are lower case"),
    ('StatusSet 404 error=5 "Late Phrase"', "unexpected 'Late Phrase' after "
     "the options", "comes right after the code"),
    ("StatusSetResponse 500 301", "status 301 is a redirection",
     "needs location=URL"),
    ("StatusSetResponse 500 404 location=/x", "location= is allowed only "
     "with a 3xx status, not with 404", None),
    ("StatusSetFromHeader X-A keep more", "unexpected 'more'",
     "HEADER-NAME [keep], or off"),
    ("StatusSetReason", "a status is required", "CODE[.SUBSTATUS]"),
    ("StatusSetReason 499", "no reason phrase for 499",
     'expected CODE "REASON"'),
    ('StatusSetReason 404.1 "Sub"', "'404.1' names a substatus",
     "belongs to a bare code"),
    ('StatusSetReason 700 "Big"', "status code 700", "allowed are 200 to 599"),
    ('StatusSetReason 404 "Gone" error=1', "unknown option 'error=1'",
     "no option is allowed here"),
    ('StatusSetReason 404 "a<b"', "'a<b' contains '<'",
     "< > & are not allowed"),
    ("StatusSetResponse", "a MATCH list and a status are required",
     "StatusSetResponse MATCH CODE[.SUBSTATUS]"),
    ("StatusSetResponse 404", "a MATCH list and a status are required",
     "CODE[.SUBSTATUS]"),
    ("StatusSetResponse 4x4 410", "bad item '4x4' in the MATCH list",
     "404, 404.13, 4xx, 500-504 or *"),
    ("StatusSetResponse 6xx 410", "bad item '6xx' in the MATCH list",
     "404, 404.13, 4xx, 500-504 or *"),
    ("StatusSetResponse 504-500 503", "the range '504-500' runs backwards",
     "lower code first"),
    ("StatusSetResponse 500-600 503", "'500-600' is not a range",
     "two codes from 200 to 599"),
    ("StatusSetResponse 404,,410 410", "empty item in the MATCH list "
     "'404,,410'", "404, 404.13, 4xx, 500-504 or *"),
    ("StatusSetResponse 404, 410", "empty item in the MATCH list '404,'",
     "404, 404.13, 4xx, 500-504 or *"),
    ("StatusSetResponse 404.99999 410", "substatus 99999 is out of range",
     "allowed are 0 to 65535"),
    ("StatusSetResponse 404 4100", "'4100' is not a status",
     "3 digits from 200 to 599"),
    ("StatusSetResponse 404 410 foo=/x", "unknown option 'foo=/x'",
     "allowed are error=N, location=URL, expr=EXPRESSION"),
    ('StatusSetResponse 404 410 "a&b"', "'a&b' contains '&'",
     "< > & are not allowed"),
    ('StatusSetResponse 404 410 "expr=%{resp:X"', "cannot parse expr=", None),
    ("StatusSetFromHeader X-App keeep", "unknown option 'keeep'",
     "the only option is keep"),
    ('StatusSetFromHeader "X App"', "'X App' is not a header name",
     "letters, digits"),
    ("StatusSetFromHeader X:App", "'X:App' is not a header name",
     "letters, digits"),
    ("StatusSetFromHeader off keep", "keep with off", "off takes no option"),
    ("StatusSetFromHeader", "a header name is required",
     "HEADER-NAME [keep], or off"),
    ("StatusSetFromHeader X-App keep more", "unexpected 'more'",
     "HEADER-NAME [keep], or off"),
]


@pytest.fixture(scope="module")
def base():
    h = Httpd("", name="conftest")
    yield h
    h.cleanup()


def check(base, line):
    with open(base.conf_path) as f:
        conf = f.read()
    bad = base.path("conf/bad.conf")
    with open(bad, "w", encoding="latin-1") as f:
        f.write("# one bad line\n" + line + "\n")
    try:
        with open(base.conf_path, "a") as f:
            f.write("Include %s\n" % bad)
        return base.check_config()
    finally:
        with open(base.conf_path, "w") as f:
            f.write(conf)


def test_base_config_is_valid(base):
    r = base.check_config()
    assert r.returncode == 0, r.stderr
    assert "Syntax OK" in r.stderr


def test_catalogue_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("line,value,allowed", CASES,
                         ids=[c[0][:40] for c in CASES])
def test_bad_directive(base, line, value, allowed):
    r = check(base, line)
    assert r.returncode != 0, "accepted: %r" % line
    err = r.stderr
    assert "Syntax error on line 2 of %s:" % base.path("conf/bad.conf") in err
    directive = line.split()[0]
    assert "\n%s: " % directive in err, err
    assert value in err, err
    if allowed:
        assert allowed in err, err
    # A bad byte is quoted back escaped, never raw.
    assert "\x01" not in err and "\x7f" not in err


@pytest.mark.parametrize("line", [
    'StatusSet 404.13 "Not Here" error=2',
    "StatusSet 404.65535",
    "StatusSet 404.0",
    'StatusSet 420 "Enhance Your Calm"',
    "StatusSet 299",
    "StatusSet 503 error=-1",
    'StatusSet 403 "expr=%{REMOTE_ADDR} == \'10.0.0.1\'"',
    # Words as httpd splits them (issue 9): what mod_headers accepts.
    "StatusSet 403 expr=%{HTTP:X-Block}=='yes'",
    'StatusSet 403 "Php Blocked" expr=%{REQUEST_URI}=~m#\\\\.php$#',
    "StatusSetResponse 500 301 location=/elsewhere",
    "StatusSet 308 location=https://example.com/x?a=b",
    "StatusSet 404 Gone",
    "StatusSet 404 \"with \\\"escaped\\\" quotes\"",
    "StatusSet 404 'single quoted'",
    "StatusSet 404 \"tab\there\"",
    'StatusSet 404 "obs-text \xe9t\xe9"',
    "StatusSet 404 \"%s\"" % ("y" * 256),
    "StatusSet 404 error=-2147483648",
    'StatusSetReason 499 "Client Closed Request"',
    "StatusSetReason 420 Calm",
    "StatusSetResponse * 299",
    'StatusSetResponse 4xx,5XX,200-204,404.13 410.2 "Gone" error=1 expr=true',
    "StatusSetResponse 599-599 200",
    "StatusSetFromHeader X-App-Status",
    "StatusSetFromHeader X-App-Status keep",
    "StatusSetFromHeader off",
])
def test_good_directive(base, line):
    r = check(base, line)
    assert r.returncode == 0, r.stderr
