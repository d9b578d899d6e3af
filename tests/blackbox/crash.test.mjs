// Crash consistency as a property (issue 18, finding 1): the service is SIGKILLed at random
// moments under mixed load (non-streamed chats, streams, streamed regenerates, gateway calls),
// 10 times, and after every restart on the same database:
// - SQLite's integrity check passes (PostgreSQL recovers by itself);
// - no answer is left `streaming`, every user message is followed by an answer row;
// - every answer row (all versions) has its ledger row, and the ledger's sums equal the stored
//   usage;
// - what a client received of an answer is in the store: the stored text and the received text
//   agree (one is a prefix of the other: the store may lack at most the last checkpoint interval);
//   an answer whose `done` the client saw is stored exactly as received.
// The kill moment is random but event-driven: after a random number of streamed words.
// Runs on SQLite, and on PostgreSQL in the blackbox_postgres entry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { assertOk } from './lib/assert.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { sseEvents } from './lib/sse.mjs';
import { randomSecret } from './lib/jwt.mjs';

const KILLS = 10;
const WORKERS = 6;
const USERS = ['crash-a', 'crash-b', 'crash-c'];

// POSTs and reads an SSE answer, recording what arrived in `seen` (by message id) as it arrives.
function streamTurn(svc, token, url, body, seen) {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const req = http.request(new URL(url, svc.url), {
      method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(payload) },
    }, async (res) => {
      let id;
      try {
        for await (const e of sseEvents(res)) {
          if (e.event === 'start') {
            id = e.data.messageId;
            seen.set(id, { text: '', done: false, conversationId: e.data.conversationId });
          } else if (e.event === 'delta' && id) {
            seen.get(id).text += e.data.text;
            seen.onDelta?.();
          } else if (e.event === 'done' && id) {
            seen.get(id).done = true;
          }
        }
      } catch { /* killed mid-answer */ }
      resolve();
    });
    req.on('error', () => resolve());
    req.end(payload);
  });
}

describe('crash consistency under SIGKILL', () => {
  let mock;
  let dir;
  let secret;
  let env;

  before(async () => {
    mock = await startMockLlm();
    dir = makeTempDir();
    secret = randomSecret();
    const file = path.join(dir, 'models.yaml');
    const dep = `{provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-tokens-per-second: "60", x-mock-answer-tokens: "80"}}`;
    writeFileSync(file, `models:
  - name: paced
    price: {input: 1, output: 2}
    deployments:
      - ${dep}
  - name: gw
    price: {input: 1, output: 2}
    deployments:
      - ${dep}
`);
    env = {
      AI_CONFIG: file, LIMIT_RPM: '0', LIMIT_TPM: '0', LIMIT_CONCURRENT_STREAMS: '0',
      STREAM_CHECKPOINT_MS: '200', STREAM_CHECKPOINT_TOKENS: '8',
    };
  });
  after(async () => { await mock?.stop(); });

  it(`keeps every answer, its ledger row and what clients received across ${KILLS} kills`, async (t) => {
    const seen = new Map();  // message id -> { text, done, conversationId }
    const conversations = new Map(USERS.map((u) => [u, []]));
    let maxLost = 0;

    for (let round = 0; round < KILLS; round += 1) {
      const svc = await startService({ dir, secret, env });
      const tokens = Object.fromEntries(USERS.map((u) => [u, svc.token(u)]));
      let stopLoad = false;
      // The kill comes after a random number of streamed words: somewhere in some answers.
      const killAfter = 20 + Math.floor(Math.random() * 120);
      let words = 0;
      const killed = new Promise((resolve) => {
        seen.onDelta = () => { words += 1; if (words === killAfter) resolve(); };
      });
      const worker = async (w) => {
        for (let i = 0; !stopLoad; i += 1) {
          const user = USERS[(w + i) % USERS.length];
          const token = tokens[user];
          const mine = conversations.get(user);
          const op = (w + i + round) % 4;
          if (op === 0) {
            const r = await svc.post('/api/ai/chat', { token, json: { message: `plain ${round}.${w}.${i}`, model: 'paced' } }).catch(() => null);
            if (r?.status === 200) mine.push(r.body.data.conversationId);
            else if (!r) return;
          } else if (op === 1 || mine.length === 0) {
            await streamTurn(svc, token, '/api/ai/chat', { message: `stream ${round}.${w}.${i}`, model: 'paced', stream: true }, seen);
          } else if (op === 2) {
            // A streamed regenerate of the last answer of one of the user's conversations.
            const conv = mine[i % mine.length];
            const got = await svc.get(`/api/ai/conversations/${conv}`, { token }).catch(() => null);
            if (!got) return;
            const last = got.body?.data?.messages?.items?.filter((m) => m.role === 'assistant' && m.status !== 'streaming').at(-1);
            if (last) await streamTurn(svc, token, `/api/ai/conversations/${conv}/messages/${last.id}/regenerate`, { stream: true }, seen);
          } else {
            const r = await svc.post('/api/ai/v1/chat/completions', { token, json: { model: 'gw', messages: [{ role: 'user', content: `gateway ${i}` }] } }).catch(() => null);
            if (!r) return;
          }
        }
      };
      const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      await killed;
      stopLoad = true;
      await svc.kill();
      await load;

      // The restart recovers what the kill left.
      const again = await startService({ dir, secret, env });
      try {
        if (process.env.AAS_BLACKBOX_STORE !== 'postgres') {
          const check = spawnSync('sqlite3', [path.join(dir, 'ai.db'), 'PRAGMA integrity_check'], { encoding: 'utf8' });
          assert.equal(check.stdout.trim(), 'ok', `integrity_check after kill ${round + 1}: ${check.stdout}${check.stderr}`);
        }
        for (const user of USERS) {
          const token = again.token(user);
          const answers = [];
          const list = assertOk(await again.get('/api/ai/conversations?limit=100', { token })).items;
          for (const c of list) {
            const items = assertOk(await again.get(`/api/ai/conversations/${c.id}?limit=100`, { token })).messages.items;
            items.forEach((m, k) => {
              assert.notEqual(m.status, 'streaming', `message ${m.id} still streaming after restart ${round + 1}`);
              if (m.role === 'user') assert.equal(items[k + 1]?.role, 'assistant', `user message ${m.id} has no answer (restart ${round + 1})`);
            });
            for (const m of items.filter((x) => x.role === 'assistant')) {
              if (m.versionCount > 1) {
                answers.push(...assertOk(await again.get(`/api/ai/conversations/${c.id}/messages/${m.id}/versions`, { token })).items);
              } else {
                answers.push(m);
              }
            }
          }
          // Every answer row has its ledger row, and the ledger sums are the stored usage.
          const me = assertOk(await again.get('/api/ai/usage/me', { token }));
          const chat = me.byModel.find((m) => m.model === 'paced') ?? { requests: 0, inputTokens: 0, outputTokens: 0 };
          const sum = (f) => answers.reduce((a, m) => a + (m.usage ? m.usage[f] : 0), 0);
          assert.equal(chat.requests, answers.length, `${user}: ledger rows vs answer rows after restart ${round + 1}`);
          assert.equal(chat.inputTokens, sum('inputTokens'), `${user}: ledger input tokens vs stored`);
          assert.equal(chat.outputTokens, sum('outputTokens'), `${user}: ledger output tokens vs stored`);
          // What the client received is in the store.
          for (const m of answers) {
            const got = seen.get(m.id);
            if (!got) continue;
            if (got.done) {
              assert.equal(m.content, got.text, `answer ${m.id}: the client saw it done`);
            } else {
              assert.ok(got.text.startsWith(m.content) || m.content.startsWith(got.text),
                `answer ${m.id}: stored ${JSON.stringify(m.content)} vs received ${JSON.stringify(got.text)}`);
              maxLost = Math.max(maxLost, got.text.length - m.content.length);
            }
          }
        }
      } finally {
        await again.stop();
      }
    }
    assert.ok(seen.size > KILLS, 'streams ran');
    t.diagnostic(`${seen.size} streamed answers over ${KILLS} kills; at most ${maxLost} received bytes not yet checkpointed`);
  });
});
