# shellcheck shell=bash
# What bench/webhooks/run and bench/webhooks/slow-receivers share: the build, the work directory
# and its cleanup, PostgreSQL, the nginx that answers 204, the webhook body, populating endpoints and
# notifications, convened's environment, the report's helpers, the machine's description and where
# a report is written. Source it after scripts/lib.sh; do not run it.
#
# The caller sets REPO, BENCH_DIR, SCRIPT (bench/webhooks/NAME), BUILD, BODY_BYTES, ENDPOINTS,
# TIMEOUT, PG_FAST, NGINX_WORKERS and PUBLIC_URL first; and may set PROFILE (1: pg_stat_statements
# in every database), HOST_CONNECTIONS, DELIVERY_CONCURRENCY and RECEIVER_IN_FLIGHT (empty:
# convened's default).
# shellcheck disable=SC2034  # globals set here are the caller's (WORK_ROOT, HOOK_URL, PAYLOAD, ...)

# command_line LINE VAR...: LINE after "VAR=value" for each VAR set (the last VAR first).
command_line() {
    local line="$1" var
    shift
    for var; do
        if [[ -n ${!var:-} ]]; then line="${var}=${!var} ${line}"; fi
    done
    printf '%s\n' "${line}"
}

# config_default NAME: the default of convened's integer setting NAME (daemon/config.hpp).
config_default() { sed -n "s/^ *int $1 = \([0-9]\+\);.*/\1/p" "${REPO}/daemon/config.hpp"; }

# ---- tools and build -----------------------------------------------------------------------
# webhooks_tools: nginx and wrk from the [benchmarks] section of scripts/packages.txt (which also
# holds postfix, installed unconfigured: ensure_packages, scripts/lib.sh); sets NGINX, PG_BIN, PYTHON.
webhooks_tools() {
    ensure_packages benchmarks  # postfix unconfigured and disabled (scripts/lib.sh)
    NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
    PG_BIN="$(pg_bindir)"
    PYTHON=/usr/bin/python3
}

# build_convened: sets CONVENED, BENCH_CONVENED's binary or BUILD's (RelWithDebInfo), built.
build_convened() {
    CONVENED="${BENCH_CONVENED:-${BUILD}/convened}"
    if [[ -n ${BENCH_CONVENED:-} ]]; then
        [[ -x ${CONVENED} ]] || die "BENCH_CONVENED=${CONVENED} is not an executable"
        log "using the prebuilt ${CONVENED} (not building)"
    else
        if [[ ! -f ${BUILD}/build.ninja ]]; then
            log "configuring ${BUILD}"
            cmake -S "${REPO}" -B "${BUILD}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        fi
        [[ "$(cache_value "${BUILD}" CMAKE_BUILD_TYPE)" == RelWithDebInfo ]] ||
            die "${BUILD} is not a RelWithDebInfo build tree"
        log "building convened (${BUILD})"
        cmake --build "${BUILD}" --target convened -j "$(nproc)"
    fi
}

# ---- work directory and cleanup ----------------------------------------------------------
# make_work PREFIX: WORK, a new bench/webhooks/.work/PREFIX.XXXXXX, and the traps that stop
# everything started (convened_pid, wrk_pid, nginx_pid, slow_pid, sampler_pid, PostgreSQL) and
# remove it on exit. Sets LOADAVG_BEFORE.
make_work() {
    WORK_ROOT="${BENCH_DIR}/.work"
    mkdir -p "${WORK_ROOT}"
    chmod 0755 "${BENCH_DIR}" "${WORK_ROOT}"  # the 'postgres' and nginx worker users must traverse it
    WORK="$(mktemp -d "${WORK_ROOT}/$1.XXXXXX")"
    chmod 0755 "${WORK}"
    mkdir -p "${WORK}/state"
    convened_pid="" nginx_pid="" wrk_pid="" slow_pid="" sampler_pid=""
    pg_started=0
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
    trap 'log "failed (status $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR
    LOADAVG_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
}
# shellcheck disable=SC2317  # invoked from cleanup and the phases
stop_pid() { # stop_pid PID [SIGNAL]: SIGNAL (TERM), wait up to 20 s, then KILL
    local pid="$1" i
    [[ -n ${pid} ]] || return 0
    if kill -0 "${pid}" 2>/dev/null; then
        kill "-${2:-TERM}" "${pid}" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${pid}" 2>/dev/null || true
    fi
    wait "${pid}" 2>/dev/null || true
}
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    stop_pid "${convened_pid}"
    stop_pid "${wrk_pid}"
    stop_pid "${nginx_pid}" QUIT
    stop_pid "${slow_pid}"
    stop_pid "${sampler_pid}"
    if ((pg_started)); then "${REPO}/scripts/pg" stop "${WORK}/pg" >/dev/null 2>&1 || true; fi
    if [[ ${BENCH_KEEP:-0} == 1 || ${status} -ne 0 ]]; then
        log "work directory kept: ${WORK}"
    else
        rm -rf "${WORK}"
    fi
    exit "${status}"
}
# stop_measuring: LOADAVG_AFTER, and the sampler of the other processes' CPU stopped.
stop_measuring() {
    LOADAVG_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
    stop_pid "${sampler_pid}"
    sampler_pid=""
}

now_us() { date +%s%6N; }
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- PostgreSQL ----------------------------------------------------------------------------
# start_postgres: a private cluster in WORK/pg (durable unless PG_FAST=1; pg_stat_statements
# loaded when PROFILE=1) and the sampler of the other processes' CPU; sets PG_PORT, PG, PG_PID,
# pg_flags, PG_SERVER_VERSION.
start_postgres() {
    PG_PORT="$(free_port)"
    PG="${REPO}/scripts/pg"
    "${PG}" init "${WORK}/pg" >/dev/null
    if [[ ${PG_FAST} == 1 ]]; then
        export CONVENE_PG_FAST=1
        pg_flags="fsync off, synchronous_commit off"
    else
        unset CONVENE_PG_FAST
        pg_flags="durable defaults: fsync on, synchronous_commit on"
    fi
    if [[ ${PROFILE:-0} == 1 ]]; then
        run_as_pg_owner sh -c "cat >>'${WORK}/pg/data/postgresql.auto.conf'" <<'CONF'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
CONF
    fi
    "${PG}" start "${WORK}/pg" "${PG_PORT}"
    pg_started=1
    export PGOPTIONS="-c client_min_messages=warning"
    PG_PID="$(head -n 1 "${WORK}/pg/data/postmaster.pid")"
    "${PYTHON}" "${REPO}/bench/jobs/other_cpu.py" "${WORK}/other-cpu.json" "$$" "${PG_PID}" &
    sampler_pid=$!
    PG_SERVER_VERSION="$(psql_db postgres -c 'SHOW server_version' | awk '{ print $1 }')"
}
pg_url() { "${PG}" url "${WORK}/pg" "${PG_PORT}" "$1"; }
psql_db() { # psql_db DB [PSQL-ARGS...]
    local db="$1"
    shift
    "${PG_BIN}/psql" "$(pg_url "${db}")" -X -A -t -q -v ON_ERROR_STOP=1 "$@"
}
fresh_db() {
    psql_db postgres -c "DROP DATABASE IF EXISTS ${1} WITH (FORCE)"
    "${PG}" createdb "${WORK}/pg" "${PG_PORT}" "$1" >/dev/null
    if [[ ${PROFILE:-0} == 1 ]]; then psql_db "$1" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'; fi
}
drop_db() { psql_db postgres -c "DROP DATABASE IF EXISTS ${1} WITH (FORCE)"; }
pg_cpu_ticks() { # the postmaster, its reaped children and its living children
    {
        sed 's/^.*) //' "/proc/${PG_PID}/stat" | awk '{ print $12 + $13 + $14 + $15 }'
        for child in $(ps -o pid= --ppid "${PG_PID}"); do
            # (a backend may exit between ps and the read)
            { sed 's/^.*) //' "/proc/${child}/stat" 2>/dev/null || true; } | awk '{ print $12 + $13 }'
        done
    } | awk '{ s += $1 } END { print s + 0 }'
}
proc_cpu_ticks() { { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || true; } | awk '{ print $12 + $13 }'; }
TICKS="$(getconf CLK_TCK)"

# ---- nginx ---------------------------------------------------------------------------------
# start_nginx [SAMPLE_ID]: a private nginx answering 204 to POST /hook (HOOK_URL) and counting
# (stub_status); with SAMPLE_ID it logs the request with that webhook-id (headers, sizes) to
# WORK/nginx/sample.log, else nothing. Sets NGINX_PORT, HOOK_URL, nginx_pid.
start_nginx() {
    local user_line="" access_log="    access_log off;" i
    NGINX_PORT="$(free_port)"
    HOOK_URL="http://127.0.0.1:${NGINX_PORT}/hook"
    mkdir -p "${WORK}/nginx"
    if [[ ${EUID} -eq 0 ]]; then user_line="user nobody nogroup;"; fi
    if [[ -n ${1:-} ]]; then
        access_log="$(cat <<CONF
    # One of convened's requests (a known webhook-id) is logged; nothing else.
    map \$http_webhook_id \$bench_sample { "$1" 1; default 0; }
    log_format sample '\$request_method \$uri \$status request_length=\$request_length content_length=\$content_length '
                      'content_type="\$http_content_type" user_agent="\$http_user_agent" '
                      'webhook_timestamp="\$http_webhook_timestamp" webhook_signature="\$http_webhook_signature"';
    access_log ${WORK}/nginx/sample.log sample if=\$bench_sample;
CONF
)"
    fi
    cat >"${WORK}/nginx/nginx.conf" <<CONF
# Private nginx of ${SCRIPT}: answers 204 to POST /hook, counts (stub_status).
${user_line}
worker_processes ${NGINX_WORKERS};
daemon off;
pid ${WORK}/nginx/nginx.pid;
error_log ${WORK}/nginx/error.log warn;
events { worker_connections 1024; }
http {
    keepalive_timeout 65s;
    keepalive_requests 1000;
    client_body_temp_path ${WORK}/nginx/client_body;
    proxy_temp_path ${WORK}/nginx/proxy;
    fastcgi_temp_path ${WORK}/nginx/fastcgi;
    uwsgi_temp_path ${WORK}/nginx/uwsgi;
    scgi_temp_path ${WORK}/nginx/scgi;
${access_log}
    server {
        listen 127.0.0.1:${NGINX_PORT};
        location = /hook { return 204; }
        location = /status { stub_status; }
    }
}
CONF
    "${NGINX}" -p "${WORK}/nginx" -e "${WORK}/nginx/error.log" -c "${WORK}/nginx/nginx.conf" -t -q
    "${NGINX}" -p "${WORK}/nginx" -e "${WORK}/nginx/error.log" -c "${WORK}/nginx/nginx.conf" \
        >>"${WORK}/nginx/stdout.log" 2>&1 &
    nginx_pid=$!
    for ((i = 0; i < 100; i++)); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "${HOOK_URL}" 2>/dev/null || true)" == 204 ]] && break
        sleep 0.1
    done
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "${HOOK_URL}")" == 204 ]] ||
        die "nginx did not start ($(cat "${WORK}/nginx/error.log"))"
}
nginx_counts() { # "ACCEPTED_CONNECTIONS REQUESTS" so far (this request included)
    curl -s "http://127.0.0.1:${NGINX_PORT}/status" | awk 'NR == 3 { print $1, $3 }'
}

# ---- the webhooks --------------------------------------------------------------------------
# make_body: a topic.posted payload as POST /v1/communities/{slug}/topics writes it
# (daemon/api/topics.cpp), its body padded so that the request body convened sends ({"type",
# "timestamp", "data"}, notifiers/webhook_body.cpp; jsonb orders keys by length, boost::json keeps
# that order) is BODY_BYTES long: the payload in WORK/payload.json and PAYLOAD, the request body
# in WORK/body.json (what wrk sends).
make_body() {
    "${PYTHON}" - "${BODY_BYTES}" "${WORK}/payload.json" "${WORK}/body.json" <<'PY'
import json, sys
target, payload_path, body_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def payload(pad):
    text = ("We are collecting the feature stores people run in production: what you use, how you keep "
            "online and offline features consistent, and what you would not choose again. ")
    body = (text * 8)[:pad]
    p = {"id": 1, "community": "bench", "author_id": 1, "title": "What is your favourite feature store, and why?",
         "body": body, "posted_at": "2026-11-28T15:10:02.266890Z",
         "url": "https://convene.example.org/communities/bench/topics/1", "topic_id": 1,
         "community_name": "Bench community"}
    return dict(sorted(p.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode())))  # jsonb's key order
def body(p):  # as convened serialises it; the timestamp is the delivery time, with microseconds
    return json.dumps({"type": "topic.posted", "timestamp": "2026-11-28T19:00:00.123456Z", "data": p},
                      separators=(",", ":"), ensure_ascii=False)
base = len(body(payload(0)).encode())
pad = target - base
if pad < 0 or pad > 8 * 160:
    sys.exit(f"cannot pad the body to {target} bytes (unpadded: {base})")
p = payload(pad)
assert len(body(p).encode()) == target
open(payload_path, "w").write(json.dumps(p))
open(body_path, "w").write(body(p))
PY
    PAYLOAD="$(cat "${WORK}/payload.json")"
}

# populate_webhooks DB COUNT [OTHER_URL IDS]: a community, ENDPOINTS members with an endpoint each
# (ids 1..ENDPOINTS) at HOOK_URL, COUNT webhooks spread over them in turn; with OTHER_URL, the
# endpoints of IDS (a PostgreSQL array, '{10,20}') at OTHER_URL instead.
populate_webhooks() {
    local -a other=()
    if (($# > 2)); then other=(-v other_url="$3" -v other_ids="$4"); fi
    psql_db "$1" -v n="$2" -v endpoints="${ENDPOINTS}" -v url="${HOOK_URL}" "${other[@]}" -v payload="${PAYLOAD}" <<'SQL'
INSERT INTO communities (slug, name, time_zone, created_at, updated_at)
  VALUES ('bench', 'Bench community', 'Europe/London', now(), now());
INSERT INTO members (email, name, time_zone, created_at, updated_at)
  SELECT format('m%s@example.org', lpad(g::text, 6, '0')), format('Member %s', lpad(g::text, 6, '0')),
         'Europe/London', now(), now()
    FROM generate_series(1, :endpoints) g;
-- Secrets as convened issues them: whsec_ and the base64 of 32 random bytes.
INSERT INTO webhook_endpoints (member_id, url, secret, created_by, created_at, updated_at)
  SELECT m.id, :'url', 'whsec_' || encode(decode(md5(random()::text) || md5(random()::text), 'hex'), 'base64'),
         m.id, now(), now()
    FROM members m ORDER BY m.id;
\if :{?other_url}
UPDATE webhook_endpoints SET url = :'other_url' WHERE id = ANY (:'other_ids'::bigint[]);
\endif
-- As fan-out writes them (jobs/kinds/fanout.cpp): the event's message once, on the event; each
-- webhook notification refers to it and holds nothing of its own.
INSERT INTO events (kind, community_id, payload, occurred_at, fanned_out_at, message)
  SELECT 'topic.posted', c.id, :'payload'::jsonb, now(), now(), :'payload'::jsonb FROM communities c WHERE c.slug = 'bench';
INSERT INTO notifications (id, dedupe_key, event_id, member_id, community_id, endpoint_id, channel, kind, recipient,
                           payload, due_at, created_at)
  SELECT notification_id('bench:topic.posted:1:webhook:' || g), 'bench:topic.posted:1:webhook:' || g, ev.id,
         e.member_id, c.id, e.id, 'webhook', 'topic.posted', e.url, '{}', now(), now()
    FROM generate_series(1, :n) g
    JOIN webhook_endpoints e ON e.id = (g - 1) % :endpoints + 1
    CROSS JOIN communities c JOIN events ev ON ev.community_id = c.id WHERE c.slug = 'bench';
SQL
    psql_db "$1" -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
}

# ---- convened ------------------------------------------------------------------------------
# prepare_convened (after start_postgres, whose exports it clears too): sets HTTP_PORT and the
# environment convened runs in: nothing of the caller's CONVENE_*, an empty configuration file.
prepare_convened() {
    local name
    clear_env=()
    while IFS='=' read -r name _; do
        [[ ${name} == CONVENE_* ]] && clear_env+=(-u "${name}")
    done < <(env)
    HTTP_PORT="$(free_port)"
    : >"${WORK}/convened.toml"
}
convened_env() { # convened_env DB
    CONVENED_ENV=(env "${clear_env[@]}"
        "CONVENE_DATABASE_URL=$(pg_url "$1")"
        "CONVENE_HTTP_LISTEN=127.0.0.1:${HTTP_PORT}"
        "CONVENE_PUBLIC_URL=${PUBLIC_URL}"
        "CONVENE_STATE_DIRECTORY=${WORK}/state"
        "CONVENE_SCHEMA_DIR=${REPO}/schema"
        "CONVENE_MAIL_FROM=bench@example.org"
        "CONVENE_WEBHOOK_ALLOWLIST=127.0.0.0/8"
        "CONVENE_ORGANISATION_TIME_ZONE=Europe/London"
        "CONVENE_LOG_LEVEL=warn")
    if [[ -n ${HOST_CONNECTIONS:-} ]]; then CONVENED_ENV+=("CONVENE_WEBHOOK_MAX_HOST_CONNECTIONS=${HOST_CONNECTIONS}"); fi
    if [[ -n ${DELIVERY_CONCURRENCY:-} ]]; then CONVENED_ENV+=("CONVENE_DELIVERY_CONCURRENCY=${DELIVERY_CONCURRENCY}"); fi
    if [[ -n ${RECEIVER_IN_FLIGHT:-} ]]; then CONVENED_ENV+=("CONVENE_DELIVERY_RECEIVER_IN_FLIGHT=${RECEIVER_IN_FLIGHT}"); fi
}
migrate_convened() {
    convened_env "$1"
    "${CONVENED_ENV[@]}" "${CONVENED}" --config "${WORK}/convened.toml" migrate >>"${WORK}/convened.log" 2>&1 ||
        { tail -n 20 "${WORK}/convened.log" >&2; die "convened migrate failed"; }
}
start_convened() { # start_convened DB; sets SPAWN_US
    convened_env "$1"
    SPAWN_US="$(now_us)"
    # Not through a function: $! must be convened itself ('env' execs it).
    "${CONVENED_ENV[@]}" "${CONVENED}" --config "${WORK}/convened.toml" serve >>"${WORK}/convened.log" 2>&1 &
    convened_pid=$!
}
stop_convened() {
    stop_pid "${convened_pid}"
    convened_pid=""
}
# wait_settled DB WHAT [CONDITION]: until none of the notifications (those matching the SQL
# CONDITION) is queued, i.e. all are sent, dead or cancelled; WHAT names them in the error.
wait_settled() {
    local deadline=$((SECONDS + TIMEOUT)) queued settled
    while :; do
        # Cheap while delivery runs (the queue's partial index), so polling costs the measured run little.
        queued="$(psql_db "$1" -c "SELECT EXISTS (SELECT 1 FROM notifications WHERE queued${3:+ AND $3})")"
        [[ ${queued} == f ]] && return 0
        kill -0 "${convened_pid}" 2>/dev/null || { tail -n 20 "${WORK}/convened.log" >&2; die "convened exited"; }
        if ((SECONDS >= deadline)); then
            settled="$(psql_db "$1" -c "SELECT count(*) FROM notifications WHERE NOT queued${3:+ AND $3}")"
            tail -n 20 "${WORK}/convened.log" >&2
            die "convened settled ${settled} of $2 in ${TIMEOUT} s"
        fi
        sleep 0.5
    done
}

# ---- report --------------------------------------------------------------------------------
field() { # field TAG NAME: the values of NAME in the lines of TAG (in RESULTS), one a line
    awk -v tag="$1" -v name="$2" '$1 == tag { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) print kv[2] } }' "${RESULTS}"
}
med() { field "$1" "$2" | median; }
list() { field "$1" "$2" | paste -sd ' ' - | sed 's/ /, /g'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# describe_machine: sets CPU_MODEL, convened_version, OTHER (the other processes' CPU while
# measuring) and WORKERS_EFFECTIVE (nginx's worker_processes).
describe_machine() {
    local git_state
    CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    git_state="$(git -C "${REPO}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    # (bench/, scripts/ and docs/ do not change what convened runs)
    if ! git -C "${REPO}" diff --quiet HEAD -- . ':!bench' ':!scripts' ':!docs' 2>/dev/null; then git_state+=" with local changes"; fi
    convened_version="convened $("${CONVENED}" version 2>/dev/null | awk '{ print $2 }') (${git_state}, RelWithDebInfo)"
    if [[ -n ${BENCH_CONVENED:-} ]]; then convened_version="convened $("${CONVENED}" version 2>/dev/null | awk '{ print $2 }') (prebuilt ${BENCH_CONVENED})"; fi
    OTHER="$("${PYTHON}" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("n/a"); sys.exit()
busiest = ", ".join("%s %s s" % (c, t) for c, t in d["busiest"])
print("%s CPUs busy on average over %s s" % (d["cpus_busy"], d["seconds"]) + (" (%s)" % busiest if busiest else ""))' "${WORK}/other-cpu.json")"
    WORKERS_EFFECTIVE="${NGINX_WORKERS}"
    if [[ ${NGINX_WORKERS} == auto ]]; then WORKERS_EFFECTIVE="auto = $(nproc)"; fi
}

# publish_report NAME BEGIN_MARK END_MARK [AFTER_MARK]: prints REPORT; when VARIANT=1 writes it to
# bench/webhooks/.work/NAME-variant.md, else to bench/webhooks/NAME.md and (unless BENCH_DOCS=0)
# into docs/benchmarks.md between BEGIN_MARK and END_MARK; when those are missing, right after
# AFTER_MARK's section (before the next "## " heading), or at the end.
publish_report() {
    local name="$1" doc="${REPO}/docs/benchmarks.md"
    printf '\n%s\n\n' "${REPORT}"
    if ((VARIANT)); then
        printf '%s\n' "${REPORT}" >"${WORK_ROOT}/${name}-variant.md"
        log "results written to bench/webhooks/.work/${name}-variant.md (bench/webhooks/${name}.md is for the issue's comparison)"
        return 0
    fi
    printf '%s\n' "${REPORT}" >"${BENCH_DIR}/${name}.md"
    log "results written to bench/webhooks/${name}.md"
    [[ ${BENCH_DOCS:-1} == 1 ]] || return 0
    [[ -f ${doc} ]] || printf '# Benchmarks\n' >"${doc}"
    "${PYTHON}" - "${doc}" "$2" "$3" "${4:-}" "${REPORT}" <<'PY'
import sys
path, begin, end, after, report = sys.argv[1:6]
text = open(path, encoding="utf-8").read()
block = f"{begin}\n{report}\n{end}"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
elif after and after in text:
    at = text.index(after) + len(after)
    heading = text.find("\n## ", at)
    if heading < 0:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = text[:heading].rstrip("\n") + "\n\n" + block + "\n" + text[heading:]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w", encoding="utf-8").write(text)
PY
    log "results written to docs/benchmarks.md"
}
