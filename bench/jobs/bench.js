#!/usr/bin/env node
// Helpers of bench/jobs/run (see there). One subcommand per call; each prints one line of
// JSON on stdout. Timestamps are microseconds since the epoch, all from this host's clock
// (PostgreSQL's now()/clock_timestamp(), convened's system clock and Node's wall clock are
// the same clock on one machine).
//
//   node bench.js migrate-graphile URL
//   node bench.js fill SYSTEM URL N                  N queued no-op jobs in one statement
//   node bench.js graphile-worker URL C POOL EXPECT READY_FILE TIMEOUT_S
//   node bench.js produce SYSTEM URL RATE SECONDS CONNECTIONS
//   node bench.js convened-wait URL EXPECT TIMEOUT_S PID
//   node bench.js convened-stats URL                 claim latencies, first claim, last finish
//   node bench.js report RESULTS_DIR                 Markdown table from the *.json of a run
//
// SYSTEM is "convened" or "graphile". NODE_PATH must point at the node_modules that
// `npm ci` made from bench/jobs/package-lock.json.
"use strict";

const fs = require("fs");
const { performance } = require("perf_hooks");

// Wall clock in microseconds, with sub-millisecond resolution.
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// "2026-11-28 17:06:29.123456+00" (PostgreSQL's text form of timestamptz) in microseconds.
// node-pg's Date keeps milliseconds only; latencies of a few ms need the microseconds.
function tsMicros(text) {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d)(?::?(\d\d))?(?::?\d\d)?$/.exec(text);
  if (!m) throw new Error(`unexpected timestamptz '${text}'`);
  const ms = Date.parse(`${m[1]}T${m[2]}${m[4]}:${m[5] || "00"}`);
  const frac = m[3] ? Math.round(parseFloat(m[3]) * 1e6) : 0;
  return ms * 1000 + frac;
}

// Nearest-rank percentile of a sorted array.
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}
function summarise(latenciesMicros) {
  const s = Float64Array.from(latenciesMicros).sort();
  const ms = (v) => (v === null ? null : v / 1000);
  return {
    n: s.length,
    p50_ms: ms(percentile(s, 0.5)),
    p90_ms: ms(percentile(s, 0.9)),
    p99_ms: ms(percentile(s, 0.99)),
    max_ms: ms(s.length ? s[s.length - 1] : null),
  };
}

function pgClient(url) {
  const pg = require("pg");
  return new pg.Client({ connectionString: url, application_name: "bench-jobs" });
}

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// ---- graphile-worker -------------------------------------------------------------------

async function migrateGraphile(url) {
  const { runMigrations, Logger } = require("graphile-worker");
  await runMigrations({ connectionString: url, logger: quietLogger() });
  print({ migrated: true });
}

// Warnings and errors only: convened runs with CONVENE_LOG_LEVEL=warn. (NO_LOG_SUCCESS=1 in the
// environment also skips formatting graphile-worker's "Completed task" line for every job.)
function quietLogger() {
  const { Logger } = require("graphile-worker");
  return new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") process.stderr.write(`graphile-worker ${level}: ${message}\n`);
  });
}

// Runs graphile-worker with its defaults (unbatched: no localQueue, no completeJobBatchDelay)
// and `concurrency` C until EXPECT 'noop' jobs have run and its queue is empty.
async function graphileWorker(url, concurrency, poolSize, expect, readyFile, timeoutS) {
  const pg = require("pg");
  // Keep PostgreSQL's text next to the Date node-pg makes of a timestamptz: job.created_at and
  // job.locked_at (the claim, now() of get_job) in microseconds.
  const parseDate = pg.types.getTypeParser(1184);
  pg.types.setTypeParser(1184, (text) => {
    const d = parseDate(text);
    if (d !== null && typeof d === "object") d.pgText = text;
    return d;
  });
  const { run } = require("graphile-worker");

  const claimLatency = [];   // locked_at - created_at
  const startLatency = [];   // handler entered - created_at
  let handled = 0, firstClaim = Infinity, firstStart = Infinity, lastClaim = 0;
  let allHandled;
  const handledPromise = new Promise((resolve) => (allHandled = resolve));
  const taskList = {
    noop: async (payload, helpers) => {
      const entered = nowMicros();
      const job = helpers.job;
      const created = tsMicros(job.created_at.pgText);
      const locked = tsMicros(job.locked_at.pgText);
      claimLatency.push(locked - created);
      startLatency.push(entered - created);
      if (locked < firstClaim) firstClaim = locked;
      if (locked > lastClaim) lastClaim = locked;
      if (entered < firstStart) firstStart = entered;
      if (payload && payload.sleep_ms > 0) await sleep(payload.sleep_ms);
      if (++handled === expect) allHandled();
    },
  };
  const processStart = Math.round(performance.timeOrigin * 1000);
  // BENCH_GRAPHILE_PRESET: graphile-worker settings beyond its defaults, e.g. its batching
  // ({"worker": {"localQueue": {"size": 16}, "completeJobBatchDelay": 0}}); not for the issue's figures.
  const preset = process.env.BENCH_GRAPHILE_PRESET ? JSON.parse(process.env.BENCH_GRAPHILE_PRESET) : undefined;
  const runner = await run({
    preset,
    connectionString: url,
    concurrency,
    maxPoolSize: poolSize,
    noHandleSignals: true,
    taskList,
    parsedCronItems: [],
    logger: quietLogger(),
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await runner.stop();
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
    process.on(sig, () => stop().then(() => process.exit(143)));
  }
  fs.writeFileSync(readyFile, `${nowMicros()}\n`);

  const timer = setTimeout(() => {
    process.stderr.write(`graphile-worker: only ${handled} of ${expect} jobs ran within ${timeoutS} s\n`);
    stop().then(() => process.exit(1));
  }, timeoutS * 1000);
  await handledPromise;
  // Completions are sent without waiting for them (graphile-worker does not await completeJob):
  // done is when the last row is gone.
  const client = pgClient(url);
  await client.connect();
  let remaining;
  for (;;) {
    const r = await client.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs");
    remaining = r.rows[0].n;
    if (remaining === 0) break;
    await sleep(5);
  }
  const doneAt = nowMicros();
  const cpu = process.cpuUsage();
  clearTimeout(timer);
  await client.end();
  await stop();
  print({
    system: "graphile",
    jobs: handled,
    process_start_us: processStart,
    first_claim_us: firstClaim,
    first_start_us: firstStart,
    last_claim_us: lastClaim,
    done_us: doneAt,
    worker_cpu_s: (cpu.user + cpu.system) / 1e6,
    claim: summarise(claimLatency),
    start: summarise(startLatency),
  });
  process.exit(0);
}

// ---- both -----------------------------------------------------------------------------

async function fill(system, url, n) {
  const client = pgClient(url);
  await client.connect();
  const t0 = nowMicros();
  if (system === "graphile") {
    // add_jobs: one statement, one notification (what graphile-worker's addJobs() sends).
    await client.query(
      `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
         SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
           FROM generate_series(1, $1)))`,
      [n],
    );
    await client.query("VACUUM ANALYZE graphile_worker._private_jobs");
  } else {
    await client.query(
      `INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at)
       SELECT 'noop', 'bench:' || g, '{}', clock_timestamp(), clock_timestamp(), clock_timestamp()
         FROM generate_series(1, $1) g`,
      [n],
    );
    await client.query("VACUUM ANALYZE jobs");
  }
  const elapsed = nowMicros() - t0;
  await client.end();
  print({ system, filled: n, seconds: elapsed / 1e6 });
}

// RATE jobs/s for SECONDS, each job one INSERT in its own transaction, issued at its scheduled
// time whether or not earlier ones have committed (up to CONNECTIONS at once), so that a slow
// commit does not make the rate uneven.
async function produce(system, url, rate, seconds, connections) {
  const pg = require("pg");
  const pool = new pg.Pool({ connectionString: url, max: connections, application_name: "bench-producer" });
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  clients.forEach((c) => c.release());
  const sql =
    system === "graphile"
      ? { name: "enqueue", text: "SELECT graphile_worker.add_job('noop', '{}'::json)" }
      : {
          name: "enqueue",
          text: `INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at)
                 VALUES ('noop', $1, '{}', clock_timestamp(), clock_timestamp(), clock_timestamp())`,
        };
  const n = Math.round(rate * seconds);
  const t0 = performance.now() + 100;
  let maxLate = 0, maxCommit = 0;
  const pending = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0.5) await sleep(wait);
    const issued = performance.now();
    maxLate = Math.max(maxLate, issued - due);
    const query = system === "graphile" ? sql : { ...sql, values: [`bench:lat:${i}`] };
    pending.push(
      pool.query(query).then(() => {
        maxCommit = Math.max(maxCommit, performance.now() - issued);
      }),
    );
  }
  const issuedAll = performance.now();
  await Promise.all(pending);
  const end = performance.now();
  await pool.end();
  print({
    system,
    produced: n,
    rate_target: rate,
    rate_issued: (n - 1) / ((issuedAll - t0) / 1000),
    seconds: (end - t0) / 1000,
    max_late_ms: maxLate,
    max_insert_ms: maxCommit,
  });
}

// ---- convened ---------------------------------------------------------------------------

// Until EXPECT 'noop' jobs are done: asks the table every 100 ms whether any is pending or running
// (the partial index on due_at holds only those rows, so the question stays cheap). Not convened's
// /metrics: it counts due jobs with a query over all pending rows on every scrape.
async function convenedWait(url, expect, timeoutS, pid) {
  const deadline = Date.now() + timeoutS * 1000;
  const client = pgClient(url);
  await client.connect();
  for (;;) {
    const r = await client.query(
      "SELECT EXISTS (SELECT 1 FROM jobs WHERE state IN ('pending', 'running') AND kind = 'noop') AS busy",
    );
    if (!r.rows[0].busy) break;
    let alive = true;
    try {
      if (pid) process.kill(pid, 0);
    } catch (e) {
      alive = false;
    }
    if (!alive || Date.now() > deadline) {
      const r = await client.query(
        "SELECT state, count(*)::int AS n FROM jobs WHERE kind = 'noop' GROUP BY state ORDER BY state",
      );
      const why = alive ? `not done within ${timeoutS} s` : `convened (pid ${pid}) exited`;
      process.stderr.write(`convened: ${why}: ${JSON.stringify(r.rows)}\n`);
      process.exit(1);
    }
    await sleep(100);
  }
  const r = await client.query(
    `SELECT count(*) FILTER (WHERE state = 'done')::int AS done, count(*)::int AS total
       FROM jobs WHERE kind = 'noop'`,
  );
  await client.end();
  const { done, total } = r.rows[0];
  print({ system: "convened", done, total });
  if (done !== expect || total !== expect) {
    process.stderr.write(`convened: ${done} of ${total} noop jobs done, expected ${expect}\n`);
    process.exit(1);
  }
}

async function convenedStats(url) {
  const pg = require("pg");
  pg.types.setTypeParser(1184, (text) => text);
  const client = pgClient(url);
  await client.connect();
  const agg = await client.query(
    `SELECT count(*)::int AS jobs, min(started_at) AS first_claim, max(started_at) AS last_claim,
            max(finished_at) AS done
       FROM jobs WHERE kind = 'noop' AND state = 'done'`,
  );
  const lat = await client.query(
    "SELECT started_at, created_at FROM jobs WHERE kind = 'noop' AND state = 'done' AND started_at IS NOT NULL",
  );
  await client.end();
  const a = agg.rows[0];
  print({
    system: "convened",
    jobs: a.jobs,
    first_claim_us: a.first_claim ? tsMicros(a.first_claim) : null,
    last_claim_us: a.last_claim ? tsMicros(a.last_claim) : null,
    done_us: a.done ? tsMicros(a.done) : null,
    claim: summarise(lat.rows.map((r) => tsMicros(r.started_at) - tsMicros(r.created_at))),
  });
}

// ---- report -----------------------------------------------------------------------------

const median = (values) => {
  const v = values.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

// RESULTS_DIR holds drain-SYSTEM-ROUND.json (worker/stats + spawn_us), latency-SYSTEM-ROUND.json
// (stats + producer) and env.json (what the table's header says).
function report(dir) {
  const env = JSON.parse(fs.readFileSync(`${dir}/env.json`, "utf8"));
  const load = (prefix, system) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith(`${prefix}-${system}-`) && f.endsWith(".json"))
      .sort()
      .map((f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8")));
  const systems = ["convened", "graphile"];
  const r = {};
  for (const s of systems) {
    const drains = load("drain", s).map((d) => ({
      active: d.jobs / ((d.done_us - d.first_claim_us) / 1e6),
      wall: d.jobs / ((d.done_us - d.spawn_us) / 1e6),
      seconds: (d.done_us - d.first_claim_us) / 1e6,
      worker_cpu: d.worker_cpu_s === undefined ? null : (d.worker_cpu_s * 1000) / d.jobs,
      pg_cpu: d.pg_cpu_s === undefined ? null : (d.pg_cpu_s * 1000) / d.jobs,
    }));
    const lats = load("latency", s).map((d) => ({
      p50: d.claim.p50_ms,
      p99: d.claim.p99_ms,
      max: d.claim.max_ms,
      n: d.claim.n,
      start_p50: d.start ? d.start.p50_ms : null,
      start_p99: d.start ? d.start.p99_ms : null,
      rate: d.producer ? d.producer.rate_issued : null,
      maxLate: d.producer ? d.producer.max_late_ms : null,
    }));
    r[s] = {
      drains,
      lats,
      active: median(drains.map((d) => d.active)),
      wall: median(drains.map((d) => d.wall)),
      worker_cpu: median(drains.map((d) => d.worker_cpu)),
      pg_cpu: median(drains.map((d) => d.pg_cpu)),
      p50: median(lats.map((d) => d.p50)),
      p99: median(lats.map((d) => d.p99)),
      max: median(lats.map((d) => d.max)),
      start_p50: median(lats.map((d) => d.start_p50)),
      start_p99: median(lats.map((d) => d.start_p99)),
    };
  }
  const c = r.convened, g = r.graphile;
  const f0 = (v) => (v === null ? "n/a" : Math.round(v).toLocaleString("en-US"));
  const f1 = (v) => (v === null ? "n/a" : v.toFixed(1));
  const f2 = (v) => (v === null ? "n/a" : v.toFixed(2));
  const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);
  const tput = ratio(c.active, g.active), tputWall = ratio(c.wall, g.wall);
  const p50r = ratio(c.p50, g.p50), p99r = ratio(c.p99, g.p99);
  const runs = (list, fmt) => list.map(fmt).join(", ");
  const verdict = (ok) => (ok === null ? "n/a" : ok ? "**met**" : "**not met**");
  const lines = [];
  lines.push(`### Job engine: convened vs graphile-worker ${env.graphile_version}`);
  lines.push("");
  lines.push(
    `Measured ${env.date} on ${env.nproc} CPUs (${env.cpu}), shared by both workers, PostgreSQL, the ` +
      `producer (and whatever else ran on the machine: load average ${env.loadavg} before the run) · ` +
      `convened ${env.convened_version} (${env.build_type}), graphile-worker ${env.graphile_version} ` +
      `(Node.js ${env.node_version}, node-postgres ${env.pg_version}), PostgreSQL ${env.pg_server_version} ` +
      `(${env.pg_settings}), Linux ${env.kernel}.`,
  );
  lines.push("");
  lines.push(
    `Command: \`${env.command}\`. Concurrency **C = ${env.concurrency}** for both (convened ` +
      `\`CONVENE_JOB_CONCURRENCY=${env.concurrency}\`, graphile-worker \`concurrency: ${env.concurrency}\`), ` +
      `${env.pool} PostgreSQL connections each; one process each; one database each on the same ` +
      `cluster; ` +
      (env.graphile_preset
        ? `graphile-worker with the preset \`${env.graphile_preset}\` (NOT its unbatched defaults). `
        : `graphile-worker with its defaults otherwise (unbatched: no \`localQueue\`, no ` +
          `\`completeJobBatchDelay\`). `) +
      `${env.rounds} round${env.rounds === "1" ? "" : "s"}, the order of ` +
      `the two alternating; medians reported.`,
  );
  lines.push("");
  lines.push("| | convened | graphile-worker | convened / graphile-worker | goal |");
  lines.push("|---|---:|---:|---:|---|");
  lines.push(
    `| drain ${f0(env.drain_jobs)} queued no-op jobs: jobs/s, first claim → last finish | ${f0(c.active)} | ` +
      `${f0(g.active)} | **${f2(tput)}×** | ≥ 2× ${verdict(tput === null ? null : tput >= 2)} |`,
  );
  lines.push(
    `| the same, process start → last finish | ${f0(c.wall)} | ${f0(g.wall)} | ${f2(tputWall)}× | |`,
  );
  lines.push(
    `| enqueue → start at ${env.rate} jobs/s for ${env.latency_seconds} s: p50 | ${f1(c.p50)} ms | ` +
      `${f1(g.p50)} ms | ${f2(p50r)}× | |`,
  );
  lines.push(
    `| enqueue → start: p99 | ${f1(c.p99)} ms | ${f1(g.p99)} ms | **${f2(p99r)}×** | ` +
      `≤ 1× ${verdict(p99r === null ? null : c.p99 <= g.p99)} |`,
  );
  lines.push(
    `| drain: CPU seconds per 1,000 jobs, worker process | ${f2(c.worker_cpu)} | ${f2(g.worker_cpu)} | ` +
      `${f2(ratio(c.worker_cpu, g.worker_cpu))}× | |`,
  );
  lines.push(
    `| drain: CPU seconds per 1,000 jobs, PostgreSQL | ${f2(c.pg_cpu)} | ${f2(g.pg_cpu)} | ` +
      `${f2(ratio(c.pg_cpu, g.pg_cpu))}× | |`,
  );
  lines.push(`| enqueue → start: max | ${f1(c.max)} ms | ${f1(g.max)} ms | ${f2(ratio(c.max, g.max))}× | |`);
  lines.push("");
  const perRound = (a, b, f) => a.map((x, i) => (b[i] ? f2(ratio(f(x), f(b[i]))) : "n/a")).join(" ");
  lines.push("Runs (jobs/s first claim → last finish, with process start → last finish; p50 / p99 / max):");
  lines.push("");
  for (const [name, x] of [["convened", c], [`graphile-worker`, g]]) {
    if (x.drains.length + x.lats.length === 0) continue;
    lines.push(
      `* ${name}: drain ${runs(x.drains, (d) => `${f0(d.active)} (${f0(d.wall)})`)}; latency ` +
        `${runs(x.lats, (d) => `${f1(d.p50)} / ${f1(d.p99)} / ${f1(d.max)} ms`)}`,
    );
  }
  if (c.drains.length && g.drains.length)
    lines.push(
      `* convened / graphile-worker per round: drain ${perRound(c.drains, g.drains, (d) => d.active)}; ` +
        `p99 ${perRound(c.lats, g.lats, (d) => d.p99)}`,
    );
  if (g.start_p50 !== null) lines.push(
    `* graphile-worker, enqueue → its task function entered (after the claim's round trip into ` +
      `Node.js): p50 ${f1(g.start_p50)} ms, p99 ${f1(g.start_p99)} ms.`,
  );
  const prod = [...c.lats, ...g.lats];
  lines.push(
    `* producer: ${f0(median(prod.map((d) => d.rate)))} jobs/s issued (target ${env.rate}), at most ` +
      `${f1(prod.length ? Math.max(...prod.map((d) => d.maxLate || 0)) : null)} ms behind its schedule.`,
  );
  let other = {};
  try {
    other = JSON.parse(env.other_cpu || "{}");
  } catch (e) {
    // left out
  }
  if (other.seconds) {
    lines.push(
      `* other processes on the machine during the run (${Math.round(other.seconds)} s): ` +
        `${other.cpus_busy} CPUs busy on average` +
        (other.busiest && other.busiest.length
          ? ` (${other.busiest.map(([c, t]) => `${c} ${t} s`).join(", ")})`
          : "") +
        `; load average ${env.loadavg} before, ${env.loadavg_after} after (the kernel's writeback ` +
        `threads, kworker, write PostgreSQL's files too).`,
    );
  }
  return lines.join("\n");
}

// ---- main -------------------------------------------------------------------------------

async function main() {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case "migrate-graphile":
      return migrateGraphile(args[0]);
    case "fill":
      return fill(args[0], args[1], Number(args[2]));
    case "graphile-worker":
      return graphileWorker(args[0], Number(args[1]), Number(args[2]), Number(args[3]), args[4], Number(args[5]));
    case "produce":
      return produce(args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4]));
    case "convened-wait":
      return convenedWait(args[0], Number(args[1]), Number(args[2]), Number(args[3] || 0));
    case "convened-stats":
      return convenedStats(args[0]);
    case "report":
      process.stdout.write(report(args[0]) + "\n");
      return;
    default:
      process.stderr.write(`unknown command '${command}'\n`);
      process.exit(2);
  }
}

main().catch((e) => {
  process.stderr.write(`bench.js: ${e.stack || e}\n`);
  process.exit(1);
});
