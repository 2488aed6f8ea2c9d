#!/usr/bin/env bash
# ctest nginx_proxy: deploy/nginx/convene.conf, as shipped, in a private nginx in front of a real
# convened with demo data, spoken to over https with curl. The file is rendered with sed only for
# what an operator edits (ports, certificate, feeds directory, log paths), so what passes here is
# the production file. nginx runs with its own prefix, pid, logs and temp paths: nothing under
# /etc/nginx or /var/log/nginx is touched, as root or not.
#
# Checks: http:// redirects to https://; the API with a token (HTTP/2); body limits (1m, 20m on
# /v1/import/); a public community's feed from the file convened wrote, and from the daemon with
# ?token= and for a members-only community; member and room feeds only from the daemon; /metrics
# only from loopback's nginx address; the preferences page from an email's link; nginx's own 429;
# the daemon's 429 (problem+json, Retry-After) passed through, and a forged X-Forwarded-For does
# not escape it.
#
# Database: CONVENE_TEST_DATABASE_URL (scripts/test) gets a database of its own; without it a
# private cluster (scripts/pg) in the work directory. Exit 77 (skip) only when nginx is missing.
# Usage: tests/nginx/run.sh BUILD_DIR CONVENED_BINARY
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
[[ $# -eq 2 ]] || die "usage: $0 BUILD_DIR CONVENED_BINARY"
CONVENED="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
[[ -x ${CONVENED} ]] || die "${CONVENED} is not executable"
CONF="${CONVENE_REPO}/deploy/nginx/convene.conf"

NGINX="$(command -v nginx || true)"
[[ -n ${NGINX} ]] || NGINX=/usr/sbin/nginx
if [[ ! -x ${NGINX} ]]; then
    echo "SKIP: nginx is not installed (scripts/packages.txt; scripts/test installs it)"
    exit 77
fi
for tool in openssl curl python3 psql; do
    command -v "${tool}" >/dev/null || die "${tool} is missing (scripts/packages.txt)"
done
HTTP2=(--http2)
curl -V | grep -qw HTTP2 || HTTP2=()

WORK="$(mktemp -d "${TMPDIR:-/tmp}/convene-nginx.XXXXXX")"
chmod 0755 "${WORK}"  # nginx's workers and, as root, the 'postgres' user traverse it
convened_pid="" nginx_pid="" pg_started=0 database=""
failed_check=""

stop_convened() {
    if [[ -n ${convened_pid} ]] && kill -0 "${convened_pid}" 2>/dev/null; then
        kill -TERM "${convened_pid}" 2>/dev/null || true
        wait "${convened_pid}" 2>/dev/null || true
    fi
    convened_pid=""
}
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    stop_convened
    if [[ -n ${nginx_pid} ]] && kill -0 "${nginx_pid}" 2>/dev/null; then
        kill -QUIT "${nginx_pid}" 2>/dev/null || true
        wait "${nginx_pid}" 2>/dev/null || true
    fi
    if [[ -n ${database} ]]; then
        psql -X -q -d "${CONVENE_TEST_DATABASE_URL}" -c "DROP DATABASE IF EXISTS ${database} WITH (FORCE)" \
            >/dev/null 2>&1 || true
    fi
    if ((pg_started)); then "${CONVENE_REPO}/scripts/pg" stop "${WORK}/pg" >/dev/null 2>&1 || true; fi
    if ((status != 0)); then
        for f in convened.log nginx/logs/error.log nginx/logs/convene.error.log nginx/stderr.log; do
            [[ -s ${WORK}/${f} ]] || continue
            printf -- '--- %s (last lines)\n' "${f}" >&2
            tail -n 25 "${WORK}/${f}" >&2
        done
    fi
    if [[ ${CONVENE_KEEP:-0} == 1 ]]; then
        log "work directory kept: ${WORK}"
    else
        rm -rf "${WORK}"
    fi
    exit "${status}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() { printf 'ok   %s\n' "$*"; }
# fail_check WHAT: note a failed check and go on (the end reports them all).
fail_check() {
    printf 'FAIL %s\n' "$*" >&2
    failed_check+="  $*"$'\n'
}
# expect WHAT ACTUAL WANTED
expect() {
    if [[ $2 == "$3" ]]; then ok "$1"; else fail_check "$1: got '$2', want '$3'"; fi
}

DAEMON_PORT="$(free_port)" HTTP_PORT="$(free_port)" HTTPS_PORT="$(free_port)"
# Clients come from 127.0.0.2; nginx reaches the daemon from 127.0.0.1, the one trusted proxy.
# (With the default trusted_proxies, all of loopback, a client on loopback would be a trusted
# hop itself and its forged X-Forwarded-For would count: real clients are not on loopback.)
CLIENT=127.0.0.2
BASE="https://localhost:${HTTPS_PORT}"
CURL=(curl -sS -k "${HTTP2[@]}" --interface "${CLIENT}" --resolve "localhost:${HTTPS_PORT}:127.0.0.1" --max-time 20)

# ---- database ------------------------------------------------------------------------------
if [[ -n ${CONVENE_TEST_DATABASE_URL:-} ]]; then
    database="nginx_proxy_$$"
    psql -X -q -v ON_ERROR_STOP=1 -d "${CONVENE_TEST_DATABASE_URL}" -c "CREATE DATABASE ${database}" >/dev/null
    DATABASE_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
        "${CONVENE_TEST_DATABASE_URL}" "${database}")"
else
    PG_PORT="$(free_port)"
    "${CONVENE_REPO}/scripts/pg" init "${WORK}/pg" >/dev/null
    CONVENE_PG_FAST=1 "${CONVENE_REPO}/scripts/pg" start "${WORK}/pg" "${PG_PORT}" >/dev/null
    pg_started=1
    "${CONVENE_REPO}/scripts/pg" createdb "${WORK}/pg" "${PG_PORT}" convene >/dev/null
    DATABASE_URL="$("${CONVENE_REPO}/scripts/pg" url "${WORK}/pg" "${PG_PORT}" convene)"
fi
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "${DATABASE_URL}" -c "$1"; }

# ---- convened --------------------------------------------------------------------------------
clear_env=()
while IFS='=' read -r name _; do
    [[ ${name} == CONVENE_* ]] && clear_env+=(-u "${name}")
done < <(env)
DAEMON_ENV=(env "${clear_env[@]}"
    "CONVENE_DATABASE_URL=${DATABASE_URL}"
    "CONVENE_HTTP_LISTEN=127.0.0.1:${DAEMON_PORT}"
    "CONVENE_PUBLIC_URL=${BASE}"
    "CONVENE_STATE_DIRECTORY=${WORK}/state"
    "CONVENE_SCHEMA_DIR=${CONVENE_REPO}/schema"
    "CONVENE_ORGANISATION_TIME_ZONE=Europe/London"
    "CONVENE_TRUSTED_PROXIES=127.0.0.1/32"
    "CONVENE_LOG_LEVEL=warn")
mkdir -p "${WORK}/state"
: >"${WORK}/convened.toml"
run_convened() { "${DAEMON_ENV[@]}" "${CONVENED}" --config "${WORK}/convened.toml" "$@"; }

# start_convened [ENV=VALUE...]: serve, with extra settings, until /readyz answers 200.
start_convened() {
    # Not through run_convened: $! must be convened itself ('env' execs it), not a subshell.
    "${DAEMON_ENV[@]}" "$@" "${CONVENED}" --config "${WORK}/convened.toml" serve >>"${WORK}/convened.log" 2>&1 &
    convened_pid=$!
    wait_http "http://127.0.0.1:${DAEMON_PORT}/readyz" 60 "${convened_pid}" && return 0
    kill -0 "${convened_pid}" 2>/dev/null || die "convened exited"
    die "convened did not become ready in 60 s"
}

run_convened migrate >>"${WORK}/convened.log" 2>&1
demo="$(run_convened demo-data 2>>"${WORK}/convened.log")" || die "demo-data failed: ${demo}"
ADMIN="$(awk '$1 == "admin" && $3 ~ /^cvn_/ { print $3; exit }' <<<"${demo}")"
[[ -n ${ADMIN} ]] || die "no admin token in the demo-data report: ${demo}"
start_convened

# ---- nginx: a throwaway certificate, the shipped file rendered, a small main nginx.conf ---------
P="${WORK}/nginx"
mkdir -p "${P}/logs" "${P}/conf.d" "${P}/tls" "${WORK}/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "${P}/tls/privkey.pem" -out "${P}/tls/fullchain.pem" 2>/dev/null
sed -e "s#^\(\s*\)listen 80;#\1listen 127.0.0.1:${HTTP_PORT};#" \
    -e "s#^\(\s*\)listen 443 ssl http2;#\1listen 127.0.0.1:${HTTPS_PORT} ssl http2;#" \
    -e '/^\s*listen \[::\]:/d' \
    -e "s#server 127.0.0.1:8080;#server 127.0.0.1:${DAEMON_PORT};#" \
    -e "s#/etc/ssl/convene/#${P}/tls/#" \
    -e "s#root /var/lib/convene/feeds;#root ${WORK}/state/feeds;#" \
    -e "s#root /var/www/html;#root ${WORK}/www;#" \
    -e "s#/var/log/nginx/#${P}/logs/#" \
    -E -e 's#(zone=convene_links:10m) rate=[0-9]+r/s;#\1 rate=1r/s;#' \
    -e 's#(zone=convene_links) burst=[0-9]+ #\1 burst=5 #' \
    "${CONF}" >"${P}/conf.d/convene.conf"
# Whatever the rendering missed would quietly test another setup. (The links zone is lowered, to
# 1 r/s with a burst of 5, so that nginx's own limit is met before the daemon's.)
if leftover="$(sed 's/#.*//' "${P}/conf.d/convene.conf" | grep -n -E ':8080|/etc/ssl|/var/(lib|log|www)/|listen (80|443)|\[::\]')"; then
    die "deploy/nginx/convene.conf changed: the test's sed left ${leftover}"
fi
[[ $(grep -c -E 'convene_links(:10m rate=1r/s| burst=5 )' "${P}/conf.d/convene.conf") == 2 ]] ||
    die "deploy/nginx/convene.conf changed: the test's sed did not lower the links zone"
cp /etc/nginx/mime.types "${P}/mime.types"
user_line=""
if [[ ${EUID} -eq 0 ]]; then user_line="user nobody nogroup;"; fi
cat >"${P}/nginx.conf" <<CONF
# What /etc/nginx/nginx.conf is to the shipped file, with private paths.
${user_line}
worker_processes 1;
pid ${P}/nginx.pid;
error_log ${P}/logs/error.log warn;
events { worker_connections 1024; }
http {
    include ${P}/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log ${P}/logs/access.log;
    client_body_temp_path ${P}/client_body;
    proxy_temp_path ${P}/proxy;
    fastcgi_temp_path ${P}/fastcgi;
    uwsgi_temp_path ${P}/uwsgi;
    scgi_temp_path ${P}/scgi;
    include ${P}/conf.d/*.conf;
}
CONF
"${NGINX}" -p "${P}" -e "${P}/logs/error.log" -c "${P}/nginx.conf" -t -q || die "nginx -t refused the rendered file"
"${NGINX}" -p "${P}" -e "${P}/logs/error.log" -c "${P}/nginx.conf" -g 'daemon off;' >>"${P}/stderr.log" 2>&1 &
nginx_pid=$!
for ((i = 0; i < 100; i++)); do
    [[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "${BASE}/healthz" 2>/dev/null || true)" == 200 ]] && break
    kill -0 "${nginx_pid}" 2>/dev/null || die "nginx exited"
    sleep 0.1
done

# get URL [CURL ARGS...]: prints "CODE HTTP_VERSION CONTENT_TYPE"; body in WORK/body, headers in WORK/headers.
get() {
    local url="$1"
    shift
    "${CURL[@]}" -o "${WORK}/body" -D "${WORK}/headers" -w '%{http_code} %{http_version} %{content_type}\n' "$@" "${url}" ||
        echo "000 - curl-failed"
}
header() { awk -v h="$1" 'index(tolower($0), tolower(h) ":") == 1 { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); print; exit }' "${WORK}/headers"; }

# ---- redirect, API, limits on bodies -------------------------------------------------------------
read -r code _ _ < <(curl -sS -o /dev/null -D "${WORK}/headers" -w '%{http_code} x y\n' "http://127.0.0.1:${HTTP_PORT}/v1/me?x=1" -H 'Host: convene.example.org')
expect "http:// redirects" "${code} $(header Location)" "301 https://convene.example.org/v1/me?x=1"

read -r code version type < <(get "${BASE}/v1/me" -H "Authorization: Bearer ${ADMIN}")
expect "GET /v1/me through nginx" "${code} $(python3 -c 'import json,sys; print(json.load(sys.stdin)["global_roles"])' <"${WORK}/body" 2>/dev/null || echo bad-json)" "200 ['admin']"
if ((${#HTTP2[@]})); then expect "HTTP/2 to clients" "${version}" 2; fi
expect "HSTS" "$(header Strict-Transport-Security)" "max-age=63072000"

head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"${WORK}/2m"
read -r code _ _ < <(get "${BASE}/v1/communities" -H "Authorization: Bearer ${ADMIN}" -H 'Content-Type: application/json' --data-binary "@${WORK}/2m")
expect "a 2 MiB JSON body is refused by nginx" "${code}" 413
read -r code _ _ < <(get "${BASE}/v1/import/members" -H "Authorization: Bearer ${ADMIN}" -H 'Content-Type: text/csv' --data-binary "@${WORK}/2m")
if [[ ${code} != 413 && ${code} != 000 && $(header Content-Type) == application/problem+json* ]]; then
    ok "a 2 MiB CSV reaches the daemon's import (${code}, its problem+json)"
else
    fail_check "a 2 MiB CSV on /v1/import/members: ${code} $(header Content-Type)"
fi

read -r code _ _ < <(get "${BASE}/metrics")
expect "/metrics refused to a client" "${code}" 403
read -r code _ _ < <(curl -sS -k -o /dev/null -w '%{http_code} x y\n' --resolve "localhost:${HTTPS_PORT}:127.0.0.1" "${BASE}/metrics")
expect "/metrics from 127.0.0.1" "${code}" 200

# ---- feeds ---------------------------------------------------------------------------------------
FILE="${WORK}/state/feeds/communities/data-science.ics"
for ((i = 0; i < 300; i++)); do [[ -s ${FILE} ]] && break; sleep 0.1; done
[[ -s ${FILE} ]] || die "convened wrote no ${FILE} in 30 s"
# nginx's ETag is "<mtime>-<size>" in hex: the proof the answer is the file, not the daemon.
read -r mtime size < <(stat -c '%Y %s' "${FILE}")
printf -v file_etag '"%x-%x"' "${mtime}" "${size}"
read -r code _ type < <(get "${BASE}/feeds/communities/data-science.ics")
expect "public feed from the file" "${code} ${type} $(header ETag)" "200 text/calendar; charset=utf-8 ${file_etag}"
if cmp -s "${WORK}/body" "${FILE}"; then ok "its bytes are the file's"; else fail_check "public feed: bytes differ from ${FILE}"; fi
expect "its Cache-Control" "$(header Cache-Control)" "max-age=300"
read -r code _ _ < <(get "${BASE}/feeds/communities/data-science.ics" -H 'Accept-Encoding: gzip')
expect "gzip for calendar apps that ask" "${code} $(header Content-Encoding)" "200 gzip"

AMARA="$(sql "SELECT id FROM members WHERE email = 'amara.nwosu@example.org'")"
read -r code _ _ < <(get "${BASE}/v1/members/${AMARA}/feed-token" -X POST -H "Authorization: Bearer ${ADMIN}")
FEED_URL="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["feed_url"])' <"${WORK}/body" 2>/dev/null || true)"
expect "a member's feed URL through nginx" "${code} ${FEED_URL%/*}/" "201 ${BASE}/feeds/members/"
FEED_TOKEN="${FEED_URL##*/}"
FEED_TOKEN="${FEED_TOKEN%.ics}"
read -r code _ type < <(get "${FEED_URL}")
expect "a member's feed (from the daemon)" "${code} ${type}" "200 text/calendar; charset=utf-8"
read -r code _ type < <(get "${BASE}/feeds/communities/data-science.ics?token=${FEED_TOKEN}")
if [[ ${code} == 200 && ${type} == text/calendar* && -n $(header ETag) && $(header ETag) != "${file_etag}" ]]; then
    ok "?token= goes to the daemon (ETag $(header ETag))"
else
    fail_check "public feed with ?token=: ${code} ${type} ETag $(header ETag) (the file's is ${file_etag})"
fi
read -r code _ _ < <(get "${BASE}/feeds/communities/open-source-maintainers.ics?token=${FEED_TOKEN}")
expect "members-only community feed with a token" "${code} $(grep -c '^BEGIN:VCALENDAR' "${WORK}/body" || true)" "200 1"
read -r code _ type < <(get "${BASE}/feeds/communities/open-source-maintainers.ics")
expect "members-only community feed without a token (no file: the daemon)" "${code} ${type}" "404 application/problem+json"
ROOM_FILE="$(find "${WORK}/state/feeds/rooms" -name '*.ics' -print -quit 2>/dev/null || true)"
if [[ -n ${ROOM_FILE} ]]; then
    read -r code _ type < <(get "${BASE}/feeds/rooms/$(basename "${ROOM_FILE}")")
    if [[ ${code} != 200 && ${type} == application/problem+json* ]]; then
        ok "room feed file not served (daemon: ${code})"
    else
        fail_check "room feed without token: ${code} ${type}"
    fi
else
    fail_check "no room feed file was written"
fi

# ---- the preferences page from an email's link -------------------------------------------------
link=""
for ((i = 0; i < 600 && ${#link} == 0; i++)); do
    link="$(python3 - "${WORK}/state/mail" "${BASE}" <<'PY' 2>/dev/null || true
import email, email.policy, pathlib, re, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            found = re.search(re.escape(sys.argv[2]) + r"/preferences/[A-Za-z0-9._~-]+", part.get_content())
            if found:
                print(found.group(0))
                sys.exit(0)
PY
)"
    [[ -n ${link} ]] || sleep 0.1
done
if [[ -n ${link} ]]; then
    read -r code _ type < <(get "${link}")
    expect "the preferences page" "${code} ${type} $(grep -c '<title>Email preferences' "${WORK}/body" || true)" \
        "200 text/html; charset=utf-8 1"
else
    fail_check "no email with a preferences link in ${WORK}/state/mail within 60 s"
fi

# ---- nginx's own limit (the links zone, lowered above to 1 r/s with a burst of 5) ----------------
urls=()
for ((i = 0; i < 40; i++)); do urls+=(-o /dev/null "${BASE}/u/not-a-token"); done
codes="$("${CURL[@]}" -w '%{http_code}\n' "${urls[@]}" || true)"
if grep -qx 429 <<<"${codes}" && grep -q 'limiting requests.*zone "convene_links"' "${P}/logs/convene.error.log"; then
    read -r code _ type < <(get "${BASE}/u/not-a-token")
    expect "nginx's 429 is problem+json with Retry-After" "${code} ${type} $(header Retry-After)" "429 application/problem+json 1"
else
    fail_check "40 quick /u/ requests: no 429 from nginx's limit_req ($(sort <<<"${codes}" | uniq -c | tr -s ' \n' ' '))"
fi

# ---- the daemon's own limit, through nginx (needs the daemon's rate limiter) -------------------
stop_convened
start_convened CONVENE_RATE_LIMIT_API_PER_SECOND=1 CONVENE_RATE_LIMIT_API_BURST=2
limited_before="$(grep -c 'limiting requests' "${P}/logs/convene.error.log" || true)"
urls=()
for ((i = 0; i < 8; i++)); do urls+=(-o /dev/null "${BASE}/v1/me"); done
codes="$("${CURL[@]}" -w '%{http_code}\n' -H "Authorization: Bearer ${ADMIN}" "${urls[@]}" || true)"
read -r code _ type < <(get "${BASE}/v1/me" -H "Authorization: Bearer ${ADMIN}")
if [[ $(head -n 1 <<<"${codes}") == 200 ]] && grep -qx 429 <<<"${codes}" && [[ ${code} == 429 ]]; then
    ok "the daemon's API limit answers 429 through nginx"
    expect "its 429 is the daemon's problem+json" "${type} $(python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' <"${WORK}/body" 2>/dev/null || echo bad-json)" \
        "application/problem+json 429"
    if [[ $(header Retry-After) =~ ^[0-9]+$ ]]; then ok "Retry-After: $(header Retry-After)"; else fail_check "429 without a Retry-After in seconds"; fi
    # A client that forges X-Forwarded-For stays itself: nginx appends the address it sees, and
    # the daemon takes the right-most untrusted one. A new address per request, were it believed,
    # would get a fresh allowance each time.
    spoofed_ok=0
    for ((i = 1; i <= 6; i++)); do
        read -r code _ _ < <(get "${BASE}/v1/me" -H "Authorization: Bearer ${ADMIN}" -H "X-Forwarded-For: 203.0.113.${i}")
        [[ ${code} == 200 ]] && spoofed_ok=$((spoofed_ok + 1))
    done
    # At most one (the bucket refills one request a second while these run).
    if ((spoofed_ok <= 1)); then
        ok "a forged X-Forwarded-For does not escape the limit (${spoofed_ok} of 6 answered 200)"
    else
        fail_check "a forged X-Forwarded-For escaped the daemon's limit: ${spoofed_ok} of 6 answered 200"
    fi
    if [[ "$(grep -c 'limiting requests' "${P}/logs/convene.error.log" || true)" == "${limited_before}" ]]; then
        ok "those 429s were the daemon's, not nginx's"
    else
        fail_check "nginx's limit_req answered some of the API requests"
    fi
else
    fail_check "no 429 from the daemon with rate_limit_api_per_second=1, burst 2 (codes: $(tr '\n' ' ' <<<"${codes}")then ${code}; needs the daemon's rate limiter)"
fi

if [[ -n ${failed_check} ]]; then
    printf 'nginx_proxy: FAILED:\n%s' "${failed_check}" >&2
    exit 1
fi
echo "nginx_proxy: PASS"
