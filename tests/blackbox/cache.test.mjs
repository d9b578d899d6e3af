// The response cache of the gateway: a repeated deterministic request (temperature 0) is answered
// without an upstream call, marked (X-Cache: hit), billed 0 and counted in /metrics; other
// requests always go upstream. Entries are per user unless CACHE_SHARED=true: a hit is fast, so a
// shared entry would tell bob that alice asked the same question.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertOk } from './lib/assert.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';

const modelsFile = (url) => `models:
  - name: cached
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-key: cached}}
`;

const asker = (svc) => (token, temperature) => svc.post('/api/ai/v1/chat/completions', {
  token, json: { model: 'cached', temperature, messages: [{ role: 'user', content: 'what is two plus two' }] },
});

describe('response cache', () => {
  let mock;
  let svc;
  before(async () => {
    ({ mock, svc } = await startWithMockLlm(modelsFile, { env: { RESPONSE_CACHE_TTL_MS: '60000' } }));
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  const ask = (token, temperature) => asker(svc)(token, temperature);
  const upstreamCalls = async () => (await mock.stats()).requests.by_key.cached ?? 0;

  it('answers a repeated temperature-0 request from the cache, at no cost', async () => {
    const token = svc.token('cache-alice');
    const first = await ask(token, 0);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-cache'], 'miss');
    const second = await ask(token, 0);
    assert.equal(second.status, 200);
    assert.equal(second.headers['x-cache'], 'hit');
    assert.equal(second.body.choices[0].message.content, first.body.choices[0].message.content);
    assert.equal(second.body.usage.total_tokens, 0, 'nothing was used upstream');
    assert.equal(await upstreamCalls(), 1);
    const alice = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assert.equal(alice.totals.requests, 2);
    assert.ok(alice.totals.cost > 0);
    assert.match((await svc.get('/metrics')).text, /\nai_cache_hits_total\{model="cached"\} 1\n/);
  });

  it("keeps each user's entries apart: alice's answer is not a hit for bob", async () => {
    const before = await upstreamCalls();
    const r = await ask(svc.token('cache-bob'), 0);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache'], 'miss');
    assert.equal(await upstreamCalls(), before + 1);
  });

  it('keeps the stop sequence that ended a cached answer (Anthropic Messages)', async () => {
    const body = {
      model: 'cached', max_tokens: 100, temperature: 0, stop_sequences: ['plus'],
      messages: [{ role: 'user', content: 'what is two plus two' }],
    };
    const post = () => svc.post('/api/ai/v1/messages', { token: svc.token('cache-stop'), json: body });
    const first = await post();
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-cache'], 'miss');
    const second = await post();
    assert.equal(second.headers['x-cache'], 'hit');
    for (const r of [first, second]) {
      assert.equal(r.body.stop_reason, 'stop_sequence');
      assert.equal(r.body.stop_sequence, 'plus');
    }
    assert.deepEqual(second.body.content, first.body.content);
  });

  it('never caches a request that is not deterministic', async () => {
    const before = await upstreamCalls();
    const token = svc.token('cache-carol');
    for (const t of [undefined, 0.7]) {
      const r = await ask(token, t);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache'], undefined);
      assert.equal((await ask(token, t)).headers['x-cache'], undefined);
    }
    assert.equal(await upstreamCalls(), before + 4);
  });
});

describe('response cache shared by all users (CACHE_SHARED=true)', () => {
  let mock;
  let svc;
  before(async () => {
    ({ mock, svc } = await startWithMockLlm(modelsFile,
      { env: { RESPONSE_CACHE_TTL_MS: '60000', CACHE_SHARED: 'true' } }));
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  it("answers bob from alice's entry, at no cost to bob", async () => {
    const ask = asker(svc);
    const first = await ask(svc.token('shared-alice'), 0);
    assert.equal(first.headers['x-cache'], 'miss', first.text);
    const second = await ask(svc.token('shared-bob'), 0);
    assert.equal(second.headers['x-cache'], 'hit');
    assert.equal(second.body.choices[0].message.content, first.body.choices[0].message.content);
    const bob = assertOk(await svc.get('/api/ai/usage/me', { token: svc.token('shared-bob') }));
    assert.equal(bob.totals.requests, 1);
    assert.equal(bob.totals.cost, 0);
  });
});
