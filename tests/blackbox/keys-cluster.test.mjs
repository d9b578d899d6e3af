// Service keys across replicas: two replicas on one PostgreSQL and one Redis. Each replica keeps
// the keys it has seen in a cache (30 s); revoking or rotating a key through one replica publishes
// key.revoked on the event bus (Redis pub/sub), and every replica forgets the key. The test warms
// both caches, revokes through replica A, and watches replica B: a refusal well inside the cache's
// 30 s can only come from the event. The time it took is printed (figures belong to bench/, not
// to an assertion here). Needs AAS_TEST_POSTGRES_URL (scripts/with-postgres.sh).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { randomSecret, userToken } from './lib/jwt.mjs';
import { createDatabase } from './lib/postgres.mjs';
import { startRedis } from './lib/redis.mjs';
import { startService } from './lib/service.mjs';

// Well inside the authenticator's cache TTL (KeyAuthenticator::kCacheTtl, 30 s).
const EVENT_DEADLINE_MS = 10_000;

describe('service keys on two replicas with Redis', () => {
  let database;
  let redis;
  let replicas = [];
  let admin;

  before(async () => {
    database = createDatabase('aas_keys');
    redis = await startRedis();
    const secret = randomSecret();
    const env = { DATABASE_URL: database.url, REDIS_URL: redis.url, LIMIT_RPM: '0', LIMIT_TPM: '0' };
    replicas = await Promise.all([0, 1].map(() => startService({ secret, env })));
    admin = userToken(secret, 'keys-admin', { admin: true });
    // Both replicas' event subscribers are on the channel before anything is published.
    for (;;) {
      const [, n] = await redis.command('PUBSUB', 'NUMSUB', 'aas:events');
      if (Number(n) >= 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await redis?.stop();
    database?.drop();
  });

  const usage = (svc, key) => svc.get('/api/ai/usage/me', { token: key });

  async function refusedOn(svc, key) {
    const started = Date.now();
    for (;;) {
      const r = await usage(svc, key);
      if (r.status === 401) return { res: r, ms: Date.now() - started };
      assert.equal(r.status, 200, r.text);
      if (Date.now() - started > EVENT_DEADLINE_MS) return { res: r, ms: Date.now() - started };
      await new Promise((res) => setTimeout(res, 10));
    }
  }

  for (const how of ['revoke', 'rotate']) {
    it(`a key ${how}d through one replica is refused by the other`, async () => {
      const [a, b] = replicas;
      const created = assertOk(await a.post('/api/ai/admin/keys', { token: admin, json: { name: `cluster ${how}` } }), 201);
      // Both replicas accept it, and so have it cached.
      assert.equal(assertOk(await usage(a, created.key)).userId, `key:${created.id}`);
      assert.equal(assertOk(await usage(b, created.key)).userId, `key:${created.id}`);

      const res = how === 'revoke'
        ? await a.delete(`/api/ai/admin/keys/${created.id}`, { token: admin })
        : await a.post(`/api/ai/admin/keys/${created.id}/rotate`, { token: admin });
      const after_ = assertOk(res);
      assertError(await usage(a, created.key), 401, 'unauthorized');
      const { res: onB, ms } = await refusedOn(b, created.key);
      assertError(onB, 401, 'unauthorized');
      console.log(`# key ${how}d on replica A: refused by replica B after ${ms} ms`);
      if (how === 'rotate') assert.equal(assertOk(await usage(b, after_.key)).userId, `key:${created.id}`);
    });
  }
});
