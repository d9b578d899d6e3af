// Conversation intelligence against a real upstream (tools/mock-llm): a 200-turn conversation on
// a model with a small context window never sends more than the window, and its earlier turns
// are folded into a stored summary (billed as summary calls); summaries on demand; titles written
// by the model after a first exchange, unless the user titled the conversation.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';
import { waitFor } from './lib/sse.mjs';

describe('context window, summaries and titles', () => {
  let mock;
  let svc;
  before(async () => {
    // `small`: a 400-token window of which 20 are kept for the answer.
    ({ mock, svc } = await startWithMockLlm((url) => `models:
  - name: small
    price: {input: 1, output: 1, context_window: 400, max_output: 20}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk}
`, { env: { GENERATE_TITLES: 'true', LIMIT_RPM: '0' } }));
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  it('keeps 200 turns within the window and folds the earlier ones into a summary', async () => {
    const token = svc.token('sum-alice');
    let conversationId;
    let maxPrompt = 0;
    for (let i = 0; i < 200; i++) {
      const message = `turn ${i}: remember that item ${i} costs ${i * 3} euros and ships on day ${i % 28}`;
      const d = assertOk(await svc.post('/api/ai/chat', { token, json: { message, conversationId } }));
      conversationId = d.conversationId;
      maxPrompt = Math.max(maxPrompt, d.usage.inputTokens);
    }
    // mock-llm counts words, which are never more than the tokens the service counted.
    assert.ok(maxPrompt <= 380, `a prompt of ${maxPrompt} words went over the window`);
    const conv = await waitFor(async () => {
      const c = assertOk(await svc.get(`/api/ai/conversations/${conversationId}`, { token })).conversation;
      return c.summary ? c : undefined;
    }, 10000, 'a summary');
    assert.match(conv.summary, /^Mock answer to: /, 'the summary is the model\'s answer to the summary request');
    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assert.ok(me.totals.requests > 200, `summary (and title) calls are billed too: ${me.totals.requests} requests`);
  });

  it('summarizes on demand, keeping the last messages out', async () => {
    const token = svc.token('sum-bob');
    let conversationId;
    for (const message of ['one', 'two', 'three']) {
      conversationId = assertOk(await svc.post('/api/ai/chat', { token, json: { message, conversationId } })).conversationId;
    }
    const done = assertOk(await svc.post(`/api/ai/conversations/${conversationId}/summarize`, { token, json: { keep: 2 } }));
    assert.equal(typeof done.summary, 'string');
    assertError(await svc.post(`/api/ai/conversations/${conversationId}/summarize`, { token: svc.token('sum-mallory'), json: {} }), 404, 'not_found');
    assertError(await svc.post(`/api/ai/conversations/${conversationId}/summarize`, { token, json: { keep: -1 } }), 400, 'invalid_request');
  });

  it('lets the model title a new conversation, but never over the user\'s own title', async () => {
    const token = svc.token('sum-carol');
    const first = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'Plan a trip to Crete in May' } }));
    const titled = await waitFor(async () => {
      const c = assertOk(await svc.get(`/api/ai/conversations/${first.conversationId}`, { token })).conversation;
      return c.title !== 'Plan a trip to Crete in May' ? c : undefined;
    }, 10000, 'a generated title');
    assert.match(titled.title, /^Mock answer to: /);

    const mine = assertOk(await svc.post('/api/ai/conversations', { token, json: { title: 'My own title' } }), 201);
    assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'hello', conversationId: mine.id } }));
    // No sleep to "let a title call happen": a control conversation, started after that turn had
    // answered (a title call is spawned before the answer returns), is titled, and by then the
    // upstream has seen exactly the control's two calls (answer, title) after the user's turn.
    const before = (await mock.stats()).requests.total;
    const control = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'Control conversation' } }));
    await waitFor(async () => {
      const c = assertOk(await svc.get(`/api/ai/conversations/${control.conversationId}`, { token })).conversation;
      return c.title !== 'Control conversation';
    }, 10000, 'the control conversation\'s generated title');
    assert.equal((await mock.stats()).requests.total - before, 2, 'no title call for a conversation the user titled');
    assert.equal(assertOk(await svc.get(`/api/ai/conversations/${mine.id}`, { token })).conversation.title, 'My own title');
  });
});
