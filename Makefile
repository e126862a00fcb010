# mod_status_set -- build, install, run and test with apxs.
#
#   make            build mod_status_set.so and examples/mod_status_echo.so
#   make install    install the module and mod_status_set.h with apxs; on
#                   Debian also the a2enmod pair
#   make run        start a private httpd with conf/demo.conf on PORT
#   make test       run the test suite against a real httpd (and part of
#                   it under the worker and prefork MPMs)
#   make deb        build the Debian package libapache2-mod-status-set from
#                   the release tarball, and check it with lintian
#   make dist       the release tarball mod_status_set-VERSION.tar.gz
#   make clean
#
# CC=clang builds with clang.  APXS= picks another apxs.

APXS    ?= apxs
CC      ?= cc
PORT    ?= 8080
PYTHON  ?= /usr/bin/python3
WARN     = -Wall -Wextra -Werror
# Only the module structure is exported (the C API is reached through
# optional functions): calls between the module's files are direct, not
# through the PLT, and no ss_* symbol leaks into httpd's namespace.
HIDE     = -fvisibility=hidden
# More compiler flags for the module (the Debian build passes
# dpkg-buildflags' CPPFLAGS and CFLAGS: -ffile-prefix-map, noopt...).
MODCFLAGS ?=
# The glue, the counters and the tracing in httpd, then the APR-only
# parts (parser, counters and their exposition, trace records).
SOURCES  = mod_status_set.c mod_status_set_metrics.c mod_status_set_trace.c \
           status_set_parse.c status_set_metrics.c status_set_expose.c \
           status_set_trace.c
HEADERS  = status_set_parse.h status_set_metrics.h status_set_trace.h \
           mod_status_set_private.h
MODULE   = .libs/mod_status_set.so
EXAMPLE  = examples/.libs/mod_status_echo.so
DEB_PKGS = apache2 apache2-dev curl python3-pytest
# The stacks the tests build besides apache2's own modules (TLS, PHP-FPM,
# mod_security2).
TEST_PKGS = $(DEB_PKGS) openssl php-fpm libapache2-mod-security2 libapache2-mod-php \
            prometheus python3-prometheus-client
MODS_AVAILABLE = /etc/apache2/mods-available

# apxs's libtool would use the compiler httpd was built with; honour CC.
APXS_CC  = -S CC=$(CC)
comma   := ,

FUZZ_SECONDS ?= 60
FUZZERS  = spec match reason trace
FUZZ_DIR = build/fuzz
FUZZ_CC  = clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
             -fno-sanitize-recover=undefined -Wall -Wextra -Werror

ASAN_DIR   = build/asan
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined

.PHONY: all install run test clean deps test-deps fuzz test-asan test-valgrind load bench \
        dist deb deb-check autopkgtest piuparts

# The one version number, from the API header.
VERSION := $(shell sed -n 's/^\#define MOD_STATUS_SET_VERSION "\(.*\)"/\1/p' mod_status_set.h)
DIST     = mod_status_set-$(VERSION)
# The package's file is named by debian/changelog, whose version a Debian
# revision may bump alone.
DEB_VERSION := $(shell dpkg-parsechangelog -S Version 2>/dev/null || echo $(VERSION))
DEB      = libapache2-mod-status-set_$(DEB_VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
DEB_BUILD_PKGS = build-essential debhelper dpkg-dev apache2-dev lintian

all: $(MODULE) $(EXAMPLE)

$(MODULE): $(SOURCES) $(HEADERS)
	@sh tests/deps.sh apache2-dev
	$(APXS) $(APXS_CC) -c $(addprefix -Wc$(comma),$(WARN) $(HIDE) $(MODCFLAGS)) $(SOURCES)

# The IIS SetStatus sample, built against the public header only.
$(EXAMPLE): examples/mod_status_echo.c mod_status_set.h
	@sh tests/deps.sh apache2-dev
	cd examples && $(APXS) $(APXS_CC) -c -I.. $(addprefix -Wc$(comma),$(WARN)) mod_status_echo.c

# Install the Debian packages the build and tests need when they are
# missing: as root with apt-get, otherwise print the command and stop.
deps:
	@sh tests/deps.sh $(DEB_PKGS)

test-deps:
	@sh tests/deps.sh $(TEST_PKGS)

install: $(MODULE)
	$(APXS) -i -n status_set mod_status_set.la
	install -m 644 mod_status_set.h $$($(APXS) -q INCLUDEDIR)/
	@if [ -d $(MODS_AVAILABLE) ]; then \
	    install -m 644 conf/status_set.load conf/status_set.conf $(MODS_AVAILABLE)/ && \
	    echo "installed $(MODS_AVAILABLE)/status_set.{load,conf}: a2enmod status_set"; \
	fi

run: deps $(MODULE) $(EXAMPLE)
	@sh conf/run.sh $(PORT)

# The whole suite under the event MPM, then the pipeline and phase tests
# again under worker and prefork (SPEC 6; SS_MPM picks the test servers'
# MPM, and test_stacks.py starts one server of each by itself).
MPM_TESTS = tests/test_pipeline.py tests/test_request_phase.py \
            tests/test_response_phase.py tests/test_api.py \
            tests/test_metrics.py tests/test_trace.py \
            tests/test_metrics_operation.py tests/test_trace_operation.py \
            tests/test_from_env.py tests/test_from_env_errors.py

test: test-deps $(MODULE) $(EXAMPLE)
	$(PYTHON) -m pytest -p no:cacheprovider tests
	@set -e; for mpm in worker prefork; do \
	    echo "== SS_MPM=$$mpm: $(MPM_TESTS)"; \
	    SS_MPM=$$mpm $(PYTHON) -m pytest -p no:cacheprovider -q $(MPM_TESTS); \
	done

# The whole suite against Debian's apache2 with the module built with
# AddressSanitizer and UBSan, and the ASan runtime preloaded (as
# mod_maxminddb's CI does).  Any sanitizer report fails the test.
test-asan: test-deps $(EXAMPLE)
	@rm -rf $(ASAN_DIR) && mkdir -p $(ASAN_DIR)
	cp $(SOURCES) $(HEADERS) mod_status_set.h $(ASAN_DIR)/
	cd $(ASAN_DIR) && $(APXS) -S CC=gcc -c $(addprefix -Wc$(comma),$(WARN) $(HIDE) $(ASAN_FLAGS)) \
	    $(addprefix -Wl$(comma),$(ASAN_FLAGS)) $(SOURCES)
	SS_MODULE=$(CURDIR)/$(ASAN_DIR)/.libs/mod_status_set.so \
	SS_PRELOAD=$$(gcc -print-file-name=libasan.so) \
	    $(PYTHON) -m pytest -p no:cacheprovider tests

# The whole suite with every server running as `valgrind apache2 -X`
# (memcheck): an error whose stack passes through the module fails it.
test-valgrind: test-deps $(MODULE) $(EXAMPLE)
	@sh tests/deps.sh valgrind
	SS_VALGRIND=1 $(PYTHON) -m pytest -p no:cacheprovider tests

# Load with graceful restarts, then RSS over a million requests
# (LOAD_SECONDS, RSS_REQUESTS); loopback only.
load: deps $(MODULE)
	@sh tests/deps.sh wrk
	$(PYTHON) bench/load.py

# The module's cost, as ratios measured side by side (bench/bench.py);
# writes its table into BENCHMARKS.md.  Loopback only, about 10 minutes.
bench: deps $(MODULE)
	@sh tests/deps.sh wrk nghttp2-client valgrind
	$(PYTHON) bench/bench.py

# libFuzzer on the parsers and the trace record builder (APR only, no server): each harness runs for
# FUZZ_SECONDS from the committed seeds in tests/fuzz/corpus/NAME, which
# hold the regression inputs too; new inputs go to $(FUZZ_DIR).
fuzz:
	@sh tests/deps.sh clang libclang-rt-14-dev libapr1-dev
	@mkdir -p $(FUZZ_DIR)
	@set -e; for f in $(FUZZERS); do \
	    $(FUZZ_CC) $(FUZZ_FLAGS) -I. -Itests/fuzz -Itests/unit $$(apr-1-config --includes --cppflags) \
	        -o $(FUZZ_DIR)/fuzz_$$f tests/fuzz/fuzz_$$f.c status_set_parse.c status_set_trace.c \
	        $$(apr-1-config --link-ld --libs); \
	done
	@set -e; for f in $(FUZZERS); do \
	    mkdir -p $(FUZZ_DIR)/corpus-$$f; \
	    echo "fuzz_$$f: $(FUZZ_SECONDS) s"; \
	    if ! $(FUZZ_DIR)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	            -artifact_prefix=$(FUZZ_DIR)/$$f- -print_final_stats=1 \
	            $(FUZZ_DIR)/corpus-$$f tests/fuzz/corpus/$$f \
	            > $(FUZZ_DIR)/fuzz_$$f.log 2>&1; then \
	        tail -n 40 $(FUZZ_DIR)/fuzz_$$f.log; \
	        echo "fuzz_$$f FAILED: reproducer in $(FUZZ_DIR)/$$f-*"; exit 1; \
	    fi; \
	    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss)' $(FUZZ_DIR)/fuzz_$$f.log; \
	done

# The files git tracks, as they are in the working tree (in an unpacked
# tarball: its files, less what builds make), under $(DIST)/, into
# DISTDIR.  Reproducible: every file dated as the last commit (or the
# newest source), owned by root, in name order, gzip without a time stamp.
DISTDIR ?= .
dist:
	@test -n "$(VERSION)" || { echo "no MOD_STATUS_SET_VERSION in mod_status_set.h"; exit 1; }
	rm -rf build/dist && mkdir -p build/dist/$(DIST)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z; \
	else \
	    find . -path ./build -prune -o -path ./debian/.debhelper -prune \
	        -o -name .libs -prune -o -name __pycache__ -prune \
	        -o -type f ! -name '*.o' ! -name '*.lo' ! -name '*.slo' \
	        ! -name '*.la' ! -name '*.deb' ! -name '*.tar.gz' -printf '%P\0'; \
	fi | xargs -0 cp -a --parents -t build/dist/$(DIST)
	epoch=$$(git log -1 --format=%ct 2>/dev/null || stat -c %Y mod_status_set.h); \
	tar -C build/dist --owner=0 --group=0 --numeric-owner --sort=name \
	    --mtime=@$$epoch --format=gnu -cf - $(DIST) | gzip -n -9 > $(DISTDIR)/$(DIST).tar.gz
	@echo "$(DISTDIR)/$(DIST).tar.gz"

# Built from the release tarball, so that nothing of the working tree's
# builds gets in; lintian must report no error and no warning.
deb: dist
	@sh tests/deps.sh $(DEB_BUILD_PKGS)
	rm -rf build/deb && mkdir -p build/deb
	tar -C build/deb -xzf $(DIST).tar.gz
	cd build/deb/$(DIST) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error,warning --display-info build/deb/*.changes
	cp build/deb/$(DEB) .
	@echo "$(DEB): apt-get install ./$(DEB) && a2enmod status_set"

# As root, on this machine's own apache2: install the package, enable it,
# serve a site that uses every directive, then disable and purge it and
# check that nothing is left (CI runs it).
deb-check: deb
	sh tests/deb_cycle.sh ./$(DEB)

# piuparts, as Debian's QA runs it: install, remove and purge the package
# in a fresh chroot of this machine's release (debootstrap from Debian's
# archive), checking that nothing is left behind; as root, about a minute.
PIUPARTS_MIRROR ?= http://deb.debian.org/debian
PIUPARTS_DIST   ?= $(shell . /etc/os-release 2>/dev/null && echo $$VERSION_CODENAME)
piuparts: deb
	@sh tests/deps.sh piuparts debootstrap
	piuparts --distribution=$(or $(PIUPARTS_DIST),bookworm) \
	    --mirror "$(PIUPARTS_MIRROR) main" --no-eatmydata ./$(DEB)

# Debian's own test of the installed package (debian/tests/serve), with
# autopkgtest's null runner on this machine, as root (CI runs it); the
# package is purged afterwards, pass or fail.
autopkgtest: deb
	@sh tests/deps.sh autopkgtest
	@rc=0; autopkgtest -B build/deb/$(DIST) ./$(DEB) -- null || rc=$$?; \
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q libapache2-mod-status-set >/dev/null; \
	exit $$rc

clean:
	rm -rf .libs *.la *.lo *.o *.slo tests/__pycache__ build
	cd examples && rm -rf .libs *.la *.lo *.o *.slo
