#!/bin/sh
# make run: the demo configuration on 127.0.0.1:$1, in the foreground.
cd "$(dirname "$0")/.." || exit 1
exec /usr/bin/python3 tests/pyhttpd.py demo "${1:-8080}"
