// Production mode's Redis (REDIS_URL) taken away and given back under a running service, with a
// real redis-server (lib/redis.mjs) killed and restarted on the same port:
//   - fail open (the default): a replica without Redis keeps answering and enforces the limits in
//     process, /ready says "degraded"; once Redis is back the limits live in Redis again;
//   - fail closed: chat and gateway requests answer 503 `unavailable` (Retry-After: 1) and leave
//     nothing behind, /ready says 503 "not_ready"; once Redis is back requests succeed;
//   - Redis not there at start is no reason not to start; an invalid REDIS_URL is;
//   - two replicas sharing one Redis share one user's limits (and without Redis each one enforces
//     them alone: the documented price of failing open);
//   - the events the monolith can subscribe to (message.completed, answer.stop) and their JSON.
// The services use SQLite (each its own file) and the offline `mock` model: only the limiter's
// and the readiness check's use of Redis is under test here; cluster.test.mjs covers the rest.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertError, assertGatewayError, assertOk } from './lib/assert.mjs';
import { randomSecret } from './lib/jwt.mjs';
import { RedisServer, freePort, redisSubscribe, startRedis } from './lib/redis.mjs';
import { makeTempDir, runCli, startService } from './lib/service.mjs';
import { waitFor } from './lib/sse.mjs';

const chat = (svc, user, message = 'hello') => svc.post('/api/ai/chat', { token: svc.token(user), json: { message } });
const adminHealth = async (svc) => assertOk(await svc.get('/api/ai/admin/health', { token: svc.token('root', { admin: true }) }));

// Polls /ready until it answers `status` (a restarted Redis is noticed by the next PING, which
// also ends the client's 1 s fail-fast window), and returns that answer.
async function readyBecomes(svc, status, timeoutMs = 10000) {
  return waitFor(async () => {
    const r = await svc.get('/ready');
    return r.body?.status === status ? r : undefined;
  }, timeoutMs, `/ready status ${status}`);
}

// n chat turns of one user; returns their statuses.
async function statuses(svc, user, n) {
  const out = [];
  for (let i = 0; i < n; ++i) out.push((await chat(svc, user, `turn ${i}`)).status);
  return out;
}

describe('fail open (REDIS_FAIL_MODE unset): without Redis a replica enforces the limits alone', () => {
  let redis;
  let svc;
  before(async () => {
    redis = await startRedis();
    // Three requests a minute: the bucket refills one every 20 s, so no refill within a test.
    svc = await startService({ env: { REDIS_URL: redis.url, LIMIT_RPM: '3', LIMIT_TPM: '0' } });
  });
  after(async () => {
    await svc?.stop();
    await redis?.stop();
  });

  it('keeps the limits in Redis while it answers', async () => {
    const ready = await svc.get('/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', migrations: 'ok', redis: 'ok' } });
    const health = await adminHealth(svc);
    assert.deepEqual(health.redis, { configured: true, ok: true, failMode: 'open' });
    assert.equal(health.status, 'ok');
    assert.match(svc.stderr, new RegExp(`redis at 127\\.0\\.0\\.1:${redis.port}\\b.*shared`));
    assert.match((await svc.get('/metrics')).text, /^ai_redis_up 1$/m);

    assert.deepEqual(await statuses(svc, 'open-before', 4), [200, 200, 200, 429]);
    // The bucket is Redis's: the user's hash is there, emptied by the three admitted requests.
    const keys = await redis.keys('*');
    assert.ok(keys.includes('aas:lim:{open-before}'), `keys: ${keys}`);
    assert.deepEqual(keys.filter((k) => !k.startsWith('aas:lim:{open-before}')), [], 'only this user\'s limit keys');
    assert.ok(Number(await redis.command('HGET', 'aas:lim:{open-before}', 'rq')) < 1, 'the rpm bucket in Redis is empty');
  });

  it('answers without Redis, says "degraded", and still refuses over the limit (in process)', async () => {
    await redis.stop();
    // Requests are answered: the limiter fell back to this replica's own counts.
    assert.deepEqual(await statuses(svc, 'open-during', 3), [200, 200, 200]);
    const refused = await chat(svc, 'open-during');
    assertError(refused, 429, 'rate_limited');
    assert.match(refused.body.error.message, /3 requests per minute/);
    assert.ok(Number(refused.headers['retry-after']) >= 1);

    const ready = await svc.get('/ready');
    assert.equal(ready.status, 200, 'fail open: a replica without Redis still takes traffic');
    assert.equal(ready.body.status, 'degraded');
    assert.equal(ready.body.checks.database, 'ok');
    assert.notEqual(ready.body.checks.redis, 'ok');
    assert.match(ready.body.checks.redis, /redis unavailable/);
    const health = await adminHealth(svc);
    assert.deepEqual(health.redis, { configured: true, ok: false, failMode: 'open' });
    assert.equal(health.status, 'degraded');
    // Reading needs no Redis at all.
    assert.equal(assertOk(await svc.get('/api/ai/conversations', { token: svc.token('open-during') })).items.length, 3);
    assert.match(svc.stderr, /limits: redis unreachable .*failing open/);
    assert.match((await svc.get('/metrics')).text, /^ai_redis_up 0$/m, 'the AiRedisUnavailable alert reads this');
  });

  it('goes back to Redis once it answers again: ready, and the limits are kept there', async () => {
    await redis.restart();
    const ready = await readyBecomes(svc, 'ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.redis, 'ok');
    assert.deepEqual(await redis.keys('aas:lim:*'), [], 'a restarted Redis is empty');

    assert.deepEqual(await statuses(svc, 'open-after', 4), [200, 200, 200, 429]);
    assert.ok((await redis.keys('aas:lim:*')).includes('aas:lim:{open-after}'), 'the limits are in Redis again');
    assert.ok(Number(await redis.command('HGET', 'aas:lim:{open-after}', 'rq')) < 1, 'the refusal came from the bucket in Redis');
    assert.deepEqual((await adminHealth(svc)).redis, { configured: true, ok: true, failMode: 'open' });
    await waitFor(() => /limits: redis reachable again/.test(svc.stderr), 30_000, 'the "reachable again" log line');
    assert.match((await svc.get('/metrics')).text, /^ai_redis_up 1$/m);
  });
});

describe('fail closed (REDIS_FAIL_MODE=closed): without Redis chat requests are refused', () => {
  let redis;
  let svc;
  const user = 'closed-user';
  before(async () => {
    redis = await startRedis();
    // A prefix of its own, to show every key the service writes carries REDIS_KEY_PREFIX.
    svc = await startService({ env: { REDIS_URL: redis.url, REDIS_FAIL_MODE: 'closed', REDIS_KEY_PREFIX: 'bbx:' } });
  });
  after(async () => {
    await svc?.stop();
    await redis?.stop();
  });

  it('works while Redis answers, with its keys under REDIS_KEY_PREFIX', async () => {
    assertOk(await chat(svc, user, 'before the outage'));
    assert.deepEqual((await adminHealth(svc)).redis, { configured: true, ok: true, failMode: 'closed' });
    const keys = await redis.keys('*');
    assert.ok(keys.includes(`bbx:lim:{${user}}`), `keys: ${keys}`);
    assert.deepEqual(keys.filter((k) => !k.startsWith('bbx:')), [], 'every key under the prefix');
  });

  it('answers 503 unavailable with Retry-After: 1 and stores nothing, /ready 503 not_ready', async () => {
    const token = svc.token(user);
    const list = assertOk(await svc.get('/api/ai/conversations', { token }));
    assert.equal(list.items.length, 1);
    const conversationId = list.items[0].id;
    const messagesBefore = assertOk(await svc.get(`/api/ai/conversations/${conversationId}`, { token })).messages.items.length;
    const usageBefore = assertOk(await svc.get('/api/ai/usage/me', { token })).totals.requests;

    await redis.stop();
    const refusals = [
      await chat(svc, user, 'a new conversation'),
      await svc.post('/api/ai/chat', { token, json: { message: 'a follow-up', conversationId } }),
      await svc.post('/api/ai/chat', { token, json: { message: 'streamed', stream: true } }),
      await svc.post('/api/ai/v1/chat/completions', { token, json: { model: 'mock', messages: [{ role: 'user', content: 'gateway' }] } }),
    ];
    for (const [i, r] of refusals.entries()) {
      (i === refusals.length - 1 ? assertGatewayError : assertError)(r, 503, 'unavailable');  // the last: /v1
      assert.equal(r.headers['retry-after'], '1');
    }

    // Nothing of the refused requests was stored or billed.
    const after = assertOk(await svc.get('/api/ai/conversations', { token }));
    assert.deepEqual(after.items.map((c) => c.id), [conversationId]);
    assert.equal(assertOk(await svc.get(`/api/ai/conversations/${conversationId}`, { token })).messages.items.length, messagesBefore);
    assert.equal(assertOk(await svc.get('/api/ai/usage/me', { token })).totals.requests, usageBefore);

    const ready = await svc.get('/ready');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'not_ready');
    assert.equal(ready.body.checks.database, 'ok');
    assert.match(ready.body.checks.redis, /redis unavailable/);
    assert.deepEqual((await adminHealth(svc)).redis, { configured: true, ok: false, failMode: 'closed' });
    assert.match(svc.stderr, /limits: redis unreachable .*failing closed/);
  });

  it('serves again once Redis is back', async () => {
    await redis.restart();
    const ready = await readyBecomes(svc, 'ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.redis, 'ok');
    const d = assertOk(await chat(svc, user, 'after the outage'));
    assert.ok(d.conversationId);
    assert.equal(assertOk(await svc.get('/api/ai/conversations', { token: svc.token(user) })).items.length, 2);
    assert.ok((await redis.keys('bbx:lim:*')).includes(`bbx:lim:{${user}}`));
  });
});

describe('Redis not there at start', () => {
  let port;
  let open;
  let closed;
  let redis;
  before(async () => {
    port = await freePort();
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_TIMEOUT_MS: '200' };
    [open, closed] = await Promise.all([
      startService({ env }),
      startService({ env: { ...env, REDIS_FAIL_MODE: 'closed' } }),
    ]);
  });
  after(async () => {
    await Promise.all([open?.stop(), closed?.stop()]);
    await redis?.stop();
  });

  it('starts anyway, says so in its log, and /ready reflects the fail mode', async () => {
    for (const [svc, mode] of [[open, 'open'], [closed, 'closed']]) {
      assert.match(svc.stderr, new RegExp(`redis at 127\\.0\\.0\\.1:${port} does not answer .*limits fail ${mode}`));
    }
    const o = await open.get('/ready');
    assert.equal(o.status, 200);
    assert.equal(o.body.status, 'degraded');
    assert.match(o.body.checks.redis, /redis unavailable/);
    assertOk(await chat(open, 'start-open'));

    const c = await closed.get('/ready');
    assert.equal(c.status, 503);
    assert.equal(c.body.status, 'not_ready');
    assert.match(c.body.checks.redis, /redis unavailable/);
    assertError(await chat(closed, 'start-closed'), 503, 'unavailable');
  });

  it('uses Redis once it comes up on that address', async () => {
    redis = new RedisServer(port, makeTempDir());
    await redis.start();
    for (const svc of [open, closed]) {
      const r = await readyBecomes(svc, 'ready');
      assert.equal(r.status, 200);
      assert.equal(r.body.checks.redis, 'ok');
    }
    assertOk(await chat(closed, 'start-closed'));
    assertOk(await chat(open, 'start-open'));
    const keys = await redis.keys('aas:lim:*');
    assert.ok(keys.includes('aas:lim:{start-closed}') && keys.includes('aas:lim:{start-open}'), `keys: ${keys}`);
  });
});

describe('Redis settings that cannot work', () => {
  // The binary run to completion: an invalid setting ends it at once (a served port would keep it
  // running until the timeout kills it, which fails the `signal` assertion).
  const run = (env) => {
    const dir = makeTempDir();
    return runCli([], { env: { PORT: '0', DATABASE_URL: `sqlite:${path.join(dir, 'x.db')}`, JWT_SECRET: randomSecret(), ...env }, timeoutMs: 10000 });
  };

  for (const url of ['http://x', 'redis://127.0.0.1:0', 'redis://127.0.0.1/abc', 'not a url']) {
    it(`exits non-zero at start naming REDIS_URL for ${JSON.stringify(url)}`, () => {
      const r = run({ REDIS_URL: url });
      assert.equal(r.signal, null, 'it exited by itself (not killed by the timeout)');
      assert.notEqual(r.status, 0, `started despite REDIS_URL=${url}`);
      assert.match(r.stderr, /REDIS_URL/);
      assert.doesNotMatch(r.stderr, /listening on/);
    });
  }

  it('exits non-zero naming REDIS_FAIL_MODE for a mode other than open or closed', () => {
    const r = run({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_FAIL_MODE: 'sometimes' });
    assert.equal(r.signal, null);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /REDIS_FAIL_MODE/);
  });
});

describe('two replicas sharing one Redis', () => {
  let redis;
  let replicas = [];
  before(async () => {
    redis = await startRedis();
    // One secret (the same users' tokens), separate SQLite files: only Redis is shared.
    const secret = randomSecret();
    const env = { REDIS_URL: redis.url, LIMIT_RPM: '4', LIMIT_TPM: '0' };
    replicas = await Promise.all([startService({ secret, env }), startService({ secret, env })]);
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await redis?.stop();
  });

  it('holds one user\'s requests per minute for both together', async () => {
    const [a, b] = replicas;
    const user = 'shared-user';
    assert.deepEqual(await statuses(a, user, 2), [200, 200]);
    assert.deepEqual(await statuses(b, user, 2), [200, 200]);
    // In-process limits (LocalLimiter) would allow 4 more here: 4 on each replica.
    for (const svc of [a, b, a]) {
      const r = await chat(svc, user);
      assertError(r, 429, 'rate_limited');
      assert.equal(r.headers['ratelimit-limit'], '4');
      assert.equal(r.headers['ratelimit-remaining'], '0');
    }
    // Both report the same shared state.
    for (const svc of [a, b]) {
      const me = assertOk(await svc.get('/api/ai/usage/me', { token: svc.token(user) }));
      assert.equal(me.limits.requestsPerMinute.limit, 4);
      assert.equal(me.limits.requestsPerMinute.remaining, 0);
    }
    // Another user is not affected.
    assertOk(await chat(b, 'other-user'));
  });

  it('without Redis (fail open), each replica enforces the limit alone: up to 2x for two replicas', async () => {
    await redis.stop();
    const user = 'split-user';
    assert.deepEqual(await statuses(replicas[0], user, 5), [200, 200, 200, 200, 429]);
    assert.deepEqual(await statuses(replicas[1], user, 5), [200, 200, 200, 200, 429]);
    await redis.restart();
    for (const svc of replicas) await readyBecomes(svc, 'ready');
    // Shared again.
    const user2 = 'rejoined-user';
    assert.deepEqual(await statuses(replicas[0], user2, 3), [200, 200, 200]);
    assert.deepEqual(await statuses(replicas[1], user2, 2), [200, 429]);
  });
});

// The integration point for the monolith: every recorded answer is announced on <prefix>events,
// which its Socket.IO server can SUBSCRIBE to and relay to the user's room (docs/operations.md).
describe('events on Redis pub/sub, as the monolith sees them', () => {
  let redis;
  let svc;
  before(async () => {
    redis = await startRedis();
    svc = await startService({ env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'ev:' } });
  });
  after(async () => {
    await svc?.stop();
    await redis?.stop();
  });

  it('announces each recorded answer as message.completed on <prefix>events', async () => {
    const sub = await redisSubscribe(redis.port, 'ev:events');
    try {
      const token = svc.token('events-user');
      const turn = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'Tell the monolith' } }));
      await waitFor(() => sub.messages.length >= 1, 30_000, 'the event');
      assert.equal(sub.messages.length, 1);
      assert.equal(sub.messages[0].channel, 'ev:events');
      assert.deepEqual(JSON.parse(sub.messages[0].payload), {
        type: 'message.completed', userId: 'events-user', conversationId: turn.conversationId,
        messageId: turn.messageId, status: 'complete', message: turn.message, model: 'mock',
        inputTokens: turn.usage.inputTokens, outputTokens: turn.usage.outputTokens,
      });
      // A stop request is an event too (for the replica streaming that conversation).
      assert.equal((await svc.post(`/api/ai/conversations/${turn.conversationId}/stop`, { token })).status, 202);
      await waitFor(() => sub.messages.length >= 2, 30_000, 'the stop event');
      assert.deepEqual(JSON.parse(sub.messages[1].payload), {
        type: 'answer.stop', userId: 'events-user', conversationId: turn.conversationId,
      });
    } finally {
      sub.close();
    }
  });
});
