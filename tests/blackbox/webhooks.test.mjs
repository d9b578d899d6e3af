// Webhooks (issue 17): WEBHOOK_URLS receive signed events. A receiver in the test (node:http)
// verifies every signature as Stripe's libraries do (HMAC-SHA256 of "<t>.<body>" with the shared
// secret, compared in constant time), answers 500 to see the retries (same delivery id, signed
// again), answers 400 to see the delivery given up, and is answered only after the service was
// restarted to see a queued delivery survive it. The admin delivery log shows each outcome.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { makeToken } from './lib/jwt.mjs';
import { startService } from './lib/service.mjs';
import { waitFor } from './lib/sse.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';
import { startReceiver, verify as verifySignature } from './lib/webhook-receiver.mjs';

const SECRET = 'whsec_blackbox_0123456789abcdef';

const verify = (header, body, secret = SECRET) => verifySignature(header, body, secret);

const env = (receiver) => ({
  WEBHOOK_URLS: receiver.url,
  WEBHOOK_SECRET: SECRET,
  WEBHOOK_RETRY_BASE_MS: '50',
  // Up to 30 attempts 25-400 ms apart: room for the restart test to stop and start the service
  // while its delivery keeps failing.
  WEBHOOK_RETRY_MAX_MS: '400',
  WEBHOOK_TIMEOUT_MS: '3000',
  WEBHOOK_MAX_ATTEMPTS: '30',
});

describe('webhooks', () => {
  let receiver;
  let svc;
  let admin;

  before(async () => {
    receiver = await startReceiver();
    svc = await startService({ env: env(receiver) });
    admin = svc.token('hooks-admin', { admin: true });
  });
  after(async () => {
    await svc?.stop();
    receiver?.server.close();
  });

  const chat = async (user, message) => assertOk(await svc.post('/api/ai/chat', { token: svc.token(user), json: { message } }));
  const forMessage = (messageId) => (e) => e.json.data?.messageId === messageId;

  it('posts a signed message.completed for a recorded answer', async () => {
    receiver.answer = () => 200;
    const turn = await chat('hook-user-1', 'hello webhooks');
    const got = await receiver.waitFor(forMessage(turn.messageId));
    verify(got.headers['x-aas-signature'], got.body);
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-aas-event'], 'message.completed');
    assert.match(got.headers['x-aas-delivery'], /^[0-9a-f-]{36}$/);
    assert.equal(got.path, '/hooks/aas?token=kept-out-of-logs');
    assert.match(got.json.id, /^evt_/);
    assert.equal(got.json.type, 'message.completed');
    assert.equal(got.json.data.userId, 'hook-user-1');
    assert.equal(got.json.data.conversationId, turn.conversationId);
    assert.equal(got.json.data.status, 'complete');
    assert.equal(got.json.data.model, 'mock');
    assert.equal(got.json.data.message, undefined, 'the answer text is not sent');
    // A tampered body or another secret does not verify.
    assert.throws(() => verify(got.headers['x-aas-signature'], got.body.replace('hook-user-1', 'hook-user-2')));
    assert.throws(() => verify(got.headers['x-aas-signature'], got.body, 'whsec_another_secret_000000'));
  });

  it('posts a signed knowledge.document.indexed once a document is indexed', async () => {
    receiver.answer = () => 200;
    const token = svc.token('hook-user-kb');
    const kb = assertOk(await svc.post('/api/ai/knowledge', { token, json: { name: 'Hooked' } }), 201);
    const added = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`,
      { token, json: { title: 'Notes', text: 'Webhooks tell the monolith when a document is ready.' } }), 202);
    const doc = added.documents[0];
    const got = await receiver.waitFor((e) => e.json.type === 'knowledge.document.indexed' && e.json.data?.documentId === doc.id);
    verify(got.headers['x-aas-signature'], got.body);
    assert.equal(got.headers['x-aas-event'], 'knowledge.document.indexed');
    assert.equal(got.json.data.userId, 'hook-user-kb');
    assert.equal(got.json.data.knowledgeBaseId, kb.id);
    assert.ok(got.json.data.chunks >= 1, 'the chunk count is sent');
  });

  it('retries after 500 answers, signing each attempt, and logs the delivery', async () => {
    let failures = 0;
    receiver.answer = (e) => (e.json.data?.userId === 'hook-retry' && failures++ < 2 ? 500 : 200);
    const turn = await chat('hook-retry', 'please retry');
    const ok = await receiver.waitFor((e) => forMessage(turn.messageId)(e) && e.status === 200);
    const attempts = receiver.received.filter(forMessage(turn.messageId));
    assert.deepEqual(attempts.map((a) => a.status), [500, 500, 200]);
    assert.equal(new Set(attempts.map((a) => a.headers['x-aas-delivery'])).size, 1, 'one delivery, attempted three times');
    for (const a of attempts) verify(a.headers['x-aas-signature'], a.body);

    const log = assertOk(await svc.get('/api/ai/admin/webhooks/deliveries', { token: admin }));
    const entry = log.items.find((d) => d.id === ok.headers['x-aas-delivery']);
    assert.ok(entry, 'in the delivery log');
    // The 200 may be logged a moment after the receiver answered: wait for the log to say so.
    const settled = entry.status === 'delivered' ? entry : await waitFor(async () =>
      assertOk(await svc.get('/api/ai/admin/webhooks/deliveries?status=delivered', { token: admin })).items
        .find((d) => d.id === entry.id), 30_000, 'the delivery logged as delivered');
    assert.equal(settled.status, 'delivered');
    assert.equal(settled.attempts, 3);
    assert.equal(settled.lastStatus, 200);
    assert.equal(settled.eventType, 'message.completed');
    assert.equal(settled.endpoint, `http://127.0.0.1:${receiver.server.address().port}/hooks/aas`, 'no query in the log');
  });

  it('gives up at once on a 4xx answer', async () => {
    receiver.answer = (e) => (e.json.data?.userId === 'hook-gone' ? 410 : 200);
    const turn = await chat('hook-gone', 'nobody home');
    const got = await receiver.waitFor(forMessage(turn.messageId));
    const entry = await waitFor(async () =>
      assertOk(await svc.get('/api/ai/admin/webhooks/deliveries?status=failed', { token: admin })).items
        .find((d) => d.id === got.headers['x-aas-delivery']), 30_000, 'the delivery logged as failed');
    assert.equal(entry.attempts, 1);
    assert.equal(entry.lastStatus, 410);
    assert.equal(receiver.received.filter(forMessage(turn.messageId)).length, 1);
  });

  it('keeps the delivery log to admins and checks its query', async () => {
    assertError(await svc.get('/api/ai/admin/webhooks/deliveries', { token: svc.token('hook-user-1') }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/admin/webhooks/deliveries?status=lost', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/webhooks/deliveries?cursor=zzz', { token: admin }), 400, 'invalid_request');
  });

  it('delivers an event queued before a restart after it', async () => {
    receiver.answer = (e) => (e.json.data?.userId === 'hook-restart' ? 503 : 200);
    const turn = await chat('hook-restart', 'survive a restart');
    const refused = await receiver.waitFor(forMessage(turn.messageId));
    await svc.stop();
    receiver.answer = () => 200;
    svc = await startService({ dir: svc.dir, secret: svc.secret, env: env(receiver) });
    const got = await receiver.waitFor((e) => forMessage(turn.messageId)(e) && e.status === 200);
    assert.equal(got.headers['x-aas-delivery'], refused.headers['x-aas-delivery'], 'the same queued delivery');
    verify(got.headers['x-aas-signature'], got.body);
  });

  it('refuses to start with WEBHOOK_URLS but no WEBHOOK_SECRET, naming the key', async () => {
    await assert.rejects(startService({ env: { WEBHOOK_URLS: receiver.url } }), /WEBHOOK_SECRET/);
    await assert.rejects(startService({ env: { WEBHOOK_URLS: 'ftp://x/y', WEBHOOK_SECRET: SECRET } }), /WEBHOOK_URLS/);
  });
});

// budget.threshold: a daily budget of $0.002 and a model whose every answer costs exactly $0.001
// (5 output tokens at $200 per million): the first call spends 50 % (no event), the second 100 %,
// which crosses 80 % and 100 % at once: one event each, announced once.
describe('webhooks: budget.threshold', () => {
  let receiver;
  let mock;
  let svc;

  before(async () => {
    receiver = await startReceiver();
    ({ mock, svc } = await startWithMockLlm((url) => `models:
  - name: pricey
    price: {input: 0, output: 200}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-answer-tokens: "5"}}
limits:
  roles:
    premium: {daily_budget_usd: 0.004}
`, { env: { ...env(receiver), BUDGET_DAILY_USD: '0.002', MAX_OUTPUT_TOKENS: '5', LIMIT_RPM: '0', LIMIT_TPM: '0' } }));
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
    receiver?.server.close();
  });

  it('announces 80 % and 100 % of the daily budget once each', async () => {
    const token = svc.token('budget-user');
    for (let i = 0; i < 2; ++i) {
      const r = await svc.post('/api/ai/v1/chat/completions', { token, json: { model: 'pricey', messages: [{ role: 'user', content: 'spend' }] } });
      assert.equal(r.status, 200, r.text);
    }
    const isBudget = (pct) => (e) => e.json.type === 'budget.threshold' && e.json.data.thresholdPercent === pct;
    const at80 = await receiver.waitFor(isBudget(80));
    const at100 = await receiver.waitFor(isBudget(100));
    for (const e of [at80, at100]) {
      verify(e.headers['x-aas-signature'], e.body);
      assert.equal(e.json.data.userId, 'budget-user');
      assert.equal(e.json.data.period, 'daily');
      assert.equal(e.json.data.spentUsd, 0.002);
      assert.equal(e.json.data.limitUsd, 0.002);
    }
    // The third call is refused by the budget and spends nothing: no further crossing.
    const refused = await svc.post('/api/ai/v1/chat/completions', { token, json: { model: 'pricey', messages: [{ role: 'user', content: 'more' }] } });
    assert.equal(refused.status, 429);
    assert.equal(receiver.received.filter((e) => e.json.type === 'budget.threshold').length, 2);
  });

  it('judges a user whose role raises the budget against the budget they have', async () => {
    // premium: $0.004 a day. Two calls are 50 % of it (no event; against the configured $0.002
    // they would be 100 %), four are 100 %.
    const token = makeToken(svc.secret, { sub: 'premium-user', roles: ['premium'] });
    const ofUser = (e) => e.json.type === 'budget.threshold' && e.json.data.userId === 'premium-user';
    const spend = async () => {
      const r = await svc.post('/api/ai/v1/chat/completions', { token, json: { model: 'pricey', messages: [{ role: 'user', content: 'spend' }] } });
      assert.equal(r.status, 200, r.text);
    };
    await spend();
    await spend();
    await spend();
    // The third call crossed 0.003 / 0.004 = 75 %: still nothing. The fourth crosses 80 % and 100 %.
    await spend();
    const at80 = await receiver.waitFor((e) => ofUser(e) && e.json.data.thresholdPercent === 80);
    const at100 = await receiver.waitFor((e) => ofUser(e) && e.json.data.thresholdPercent === 100);
    for (const e of [at80, at100]) {
      verify(e.headers['x-aas-signature'], e.body);
      assert.equal(e.json.data.limitUsd, 0.004);
      assert.equal(e.json.data.spentUsd, 0.004);
    }
    // Judged against the configured $0.002, the second call would have announced both, with
    // limitUsd 0.002, and the fourth nothing (each threshold once a period).
    assert.deepEqual(receiver.received.filter(ofUser).map((e) => e.json.data.spentUsd), [0.004, 0.004]);
  });
});
