// A throwaway redis-server for one test file: a free loopback port, its own temp dir, no
// persistence (`--save '' --appendonly no`), killed whatever happens to the test. stop() and
// restart() let a suite take Redis away under a running service and bring it back on the SAME
// port (empty, as a Redis restarted without persistence is), which is what REDIS_URL points at.
// command() is a minimal RESP client, so a suite can look at the keys the service wrote without
// depending on redis-cli.
import { spawn } from 'node:child_process';
import net from 'node:net';

import { freePort } from './http.mjs';
import { makeTempDir } from './service.mjs';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export { freePort };

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

// Parses one RESP2 reply from buf at pos: { value, pos } or undefined when it is incomplete.
// Error replies become Error objects (returned, not thrown, so arrays of them stay intact).
function parse(buf, pos = 0) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+': return { value: line, pos: next };
    case '-': return { value: new Error(line), pos: next };
    case ':': return { value: Number(line), pos: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), pos: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      const items = [];
      let p = next;
      for (let i = 0; i < n; ++i) {
        const r = parse(buf, p);
        if (!r) return undefined;
        items.push(r.value);
        p = r.pos;
      }
      return { value: items, pos: p };
    }
    default: throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

// One command on a fresh connection: resolves the reply (rejects on an error reply or no answer).
export function redisCommand(port, args, { timeoutMs = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis ${args[0]}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
    const done = (fn, v) => { clearTimeout(timer); sock.destroy(); fn(v); };
    sock.once('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let r;
      try { r = parse(buf); } catch (e) { done(reject, e); return; }
      if (!r) return;
      if (r.value instanceof Error) done(reject, r.value);
      else done(resolve, r.value);
    });
    sock.once('error', (e) => done(reject, e));
  });
}

// SUBSCRIBE on its own connection, as the monolith would: resolves once subscribed with
// { messages: [{channel, payload}], close() }; messages fill in as they arrive.
export function redisSubscribe(port, channel, { timeoutMs = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const messages = [];
    let buf = Buffer.alloc(0);
    let subscribed = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`SUBSCRIBE ${channel}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
    sock.once('connect', () => sock.write(encode(['SUBSCRIBE', channel])));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (let r = parse(buf); r; r = parse(buf)) {
        buf = buf.subarray(r.pos);
        const [kind, ch, payload] = r.value;
        if (kind === 'subscribe' && !subscribed) {
          subscribed = true;
          clearTimeout(timer);
          resolve({ messages, close: () => sock.destroy() });
        } else if (kind === 'message') {
          messages.push({ channel: ch, payload });
        }
      }
    });
    sock.once('error', (e) => { clearTimeout(timer); if (!subscribed) reject(e); });
  });
}

export class RedisServer {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.url = `redis://127.0.0.1:${port}`;
    this.child = null;
    this.log = '';
  }

  get running() { return this.child !== null && this.child.exitCode === null && this.child.signalCode === null; }

  async start(timeoutMs = 10000) {
    const child = spawn(REDIS_SERVER, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    this.child = child;
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
    });
    child.stdout.setEncoding('utf8').on('data', (d) => { this.log += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { this.log += d; });
    let spawnError;
    child.once('error', (e) => { spawnError = e; live.delete(child); });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`${REDIS_SERVER}: ${spawnError.message}`);
      if (!this.running) throw new Error(`redis-server exited at start (port ${this.port}):\n${this.log}`);
      try {
        if ((await redisCommand(this.port, ['PING'], { timeoutMs: 500 })) === 'PONG') return this;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${timeoutMs} ms:\n${this.log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // Kills it (SIGKILL: an outage, not a shutdown) and waits until the process is gone, so the
  // port refuses connections once this resolves.
  async stop() {
    if (!this.child || this.child.pid === undefined) return;
    if (this.running) this.child.kill('SIGKILL');
    await this.exit;
  }

  // Starts it again on the same port, empty.
  async restart() {
    await this.stop();
    return this.start();
  }

  command(...args) { return redisCommand(this.port, args); }

  // Every key matching a glob pattern (KEYS is fine on a throwaway server).
  async keys(pattern) { return (await this.command('KEYS', pattern)).sort(); }
}

// Starts redis-server on a free loopback port: { url, port, stop(), restart(), command(), keys() }.
export async function startRedis() {
  const dir = makeTempDir();
  // The port is free when picked; should another process take it before redis-server binds it,
  // redis-server exits at once and another port is tried.
  let lastError;
  for (let attempt = 0; attempt < 3; ++attempt) {
    const server = new RedisServer(await freePort(), dir);
    try {
      return await server.start();
    } catch (e) {
      lastError = e;
      await server.stop();
    }
  }
  throw lastError;
}

// Until `count` connections hold a pattern subscription: the Socket.IO Redis adapters of the
// service's replicas and of the monolith, which all PSUBSCRIBE the same pattern (so NUMPAT says 1).
export async function patternSubscribers(redis, count) {
  for (;;) {
    const list = await redis.command('CLIENT', 'LIST');
    if (list.split('\n').filter((l) => / psub=[1-9]/.test(l)).length >= count) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
