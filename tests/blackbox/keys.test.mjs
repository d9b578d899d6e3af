// Service keys (issue 17): admins create, list, rotate and revoke keys for services; a key is shown
// once and never again (not by list or get, not in the database file); it is accepted as a Bearer
// token and as x-api-key on the chat and gateway APIs; its calls are its own (ledger, limits,
// allowed models); X-On-Behalf-Of is honoured only for keys allowed to act for users. One replica
// on SQLite, tools/mock-llm as the upstream. The cluster case (Redis) is keys-cluster.test.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';

import { assertError, assertGatewayError, assertOk, assertSchema, UUID_V7 } from './lib/assert.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';

const today = () => new Date().toISOString().slice(0, 10);

describe('service keys', () => {
  let mock;
  let svc;
  let admin;

  before(async () => {
    ({ mock, svc } = await startWithMockLlm((url) => `models:
  - name: quick
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk}
  - name: other
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk}
`, { env: { LIMIT_RPM: '0', LIMIT_TPM: '0', LIMIT_CONCURRENT_STREAMS: '0' } }));
    admin = svc.token('root', { admin: true });
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  const createKey = async (body) => assertOk(await svc.post('/api/ai/admin/keys', { token: admin, json: body }), 201);
  const chat = (headers, model = 'quick') =>
    svc.post('/api/ai/v1/chat/completions', { headers, json: { model, messages: [{ role: 'user', content: 'hello there' }] } });

  it('creates a key shown once: list, get and the database file never hold it', async () => {
    const created = await createKey({ name: 'monolith backend', allowedModels: ['quick'], mayActForUsers: true });
    assertSchema(created, 'IssuedServiceKey');
    assert.match(created.id, UUID_V7);
    assert.match(created.key, /^aas_sk_[0-9a-f]{64}$/);
    assert.ok(created.key.startsWith(created.prefix));
    assert.equal(created.principal, `key:${created.id}`);
    assert.deepEqual(created.allowedModels, ['quick']);
    assert.equal(created.status, 'active');

    const got = assertOk(await svc.get(`/api/ai/admin/keys/${created.id}`, { token: admin }));
    assertSchema(got, 'ServiceKey');
    assert.equal(got.key, undefined);
    const list = assertOk(await svc.get('/api/ai/admin/keys', { token: admin }));
    assert.ok(list.items.some((k) => k.id === created.id));
    const secretPart = created.key.slice(created.prefix.length);
    for (const text of [JSON.stringify(got), JSON.stringify(list)]) assert.ok(!text.includes(secretPart));
    // The SQLite file and its WAL, byte for byte (on PostgreSQL, unit_keys checks the adapter).
    if (process.env.AAS_BLACKBOX_STORE !== 'postgres') {
      const db = path.join(svc.dir, 'ai.db');
      const bytes = Buffer.concat([db, `${db}-wal`].map((f) => { try { return readFileSync(f); } catch { return Buffer.alloc(0); } }));
      assert.ok(bytes.length > 0);
      assert.equal(bytes.indexOf(secretPart), -1, 'the key is not in the database');
    }
  });

  it('accepts a key as Bearer (openai SDK) and as x-api-key; its calls are accounted to the key', async () => {
    const { id, key } = await createKey({ name: 'sdk user' });
    const openai = new OpenAI({ apiKey: key, baseURL: `${svc.url}/api/ai/v1`, maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'quick', messages: [{ role: 'user', content: 'one two three' }] });
    assert.ok(completion.choices[0].message.content.length > 0);
    const viaHeader = await chat({ 'x-api-key': key });
    assert.equal(viaHeader.status, 200, viaHeader.text);
    const viaChat = await svc.post('/api/ai/chat', { token: key, json: { message: 'hi from a service', model: 'quick' } });
    assertOk(viaChat);

    const mine = assertOk(await svc.get('/api/ai/usage/me', { token: key }));
    assert.equal(mine.userId, `key:${id}`);
    assert.equal(mine.totals.requests, 3);
    const report = assertOk(await svc.get(`/api/ai/admin/usage?groupBy=user&from=${today()}&to=${today()}`, { token: admin }));
    assert.equal(report.items.find((r) => r.key === `key:${id}`)?.requests, 3, 'ledger rows attributed to the key');
  });

  it('holds a key to its own rate limit and to its allowed models', async () => {
    const limited = await createKey({ name: 'limited', allowedModels: ['quick'], limits: { requestsPerMinute: 2 } });
    assert.equal(limited.limits.requestsPerMinute, 2);
    const free = await createKey({ name: 'free' });
    assertGatewayError(await chat({ authorization: `Bearer ${limited.key}` }, 'other'), 403, 'forbidden');
    assert.equal((await chat({ authorization: `Bearer ${limited.key}` })).status, 200);
    assert.equal((await chat({ authorization: `Bearer ${limited.key}` })).status, 200);
    const third = await chat({ authorization: `Bearer ${limited.key}` });
    assertGatewayError(third, 429, 'rate_limited');
    assert.ok(Number(third.headers['retry-after']) > 0);
    assert.equal((await chat({ authorization: `Bearer ${free.key}` }, 'other')).status, 200, 'another key is not held by it');
  });

  it('acts for a user with X-On-Behalf-Of only when the key may', async () => {
    const acting = await createKey({ name: 'acts', mayActForUsers: true });
    const plain = await createKey({ name: 'plain' });
    const res = await svc.post('/api/ai/chat', {
      token: acting.key, headers: { 'x-on-behalf-of': 'user-42' }, json: { message: 'for user 42', model: 'quick' },
    });
    const turn = assertOk(res);
    // The conversation is the user's: their own token finds it; the key's account holds nothing.
    const theirs = assertOk(await svc.get('/api/ai/conversations', { token: svc.token('user-42') }));
    assert.ok(theirs.items.some((c) => c.id === turn.conversationId));
    assert.equal(assertOk(await svc.get('/api/ai/usage/me', { token: acting.key, headers: { 'x-on-behalf-of': 'user-42' } })).userId, 'user-42');
    assert.deepEqual(assertOk(await svc.get('/api/ai/conversations', { token: acting.key })).items, []);

    const refused = await svc.post('/api/ai/chat', {
      token: plain.key, headers: { 'x-on-behalf-of': 'user-42' }, json: { message: 'not allowed', model: 'quick' },
    });
    assertError(refused, 403, 'forbidden');
    assertError(await svc.get('/api/ai/usage/me', { token: svc.token('user-7'), headers: { 'x-on-behalf-of': 'user-42' } }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/usage/me', { token: acting.key, headers: { 'x-on-behalf-of': `key:${plain.id}` } }), 400, 'invalid_request');
  });

  it('rotates (new key once, old refused) and revokes (refused at once, kept as revoked)', async () => {
    const first = await createKey({ name: 'rotating' });
    assert.equal((await chat({ authorization: `Bearer ${first.key}` })).status, 200);
    const rotated = assertOk(await svc.post(`/api/ai/admin/keys/${first.id}/rotate`, { token: admin }));
    assert.equal(rotated.id, first.id);
    assert.notEqual(rotated.key, first.key);
    assert.ok(rotated.rotatedAt);
    assertGatewayError(await chat({ authorization: `Bearer ${first.key}` }), 401, 'unauthorized');
    assert.equal((await chat({ authorization: `Bearer ${rotated.key}` })).status, 200);

    const revoked = assertOk(await svc.delete(`/api/ai/admin/keys/${first.id}`, { token: admin }));
    assert.equal(revoked.status, 'revoked');
    assert.equal(revoked.key, undefined);
    // One replica, no Redis: the in-process bus has told the authenticator before the answer.
    assertGatewayError(await chat({ authorization: `Bearer ${rotated.key}` }), 401, 'unauthorized');
    assertGatewayError(await chat({ 'x-api-key': rotated.key }), 401, 'unauthorized');
    assertError(await svc.delete(`/api/ai/admin/keys/${first.id}`, { token: admin }), 404, 'not_found');
    assertError(await svc.post(`/api/ai/admin/keys/${first.id}/rotate`, { token: admin }), 404, 'not_found');
    assert.equal(assertOk(await svc.get(`/api/ai/admin/keys/${first.id}`, { token: admin })).status, 'revoked');
  });

  it('keeps the admin routes to admins: users and keys are refused', async () => {
    const k = await createKey({ name: 'not an admin' });
    assertError(await svc.get('/api/ai/admin/keys', { token: svc.token('someone') }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/admin/keys', { token: k.key }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/admin/keys'), 401, 'unauthorized');
    assertError(await svc.get('/api/ai/admin/keys/0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69', { token: admin }), 404, 'not_found');
    assertError(await svc.get('/api/ai/admin/keys/nope', { token: admin }), 404, 'not_found');
  });

  it('answers bad bodies with 400 and stores nothing', async () => {
    const before = assertOk(await svc.get('/api/ai/admin/keys?limit=100', { token: admin })).items.length;
    for (const body of [
      {},
      { name: '' },
      { name: 'x'.repeat(201) },
      { name: 7 },
      { name: 'ok', extra: true },
      { name: 'ok', allowedModels: 'quick' },
      { name: 'ok', allowedModels: ['no-such-model'] },
      { name: 'ok', mayActForUsers: 'yes' },
      { name: 'ok', limits: { requestsPerMinute: -1 } },
      { name: 'ok', limits: { bogus: 1 } },
      { name: 'ok', limits: [] },
    ]) {
      assertError(await svc.post('/api/ai/admin/keys', { token: admin, json: body }), 400, 'invalid_request');
    }
    assertError(await svc.post('/api/ai/admin/keys', { token: admin, body: '{"name":', headers: { 'content-type': 'application/json' } }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/keys?cursor=bogus', { token: admin }), 400, 'invalid_request');
    assert.equal(assertOk(await svc.get('/api/ai/admin/keys?limit=100', { token: admin })).items.length, before);
  });
});
