#!/bin/sh
# The package's life on this machine's own apache2, as an administrator
# lives it (CI runs it as root, after "make deb"):
#
#   apt-get install ./libapache2-mod-status-set_*.deb   (enables nothing)
#   a2enmod status_set; a site using every directive on a loopback port
#   apache2ctl configtest; apache2ctl start; curl; apache2ctl stop
#   apt-get remove, then install again      (enabled again, as it was)
#   a2dismod status_set; apt-get purge                  (leaves nothing)
#
# The machine's apache2 configuration is put back as it was: ports.conf,
# the modules this enabled (and their state), the site.  It refuses to run
# while the machine's apache2 runs.  Usage: tests/deb_cycle.sh FILE.deb
set -eu

DEB=$1
PKG=libapache2-mod-status-set
PORT=${DEB_CYCLE_PORT:-18089}
SITE=status-set-cycle
WORK=$(mktemp -d /tmp/ss-deb-cycle.XXXXXX)
BASE="http://127.0.0.1:$PORT"
fails=0

[ "$(id -u)" = 0 ] || { echo "deb_cycle: run as root"; exit 1; }
sh "$(dirname "$0")/deps.sh" apache2 curl
pidfile=$(set +u; . /etc/apache2/envvars && echo "$APACHE_PID_FILE")
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "deb_cycle: the machine's apache2 runs (pid $(cat "$pidfile")): stop it first"
    exit 1
fi

say() { echo "deb_cycle: $*"; }
fail() { echo "deb_cycle: FAIL: $*"; fails=$((fails + 1)); }
expect() {  # what got want
    if [ "$2" = "$3" ]; then say "ok: $1"; else fail "$1: got [$2], want [$3]"; fi
}

# Put the machine back, whatever happened.
enabled_before=$(ls /etc/apache2/mods-enabled)
cp -a /etc/apache2/ports.conf "$WORK/ports.conf"
restore() {
    if [ -e "$WORK/policy-rc.d" ]; then mv "$WORK/policy-rc.d" /usr/sbin/policy-rc.d; fi
    apache2ctl stop >/dev/null 2>&1 || true
    a2dissite -q -p "$SITE" >/dev/null 2>&1 || true
    rm -f "/etc/apache2/sites-available/$SITE.conf"
    for m in asis headers status; do
        echo "$enabled_before" | grep -qx "$m.load" || a2dismod -q -f -p "$m" >/dev/null 2>&1 || true
    done
    cp -a "$WORK/ports.conf" /etc/apache2/ports.conf
    rm -rf "$WORK" /var/www/status-set-cycle
}
trap restore EXIT

say "install $DEB"
if dpkg -s "$PKG" >/dev/null 2>&1; then
    apt-get purge -y -q "$PKG" >/dev/null
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >/dev/null
expect "package installed" "$(dpkg-query -W -f='${Status}' "$PKG")" "install ok installed"
dpkg -L "$PKG" > "$WORK/files"
for f in /usr/lib/apache2/modules/mod_status_set.so \
         /etc/apache2/mods-available/status_set.load \
         /etc/apache2/mods-available/status_set.conf \
         /usr/include/apache2/mod_status_set.h \
         /usr/share/doc/$PKG/monitoring/status_set.rules.yml \
         /usr/share/doc/$PKG/monitoring/status_set.rules.test.yml \
         /usr/share/doc/$PKG/monitoring/grafana-dashboard.json; do
    [ -f "$f" ] && say "ok: $f" || fail "missing $f"
done
# The rules as installed are the rules the suite tests.
if command -v promtool >/dev/null 2>&1; then
    (cd /usr/share/doc/$PKG/monitoring && promtool test rules status_set.rules.test.yml >/dev/null) \
        && say "ok: promtool test rules (installed)" || fail "promtool test rules (installed)"
fi
expect "the .conf is a conffile" \
    "$(dpkg-query -W -f='${Conffiles}' "$PKG" | awk '{print $1}' | grep -c status_set.conf)" 1
expect "installed, not enabled" "$(ls /etc/apache2/mods-enabled | grep -c status_set || true)" 0

say "enable and serve on 127.0.0.1:$PORT"
a2enmod -q status_set
for m in asis headers status; do a2enmod -q "$m" >/dev/null; done
echo "Listen 127.0.0.1:$PORT" > /etc/apache2/ports.conf
mkdir -p /var/www/status-set-cycle/app
printf 'Status: 200 OK\nContent-Type: text/plain\nX-App-Status: 404.7 "No Such Order" error=1403\n\nno order\n' \
    > /var/www/status-set-cycle/app/order.asis
echo ok > /var/www/status-set-cycle/index.html
# As the README recommends: the module's directives and log tags inside
# <IfModule>, so that the site still starts once the package is removed.
cat > "/etc/apache2/sites-available/$SITE.conf" <<EOF
<IfModule status_set_module>
    StatusSetMetrics On
    StatusSetMetricsCapacity 64
    StatusSetTraceLog /var/www/status-set-cycle/trace.log
    StatusSetTraceLimit 50
</IfModule>
<VirtualHost 127.0.0.1:$PORT>
    DocumentRoot /var/www/status-set-cycle
    <IfModule status_set_module>
        LogFormat "%>s.%^SS %^SE \"%^SR\" %U" cycle
        StatusSetReason 499 "Client Closed Request"
        <Location /closed>
            StatusSet 499.1 error=104
            StatusSetTrace 499
        </Location>
        <Location /old-api>
            StatusSet 410.1 "API v1 Retired" error=2
            StatusSetResponse 410.1 404 "Not Here"
        </Location>
        <Location /app/>
            StatusSetFromHeader X-App-Status
        </Location>
        <Location /metrics>
            SetHandler status-set-metrics
            Require local
        </Location>
    </IfModule>
    <IfModule !status_set_module>
        LogFormat "%>s %U" cycle
    </IfModule>
    CustomLog /var/www/status-set-cycle/access.log cycle
    <Directory /var/www/status-set-cycle>
        Require all granted
        AddHandler send-as-is .asis
    </Directory>
</VirtualHost>
EOF
a2ensite -q "$SITE"
apache2ctl configtest 2>"$WORK/configtest" || { cat "$WORK/configtest"; fail "configtest"; }
grep -q "Syntax OK" "$WORK/configtest" && say "ok: configtest"
ERRLOG=/var/log/apache2/error.log
logged=$(stat -c %s "$ERRLOG" 2>/dev/null || echo 0)
apache2ctl start
for i in $(seq 50); do curl -s -o /dev/null "$BASE/" && break; sleep 0.1; done

line() { curl -s -i "$BASE$1" | head -n 1 | tr -d '\r'; }
expect "StatusSet + StatusSetReason" "$(line /closed)" "HTTP/1.1 499 Client Closed Request"
expect "StatusSetResponse" "$(line /old-api)" "HTTP/1.1 404 Not Here"
expect "StatusSetFromHeader" "$(line /app/order.asis)" "HTTP/1.1 404 No Such Order"
expect "untouched" "$(line /)" "HTTP/1.1 200 OK"
sleep 0.5
expect "counters" "$(curl -s "$BASE/metrics" | grep -c '^apache_status_set_responses_total{code="499",substatus="1"} 1$')" 1
expect "trace record" "$(grep -c '"uri":"/closed"' /var/www/status-set-cycle/trace.log)" 1
expect "access log" "$(grep -c '^404.7 1403 "No Such Order" /app/order.asis$' /var/www/status-set-cycle/access.log)" 1
# This run's error-log lines: notices of start and stop only.
tail -c +$((logged + 1)) "$ERRLOG" > "$WORK/errlog" 2>/dev/null || true
if grep -v -E ":notice\]|AH00558" "$WORK/errlog" | grep -q .; then
    grep -v -E ":notice\]|AH00558" "$WORK/errlog" | tail -5
    fail "unexpected error-log lines"
else
    say "ok: error log"
fi

say "upgrade the enabled module while apache2 runs: a graceful reload"
parent=$(cat "$pidfile")
logged=$(stat -c %s "$ERRLOG" 2>/dev/null || echo 0)
# Containers forbid maintainer scripts to touch services (policy-rc.d
# exits 101); an administrator's machine does not.
if [ -e /usr/sbin/policy-rc.d ]; then mv /usr/sbin/policy-rc.d "$WORK/policy-rc.d"; fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "$DEB" >/dev/null
if [ -e "$WORK/policy-rc.d" ]; then mv "$WORK/policy-rc.d" /usr/sbin/policy-rc.d; fi
for i in $(seq 100); do
    tail -c +$((logged + 1)) "$ERRLOG" 2>/dev/null | grep -q "AH00493\|AH00494\|AH00171" && break
    sleep 0.1
done
for i in $(seq 50); do curl -s -o /dev/null "$BASE/" && break; sleep 0.1; done
# A graceful restart: AH00493 (event, worker) or AH00171 (prefork); a
# restart would be AH00494 or AH00172 and a new parent.
expect "reloaded gracefully" "$(tail -c +$((logged + 1)) "$ERRLOG" | grep -c 'AH00493\|AH00171')" 1
expect "the same parent" "$(cat "$pidfile")" "$parent"
expect "counters kept across the upgrade" "$(curl -s "$BASE/metrics" | grep -c '^apache_status_set_responses_total{code="499",substatus="1"} 1$')" 1
expect "served by the module after the upgrade" "$(line /closed)" "HTTP/1.1 499 Client Closed Request"

apache2ctl stop
for i in $(seq 50); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done

say "remove, then install again"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "$PKG" >/dev/null
expect "removed: disabled" "$(ls /etc/apache2/mods-enabled | grep -c status_set || true)" 0
expect "removed: the conffile kept" "$(ls /etc/apache2/mods-available | grep -c '^status_set.conf$')" 1
apache2ctl configtest >/dev/null 2>&1 && say "ok: removed: the site (in <IfModule>) still starts" \
    || fail "configtest with the package removed"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >/dev/null
expect "installed again: enabled again" "$(ls /etc/apache2/mods-enabled | grep -c '^status_set.load$')" 1
apache2ctl configtest >/dev/null 2>&1 && say "ok: configtest" || fail "configtest after reinstall"

say "disable and purge"
a2dissite -q "$SITE"
a2dismod -q status_set
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >/dev/null
expect "package gone" "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null || echo none)" "none"
left=0
while read -r f; do
    if [ -f "$f" ] || [ -L "$f" ]; then fail "left behind: $f"; left=1; fi
done < "$WORK/files"
ls /etc/apache2/mods-available /etc/apache2/mods-enabled | grep status_set && left=1
[ "$left" = 0 ] && say "ok: nothing left"

[ "$fails" = 0 ] || { say "$fails failure(s)"; exit 1; }
say "all checks passed"
