// Accounting end to end against a real upstream (tools/mock-llm): the usage the upstream reports
// is what the ledger, GET /api/ai/usage/me and the admin reports show (cached tokens priced
// apart); 50 requests fired at once at a budget that allows 10 spend no more than the budget;
// per-user overrides of the rate limits and concurrent streams answer 429 with Retry-After and
// RateLimit-* headers; a refused request leaves nothing behind.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertGatewayError, assertOk, assertSchema } from './lib/assert.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';
import { openStream, collect } from './lib/sse.mjs';

const today = () => new Date().toISOString().slice(0, 10);

// One sample of a Prometheus text exposition (0 when the series does not exist yet). Tests compare
// samples taken before and after their own calls, so what earlier tests did (in whatever order
// they ran) does not matter.
function sample(metrics, name, labels = {}) {
  const line = metrics.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) &&
    Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('accounting and limits', () => {
  let mock;
  let svc;
  let admin;

  before(async () => {
    // metered: 1 USD per 1M uncached prompt tokens, 0.1 cached, 2 output (whole micro-dollars
    // per token, so costs are exact). pricey: only output is priced, 200 µ$ a token, and every
    // answer is exactly 5 tokens, so each call costs 1,000 µ$ = $0.001.
    ({ mock, svc } = await startWithMockLlm((url) => `models:
  - name: metered
    price: {input: 1.0, cached_input: 0.1, output: 2.0}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-cached-tokens: "4"}}
  - name: pricey
    price: {input: 0, output: 200}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-answer-tokens: "5", x-mock-delay-ms: "300"}}
  - name: dripping
    price: {input: 1, output: 1}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-drip: "1"}}
`, { env: { MAX_OUTPUT_TOKENS: '5', LIMIT_RPM: '0', LIMIT_TPM: '0', LIMIT_CONCURRENT_STREAMS: '0' } }));
    admin = svc.token('root', { admin: true });
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  it('records what the upstream reported: ledger, usage/me and admin reports agree', async () => {
    const token = svc.token('acct-alice');
    const metricsBefore = (await svc.get('/metrics')).text;
    const seen = { requests: 0, inputTokens: 0, outputTokens: 0, cost: 0 };
    for (const message of ['first question here', 'second one']) {
      const d = assertOk(await svc.post('/api/ai/chat', { token, json: { message, model: 'metered' } }));
      assert.equal(d.usage.estimated, false, 'mock-llm reports usage');
      seen.requests += 1;
      seen.inputTokens += d.usage.inputTokens;
      seen.outputTokens += d.usage.outputTokens;
      // 4 of the prompt tokens are cached: (input - 4) × 1 + 4 × 0.1 + output × 2 µ$, rounded.
      const expected = Math.round((d.usage.inputTokens - 4) * 1 + 4 * 0.1 + d.usage.outputTokens * 2);
      assert.equal(Math.round(d.cost * 1e6), expected);
      seen.cost += expected;
    }
    // A streamed turn and a gateway call are billed the same way.
    const { events } = await openStream(svc, token, { message: 'streamed question', model: 'metered', stream: true });
    const usage = (await collect(events)).find((e) => e.event === 'usage').data;
    seen.requests += 1;
    seen.inputTokens += usage.inputTokens;
    seen.outputTokens += usage.outputTokens;
    seen.cost += Math.round(usage.cost * 1e6);
    const g = await svc.post('/api/ai/v1/chat/completions', {
      token, json: { model: 'metered', messages: [{ role: 'user', content: 'a gateway call with words' }] },
    });
    assert.equal(g.status, 200, g.text);
    seen.requests += 1;
    seen.inputTokens += g.body.usage.prompt_tokens;
    seen.outputTokens += g.body.usage.completion_tokens;
    assert.equal(g.body.usage.prompt_tokens_details.cached_tokens, 4);
    seen.cost += Math.round((g.body.usage.prompt_tokens - 4) + 0.4 + g.body.usage.completion_tokens * 2);

    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assertSchema(me, 'MyUsage');
    assert.equal(me.totals.requests, seen.requests);
    assert.equal(me.totals.inputTokens, seen.inputTokens);
    assert.equal(me.totals.outputTokens, seen.outputTokens);
    assert.equal(me.totals.cachedInputTokens, 4 * seen.requests);
    assert.equal(Math.round(me.totals.cost * 1e6), seen.cost);
    assert.equal(me.totals.unpricedRequests, 0);
    assert.deepEqual(me.byModel.map((m) => m.model), ['metered']);

    const report = assertOk(await svc.get(`/api/ai/admin/usage?groupBy=user&userId=acct-alice&from=${today()}&to=${today()}`, { token: admin }));
    assertSchema(report, 'UsageReport');
    assert.equal(report.items.length, 1);
    assert.equal(report.items[0].key, 'acct-alice');
    assert.equal(report.items[0].requests, seen.requests);
    assert.equal(Math.round(report.items[0].cost * 1e6), seen.cost);
    const byDay = assertOk(await svc.get('/api/ai/admin/usage?groupBy=day', { token: admin }));
    assert.equal(byDay.items.at(-1).key, today());

    // /metrics counts the same calls (the growth since this test began), without a user label.
    const metrics = (await svc.get('/metrics')).text;
    const grew = (name, labels) => sample(metrics, name, labels) - sample(metricsBefore, name, labels);
    assert.equal(grew('ai_chat_requests_total', { model: 'metered', status: 'complete' }), seen.requests);
    assert.equal(grew('ai_tokens_used_total', { model: 'metered', type: 'input' }), seen.inputTokens);
    assert.equal(grew('ai_tokens_used_total', { model: 'metered', type: 'output' }), seen.outputTokens);
    assert.equal(grew('ai_tokens_used_total', { model: 'metered', type: 'cached_input' }), 4 * seen.requests);
    assert.ok(Math.abs(grew('ai_cost_usd_total', { model: 'metered' }) - seen.cost / 1e6) < 1e-12);
    assert.ok(grew('ai_time_to_first_token_seconds_count', { model: 'metered' }) >= 1, 'the streamed turn');
    assert.equal(grew('ai_gateway_overhead_seconds_count', { model: 'metered' }), seen.requests);
    assert.doesNotMatch(metrics, /acct-alice|user=/);
  });

  it('lets 10 of 50 parallel requests through a budget that allows 10, and spends no more', async () => {
    const token = svc.token('acct-bob');
    assertOk(await svc.put('/api/ai/admin/limits/acct-bob', { token: admin, json: { dailyBudgetUsd: 0.01 } }));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      svc.post('/api/ai/chat', { token, json: { message: `parallel ${i}`, model: 'pricey' } })));
    const granted = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(granted.length + refused.length, 50, results.map((r) => r.status).join(','));
    assert.equal(granted.length, 10, 'each call reserves exactly its cost, so exactly 10 fit');
    for (const r of granted) assert.equal(r.body.data.cost, 0.001);
    for (const r of refused) {
      assertError(r, 429, 'budget_exceeded');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.equal(r.headers['ratelimit-limit'], '10000');
      assert.ok(Number(r.headers['ratelimit-remaining']) < 1000);
    }
    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assert.equal(me.totals.cost, 0.01);
    assert.equal(me.limits.dailyBudget.limit, 0.01);
    assert.equal(me.limits.dailyBudget.spent, 0.01);
    assert.equal(me.limits.dailyBudget.remaining, 0);
    assert.equal(me.limits.dailyBudget.reserved, 0);
    // Refused requests left nothing behind: only the granted turns made conversations.
    const list = assertOk(await svc.get('/api/ai/conversations?limit=100', { token }));
    assert.equal(list.items.length, 10);
    assertError(await svc.post('/api/ai/chat', { token, json: { message: 'one more', model: 'pricey' } }), 429, 'budget_exceeded');
    const costs = assertOk(await svc.get('/api/ai/admin/costs', { token: admin }));
    assert.equal(costs.orderBy, 'cost');
    assert.ok(costs.items.some((i) => i.key === 'acct-bob' && i.cost === 0.01));
  });

  it('applies a per-user requests-per-minute override with RateLimit headers', async () => {
    const token = svc.token('acct-carol');
    const o = assertOk(await svc.put('/api/ai/admin/limits/acct-carol', { token: admin, json: { requestsPerMinute: 2 } }));
    assertSchema(o, 'LimitOverride');
    assert.equal(o.requestsPerMinute, 2);
    assert.equal(o.dailyBudgetUsd, null);
    for (let i = 0; i < 2; i++) assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'hi', model: 'metered' } }));
    const r = await svc.post('/api/ai/chat', { token, json: { message: 'hi', model: 'metered' } });
    assertError(r, 429, 'rate_limited');
    assert.match(r.body.error.message, /2 requests per minute/);
    assert.equal(r.headers['ratelimit-limit'], '2');
    assert.equal(r.headers['ratelimit-remaining'], '0');
    assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= 30);
    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assert.equal(me.limits.requestsPerMinute.limit, 2);
    assert.equal(me.limits.requestsPerMinute.remaining, 0);
    // The gateway shares the same limits.
    const g = await svc.post('/api/ai/v1/chat/completions', { token, json: { model: 'metered', messages: [{ role: 'user', content: 'x' }] } });
    assertGatewayError(g, 429, 'rate_limited');
    assertOk(await svc.delete('/api/ai/admin/limits/acct-carol', { token: admin }));
    assertError(await svc.get('/api/ai/admin/limits/acct-carol', { token: admin }), 404, 'not_found');
    assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'hi again', model: 'metered' } }));
  });

  it('refuses a second concurrent stream before it starts, and admits one once the first ends', async () => {
    const token = svc.token('acct-dave');
    assertOk(await svc.put('/api/ai/admin/limits/acct-dave', { token: admin, json: { concurrentStreams: 1 } }));
    const metricsBefore = (await svc.get('/metrics')).text;
    const first = await openStream(svc, token, { message: 'drip', model: 'dripping', stream: true });
    assert.equal((await first.events.next()).value.event, 'start');
    const second = await svc.post('/api/ai/chat', { token, json: { message: 'again', model: 'dripping', stream: true } });
    assertError(second, 429, 'rate_limited');
    const metrics = (await svc.get('/metrics')).text;
    assert.equal(sample(metrics, 'ai_active_streams') - sample(metricsBefore, 'ai_active_streams'), 1);
    assert.equal(sample(metrics, 'ai_limit_rejections_total', { limit: 'concurrency' }) -
      sample(metricsBefore, 'ai_limit_rejections_total', { limit: 'concurrency' }), 1);
    assert.match(second.body.error.message, /concurrent streams/);
    first.req.destroy();
    first.res.destroy();
    // The slot is free once the service has seen the client go; an admitted stream is the
    // condition itself, so ask until one is (a generous deadline: the machine may be loaded).
    let third;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      third = await openStream(svc, token, { message: 'third', model: 'metered', stream: true });
      if (third.res.statusCode === 200) break;
      third.res.resume();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(third.res.statusCode, 200);
    const events = await collect(third.events);
    assert.equal(events.at(-1).event, 'done');
  });

  it('keeps reports admin-only and validates their parameters', async () => {
    const token = svc.token('acct-erin');
    assertError(await svc.get('/api/ai/admin/usage', { token }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/admin/costs', { token }), 403, 'forbidden');
    assertError(await svc.put('/api/ai/admin/limits/x', { token, json: {} }), 403, 'forbidden');
    assertError(await svc.get('/api/ai/admin/usage?from=2026-13-01', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/usage?from=2026-11-02&to=2026-11-01', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/usage?from=2024-01-01&to=2026-01-01', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/usage?groupBy=planet', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/usage?cursor=zzz', { token: admin }), 400, 'invalid_request');
    assertError(await svc.put('/api/ai/admin/limits/x', { token: admin, json: { requestsPerMinute: -1 } }), 400, 'invalid_request');
    assertError(await svc.put('/api/ai/admin/limits/x', { token: admin, json: { rpm: 1 } }), 400, 'invalid_request');
    // A user sees only their own usage.
    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assert.equal(me.totals.requests, 0);
  });

  it('names each bad report parameter and user id in its 400', async () => {
    const long = 'u'.repeat(257);
    for (const [method, path, message] of [
      ['get', '/api/ai/admin/usage?to=2026-02-30', 'to must be a date YYYY-MM-DD'],
      ['get', '/api/ai/admin/costs?from=2026-11-02&to=2026-11-01', 'from must not be after to'],
      ['get', '/api/ai/admin/usage?from=2024-01-01&to=2025-01-01', 'a range covers at most 366 days'],
      ['get', '/api/ai/admin/usage?format=xml', 'format must be json or csv'],
      ['get', '/api/ai/admin/usage?cursor=o', 'invalid cursor'],
      ['get', '/api/ai/admin/usage?cursor=p12', 'invalid cursor'],
      ['get', '/api/ai/admin/usage?cursor=o12x', 'invalid cursor'],
      ['get', '/api/ai/admin/usage?cursor=o-3', 'invalid cursor'],
      ['get', `/api/ai/admin/limits/${long}`, 'userId must be 1 to 256 characters'],
      ['delete', `/api/ai/admin/limits/${long}`, 'userId must be 1 to 256 characters'],
    ]) {
      const res = await svc[method](path, { token: admin });
      assertError(res, 400, 'invalid_request');
      assert.equal(res.body.error.message, message, path);
    }
    const put = await svc.put(`/api/ai/admin/limits/${long}`, { token: admin, json: {} });
    assertError(put, 400, 'invalid_request');
    assert.equal(put.body.error.message, 'userId must be 1 to 256 characters');
    const body = await svc.put('/api/ai/admin/limits/acct-x', { token: admin, json: { dailyBudgetUsd: -1 } });
    assertError(body, 400, 'invalid_request');
    assert.equal(body.body.error.message, 'dailyBudgetUsd must be from 0 to 1000000000');
    // The longest user id is taken, and a range of exactly 366 days.
    assertError(await svc.get(`/api/ai/admin/limits/${'u'.repeat(256)}`, { token: admin }), 404, 'not_found');
    assertOk(await svc.get('/api/ai/admin/usage?from=2024-01-01&to=2024-12-31', { token: admin }));
  });

  it('pages a report with nextCursor', async () => {
    const first = assertOk(await svc.get('/api/ai/admin/usage?groupBy=user&limit=2', { token: admin }));
    assert.equal(first.items.length, 2);
    assert.ok(first.nextCursor);
    const second = assertOk(await svc.get(`/api/ai/admin/usage?groupBy=user&limit=2&cursor=${first.nextCursor}`, { token: admin }));
    const keys = [...first.items, ...second.items].map((i) => i.key);
    assert.equal(new Set(keys).size, keys.length, 'no user twice across pages');
    assert.deepEqual(keys, [...keys].sort(), 'ordered by key');
  });
});
