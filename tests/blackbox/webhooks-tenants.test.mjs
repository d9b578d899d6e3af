// Per-tenant webhook endpoints (issue 17), managed by admins at /api/ai/admin/webhooks: an
// endpoint belongs to one tenant — the principal its events name in data.userId (here the
// principals of two service keys, key:<id>) — and is signed with its own secret, shown only when
// created or rotated. Two receivers (node:http) verify every signature; tenant A's answers 500 at
// first to see the retries; tenant B's must never get A's events, which the delivery log shows
// deterministically (the deliveries are queued when the answer is recorded, before the response).
// WEBHOOK_URLS is left unset: admin-managed endpoints work without any global one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk, UUID_V7 } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';
import { waitFor } from './lib/sse.mjs';
import { startReceiver, verify } from './lib/webhook-receiver.mjs';

describe('per-tenant webhook endpoints', { timeout: 60000 }, () => {
  let a;  // tenant A's receiver
  let b;  // tenant B's receiver
  let svc;
  let admin;
  let keyA;
  let keyB;

  before(async () => {
    a = await startReceiver();
    b = await startReceiver();
    svc = await startService({ env: { WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_MAX_MS: '200', WEBHOOK_TIMEOUT_MS: '3000' } });
    admin = svc.token('hooks-admin', { admin: true });
    keyA = assertOk(await svc.post('/api/ai/admin/keys', { token: admin, json: { name: 'tenant A' } }), 201);
    keyB = assertOk(await svc.post('/api/ai/admin/keys', { token: admin, json: { name: 'tenant B' } }), 201);
  });
  after(async () => {
    await svc?.stop();
    a?.server.close();
    b?.server.close();
  });

  const createEndpoint = async (json) => assertOk(await svc.post('/api/ai/admin/webhooks', { token: admin, json }), 201);
  const chatAs = async (key, message) => assertOk(await svc.post('/api/ai/chat', { token: key.key, json: { message } }));
  const deliveriesOf = async (eventId) =>
    assertOk(await svc.get('/api/ai/admin/webhooks/deliveries?limit=100', { token: admin })).items.filter((d) => d.eventId === eventId);

  let endpointA;
  let endpointB;

  it('creates endpoints with a secret shown once: list and get never show it', async () => {
    endpointA = await createEndpoint({ url: a.url, tenant: keyA.principal });
    endpointB = await createEndpoint({ url: b.url, tenant: keyB.principal, events: ['message.completed'] });
    assert.match(endpointA.id, UUID_V7);
    assert.match(endpointA.secret, /^whsec_[0-9a-f]{64}$/);
    assert.notEqual(endpointA.secret, endpointB.secret);
    assert.equal(endpointA.tenant, `key:${keyA.id}`);
    assert.deepEqual(endpointA.events, []);
    assert.deepEqual(endpointB.events, ['message.completed']);
    const got = assertOk(await svc.get(`/api/ai/admin/webhooks/${endpointA.id}`, { token: admin }));
    assert.equal(got.secret, undefined);
    assert.equal(got.url, a.url);
    const list = assertOk(await svc.get('/api/ai/admin/webhooks', { token: admin }));
    assert.deepEqual(list.items.map((e) => e.id), [endpointA.id, endpointB.id]);
    assert.ok(list.items.every((e) => e.secret === undefined));
    assert.ok(!JSON.stringify(list).includes(endpointA.secret));
  });

  it('delivers a tenant\'s event to its endpoint only, signed with its secret, retried after a 500', async () => {
    let failures = 2;
    a.answer = () => (failures-- > 0 ? 500 : 200);
    const turn = await chatAs(keyA, 'hello from tenant A');
    // Queued when the answer was recorded: one delivery, for A's endpoint, none for B's.
    const queued = (await svc.get('/api/ai/admin/webhooks/deliveries?limit=100', { token: admin }));
    const forA = assertOk(queued).items.filter((d) => d.eventType === 'message.completed');
    assert.equal(forA.length, 1);
    assert.equal(forA[0].endpointId, endpointA.id);

    const ofTurn = (e) => e.json.data?.messageId === turn.messageId;
    const delivered = await a.waitFor((e) => ofTurn(e) && e.status === 200);
    const attempts = a.received.filter(ofTurn);
    assert.deepEqual(attempts.map((e) => e.status), [500, 500, 200]);
    assert.equal(new Set(attempts.map((e) => e.headers['x-aas-delivery'])).size, 1, 'the same delivery, retried');
    for (const e of attempts) verify(e.headers['x-aas-signature'], e.body, endpointA.secret);
    assert.throws(() => verify(delivered.headers['x-aas-signature'], delivered.body, endpointB.secret));
    assert.equal(delivered.json.data.userId, keyA.principal);
    assert.equal(b.received.length, 0);
    // The receiver's 200 reaches the service's log a moment after it reaches the receiver.
    const log = await waitFor(async () => {
      const l = await deliveriesOf(delivered.json.id);
      return l.every((d) => d.status !== 'pending') && l;
    }, 30000, 'the delivery to be recorded');
    assert.deepEqual(log.map((d) => [d.endpointId, d.status, d.attempts]), [[endpointA.id, 'delivered', 3]]);
  });

  it('gives tenant B its own events and none of A\'s', async () => {
    a.answer = () => 200;
    const turnB = await chatAs(keyB, 'hello from tenant B');
    const gotB = await b.waitFor((e) => e.json.data?.messageId === turnB.messageId);
    verify(gotB.headers['x-aas-signature'], gotB.body, endpointB.secret);
    assert.equal(gotB.json.data.userId, keyB.principal);
    const turnA = await chatAs(keyA, 'tenant A again');
    const gotA = await a.waitFor((e) => e.json.data?.messageId === turnA.messageId);
    // A's second event was queued for A's endpoint alone; B has only its own event.
    assert.deepEqual((await deliveriesOf(gotA.json.id)).map((d) => d.endpointId), [endpointA.id]);
    assert.deepEqual((await deliveriesOf(gotB.json.id)).map((d) => d.endpointId), [endpointB.id]);
    assert.ok(b.received.every((e) => e.json.data.userId === keyB.principal), 'nothing of tenant A at B');
    // A user with no endpoint of their own gets nothing queued (no WEBHOOK_URLS either).
    const other = assertOk(await svc.post('/api/ai/chat', { token: svc.token('someone-else'), json: { message: 'hi' } }));
    const all = assertOk(await svc.get('/api/ai/admin/webhooks/deliveries?limit=100', { token: admin })).items;
    assert.equal(all.length, 3);
    assert.ok(other.messageId);
  });

  it('rotates a secret: later deliveries are signed with the new one, which only the rotation showed', async () => {
    const rotated = assertOk(await svc.post(`/api/ai/admin/webhooks/${endpointA.id}/rotate-secret`, { token: admin }));
    assert.match(rotated.secret, /^whsec_[0-9a-f]{64}$/);
    assert.notEqual(rotated.secret, endpointA.secret);
    assert.ok(rotated.rotatedAt);
    const turn = await chatAs(keyA, 'after rotation');
    const got = await a.waitFor((e) => e.json.data?.messageId === turn.messageId);
    verify(got.headers['x-aas-signature'], got.body, rotated.secret);
    assert.throws(() => verify(got.headers['x-aas-signature'], got.body, endpointA.secret));
  });

  it('deletes an endpoint: its tenant\'s later events are not queued', async () => {
    assertOk(await svc.delete(`/api/ai/admin/webhooks/${endpointB.id}`, { token: admin }));
    assertError(await svc.get(`/api/ai/admin/webhooks/${endpointB.id}`, { token: admin }), 404, 'not_found');
    const before = assertOk(await svc.get('/api/ai/admin/webhooks/deliveries?limit=100', { token: admin })).items.length;
    await chatAs(keyB, 'nobody listens');
    const now = assertOk(await svc.get('/api/ai/admin/webhooks/deliveries?limit=100', { token: admin })).items.length;
    assert.equal(now, before);
  });

  it('refuses bad input and non-admins', async () => {
    for (const [json, message] of [
      [{ tenant: 'u1' }, /url is required/],
      [{ url: 'ftp://x/y', tenant: 'u1' }, /url is required/],
      [{ url: a.url }, /tenant is required/],
      [{ url: a.url, tenant: 'u1', events: ['message.deleted'] }, /events/],
      [{ url: a.url, tenant: 'u1', secret: 'mine' }, /secret/],
    ]) {
      const res = await svc.post('/api/ai/admin/webhooks', { token: admin, json });
      assertError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, message);
    }
    assertError(await svc.post('/api/ai/admin/webhooks', { token: svc.token('not-admin'), json: { url: a.url, tenant: 'x' } }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/admin/webhooks', { token: keyA.key }), 403, 'forbidden');
    assertError(await svc.post('/api/ai/admin/webhooks/not-an-id/rotate-secret', { token: admin }), 404, 'not_found');
  });
});
