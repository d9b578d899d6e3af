// Starts and stops the built ai-agent-service binary for one test file: its own temp dir and SQLite
// file, a random JWT secret, PORT=0, and a process that is killed whatever happens to the test.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { client } from './http.mjs';
import { randomSecret, userToken } from './jwt.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// ctest sets AAS_BIN; by hand the default is <repo>/build/ai-agent-service.
export const BIN = process.env.AAS_BIN
  ? path.resolve(process.env.AAS_BIN)
  : path.resolve(here, '..', '..', '..', 'build', 'ai-agent-service');

const liveChildren = new Set();
const tempDirs = new Set();

function cleanupAll() {
  for (const child of liveChildren) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  liveChildren.clear();
  if (!process.env.AAS_KEEP_TMP) {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  }
  tempDirs.clear();
}
process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { cleanupAll(); process.exit(128 + 2); });
}

// With AAS_BLACKBOX_STORE=postgres (the blackbox_postgres ctest entry, run beside a throwaway
// server by scripts/with-postgres.sh), each data dir gets its own PostgreSQL database instead of a
// SQLite file: the same dir (a restart) finds the same database.
function postgresUrlFor(dir) {
  const server = process.env.AAS_TEST_POSTGRES_URL;
  if (!server) throw new Error('AAS_BLACKBOX_STORE=postgres needs AAS_TEST_POSTGRES_URL (run through scripts/with-postgres.sh)');
  const name = `aas_bb_${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
  const r = spawnSync('psql', [server, '-v', 'ON_ERROR_STOP=0', '-qc', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (r.status !== 0 && !/already exists/.test(r.stderr)) throw new Error(`psql: ${r.stderr}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

export function makeTempDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'aas-bb-'));
  tempDirs.add(dir);
  return dir;
}

// A clean environment: nothing from the caller's shell that could change the service's behaviour
// (no provider API keys, so the offline `mock` model is the only one), except sanitizer options.
export function baseEnv(extra = {}) {
  const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8' };
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(ASAN|UBSAN|LSAN|TSAN)_OPTIONS$/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

function binaryMissing() {
  return new Error(`ai-agent-service binary not found at ${BIN}; build it or set AAS_BIN`);
}

// Runs the binary to completion (CLI subcommands): { status, signal, stdout, stderr }.
export function runCli(args, { env = {}, timeoutMs = 20000, cwd } = {}) {
  if (!existsSync(BIN)) throw binaryMissing();
  const r = spawnSync(BIN, args, { env: baseEnv(env), encoding: 'utf8', timeout: timeoutMs, cwd });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const LISTENING = /listening on http:\/\/(\[[^\]]+\]|[^\s:/]+):(\d+)/;

export class Service {
  constructor(child, { dir, secret, env }) {
    this.child = child;
    this.dir = dir;
    this.secret = secret;
    this.env = env;
    this.stdout = '';
    this.stderr = '';
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => { liveChildren.delete(child); resolve({ code, signal }); });
    });
    child.stdout.setEncoding('utf8').on('data', (d) => { this.stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { this.stderr += d; });
  }

  get pid() { return this.child.pid; }
  get exited() { return this.child.exitCode !== null || this.child.signalCode !== null; }

  // Parsed JSON lines of stdout (the access log); other lines are skipped.
  stdoutJsonLines() {
    const out = [];
    for (const line of this.stdout.split('\n')) {
      const t = line.trim();
      if (!t.startsWith('{')) continue;
      try { out.push(JSON.parse(t)); } catch { /* not JSON: ignored */ }
    }
    return out;
  }

  // Waits until an access-log line satisfies pred (log lines may be written just after the response).
  async waitForLogLine(pred, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.stdoutJsonLines().find(pred);
      if (found) return found;
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  token(userId, opts) { return userToken(this.secret, userId, opts); }

  // Sends sig and waits for the exit: { code, signal }. Kills it if it does not exit in time.
  async stop(sig = 'SIGTERM', timeoutMs = 15000) {
    if (!this.exited) this.child.kill(sig);
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const r = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exit;
      throw new Error(`service pid ${this.pid} did not exit within ${timeoutMs} ms of ${sig}`);
    }
    return r;
  }

  kill() {
    if (!this.exited) this.child.kill('SIGKILL');
    return this.exit;
  }
}

// Starts `ai-agent-service [args]` and resolves once it logged its real port.
// opts: env (extra variables; DATABASE_URL, JWT_SECRET, PORT... may be overridden), dir (reuse a
// data dir, e.g. to restart on the same database), secret, args, startTimeoutMs.
export async function startService(opts = {}) {
  if (!existsSync(BIN)) throw binaryMissing();
  const dir = opts.dir ?? makeTempDir();
  const secret = opts.secret ?? randomSecret();
  const env = baseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: process.env.AAS_BLACKBOX_STORE === 'postgres' ? postgresUrlFor(dir) : `sqlite:${path.join(dir, 'ai.db')}`,
    JWT_SECRET: secret,
    LOG_LEVEL: 'info',
    THREADS: '2',
    // Background titles add model calls (and ledger rows) after first turns; suites that want
    // them turn them on.
    GENERATE_TITLES: 'false',
    ...opts.env,
  });
  return launch(BIN, opts.args ?? [], env, { dir, secret, startTimeoutMs: opts.startTimeoutMs });
}

// Spawns a server process (killed on exit whatever happens) and resolves, as a Service with its
// url and a client, once its stderr has a `listening on http://HOST:PORT` line. Also used for
// other servers that log that line (examples/todo-app).
// AAS_START_TIMEOUT_MS raises the default for slow builds (sanitizers, valgrind).
const DEFAULT_START_TIMEOUT_MS = Number(process.env.AAS_START_TIMEOUT_MS ?? 15000);

export async function launch(command, args, env, { dir, secret, startTimeoutMs = DEFAULT_START_TIMEOUT_MS } = {}) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  const svc = new Service(child, { dir, secret, env });
  const timeoutMs = startTimeoutMs;

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "listening on" line within ${timeoutMs} ms; stderr:\n${svc.stderr}`));
    }, timeoutMs);
    const onData = () => {
      const m = LISTENING.exec(svc.stderr);
      if (!m) return;
      clearTimeout(timer);
      child.stderr.off('data', onData);
      const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1] === '[::]' ? '[::1]' : m[1];
      svc.host = host.replace(/^\[|\]$/g, '');
      svc.port = Number(m[2]);
      svc.url = `http://${host}:${svc.port}`;
      resolve();
    };
    child.stderr.on('data', onData);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`service exited before listening (code ${code}, signal ${signal}); stderr:\n${svc.stderr}`));
    });
  });
  Object.assign(svc, client(svc.url));
  return svc;
}
