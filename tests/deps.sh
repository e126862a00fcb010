#!/bin/sh
# Make sure the Debian packages named on the command line are installed.
# As root: apt-get update && apt-get install -y.  Otherwise: print the
# command and fail, so that nothing half-works.
missing=""
for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing
    exit $?
fi
echo "missing Debian packages:$missing" >&2
echo "run as root:  apt-get update && apt-get install -y$missing" >&2
exit 1
