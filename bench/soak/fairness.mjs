#!/usr/bin/env node
// The fairness figure of issue 18, finding 4 (docs/benchmarks.md "Fair sharing"): one deployment
// with 64 slots; 13 greedy users keep 5 long streams each running (65 > 64: the deployment is
// full and its queue never empties); one polite user sends plain chats one after another. The
// polite user's latency (p50 / p99 / max), against the same chats on the idle deployment first.
//
//   node bench/soak/fairness.mjs SERVICE_BIN MOCK_LLM_BIN   (FAIR_SECONDS, 60 by default; FAIR_STAGGER; FAIR_RESERVED)
import http from 'node:http';

import { harness } from './lib.mjs';

const { start } = await harness('fairness.mjs');

const SECONDS = Number(process.env.FAIR_SECONDS ?? 60);
// FAIR_STAGGER=1: the greedy streams start spread over one answer's duration (~20 s), so slots free
// one by one as in steady use; unset, they all start at once and end in waves, as in the finding.
const STAGGER = process.env.FAIR_STAGGER === '1';
const ANSWER_MS = 20000;
const GREEDY_USERS = 13;
const STREAMS_EACH = 5;
const SLOTS = 64;
// FAIR_RESERVED: the deployment's reserved_slots (slots only a user holding none may take); unset,
// the default (SLOTS / 16 = 4). FAIR_RESERVED=0 gives the fair queue alone, as before the reserve.
const RESERVED = process.env.FAIR_RESERVED === undefined ? SLOTS / 16 : Number(process.env.FAIR_RESERVED);

// Paced at 10 tokens a second: a greedy answer (the mock echoes the 200-word question) streams for
// ~20 s; the polite user's few words take well under a second upstream.
const { mock, svc } = await start((url) => `models:
  - name: shared
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, max_concurrency: ${SLOTS}, reserved_slots: ${RESERVED}, max_queue: 1000, headers: {x-mock-tokens-per-second: "10"}}
`);

function post(token, json) {
  const payload = JSON.stringify(json);
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request(new URL('/api/ai/chat', svc.url), {
      method: 'POST', agent: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end(payload);
  });
}

const polite = svc.token('fair-polite');
async function politeRun(untilMs) {
  const ms = [];
  let errors = 0;
  while (performance.now() < untilMs) {
    const r = await post(polite, { message: 'a short question', model: 'shared' });
    if (r.status === 200) ms.push(r.ms); else errors += 1;
  }
  ms.sort((a, b) => a - b);
  const q = (p) => Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]);
  return { chats: ms.length, errors, p50: q(0.5), p99: q(0.99), max: Math.round(ms.at(-1)) };
}

// Unloaded first: the same chats with nothing else on the deployment.
const idle = await politeRun(performance.now() + Math.min(10, SECONDS) * 1000);

const long = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
let stop = false;
let greedyDone = 0;
const greedy = [];
for (let u = 0; u < GREEDY_USERS; ++u) {
  const token = svc.token(`fair-greedy-${u}`);
  for (let s = 0; s < STREAMS_EACH; ++s) {
    const delay = STAGGER ? ((u * STREAMS_EACH + s) * ANSWER_MS) / (GREEDY_USERS * STREAMS_EACH) : 0;
    greedy.push((async () => {
      await new Promise((r) => setTimeout(r, delay));
      while (!stop) {
        const r = await post(token, { message: long, model: 'shared', stream: true });
        if (r.status === 200) greedyDone += 1;
      }
    })());
  }
}
// Until the deployment is full and calls are queued, as the finding's setup had it.
const deployment = 'shared/openai/gpt-4o-mini#1';
for (;;) {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const v = (name) => Number((text.split('\n').find((l) => l.startsWith(`${name}{deployment="${deployment}"} `)) ?? ' 0').split(' ').at(-1));
  // Every slot but the reserve (FAIR_RESERVED; the default reserve is SLOTS / 16), or every one.
  if (v('ai_deployment_in_flight') >= SLOTS - RESERVED && v('ai_deployment_queued') > 0) break;
  await new Promise((r) => setTimeout(r, 100));
}
const loaded = await politeRun(performance.now() + SECONDS * 1000);
stop = true;
const result = { stagger: STAGGER, reserved: RESERVED, greedyUsers: GREEDY_USERS, streamsEach: STREAMS_EACH, slots: SLOTS, seconds: SECONDS, idle, loaded, greedyStreamsFinished: greedyDone };
console.log(JSON.stringify(result));
await svc.stop('SIGTERM', 60000).catch(() => svc.kill());
await mock.stop().catch(() => {});
process.exit(0);
