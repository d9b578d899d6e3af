#!/usr/bin/env node
// The soak (make soak; docs/benchmarks.md "Soak"): SOAK_MINUTES (30 by default) of mixed load on
// one service (SQLite) in front of tools/mock-llm — chat turns, SSE streams, gateway calls (plain
// and streamed), conversation CRUD and search over REST, and Socket.IO chat turns on sockets that
// are reconnected now and then — at a moderate rate (SOAK_RATE operations a second, 8 by
// default). Every fifth minute, for one minute, part of the traffic goes to a faulty deployment
// (a 500, streams dropped mid-answer), whose errors are expected; a 5xx anywhere else is not.
//
// Once a minute (SOAK_SAMPLE_SECONDS) it prints one JSON line: the service's RSS, open fds and
// threads, and per operation the count, errors and p50/p99 latency of that minute. At the end it
// fails (exit 1) when a 5xx was unexpected, or when RSS or fds grew by more than 5 % over the last
// two thirds of the run (the "last 20 of 30 minutes"), beyond a small absolute slack.
//
//   node bench/soak/soak.mjs SERVICE_BIN MOCK_LLM_BIN
// The service and mock-llm are started here (tests/blackbox/lib), on loopback, in a temp dir.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

import { blackbox, harness } from './lib.mjs';

const { serviceBin, start } = await harness('soak.mjs');
const require = createRequire(path.join(blackbox, 'package.json'));
const { io } = require('socket.io-client');

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const RATE = Number(process.env.SOAK_RATE ?? 8);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_SECONDS ?? 60);
const USERS = 20;
const SOCKETS = 8;
const DRIFT = 0.05;
const out = process.env.SOAK_OUT ?? path.resolve(path.dirname(serviceBin), 'bench-results');
fs.mkdirSync(out, { recursive: true });
const results = path.join(out, `soak-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z.jsonl`);

// `soak`: the healthy model (a 40-token answer). `faulty-500` answers 500 (the client sees 502),
// `faulty-drop` drops its stream after 5 tokens (an interrupted answer): errors all expected.
const { mock, svc } = await start((url) => `models:
  - name: soak
    price: {input: 1, output: 2}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-answer-tokens: "40"}, max_concurrency: 1000, max_queue: 1000}
  - name: faulty-500
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-status: "500"}, max_concurrency: 1000, max_queue: 1000}
  - name: faulty-drop
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-drop-after: "5", x-mock-answer-tokens: "40"}, max_concurrency: 1000, max_queue: 1000}
`, { GENERATE_TITLES: 'true', THREADS: '2' });
const tokens = Array.from({ length: USERS }, (_, i) => svc.token(`soak-user-${i}`));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// --- one HTTP exchange: { status, body (parsed when JSON), ms } -----------------------------------
function send(method, url, { token, json, stream } = {}) {
  const started = performance.now();
  const payload = json === undefined ? undefined : JSON.stringify(json);
  const headers = { authorization: `Bearer ${token}` };
  if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  return new Promise((resolve) => {
    const req = http.request(new URL(url, svc.url), { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { if (!stream) text += d; else text = text.slice(-4096) + d; });
      res.on('end', () => {
        let body;
        try { body = stream ? undefined : JSON.parse(text); } catch { body = undefined; }
        resolve({ status: res.statusCode, body, text, ms: performance.now() - started });
      });
      res.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.setTimeout(120000, () => req.destroy());
    req.end(payload);
  });
}

// --- the operations ------------------------------------------------------------------------------
const conversations = new Map();  // user index -> { id, turns }
const pick = (n) => Math.floor(Math.random() * n);
let faultMinute = false;
const modelFor = (op) => (faultMinute && Math.random() < 0.3 ? (op.includes('stream') ? 'faulty-drop' : 'faulty-500') : 'soak');
const WORDS = ['apple', 'river', 'orbit', 'violet', 'kernel', 'harbor', 'quartz', 'meadow'];

const ops = {
  async chat(u) {
    const c = conversations.get(u);
    const model = modelFor('chat');
    const r = await send('POST', '/api/ai/chat', { token: tokens[u], json: { message: `tell me about ${WORDS[pick(WORDS.length)]}`, model, ...(c ? { conversationId: c.id } : {}) } });
    if (r.status === 200 && r.body?.data?.conversationId) {
      const turns = (c?.turns ?? 0) + 1;
      // A conversation of 10 turns is left behind and a new one begun: the store keeps growing, as
      // it would in use, but no single context grows without bound.
      if (turns >= 10) conversations.delete(u); else conversations.set(u, { id: r.body.data.conversationId, turns });
    }
    return { ...r, model };
  },
  async stream(u) {
    const model = modelFor('stream');
    const r = await send('POST', '/api/ai/chat', { token: tokens[u], json: { message: 'stream me a story', model, stream: true }, stream: true });
    return { ...r, model };
  },
  async gateway(u) {
    const model = modelFor('gateway');
    const r = await send('POST', '/api/ai/v1/chat/completions', { token: tokens[u], json: { model, messages: [{ role: 'user', content: 'a gateway question' }] } });
    return { ...r, model };
  },
  async gateway_stream(u) {
    const model = modelFor('gateway_stream');
    const r = await send('POST', '/api/ai/v1/chat/completions', { token: tokens[u], json: { model, stream: true, messages: [{ role: 'user', content: 'a streamed gateway question' }] }, stream: true });
    return { ...r, model };
  },
  async crud(u) {
    const created = await send('POST', '/api/ai/conversations', { token: tokens[u], json: { title: 'soak scratch', metadata: { n: u } } });
    if (created.status !== 201) return created;
    const id = created.body.data.id;
    const patched = await send('PATCH', `/api/ai/conversations/${id}`, { token: tokens[u], json: { title: 'soak scratch renamed', pinned: true } });
    const listed = await send('GET', '/api/ai/conversations?limit=20', { token: tokens[u] });
    const deleted = await send('DELETE', `/api/ai/conversations/${id}`, { token: tokens[u] });
    const worst = [patched, listed, deleted].find((r) => r.status >= 300) ?? deleted;
    return { status: worst.status, ms: created.ms + patched.ms + listed.ms + deleted.ms };
  },
  async search(u) {
    return send('GET', `/api/ai/conversations?q=${WORDS[pick(WORDS.length)]}&limit=10`, { token: tokens[u] });
  },
  async socket(u) {
    const s = sockets[u % SOCKETS];
    const started = performance.now();
    if (!s.connected) return { status: 0, ms: 0, skipped: true };
    const model = modelFor('socket_stream');
    return new Promise((resolve) => {
      let done = false;
      const finish = (status) => { if (!done) { done = true; s.offAny(onAny); clearTimeout(timer); resolve({ status, ms: performance.now() - started, model }); } };
      let messageId;
      let conversationId;
      // ai:done names the answer; ai:error (an upstream failure after ai:start) its conversation.
      const onAny = (name, data) => {
        if (name === 'ai:done' && data?.messageId === messageId) finish(data.status === 'complete' ? 200 : 299);
        if (name === 'ai:error' && conversationId && data?.conversationId === conversationId) finish(502);
      };
      s.onAny(onAny);
      const timer = setTimeout(() => finish(0), 120000);
      s.timeout(60000).emit('ai:chat', { message: 'a socket question', model }, (err, ack) => {
        if (err || !ack || ack.error) return finish(err ? 0 : 400);
        messageId = ack.messageId;
        conversationId = ack.conversationId;
      });
    });
  },
};
// Weights per operation (a share of SOAK_RATE).
const mix = [['chat', 3], ['stream', 2], ['gateway', 2], ['gateway_stream', 1], ['crud', 1], ['search', 1], ['socket', 2]];
const totalWeight = mix.reduce((a, [, w]) => a + w, 0);
const choose = () => { let r = Math.random() * totalWeight; for (const [op, w] of mix) { if ((r -= w) < 0) return op; } return 'chat'; };

const sockets = Array.from({ length: SOCKETS }, (_, i) => io(svc.url, {
  path: '/api/ai/socket.io', transports: ['websocket'], auth: { token: tokens[i] }, reconnection: true,
}));

// --- sampling --------------------------------------------------------------------------------------
function procSample(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const num = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]);
  return { rssKb: num('VmRSS'), threads: num('Threads'), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}
const q = (sorted, p) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]) : null);
let minute = { byOp: {} };
let unexpected5xx = 0;
let expectedErrors = 0;
let total = 0;
const samples = [];

function record(op, r) {
  if (r.skipped) return;
  total += 1;
  const m = (minute.byOp[op] ??= { n: 0, errors: 0, ms: [] });
  m.n += 1;
  m.ms.push(r.ms);
  const faulty = r.model && r.model !== 'soak';
  if (r.status >= 500 || r.status === 0 || r.status === 299) {
    m.errors += 1;
    if (faulty) expectedErrors += 1;
    else if (r.status >= 500) {
      unexpected5xx += 1;
      console.error(`unexpected ${r.status} from ${op}: ${String(r.text ?? '').slice(0, 300)}`);
    }
  } else if (r.status >= 400) {
    m.errors += 1;
    console.error(`unexpected ${r.status} from ${op}: ${String(r.text ?? '').slice(0, 300)}`);
  }
}

const started = Date.now();
const endAt = started + MINUTES * 60000;
let inFlight = 0;
const tick = setInterval(() => {
  if (Date.now() >= endAt) return;
  // Beyond 200 operations in flight the service is not keeping up: skip rather than pile up.
  if (inFlight > 200) return;
  const op = choose();
  inFlight += 1;
  ops[op](pick(USERS)).then((r) => record(op, r), (e) => { console.error(`${op}: ${e.message}`); record(op, { status: 0, ms: 0 }); })
    .finally(() => { inFlight -= 1; });
}, 1000 / RATE);

let sampleNo = 0;
const sampler = setInterval(() => {
  sampleNo += 1;
  // Faults on in every fifth minute (the 5th, 10th, ...), off otherwise.
  faultMinute = (sampleNo + 1) % 5 === 0;
  // One socket reconnected each sample: connection churn next to the long-lived ones.
  const s = sockets[sampleNo % SOCKETS];
  s.disconnect();
  s.connect();
  const p = procSample(svc.pid);
  const line = { minute: sampleNo, t: Math.round((Date.now() - started) / 1000), ...p, inFlight, faultsNext: faultMinute, ops: {} };
  for (const [op, m] of Object.entries(minute.byOp)) {
    const sorted = m.ms.sort((a, b) => a - b);
    line.ops[op] = { n: m.n, errors: m.errors, p50: q(sorted, 0.5), p99: q(sorted, 0.99) };
  }
  minute = { byOp: {} };
  samples.push(line);
  console.log(JSON.stringify(line));
  fs.appendFileSync(results, `${JSON.stringify(line)}\n`);
}, SAMPLE_S * 1000);

await new Promise((r) => setTimeout(r, MINUTES * 60000));
clearInterval(tick);
// Let what is in flight finish (bounded), then take the last sample.
for (let i = 0; i < 600 && inFlight > 0; ++i) await new Promise((r) => setTimeout(r, 100));
clearInterval(sampler);
for (const s of sockets) s.close();
agent.destroy();

// --- verdict ---------------------------------------------------------------------------------------
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const windowStart = Math.floor(samples.length / 3);
const win = samples.slice(windowStart);
const verdict = { minutes: MINUTES, rate: RATE, operations: total, unexpected5xx, expectedErrors, samples: samples.length };
const problems = [];
if (unexpected5xx > 0) problems.push(`${unexpected5xx} unexpected 5xx`);
if (win.length >= 4) {
  // Medians of up to 5 samples at each end of the window: one sample's RSS moves by a few hundred
  // kB with what is in flight at that instant.
  const k = Math.min(5, Math.floor(win.length / 2));
  const head = win.slice(0, k), tail = win.slice(-k);
  const rss0 = median(head.map((s) => s.rssKb)), rss1 = median(tail.map((s) => s.rssKb));
  const fd0 = median(head.map((s) => s.fds)), fd1 = median(tail.map((s) => s.fds));
  Object.assign(verdict, { rssKbFrom: rss0, rssKbTo: rss1, rssDrift: Number(((rss1 - rss0) / rss0).toFixed(4)), fdsFrom: fd0, fdsTo: fd1 });
  // Slack: 4 MB of RSS (allocator and SQLite page cache settling), 16 fds (connections in flight
  // at the moment of a sample).
  if (rss1 - rss0 > DRIFT * rss0 && rss1 - rss0 > 4096) problems.push(`RSS grew ${rss0} -> ${rss1} kB over the last ${win.length} samples`);
  if (fd1 - fd0 > DRIFT * fd0 && fd1 - fd0 > 16) problems.push(`fds grew ${fd0} -> ${fd1} over the last ${win.length} samples`);
} else {
  problems.push(`too short to judge drift: ${samples.length} samples (need 6)`);
}
const mockStats = await mock.stats();
verdict.upstreamRequests = mockStats.requests.total;
verdict.ok = problems.length === 0;
verdict.problems = problems;
console.log(JSON.stringify({ verdict }));
fs.appendFileSync(results, `${JSON.stringify({ verdict })}\n`);
console.error(`results: ${results}`);
const exit = await svc.stop('SIGTERM', 60000);
await mock.stop();
if (exit.code !== 0) problems.push(`service exit ${JSON.stringify(exit)}`);
process.exit(problems.length ? 1 : 0);
