#!/usr/bin/env node
// Memory after large answers (issue 18, finding 3: five 60 MB streams took RSS to 1.69 GB and it
// stayed at 340 MB afterwards). An upstream floods LARGE_BYTES of text into each of LARGE_STREAMS
// streamed chats at once; the service's VmRSS is sampled before (idle), during (peak) and after
// the streams ended, once the service had LARGE_SETTLE_S seconds to give memory back.
//
//   node bench/soak/large-answers.mjs SERVICE_BIN MOCK_LLM_BIN
//     LARGE_STREAMS (5), LARGE_BYTES (60000000), LARGE_ROUNDS (3), LARGE_SETTLE_S (12)
//     LARGE_BOUNDS=max: MAX_ANSWER_BYTES and MAX_OUTPUT_TOKENS at their highest (64 MiB, 1M tokens),
//     so that as much as the service allows is relayed; unset, the defaults (1 MiB) cut each answer.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';

import { harness } from './lib.mjs';

const { start } = await harness('large-answers.mjs');

const STREAMS = Number(process.env.LARGE_STREAMS ?? 5);
const BYTES = Number(process.env.LARGE_BYTES ?? 60_000_000);
const ROUNDS = Number(process.env.LARGE_ROUNDS ?? 3);
const SETTLE_S = Number(process.env.LARGE_SETTLE_S ?? 12);
const MAX = process.env.LARGE_BOUNDS === 'max';

const env = MAX ? { MAX_ANSWER_BYTES: String(64 * 1024 * 1024), MAX_OUTPUT_TOKENS: '1000000' } : {};
const { mock, svc } = await start((url) => `models:
  - name: flood
    price: {input: 1, output: 1, max_output: 1000000, context_window: 2000000}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-flood-bytes: "${BYTES}", x-mock-chunk-bytes: "16384"}}
  - name: small
    price: {input: 1, output: 1, max_output: 1000000, context_window: 2000000}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk}
`, env);

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${svc.pid}/status`, 'utf8'))[1]);

// One streamed chat, read to its end; the bytes of SSE received.
function stream(token) {
  const payload = JSON.stringify({ message: 'flood me', model: 'flood', stream: true });
  return new Promise((resolve) => {
    const req = http.request(new URL('/api/ai/chat', svc.url), {
      method: 'POST', agent: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      let bytes = 0;
      let tail = '';
      res.on('data', (c) => { bytes += c.length; tail = (tail + c.toString('latin1')).slice(-400); });
      res.on('end', () => resolve({ status: res.statusCode, bytes, finish: /"finishReason":"(\w+)"/.exec(tail)?.[1] }));
      res.on('error', () => resolve({ status: 0, bytes }));
    });
    req.on('error', () => resolve({ status: 0, bytes: 0 }));
    req.end(payload);
  });
}

const settle = () => new Promise((r) => setTimeout(r, SETTLE_S * 1000));
// Warmed first by one small streamed answer (the tokenizer's tables and the store's statements are
// loaded on first use): the baseline is a service that has answered, not one that never did.
const warm = await new Promise((resolve) => {
  const payload = JSON.stringify({ message: 'warm up', model: 'small', stream: true });
  const req = http.request(new URL('/api/ai/chat', svc.url), {
    method: 'POST', agent: false,
    headers: { authorization: `Bearer ${svc.token('warm')}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
  }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
  req.end(payload);
});
if (warm !== 200) throw new Error(`the warm-up chat answered ${warm}`);
await settle();
const idle = rssKb();
const rounds = [];
for (let round = 0; round < ROUNDS; ++round) {
  let peak = rssKb();
  const sampler = setInterval(() => { peak = Math.max(peak, rssKb()); }, 100);
  const results = await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(svc.token(`flood-${round}-${i}`))));
  clearInterval(sampler);
  peak = Math.max(peak, rssKb());
  const justAfter = rssKb();
  await settle();
  const settled = rssKb();
  // LARGE_PROBE=1 (diagnosis): what a malloc_trim(0) called now from gdb would still give back,
  // i.e. how much of the settled RSS is free heap rather than memory in use.
  let probedKb;
  if (process.env.LARGE_PROBE === '1') {
    spawnSync('gdb', ['-p', String(svc.pid), '-batch', '-ex', 'call (int) malloc_trim(0)'], { stdio: 'ignore' });
    probedKb = rssKb();
  }
  rounds.push({
    round, peakKb: peak, justAfterKb: justAfter, settledKb: settled, probedKb,
    sseMbEach: results.map((r) => +(r.bytes / 1e6).toFixed(2)), statuses: [...new Set(results.map((r) => r.status))],
    finish: [...new Set(results.map((r) => r.finish))],
  });
}
console.log(JSON.stringify({ binary: process.argv[2], streams: STREAMS, upstreamBytesEach: BYTES, bounds: MAX ? 'max' : 'default', settleSeconds: SETTLE_S, warmIdleKb: idle, rounds }));
await svc.stop('SIGTERM', 60000).catch(() => svc.kill());
await mock.stop().catch(() => {});
process.exit(0);
