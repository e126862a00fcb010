"""One version number everywhere (mod_status_set.h, debian/changelog, the
README, CHANGES), the compile-time version test of the API header, and the
release tarball of `make dist` (issue 11).  The package itself is built,
installed, served and purged by tests/deb_cycle.sh in CI."""

import os
import re
import subprocess
import tarfile

import pytest

import pyhttpd

TOP = pyhttpd.TOP


def read(path):
    with open(os.path.join(TOP, path)) as f:
        return f.read()


def header_version():
    h = read("mod_status_set.h")
    parts = [int(re.search(r"#define MOD_STATUS_SET_VERSION_%s (\d+)" % k,
                           h).group(1)) for k in ("MAJOR", "MINOR", "PATCH")]
    string = re.search(r'#define MOD_STATUS_SET_VERSION "([^"]+)"', h).group(1)
    assert string == "%d.%d.%d" % tuple(parts)
    return string


def test_one_version_everywhere():
    v = header_version()
    first = read("debian/changelog").splitlines()[0]
    assert re.match(r"libapache2-mod-status-set \(([^)]+)\) ", first) \
        .group(1) == v, first
    assert "Version %s (`MOD_STATUS_SET_VERSION`" % v in read("README.md")
    assert re.search(r"^(\d+\.\d+\.\d+) \(", read("CHANGES"), re.M) \
        .group(1) == v
    assert "mod_status_set-%s.tar.gz" % v in read("README.md")
    assert "libapache2-mod-status-set_%s_" % v in read("README.md")


def test_version_macros_at_compile_time(tmp_path):
    """A module author's test of the API version compiles as documented."""
    src = tmp_path / "v.c"
    src.write_text(
        '#include "mod_status_set.h"\n'
        "#if !MOD_STATUS_SET_VERSION_AT_LEAST(1, 0, 0)\n#error too old\n#endif\n"
        "#if MOD_STATUS_SET_VERSION_AT_LEAST(%d, 0, 0)\n#error too new\n#endif\n"
        "#if !MOD_STATUS_SET_VERSION_AT_LEAST(%s)\n#error not itself\n#endif\n"
        "#if MOD_STATUS_SET_VERSION_AT_LEAST(%s + 1)\n#error past itself\n"
        "#endif\n"
        'const char *v = MOD_STATUS_SET_VERSION;\n'
        % (int(header_version().split(".")[0]) + 1,
           header_version().replace(".", ", "),
           header_version().replace(".", ", ")))
    inc = subprocess.run(["apxs", "-q", "INCLUDEDIR"], capture_output=True,
                         text=True, check=True).stdout.strip()
    apr = subprocess.run(["apr-1-config", "--includes", "--cppflags"],
                         capture_output=True, text=True,
                         check=True).stdout.split()
    subprocess.run(["cc", "-c", "-Wall", "-Werror", "-I" + TOP, "-I" + inc]
                   + apr + [str(src), "-o", str(tmp_path / "v.o")],
                   check=True)


@pytest.mark.skipif(not os.path.isdir(os.path.join(TOP, ".git")),
                    reason="make dist needs the git checkout")
def test_dist_tarball_holds_the_sources_and_builds(tmp_path):
    v = header_version()
    name = "mod_status_set-%s" % v
    subprocess.run(["make", "-s", "dist", "DISTDIR=%s" % tmp_path], cwd=TOP,
                   check=True, capture_output=True)
    tarball = tmp_path / (name + ".tar.gz")
    again = tmp_path / "again"
    again.mkdir()
    subprocess.run(["make", "-s", "dist", "DISTDIR=%s" % again], cwd=TOP,
                   check=True, capture_output=True)
    assert (again / (name + ".tar.gz")).read_bytes() == tarball.read_bytes()
    with tarfile.open(tarball) as t:
        names = t.getnames()
        t.extractall(tmp_path)
    tracked = subprocess.run(["git", "ls-files"], cwd=TOP, check=True,
                             capture_output=True, text=True).stdout.split()
    assert sorted(n[len(name) + 1:] for n in names
                  if n.startswith(name + "/") and
                  os.path.isfile(os.path.join(tmp_path, n))) == sorted(tracked)
    for must in ("Makefile", "README.md", "CHANGES", "LICENSE",
                 "mod_status_set.h", "debian/changelog", "docs/iis.md"):
        assert "%s/%s" % (name, must) in names, must
    assert not [n for n in names if re.search(r"\.(so|lo|o|la|deb)$|/\.libs/|"
                                              r"/build/", n)]
    # Unpacked, without git, it makes the same tarball again (so that make
    # deb works there too).
    redo = tmp_path / "redo"
    redo.mkdir()
    subprocess.run(["make", "-s", "-C", str(tmp_path / name), "dist",
                    "DISTDIR=%s" % redo], check=True, capture_output=True)
    with tarfile.open(redo / (name + ".tar.gz")) as t:
        assert sorted(t.getnames()) == sorted(names)
    # It builds where it is unpacked (make test there is CI's last step).
    subprocess.run(["make", "-s", "-C", str(tmp_path / name),
                    ".libs/mod_status_set.so"], check=True,
                   capture_output=True)
    assert os.path.isfile(tmp_path / name / ".libs" / "mod_status_set.so")


def test_deb_file_is_named_by_the_changelog(tmp_path):
    """Issue 18: a Debian revision bumped in debian/changelog alone (as
    `dch -v 1.0.0+deb1` makes it) names the package file make deb copies;
    it used to be named from the header, and the copy failed."""
    tree = tmp_path / "tree"
    # What make -n deb reads (also in the release tarball, without git).
    for rel in ("Makefile", "mod_status_set.h", "debian/changelog"):
        dst = tree / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(open(os.path.join(TOP, rel), "rb").read())
    v = header_version()
    log = tree / "debian" / "changelog"
    log.write_text(
        "libapache2-mod-status-set (%s+deb1) unstable; urgency=medium\n\n"
        "  * Rebuild.\n\n -- Test <test@example.org>  "
        "Thu, 03 Dec 2026 12:00:00 +0000\n\n" % v + log.read_text())
    out = subprocess.run(["make", "-n", "deb"], cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    arch = subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True).stdout.strip()
    assert "cp build/deb/libapache2-mod-status-set_%s+deb1_%s.deb ." \
        % (v, arch) in out, out
