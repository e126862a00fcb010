# mod_status_set -- build, install, run and test with apxs.
#
#   make            build mod_status_set.so (and the examples)
#   make install    install with apxs; on Debian also the a2enmod pair
#   make run        start a private httpd with conf/demo.conf on PORT
#   make test       run the test suite against a real httpd
#   make clean
#
# CC=clang builds with clang.  APXS= picks another apxs.

APXS    ?= apxs
CC      ?= cc
PORT    ?= 8080
PYTHON  ?= /usr/bin/python3
WARN     = -Wall -Wextra -Werror
SOURCES  = mod_status_set.c status_set_parse.c
HEADERS  = status_set_parse.h
MODULE   = .libs/mod_status_set.so
DEB_PKGS = apache2 apache2-dev curl python3-pytest
MODS_AVAILABLE = /etc/apache2/mods-available

# apxs's libtool would use the compiler httpd was built with; honour CC.
APXS_CC  = -S CC=$(CC)
comma   := ,

.PHONY: all install run test clean deps

all: $(MODULE)

$(MODULE): $(SOURCES) $(HEADERS)
	@sh tests/deps.sh apache2-dev
	$(APXS) $(APXS_CC) -c $(addprefix -Wc$(comma),$(WARN)) $(SOURCES)

# Install the Debian packages the build and tests need when they are
# missing: as root with apt-get, otherwise print the command and stop.
deps:
	@sh tests/deps.sh $(DEB_PKGS)

install: $(MODULE)
	$(APXS) -i -n status_set mod_status_set.la
	@if [ -d $(MODS_AVAILABLE) ]; then \
	    install -m 644 conf/status_set.load conf/status_set.conf $(MODS_AVAILABLE)/ && \
	    echo "installed $(MODS_AVAILABLE)/status_set.{load,conf}: a2enmod status_set"; \
	fi

run: deps $(MODULE)
	@sh conf/run.sh $(PORT)

test: deps $(MODULE)
	$(PYTHON) -m pytest -p no:cacheprovider tests

clean:
	rm -rf .libs *.la *.lo *.o *.slo build-run tests/__pycache__
