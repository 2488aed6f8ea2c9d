#!/usr/bin/env bash
# Checks the systemd integration files.
#   check-unit.sh <repo>/systemd <path-to-built-convened>
# (a) systemd-analyze verify on convened.service, with ExecStart pointed at the built
#     binary (verify insists that the binary exists); any diagnostic about the unit
#     (unknown key, unparsable value, missing binary, ...) fails the test, since
#     systemd-analyze itself only warns about most of them.
# (b) systemd-analyze security --offline=true: overall exposure must be <= MAX_EXPOSURE.
# (c) as root: convene.sysusers and convene.tmpfiles apply cleanly to a scratch root.
# (d) LimitNOFILE= is set and at least MIN_NOFILE (http_max_connections, 20000 by default, plus
#     the daemon's other descriptors).
set -euo pipefail

MAX_EXPOSURE=2.0
MIN_NOFILE=25000

fail() { printf 'check-unit: FAIL: %s\n' "$*" >&2; exit 1; }

(($# >= 1 && $# <= 2)) || fail "usage: $0 SYSTEMD_DIR [CONVENED_BINARY]"
SYSTEMD_DIR="$(cd "$1" && pwd)"
BINARY="${2:-/bin/true}"
UNIT="${SYSTEMD_DIR}/convened.service"

[[ -f ${UNIT} ]] || fail "${UNIT} does not exist"
[[ ${BINARY} == /* ]] || BINARY="$(cd "$(dirname "${BINARY}")" && pwd)/$(basename "${BINARY}")"
[[ -x ${BINARY} ]] || fail "binary ${BINARY} is not executable"
command -v systemd-analyze >/dev/null 2>&1 || fail "systemd-analyze not found (install package 'systemd')"

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

# --- (a) verify ---------------------------------------------------------------------
grep -q '^ExecStart=/usr/bin/convened ' "${UNIT}" || fail "ExecStart must run /usr/bin/convened"
mkdir -p "${WORK}/unit"
sed "s#^ExecStart=/usr/bin/convened #ExecStart=${BINARY} #" "${UNIT}" >"${WORK}/unit/convened.service"

status=0
output="$(systemd-analyze verify --man=no --recursive-errors=no "${WORK}/unit/convened.service" 2>&1)" || status=$?
# Lines about other units (dependencies on this host) are only shown; lines about ours fail.
problems="$(grep -E 'convened\.service' <<<"${output}" || true)"
if [[ -n ${output} ]]; then
    printf 'systemd-analyze verify said:\n%s\n' "${output}" >&2
fi
if ((status != 0)) || [[ -n ${problems} ]]; then
    fail "systemd-analyze verify found problems in convened.service (exit ${status})"
fi
echo "check-unit: verify ok"

# --- (b) security score ---------------------------------------------------------------
status=0
security="$(systemd-analyze security --offline=true --no-pager "${UNIT}" 2>&1)" || status=$?
score_line="$(grep -E 'Overall exposure level for' <<<"${security}" || true)"
if [[ -z ${score_line} ]]; then
    printf '%s\n' "${security}" >&2
    fail "could not find the overall exposure level (exit ${status})"
fi
score="$(sed -E 's/.*Overall exposure level for [^:]*: ([0-9]+(\.[0-9]+)?).*/\1/' <<<"${score_line}")"
[[ ${score} =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "could not parse score from: ${score_line}"
echo "check-unit: ${score_line}"
if ! awk -v s="${score}" -v m="${MAX_EXPOSURE}" 'BEGIN { exit !(s <= m) }'; then
    grep -E '✗' <<<"${security}" >&2 || true
    fail "exposure ${score} is above ${MAX_EXPOSURE}"
fi

# --- (d) open files -------------------------------------------------------------------
nofile="$(sed -n -E 's/^LimitNOFILE=([0-9]+)(:([0-9]+))?[[:space:]]*$/\1/p' "${UNIT}" | tail -n 1)"
[[ -n ${nofile} ]] || fail "LimitNOFILE= (a number, or SOFT:HARD) is missing from convened.service"
((nofile >= MIN_NOFILE)) || fail "LimitNOFILE=${nofile} is below ${MIN_NOFILE}"
echo "check-unit: LimitNOFILE=${nofile} ok"

# --- (c) sysusers / tmpfiles --------------------------------------------------------
if [[ ${EUID} -eq 0 ]]; then
    root="${WORK}/root"
    mkdir -p "${root}/etc/convene" "${root}/usr/lib/sysusers.d" "${root}/usr/lib/tmpfiles.d"
    cp "${SYSTEMD_DIR}/convene.sysusers" "${root}/usr/lib/sysusers.d/convene.conf"
    cp "${SYSTEMD_DIR}/convene.tmpfiles" "${root}/usr/lib/tmpfiles.d/convene.conf"
    touch "${root}/etc/convene/convened.toml"
    systemd-sysusers --root="${root}" convene.conf >/dev/null 2>&1 || fail "systemd-sysusers rejected convene.sysusers"
    grep -q '^convene:' "${root}/etc/passwd" || fail "convene.sysusers did not create user convene"
    out="$(systemd-tmpfiles --root="${root}" --create convene.conf 2>&1)" || fail "systemd-tmpfiles failed: ${out}"
    [[ -z ${out} ]] || fail "systemd-tmpfiles complained: ${out}"
    [[ -d ${root}/var/lib/convene/mail ]] || fail "convene.tmpfiles did not create /var/lib/convene/mail"
    echo "check-unit: sysusers/tmpfiles ok"
else
    echo "check-unit: sysusers/tmpfiles check skipped (needs root)"
fi
echo "check-unit: PASS"
