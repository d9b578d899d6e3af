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
  rounds.push({
    round, peakKb: peak, justAfterKb: justAfter, settledKb: rssKb(),
    sseMbEach: results.map((r) => +(r.bytes / 1e6).toFixed(2)), statuses: [...new Set(results.map((r) => r.status))],
    finish: [...new Set(results.map((r) => r.finish))],
  });
}
console.log(JSON.stringify({ streams: STREAMS, upstreamBytesEach: BYTES, bounds: MAX ? 'max' : 'default', settleSeconds: SETTLE_S, idleKb: idle, rounds }));
await svc.stop('SIGTERM', 60000).catch(() => svc.kill());
await mock.stop().catch(() => {});
process.exit(0);
