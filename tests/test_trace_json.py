"""The trace record builder (status_set_trace.c), APR only, without a
server: a C driver (tests/unit/trace_json.c) runs a script of operations
and the tests read its record with Python's json module and compare it
with a model of what the script asked for.

The properties: a record is one line of valid JSON within its budget,
whatever is added; when everything fits it holds exactly what was added;
when not, whole items are left out (a string may be cut, ending in
"...") and it ends with "truncated":true; bytes that are not UTF-8 become
U+FFFD as Python and browsers decode them (maximal subparts).
"""

import json
import random
import subprocess

import pytest

from conftest import build_unit


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return build_unit(tmp_path_factory, "trace_json", ["status_set_trace.c"])


def run(driver, script, max=4096, bound=None):
    """The record of script (a list of operations), as bytes."""
    data = b"".join(op + b"\n" for op in script)
    p = subprocess.run([driver, str(max)], input=data, capture_output=True,
                       check=True)
    out = p.stdout
    assert out.startswith(b"{") and out.endswith(b"}\n"), out
    bound = bound or max
    assert out.count(b"\n") == 1 and len(out) <= bound, (len(out), bound)
    return out


def load(out):
    return json.loads(out, object_pairs_hook=list)


def s(key, value):
    return b"s %s %s" % (key.encode() if key else b"-", value.hex().encode())


def i(key, n):
    return b"i %s %d" % (key.encode() if key else b"-", n)


def o(key, kind):
    return b"o %s %s" % (key.encode() if key else b"-", kind.encode())


C = b"c"


def test_everything_that_fits_is_there_exactly(driver):
    out = run(driver, [s("time", b"2026-11-22T10:00:00Z"), i("status", 404),
                       i("neg", -(2 ** 63)), b"n handler", b"b on 1",
                       o("chain", "["), o(None, "{"), i("from", 200),
                       s("source", b"a.conf:3"), C, C,
                       o("empty", "{"), C, o("list", "["), C])
    assert out == (b'{"time":"2026-11-22T10:00:00Z","status":404,'
                   b'"neg":-9223372036854775808,"handler":null,"on":true,'
                   b'"chain":[{"from":200,"source":"a.conf:3"}],'
                   b'"empty":{},"list":[]}\n')


def test_escapes_control_bytes_quote_backslash_and_del(driver):
    raw = bytes(range(0, 0x20)) + b'"\\/\x7f'
    out = run(driver, [s("v", raw)])
    assert load(out) == [("v", raw.decode())]
    assert b'\\u0000' in out and b'\\n' in out and b'\\u007f' in out
    assert all(0x20 <= c < 0x7f for c in out[:-1])


@pytest.mark.parametrize("raw", [
    b"\xff", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"\xe1\x80", b"\xf0\x9f\x98", b"a\xf0\x9f\x98\x80b", b"\xc3\xa9\xc3",
    b"\x80\xbf", b"\xef\xbf\xbd", b"\xf5\x80",
])
def test_invalid_utf8_is_replaced_as_python_decodes_it(driver, raw):
    assert load(run(driver, [s("v", raw)])) == \
        [("v", raw.decode("utf-8", "replace"))]


def test_random_bytes_decode_as_python_does(driver):
    rnd = random.Random(10)
    for _ in range(200):
        raw = bytes(rnd.choice(b"\x00a\"\\\x7f\x80\xbf\xc2\xc3\xe0\xe1"
                               b"\xed\xef\xf0\xf4\xf5\xff\x9f\xa0")
                    for _ in range(rnd.randint(0, 40)))
        assert load(run(driver, [s("v", raw)])) == \
            [("v", raw.decode("utf-8", "replace"))], raw


def test_long_string_is_cut_at_a_character_boundary(driver):
    out = run(driver, [s("a", b"x" * 1000), s("b", "é".encode() * 400)])
    (ka, va), (kb, vb) = load(out)
    assert va == "x" * (512 - 5) + "..."
    assert vb.endswith("...") and set(vb[:-3]) == {"é"}
    assert len(json.dumps(vb, ensure_ascii=False).encode()) <= 512
    assert b"truncated" not in out     # cut to the string limit, not the record's


def test_misuse_writes_nothing(driver):
    out = run(driver, [i(None, 1),                   # no key in an object
                       o("a", "["), i("k", 2), C,    # a key in an array
                       C, C,                         # closes with none open
                       o("b", "("), i("x", 3), C,    # not a kind; its items
                       i("z", 4)])
    assert load(out) == [("a", []), ("z", 4)]


def test_nesting_past_the_limit_is_left_out_and_marked(driver):
    script = [o("a", "[")] + [o(None, "[") for _ in range(10)] + \
        [i(None, 1)] + [C] * 11 + [i("after", 5)]
    rec = dict(load(run(driver, script)))
    depth, v = 0, rec["a"]
    while v:
        v, depth = v[0], depth + 1
    assert depth == 6 and rec["after"] == 5 and rec["truncated"] is True


def model(script):
    """What a script asks for, as json.loads(..., object_pairs_hook=list)
    reads it."""
    stack = [[]]
    for op in script:
        kind, key, arg = (op.split(b" ", 2) + [b"", b""])[:3]
        if kind == b"c":
            if len(stack) > 1:
                done = stack.pop()
                stack[-1][-1] = (stack[-1][-1][0], done) \
                    if isinstance(stack[-1][-1], tuple) else done
            continue
        if kind == b"s":
            v = bytes.fromhex(arg.decode()).decode("utf-8", "replace")
        elif kind == b"i":
            v = int(arg)
        else:
            v = []
        stack[-1].append(v if key == b"-" else (key.decode(), v))
        if kind == b"o":
            stack.append([])
    while len(stack) > 1:
        done = stack.pop()
        stack[-1][-1] = (stack[-1][-1][0], done) \
            if isinstance(stack[-1][-1], tuple) else done
    return stack[0]


def random_script(rnd, items):
    script, open_kinds, n = [], [], 0
    while n < items:
        in_array = open_kinds and open_kinds[-1] == "["
        key = None if in_array else "k%d" % n
        r = rnd.random()
        if r < 0.15 and len(open_kinds) < 6:
            kind = rnd.choice("[{")
            script.append(o(key, kind))
            open_kinds.append(kind)
        elif r < 0.3 and open_kinds:
            script.append(C)
            open_kinds.pop()
        elif r < 0.65:
            script.append(s(key, bytes(rnd.randrange(256)
                                       for _ in range(rnd.randint(0, 30)))))
        else:
            script.append(i(key, rnd.randint(-10 ** 12, 10 ** 12)))
        n += 1
    return script


def test_random_scripts_match_the_model(driver):
    rnd = random.Random(4)
    for _ in range(150):
        script = random_script(rnd, rnd.randint(0, 40))
        assert load(run(driver, script)) == model(script), script


def subsequence(small, big):
    """Every item of small is, in order, an item of big or a cut/shorter
    version of one."""
    it = iter(big)
    for x in small:
        for y in it:
            if same_or_shorter(x, y):
                break
        else:
            return False
    return True


def same_or_shorter(x, y):
    if isinstance(x, tuple) and isinstance(y, tuple):
        return x[0] == y[0] and same_or_shorter(x[1], y[1])
    if isinstance(x, list) and isinstance(y, list):
        return subsequence(x, y)
    if isinstance(x, str) and isinstance(y, str) and x.endswith("..."):
        return y.startswith(x[:-3])
    return x == y


def test_every_budget_gives_a_valid_bounded_record(driver):
    rnd = random.Random(7)
    scripts = [random_script(rnd, 60) for _ in range(4)]
    for script in scripts:
        full = model(script)
        for max in list(range(64, 900, 13)) + [4096]:
            out = run(driver, script, max)
            rec = load(out)
            if rec and rec[-1] == ("truncated", True):
                rec = rec[:-1]
                assert subsequence(rec, full), (max, out)
            else:
                assert rec == full, (max, out)


def test_budget_below_the_minimum_is_raised(driver):
    out = run(driver, [s("v", b"x" * 100)], max=10, bound=64)
    assert load(out)[-1] == ("truncated", True)
