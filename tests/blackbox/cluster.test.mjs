// Several replicas, the production way: three replicas of the service on ONE PostgreSQL database
// and ONE Redis (REDIS_URL), behind deploy/Caddyfile run by a real caddy (round robin over the
// replicas), tools/mock-llm as the LLM upstream. Every request of the tests goes through Caddy, so
// consecutive requests land on different replicas; the replicas' access logs (JSON lines on stdout,
// by X-Request-Id) tell which replica served which request. What it proves:
//   - any replica reads what another wrote (shared database);
//   - a user's requests per minute, daily budget and concurrent streams hold for the cluster as a
//     whole (limits in Redis), not per replica;
//   - streamed answers cross Caddy as they are produced;
//   - a deterministic gateway answer cached by one replica is a hit on the others (cache in Redis).
//
// Needs a PostgreSQL server (AAS_TEST_POSTGRES_URL, from scripts/with-postgres.sh): one database is
// created for the three replicas. Redis is a throwaway redis-server (lib/redis.mjs).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertError, assertGatewayError, assertOk } from './lib/assert.mjs';
import { replicaOf as replicaOfLib, startCaddy } from './lib/caddy.mjs';
import { request } from './lib/http.mjs';
import { randomSecret, userToken } from './lib/jwt.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { createDatabase } from './lib/postgres.mjs';
import { startRedis } from './lib/redis.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { assertArrivesWhileOpen, sseEvents, upstreamClosed, waitFor } from './lib/sse.mjs';

// Limits of every user (env of every replica). With in-process limits (LocalLimiter) each replica
// would count on its own, and three replicas would admit three times these.
const RPM = 6;
const STREAMS = 2;
// The daily budget, in USD: the `pricey` model costs exactly 0.001 per answer (below), so 10 fit.
const DAILY_BUDGET = 0.01;
const PRICEY_COST = 0.001;

// A stand-in for the monolith's backends (the Caddyfile needs some); nothing here talks to it.
function startBackend() {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ backend: 'stand-in', path: req.url }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port })));
}

describe('three replicas on one PostgreSQL and one Redis, behind deploy/Caddyfile', () => {
  let database;
  let redis;
  let mock;
  let backend;
  let replicas = [];
  let caddy;
  let caddyUrl;
  let secret;
  let admin;

  before(async () => {
    database = createDatabase('aas_cluster');
    redis = await startRedis();
    mock = await startMockLlm();
    const dir = makeTempDir();
    const config = path.join(dir, 'models.yaml');
    // Prices are USD per million tokens. `pricey`: only output is priced, 200 µ$ a token, at most
    // 5 output tokens (max_output) and mock-llm answers exactly 5: each call reserves its worst
    // case, 1,000 µ$, and costs exactly that, so a budget of 10,000 µ$ fits exactly 10 answers.
    // Its 300 ms delay keeps the parallel requests in flight together.
    writeFileSync(config, `models:
  - name: quick
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-key: quick}}
  - name: pricey
    price: {input: 0, output: 200, max_output: 5}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-key: pricey, x-mock-answer-tokens: "5", x-mock-delay-ms: "300"}}
  - name: unbuffered
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-drip: "1", x-mock-key: cluster-sse}}
  - name: long
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-tokens-per-second: "10", x-mock-answer-tokens: "40"}}
  - name: dripping
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-drip: "1", x-mock-key: dripping}}
  - name: cached
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-key: cached}}
`);
    // One JWT secret (the same users' tokens), one database, one Redis. MAX_OUTPUT_TOKENS keeps
    // the worst case reserved for the other models' calls (1 µ$ a token) far below the budget.
    secret = randomSecret();
    const env = {
      AI_CONFIG: config,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      LIMIT_RPM: String(RPM),
      LIMIT_TPM: '0',
      LIMIT_CONCURRENT_STREAMS: String(STREAMS),
      BUDGET_DAILY_USD: String(DAILY_BUDGET),
      MAX_OUTPUT_TOKENS: '1000',
      RESPONSE_CACHE_TTL_MS: '60000',
    };
    // Started together on an empty database, as a deployment does: the migrations serialize.
    replicas = await Promise.all([0, 1, 2].map(() => startService({ secret, env })));
    admin = userToken(secret, 'cluster-admin', { admin: true });
    backend = await startBackend();

    caddy = await startCaddy({ ai: replicas.map((r) => `127.0.0.1:${r.port}`), backends: [`127.0.0.1:${backend.port}`] });
    caddyUrl = caddy.url;
  });

  after(async () => {
    await caddy?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    backend?.server.close();
    await mock?.stop();
    await redis?.stop();
    database?.drop();
  });

  // One request through Caddy with a fresh X-Request-Id (returned as `id`).
  async function send(method, urlPath, { user, token, json } = {}) {
    const id = randomUUID();
    const r = await request(caddyUrl, method, urlPath, {
      token: token ?? (user && userToken(secret, user)), json, headers: { 'x-request-id': id },
    });
    assert.equal(r.headers['x-request-id'], id, `${method} ${urlPath} came back without its request id`);
    return { ...r, id };
  }

  const replicaOf = (requestId) => replicaOfLib(replicas, requestId);
  const replicasOf = async (responses) => Promise.all(responses.map((r) => replicaOf(r.id)));
  const distinct = (xs) => [...new Set(xs)].sort();

  // A streamed chat through Caddy: the response, its parsed events, and the request id.
  function openStreamVia(user, body) {
    const id = randomUUID();
    const payload = JSON.stringify({ ...body, stream: true });
    return new Promise((resolve, reject) => {
      const req = http.request(`${caddyUrl}/api/ai/chat`, {
        method: 'POST', agent: false,
        headers: {
          authorization: `Bearer ${userToken(secret, user)}`, 'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload), 'x-request-id': id,
        },
      }, (res) => resolve({ req, res, id, events: sseEvents(res) }));
      req.on('error', reject);
      req.end(payload);
    });
  }

  it('runs every replica on PostgreSQL with Redis, reached round robin', async () => {
    const answers = [];
    for (let i = 0; i < 3; ++i) answers.push(await send('GET', '/api/ai/admin/health', { token: admin }));
    for (const a of answers) {
      const h = assertOk(a);
      assert.equal(h.database.driver, 'postgres');
      assert.equal(h.database.ok, true);
      assert.deepEqual(h.redis, { configured: true, ok: true, failMode: 'open' });
    }
    assert.deepEqual(distinct(await replicasOf(answers)), [0, 1, 2], 'three requests, three replicas');
  });

  it('reads a conversation written through one replica back through the others', async () => {
    const user = 'cluster-reader';
    const created = await send('POST', '/api/ai/chat', { user, json: { message: 'Remember the blue door', model: 'quick' } });
    const { conversationId, message } = assertOk(created);
    const writer = await replicaOf(created.id);
    const reads = [];
    for (let i = 0; i < 6; ++i) reads.push(await send('GET', `/api/ai/conversations/${conversationId}`, { user }));
    for (const r of reads) {
      const c = assertOk(r);
      assert.equal(c.conversation.id, conversationId);
      assert.equal(c.conversation.messageCount, 2);
      assert.deepEqual(c.messages.items.map((m) => m.role), ['user', 'assistant']);
      assert.equal(c.messages.items[0].content, 'Remember the blue door');
      assert.equal(c.messages.items[1].content, message);
    }
    const readers = await replicasOf(reads);
    assert.deepEqual(distinct(readers), [0, 1, 2], `reads served by ${readers}`);
    assert.ok(readers.some((r) => r !== writer), 'some read came from a replica that did not write it');

    // The same for a conversation created without a turn, and for the list.
    const conv = assertOk(await send('POST', '/api/ai/conversations', { user, json: { title: 'Shared' } }), 201);
    const lists = [];
    for (let i = 0; i < 3; ++i) lists.push(await send('GET', '/api/ai/conversations', { user }));
    for (const l of lists) assert.deepEqual(assertOk(l).items.map((c) => c.id).sort(), [conversationId, conv.id].sort());
    assert.deepEqual(distinct(await replicasOf(lists)), [0, 1, 2]);
  });

  it('holds a user\'s requests per minute for the whole cluster', async () => {
    const user = 'cluster-rpm';
    const answers = [];
    for (let i = 0; i < 2 * RPM; ++i) answers.push(await send('POST', '/api/ai/chat', { user, json: { message: `turn ${i}`, model: 'quick' } }));
    // The bucket holds RPM and refills one every 60/RPM = 10 s: the first RPM pass, the rest are
    // refused. Each replica alone (LocalLimiter) would have admitted RPM, 3 × RPM = 18 in all.
    assert.deepEqual(answers.map((a) => a.status), [...Array(RPM).fill(200), ...Array(RPM).fill(429)]);
    for (const r of answers.slice(RPM)) {
      assertError(r, 429, 'rate_limited');
      assert.equal(r.headers['ratelimit-limit'], String(RPM));
      assert.equal(r.headers['ratelimit-remaining'], '0');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    const served = await replicasOf(answers);
    assert.deepEqual(distinct(served.slice(0, RPM)), [0, 1, 2], `admitted by ${served.slice(0, RPM)}`);
    assert.deepEqual(distinct(served.slice(RPM)), [0, 1, 2], `refused by ${served.slice(RPM)}: every replica knows the others' count`);
    // The gateway draws from the same bucket, on any replica.
    assertGatewayError(await send('POST', '/api/ai/v1/chat/completions', { user, json: { model: 'quick', messages: [{ role: 'user', content: 'x' }] } }), 429, 'rate_limited');
    assert.ok((await redis.keys('aas:lim:*')).includes('aas:lim:{cluster-rpm}'));
  });

  it('holds a daily budget for the whole cluster: 30 parallel requests, exactly 10 answered', async () => {
    const user = 'cluster-budget';
    // No request limit for this user (an admin override, written through one replica and read by
    // all from the shared database): only the budget decides.
    assertOk(await send('PUT', `/api/ai/admin/limits/${user}`, { token: admin, json: { requestsPerMinute: 0 } }));
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      send('POST', '/api/ai/chat', { user, json: { message: `parallel ${i}`, model: 'pricey' } })));
    const granted = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status !== 200);
    const fits = Math.round(DAILY_BUDGET / PRICEY_COST);
    // Each replica alone would have let 10 through: 30.
    assert.equal(granted.length, fits, `statuses: ${answers.map((r) => r.status)}`);
    for (const r of granted) assert.equal(r.body.data.cost, PRICEY_COST);
    for (const r of refused) {
      assertError(r, 429, 'budget_exceeded');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    assert.equal((await mock.stats()).requests.by_key.pricey, fits, 'the upstream was called only for the admitted requests');
    const grantedBy = await replicasOf(granted);
    const refusedBy = await replicasOf(refused);
    // The budget is shared if a replica refused although it had not itself granted a budget's
    // worth: the spending it saw was the others'. (Which replica wins the race for the first
    // grants is scheduling: under load one replica granted all 10, and the others refused all.)
    const grantedOn = (replica) => grantedBy.filter((g) => g === replica).length;
    assert.ok(distinct(refusedBy).some((r) => grantedOn(r) < fits), `granted by ${grantedBy}, refused by ${refusedBy}`);

    // Every replica reports the same spending, exactly N × cost.
    const reports = [];
    for (let i = 0; i < 3; ++i) reports.push(await send('GET', '/api/ai/usage/me', { user }));
    for (const r of reports) {
      const me = assertOk(r);
      assert.equal(me.totals.requests, fits);
      assert.equal(me.totals.cost, DAILY_BUDGET);
      assert.equal(me.limits.dailyBudget.limit, DAILY_BUDGET);
      assert.equal(me.limits.dailyBudget.spent, DAILY_BUDGET);
      assert.equal(me.limits.dailyBudget.reserved, 0);
      assert.equal(me.limits.dailyBudget.remaining, 0);
    }
    assert.deepEqual(distinct(await replicasOf(reports)), [0, 1, 2]);
    const today = new Date().toISOString().slice(0, 10);
    const report = assertOk(await send('GET', `/api/ai/admin/usage?groupBy=user&userId=${user}&from=${today}&to=${today}`, { token: admin }));
    assert.equal(report.items.length, 1);
    assert.equal(report.items[0].requests, fits);
    assert.equal(report.items[0].cost, DAILY_BUDGET);
    // Refused requests left nothing behind.
    assert.equal(assertOk(await send('GET', '/api/ai/conversations?limit=100', { user })).items.length, fits);
    for (let i = 0; i < 3; ++i) {
      assertError(await send('POST', '/api/ai/chat', { user, json: { message: 'one more', model: 'pricey' } }), 429, 'budget_exceeded');
    }
  });

  it('holds concurrent streams for the whole cluster', async () => {
    const user = 'cluster-streams';
    const opened = [];
    try {
      // Two streams held open: one drips until the client leaves, one is paced over ~4 s.
      const dripping = await openStreamVia(user, { message: 'drip', model: 'dripping' });
      opened.push(dripping);
      assert.equal(dripping.res.statusCode, 200);
      assert.equal((await dripping.events.next()).value.event, 'start');
      const long = await openStreamVia(user, { message: 'long', model: 'long' });
      opened.push(long);
      assert.equal(long.res.statusCode, 200);
      assert.equal((await long.events.next()).value.event, 'start');

      // The third, sent next, lands on the third replica (round robin), which holds neither.
      const third = await send('POST', '/api/ai/chat', { user, json: { message: 'third', model: 'quick', stream: true } });
      assertError(third, 429, 'rate_limited');
      assert.match(third.body.error.message, /concurrent streams/);
      assert.equal(third.headers['ratelimit-limit'], String(STREAMS));

      // Once the paced one has finished, a new stream is admitted (the slot is freed in Redis when
      // its replica settles; allow a moment for that).
      const rest = [];
      for await (const e of long.events) rest.push(e.event);
      assert.equal(rest.at(-1), 'done', `events: ${rest}`);
      let next;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
        next = await openStreamVia(user, { message: 'next', model: 'quick' });
        if (next.res.statusCode === 200) break;
        next.res.resume();
        await new Promise((r) => setTimeout(r, 100));
      }
      opened.push(next);
      assert.equal(next.res.statusCode, 200);
      const events = [];
      for await (const e of next.events) events.push(e.event);
      assert.equal(events.at(-1), 'done');

      dripping.req.destroy();
      dripping.res.destroy();
      const holders = [await replicaOf(dripping.id), await replicaOf(long.id)];
      const refusedBy = await replicaOf(third.id);
      assert.notEqual(holders[0], holders[1], `both streams on replica ${holders[0]}`);
      assert.ok(!holders.includes(refusedBy), `refused by replica ${refusedBy}, which held a stream (holders ${holders})`);
    } finally {
      for (const s of opened) { s.req.destroy(); s.res.destroy(); }
    }
  });

  it('passes a streamed answer through Caddy as it is produced', async () => {
    const s = await openStreamVia('cluster-sse', { message: 'Stream through Caddy', model: 'unbuffered' });
    try {
      assert.equal(s.res.statusCode, 200);
      assert.match(s.res.headers['content-type'], /^text\/event-stream/);
      await assertArrivesWhileOpen(s.events, mock, 'cluster-sse');
    } finally {
      s.req.destroy();
      s.res.destroy();
    }
    await upstreamClosed(mock, 'cluster-sse');
    // The stream's replica counts it no more: later tests find which replica streams by that gauge.
    await waitFor(async () => {
      const gauges = await Promise.all(replicas.map(async (r) => (await request(r.url, 'GET', '/metrics')).text));
      return gauges.every((m) => /^ai_active_streams 0$/m.test(m));
    }, 10000, 'no active stream left on any replica');
    await replicaOf(s.id);
  });

  it('answers a repeated deterministic gateway request from the cache on every replica', async () => {
    // One user: entries are per user (CACHE_SHARED is off), whichever replica stored them.
    const user = 'cluster-cache-a';
    const ask = () => send('POST', '/api/ai/v1/chat/completions', {
      user, json: { model: 'cached', temperature: 0, messages: [{ role: 'user', content: 'what is the capital of the cluster' }] },
    });
    const first = await ask();
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-cache'], 'miss');
    assert.ok(first.body.usage.total_tokens > 0);
    const repeats = [await ask(), await ask()];
    for (const r of repeats) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-cache'], 'hit');
      assert.equal(r.body.choices[0].message.content, first.body.choices[0].message.content);
      assert.equal(r.body.usage.total_tokens, 0, 'nothing was used upstream');
    }
    // Stored by one replica, hit on the two others: the cache is Redis's, not in-process.
    const served = await replicasOf([first, ...repeats]);
    assert.deepEqual(distinct(served), [0, 1, 2], `served by ${served}`);
    assert.equal((await mock.stats()).requests.by_key.cached, 1, 'one upstream call for the cluster');
    assert.ok((await redis.keys('aas:cache:*')).length >= 1, 'the answer is kept in Redis');
    const me = assertOk(await send('GET', '/api/ai/usage/me', { user }));
    assert.equal(me.totals.requests, 3);
    // Only the first call used (and cost) anything: the hits are rows of 0 tokens.
    assert.equal(me.totals.inputTokens, first.body.usage.prompt_tokens, 'a hit is free');
    assert.equal(me.totals.outputTokens, first.body.usage.completion_tokens);
  });

  it('stops an answer streaming on one replica through another (the stop travels on Redis pub/sub)', async () => {
    const user = 'cluster-stopper';
    const s = await openStreamVia(user, { message: 'A long answer please', model: 'long' });
    assert.equal(s.res.statusCode, 200);
    const start = await s.events.next();
    assert.equal(start.value.event, 'start');
    const { conversationId, messageId } = start.value.data;
    const said = [];
    while (said.length < 2) {
      const e = await s.events.next();
      assert.equal(e.value.event, 'delta');
      said.push(e.value.data.text);
    }
    // Which replica streams it: the one whose ai_active_streams gauge is 1.
    const active = await Promise.all(replicas.map(async (r) => {
      const m = await request(r.url, 'GET', '/metrics');
      return Number(/^ai_active_streams (\d+)/m.exec(m.text)?.[1] ?? 0);
    }));
    const streamer = active.indexOf(1);
    assert.ok(streamer >= 0 && active.filter((n) => n > 0).length === 1, `active streams per replica: ${active}`);
    const other = replicas[(streamer + 1) % replicas.length];
    const stopped = await request(other.url, 'POST', `/api/ai/conversations/${conversationId}/stop`, { token: userToken(secret, user) });
    assert.equal(stopped.status, 202, stopped.text);

    const others = [];
    for await (const e of s.events) {
      if (e.event === 'delta') said.push(e.data.text);
      else others.push(e);
    }
    assert.deepEqual(others.map((e) => e.event), ['usage', 'done']);
    assert.equal(others[1].data.finishReason, 'stopped');
    assert.ok(said.length < 40, `stopped early: ${said.length} of 40 words`);
    const stored = assertOk(await send('GET', `/api/ai/conversations/${conversationId}`, { user })).messages.items.find((m) => m.id === messageId);
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content, said.join(''));
    assert.equal(stored.metadata.finishReason, 'stopped');
  });
});
