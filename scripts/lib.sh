# shellcheck shell=bash
# Shared helpers for scripts/run, scripts/test, scripts/release-check, scripts/pg, tests/nginx/run.sh and
# bench/*/run. Source it; do not run it.

# Repository root, computed from this file's own location.
CONVENE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly when already root, else via sudo).
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (and sudo is not installed)"
    fi
}

# ensure_packages [SECTION]: install the packages of scripts/packages.txt that are missing:
# those before any "# [section]" comment line, plus the named section's (bench/*/run asks
# for "benchmarks"). No apt calls at all when everything is installed already.
ensure_packages() {
    local list="${CONVENE_REPO}/scripts/packages.txt" line pkg wanted="${1:-}" section=""
    local -a missing=()
    [[ -r ${list} ]] || die "missing ${list}"
    while IFS= read -r line || [[ -n ${line} ]]; do
        if [[ ${line} =~ ^#\ \[([a-z]+)\] ]]; then
            section="${BASH_REMATCH[1]}"
            continue
        fi
        [[ -z ${section} || ${section} == "${wanted}" ]] || continue
        line="${line%%#*}"
        for pkg in ${line}; do
            if [[ "$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)" != "install ok installed" ]]; then
                missing+=("${pkg}")
            fi
        done
    done <"${list}"
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    log "installing missing packages: ${missing[*]}"
    # postfix ([benchmarks]: smtp-sink, smtp-source) installed without a preselection would be
    # configured as an "Internet Site" mail server and started on port 25: "No configuration"
    # leaves it unconfigured, and its service is disabled.
    local postfix_new=0
    if [[ " ${missing[*]} " == *" postfix "* ]]; then
        postfix_new=1
        echo 'postfix postfix/main_mailer_type select No configuration' | as_root debconf-set-selections
    fi
    # nginx (tests/nginx, bench/feeds run private instances) would be started by its postinst
    # as the system web server on port 80, and a failed start (no IPv6 for the default site's
    # [::]:80, or a chroot) fails the whole install. Unless the machine has a policy-rc.d of its
    # own (containers' denies every start), a temporary one denies nginx's start and nothing else.
    local nginx_new=0 policy=/usr/sbin/policy-rc.d policy_ours=0
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        nginx_new=1
        if [[ ! -e ${policy} ]]; then
            # shellcheck disable=SC2016  # $1 is policy-rc.d's argument (invoke-rc.d: nginx, systemd: nginx.service)
            printf '#!/bin/sh\n# Written by Convene scripts/lib.sh for one apt-get install.\ncase "$1" in nginx | nginx.service) exit 101 ;; esac\nexit 0\n' |
                as_root tee "${policy}" >/dev/null
            as_root chmod 0755 "${policy}"
            policy_ours=1
        fi
    fi
    local status=0
    as_root apt-get update || status=$?
    if ((status == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}" || status=$?
    fi
    if ((policy_ours)); then as_root rm -f "${policy}"; fi
    ((status == 0)) || die "apt-get failed (exit ${status})"
    if ((postfix_new)); then disable_system_service postfix; fi
    if ((nginx_new)); then disable_system_service nginx; fi
}

# disable_system_service NAME: stop NAME.service and keep it from starting at boot, with or
# without a running systemd (a chroot, a container); never fails.
disable_system_service() {
    if command -v systemctl >/dev/null 2>&1; then
        if [[ -d /run/systemd/system ]]; then
            as_root systemctl disable --now "$1.service" >/dev/null 2>&1 || true
        else
            as_root systemctl disable "$1.service" >/dev/null 2>&1 || true
        fi
    fi
    if [[ ! -d /run/systemd/system && -x /etc/init.d/$1 ]]; then
        as_root /etc/init.d/"$1" stop >/dev/null 2>&1 || true
        if command -v update-rc.d >/dev/null 2>&1; then as_root update-rc.d "$1" disable >/dev/null 2>&1 || true; fi
    fi
}

# free_port: a TCP port nobody listens on right now (on 127.0.0.1).
free_port() {
    local port
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return 0
    fi
    for ((port = 20000 + RANDOM % 20000; port < 65000; port++)); do
        if ! ss -Hltn "sport = :${port}" | grep -q .; then
            printf '%s\n' "${port}"
            return 0
        fi
    done
    die "no free TCP port found"
}

# wait_http URL SECONDS [PID]: until URL answers 200 to a GET (status 0); 1 after SECONDS
# without, or as soon as PID (the server being waited for) has exited.
wait_http() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)" == 200 ]]; then return 0; fi
        if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

# run_as_pg_owner CMD...: PostgreSQL refuses to run as root, so as root run CMD as
# the 'postgres' system user (created by postgresql-common); otherwise run it as is.
run_as_pg_owner() {
    if [[ ${EUID} -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (is postgresql-15 installed?)"
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_bindir: directory holding initdb, pg_ctl, postgres.
pg_bindir() {
    local dir
    if [[ -n ${CONVENE_PG_BINDIR:-} && -x ${CONVENE_PG_BINDIR}/initdb ]]; then
        printf '%s\n' "${CONVENE_PG_BINDIR}"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n ${dir} && -x ${dir}/initdb ]]; then
            printf '%s\n' "${dir}"
            return 0
        fi
    fi
    dir=/usr/lib/postgresql/15/bin
    [[ -x ${dir}/initdb ]] || die "cannot find PostgreSQL server binaries (initdb); install postgresql-15"
    printf '%s\n' "${dir}"
}

# cache_value BUILD_DIR KEY: print KEY's value from BUILD_DIR/CMakeCache.txt (empty if absent).
cache_value() {
    local line
    while IFS= read -r line; do
        if [[ ${line} == "$2="* || ${line} == "$2:"*=* ]]; then
            printf '%s\n' "${line#*=}"
            return 0
        fi
    done <"$1/CMakeCache.txt"
}

# configure_and_build BUILD_DIR [--target T]... CMAKE_ARGS...: (re)configure with Ninja when
# needed, then build incrementally: everything, or with one or more leading "--target T" only
# those targets (e.g. --target convened). The --target options must come right after BUILD_DIR;
# the rest are passed to cmake when configuring.
configure_and_build() {
    local build_dir="$1" arg key value need_configure=0
    local -a targets=() names=()
    shift
    while [[ ${1:-} == --target ]]; do
        [[ -n ${2:-} ]] || die "configure_and_build: --target needs a target name"
        targets+=(--target "$2")
        names+=("$2")
        shift 2
    done
    [[ ${build_dir} == /* ]] || build_dir="${CONVENE_REPO}/${build_dir}"
    [[ -f ${CONVENE_REPO}/CMakeLists.txt ]] || die "${CONVENE_REPO}/CMakeLists.txt does not exist yet"
    if [[ ! -f ${build_dir}/build.ninja || ! -f ${build_dir}/CMakeCache.txt ]]; then
        need_configure=1
        # A cache left by another generator would make 'cmake -G Ninja' fail.
        if [[ -f ${build_dir}/CMakeCache.txt && "$(cache_value "${build_dir}" CMAKE_GENERATOR)" != Ninja ]]; then
            rm -rf "${build_dir}/CMakeCache.txt" "${build_dir}/CMakeFiles"
        fi
    else
        # Reconfigure when a requested -DKEY[:TYPE]=VALUE differs from the cache.
        for arg in "$@"; do
            if [[ ${arg} == -D*=* ]]; then
                key="${arg#-D}"
                value="${key#*=}"
                key="${key%%=*}"
                key="${key%%:*}"
                if [[ "$(cache_value "${build_dir}" "${key}")" != "${value}" ]]; then
                    need_configure=1
                fi
            fi
        done
    fi
    if ((need_configure)); then
        log "configuring ${build_dir}: $*"
        cmake -S "${CONVENE_REPO}" -B "${build_dir}" -G Ninja "$@"
    fi
    log "building ${build_dir}${names[*]:+ (only ${names[*]})}"
    cmake --build "${build_dir}" "${targets[@]}" -j "$(nproc)"
}

# ensure_browser_test_modules BUILD_DIR: playwright-core for tests/browser (npm ci from its lock
# file into BUILD_DIR/tests/browser), when missing or when the lock file changed.
ensure_browser_test_modules() {
    local src="${CONVENE_REPO}/tests/browser" dir="$1/tests/browser"
    if cmp -s "${src}/package-lock.json" "${dir}/package-lock.json" && [[ -d ${dir}/node_modules/playwright-core ]]; then
        return 0
    fi
    if ! command -v npm >/dev/null; then
        # Debian's nodejs comes without npm (NodeSource's includes it and conflicts with this).
        # The package lists may be older than the machine's last ensure_packages.
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
    fi
    log "installing playwright-core (npm ci in ${dir})"
    mkdir -p "${dir}"
    cp "${src}/package.json" "${src}/package-lock.json" "${dir}/"
    # --engine-strict: a Node.js too old for the locked playwright-core fails here, saying so,
    # instead of at test time (Debian 12's nodejs is 18).
    (cd "${dir}" && npm ci --engine-strict --no-audit --no-fund --loglevel=error >/dev/null)
}
