// The preferences page in a real browser (issue 7): headless Chromium (Debian's package) opens
// the preferences link of an email convened wrote, changes a community's delivery mode and the
// digest hour, submits, and the database shows the change; then again with JavaScript off.
//
// Run by tests/browser/run.sh (ctest: browser_preferences). Needs CONVENE_TEST_DATABASE_URL (a
// superuser URL, as scripts/test exports), CONVENED (the binary) and playwright-core on NODE_PATH.
'use strict';

const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const adminUrl = process.env.CONVENE_TEST_DATABASE_URL;
const convened = process.env.CONVENED;
const chromiumPath = process.env.CONVENE_CHROMIUM || '/usr/bin/chromium';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'convene-browser-'));
const database = `browser_prefs_${process.pid}`;
const log = path.join(work, 'convened.log');

function databaseUrl(name) {
  const url = new URL(adminUrl);
  url.pathname = '/' + name;
  return url.toString();
}

function psql(url, sql) {
  return execFileSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
    encoding: 'utf8',
  }).trim();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Sanitizer builds (scripts/test) start slowly: an upper bound, not an expected duration.
async function until(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Quoted-printable (RFC 2045) text parts: soft line breaks and =XX bytes.
function decodeQuotedPrintable(text) {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

async function main() {
  if (!adminUrl || !convened) {
    console.log('SKIP: CONVENE_TEST_DATABASE_URL and CONVENED must be set (scripts/test sets them)');
    process.exit(77);
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    CONVENE_DATABASE_URL: databaseUrl(database),
    CONVENE_STATE_DIRECTORY: path.join(work, 'state'),
    CONVENE_HTTP_LISTEN: `127.0.0.1:${port}`,
    CONVENE_PUBLIC_URL: base,
    CONVENE_ORGANISATION_TIME_ZONE: 'Europe/London',
    CONVENE_LOG_LEVEL: 'warn',
  };
  fs.mkdirSync(env.CONVENE_STATE_DIRECTORY);
  fs.writeFileSync(path.join(work, 'convened.toml'), '');
  const run = (...args) =>
    execFileSync(convened, ['--config', path.join(work, 'convened.toml'), ...args], { env, encoding: 'utf8', stdio: 'pipe' });
  psql(adminUrl, `CREATE DATABASE ${database}`);
  let daemon;
  let browser;
  try {
    run('migrate');
    const admin = run('token', 'create', '--email', 'admin@example.org', '--role', 'admin')
      .split('\n')
      .find((line) => line.startsWith('cvn_'));
    daemon = spawn(convened, ['--config', path.join(work, 'convened.toml'), 'serve'], {
      env,
      stdio: ['ignore', fs.openSync(log, 'a'), fs.openSync(log, 'a')],
    });
    await until('convened to be ready', async () => (await fetch(`${base}/readyz`)).ok);

    const api = async (method, route, body) => {
      const r = await fetch(base + route, {
        method,
        headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      assert.ok(r.ok, `${method} ${route}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    await api('POST', '/v1/communities', { slug: 'data-science', name: 'Data Science' });
    await api('POST', '/v1/communities', { slug: 'go', name: 'Go' });
    const ada = await api('POST', '/v1/members', { email: 'ada@example.org', name: 'Ada', time_zone: 'Europe/London' });
    await api('PUT', `/v1/communities/data-science/members/${ada.id}`, { delivery: 'realtime' });
    await api('PUT', `/v1/communities/go/members/${ada.id}`, { delivery: 'realtime' });
    await api('POST', '/v1/communities/data-science/topics', { title: 'Reading group', body: 'Chapter 3 on Thursday.' });

    // The email convened wrote (file transport: <state>/mail/*.eml) and its preferences link.
    const mail = path.join(env.CONVENE_STATE_DIRECTORY, 'mail');
    const eml = await until('an email for ada', async () =>
      fs.readdirSync(mail).map((f) => fs.readFileSync(path.join(mail, f), 'utf8')).find((m) => /^To:.*ada@example\.org/m.test(m)),
    );
    const link = decodeQuotedPrintable(eml).match(/http:\/\/127\.0\.0\.1:\d+\/preferences\/[A-Za-z0-9._-]+/)[0];

    const member = () =>
      psql(
        databaseUrl(database),
        `SELECT ms.delivery || '|' || m.digest_hour FROM members m JOIN memberships ms ON ms.member_id = m.id ` +
          `JOIN communities c ON c.id = ms.community_id WHERE m.id = ${ada.id} AND c.slug = 'data-science'`,
      );
    assert.equal(member(), 'realtime|7');

    browser = await chromium.launch({
      executablePath: chromiumPath,
      // As root (CI), Chromium refuses to start with its sandbox; containers have a small /dev/shm.
      args: ['--disable-dev-shm-usage', ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])],
    });
    for (const [javaScriptEnabled, delivery, label, hour] of [
      [true, 'weekly', 'a weekly digest', '9'],
      [false, 'daily', 'a daily digest', '18'],
    ]) {
      const context = await browser.newContext({ javaScriptEnabled });
      const page = await context.newPage();
      const opened = await page.goto(link);
      assert.equal(opened.status(), 200);
      assert.equal(await page.title(), 'Email preferences \u2013 Ada');
      await page.getByRole('group', { name: 'Email from Data Science' }).getByLabel(label).check();
      await page.getByLabel('Digests arrive at').selectOption(hour);
      // With the keyboard: focus the button and press Enter.
      const saved = page.waitForResponse((r) => r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Save changes' }).press('Enter');
      assert.equal((await saved).status(), 200, 'the save is accepted (CSRF field and origin included)');
      await page.waitForLoadState('load');
      await page.getByRole('heading', { name: 'Saved' }).waitFor();
      const summary = await page.getByRole('status').first().innerText();
      assert.match(summary, new RegExp(`Data Science: ${label}`));
      assert.match(summary, new RegExp(`Digest hour: ${hour.padStart(2, '0')}:00`));
      assert.equal(member(), `${delivery}|${hour}`, `javaScriptEnabled: ${javaScriptEnabled}`);
      await context.close();
      console.log(`ok: javaScriptEnabled=${javaScriptEnabled}: ${delivery}, ${hour}:00`);
    }
  } catch (error) {
    if (fs.existsSync(log)) console.error('---- convened log ----\n' + fs.readFileSync(log, 'utf8'));
    throw error;
  } finally {
    if (browser) await browser.close();
    if (daemon) {
      daemon.kill('SIGTERM');
      await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.once('exit', r)));
    }
    psql(adminUrl, `DROP DATABASE IF EXISTS ${database}`);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
