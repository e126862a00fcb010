# mod_status_set -- build, install, run and test with apxs.
#
#   make            build mod_status_set.so and examples/mod_status_echo.so
#   make install    install the module and mod_status_set.h with apxs; on
#                   Debian also the a2enmod pair
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
EXAMPLE  = examples/.libs/mod_status_echo.so
DEB_PKGS = apache2 apache2-dev curl python3-pytest
MODS_AVAILABLE = /etc/apache2/mods-available

# apxs's libtool would use the compiler httpd was built with; honour CC.
APXS_CC  = -S CC=$(CC)
comma   := ,

.PHONY: all install run test clean deps

all: $(MODULE) $(EXAMPLE)

$(MODULE): $(SOURCES) $(HEADERS)
	@sh tests/deps.sh apache2-dev
	$(APXS) $(APXS_CC) -c $(addprefix -Wc$(comma),$(WARN)) $(SOURCES)

# The IIS SetStatus sample, built against the public header only.
$(EXAMPLE): examples/mod_status_echo.c mod_status_set.h
	@sh tests/deps.sh apache2-dev
	cd examples && $(APXS) $(APXS_CC) -c -I.. $(addprefix -Wc$(comma),$(WARN)) mod_status_echo.c

# Install the Debian packages the build and tests need when they are
# missing: as root with apt-get, otherwise print the command and stop.
deps:
	@sh tests/deps.sh $(DEB_PKGS)

install: $(MODULE)
	$(APXS) -i -n status_set mod_status_set.la
	install -m 644 mod_status_set.h $$($(APXS) -q INCLUDEDIR)/
	@if [ -d $(MODS_AVAILABLE) ]; then \
	    install -m 644 conf/status_set.load conf/status_set.conf $(MODS_AVAILABLE)/ && \
	    echo "installed $(MODS_AVAILABLE)/status_set.{load,conf}: a2enmod status_set"; \
	fi

run: deps $(MODULE) $(EXAMPLE)
	@sh conf/run.sh $(PORT)

test: deps $(MODULE) $(EXAMPLE)
	$(PYTHON) -m pytest -p no:cacheprovider tests

clean:
	rm -rf .libs *.la *.lo *.o *.slo tests/__pycache__
	cd examples && rm -rf .libs *.la *.lo *.o *.slo
