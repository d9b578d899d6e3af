// Bounded answers and timed-out turns (issue 18, findings 2 and 3), against tools/mock-llm
// misbehaving on purpose:
// - a non-streamed chat turn or gateway call the upstream does not answer before the request
//   timeout is answered 504 upstream_timeout, and its error message (chat) and ledger row are
//   stored, billed for the estimated prompt;
// - an answer larger than MAX_ANSWER_BYTES (a 60 MB stream, a large JSON answer) or longer than
//   the output cap (an upstream ignoring max_tokens) is cut there: finish reason "length", what
//   the client got is what is stored, billed by our tokenizer;
// - usage the upstream under-reports (7 tokens for thousands) is replaced by our count, flagged;
// - a stream that drips forever ends at STREAM_MAX_DURATION_MS, one that stalls after its first
//   words at STREAM_IDLE_TIMEOUT_MS: interrupted, stored, billed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { collect, openStream } from './lib/sse.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';

const MAX_ANSWER_BYTES = 64 * 1024;
const OVERRUN_CAP = 50;  // the `overrun` model's max_output
// An answer may exceed the cap by the tolerance our tokenizer allows the upstream's (a quarter).
const OVERRUN_LIMIT = OVERRUN_CAP + Math.floor(OVERRUN_CAP / 4) + 8;

const models = (url) => {
  const model = (name, headers, extra = '') => `  - name: ${name}
    price: {input: 1, output: 2${extra}}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-key: "${name}", ${headers}}}
`;
  return `models:
${model('stall', 'x-mock-delay-ms: "600000"')}${model('drip-json', 'x-mock-drip: "1"')}${model('flood', 'x-mock-flood-bytes: "62914560", x-mock-chunk-bytes: "16384"')}${model('big', 'x-mock-answer-tokens: "100000"')}${model('liar', 'x-mock-answer-tokens: "2000", x-mock-claim-output-tokens: "7"')}${model('overrun', 'x-mock-answer-tokens: "400", x-mock-ignore-max-tokens: "1"', `, max_output: ${OVERRUN_CAP}`)}${model('drip', 'x-mock-drip: "1"')}${model('stall-stream', 'x-mock-stall-after: "5"')}`;
};

describe('bounded answers and timed-out turns', () => {
  let mock;
  let svc;

  before(async () => {
    ({ mock, svc } = await startWithMockLlm(models, {
      mockArgs: ['--drip-interval-ms', '100'],
      env: {
        // The model call of a non-streamed turn ends a tenth of this before the request timeout
        // (app.cpp), counted from the turn's start: the recording after it must fit in that
        // tenth, or the dispatcher's own timeout answers 503 first. 300 ms (at 3 s) was not
        // always enough on 2 cores at load 13; 1 s is.
        REQUEST_TIMEOUT_MS: '10000',
        MAX_ANSWER_BYTES: String(MAX_ANSWER_BYTES),
        MAX_OUTPUT_TOKENS: '50000',
        DEFAULT_CONTEXT_WINDOW: '1000000',
        STREAM_MAX_DURATION_MS: '3000',
        STREAM_IDLE_TIMEOUT_MS: '1000',
        LIMIT_RPM: '0', LIMIT_TPM: '0', LIMIT_CONCURRENT_STREAMS: '0',
      },
    }));
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  const newConversation = async (token) =>
    assertOk(await svc.post('/api/ai/conversations', { token, json: { title: 'bounds' } }), 201).id;
  const messagesOf = async (token, id) =>
    assertOk(await svc.get(`/api/ai/conversations/${id}`, { token })).messages.items;
  const usageOf = async (token) => assertOk(await svc.get('/api/ai/usage/me', { token })).totals;

  // A streamed turn read to its end: the text the client got, the end events, the stored answer.
  async function streamed(token, model, message = 'tell me everything') {
    const { res, events } = await openStream(svc, token, { message, model, stream: true });
    assert.equal(res.statusCode, 200);
    const all = await collect(events);
    const start = all.find((e) => e.event === 'start').data;
    const text = all.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    const items = await messagesOf(token, start.conversationId);
    const stored = items.find((m) => m.id === start.messageId);
    return { all, text, stored, usage: all.find((e) => e.event === 'usage')?.data, items };
  }

  for (const model of ['stall', 'drip-json']) {
    it(`a non-streamed turn the upstream does not answer in time (${model}): 504, error message and ledger row`, async () => {
      const token = svc.token(`timeout-${model}`);
      const id = await newConversation(token);
      const r = await svc.post('/api/ai/chat', { token, json: { message: 'are you there', model, conversationId: id } });
      assertError(r, 504, 'upstream_timeout');
      const items = await messagesOf(token, id);
      assert.deepEqual(items.map((m) => [m.role, m.status]), [['user', 'complete'], ['assistant', 'error']]);
      const answer = items[1];
      assert.ok(answer.usage.inputTokens > 0, 'the prompt is billed');
      assert.equal(answer.usage.outputTokens, 0);
      assert.equal(answer.metadata.usageEstimated, true);
      assert.equal(answer.metadata.error, 'upstream_timeout');
      const totals = await usageOf(token);
      assert.equal(totals.requests, 1);
      assert.equal(totals.inputTokens, answer.usage.inputTokens);
    });
  }

  it('a non-streamed gateway call the upstream does not answer in time: 504 and its ledger row', async () => {
    const token = svc.token('timeout-gateway');
    const r = await svc.post('/api/ai/v1/chat/completions', {
      token, json: { model: 'stall', messages: [{ role: 'user', content: 'are you there' }] },
    });
    assert.equal(r.status, 504, r.text);
    const totals = await usageOf(token);
    assert.equal(totals.requests, 1);
    assert.ok(totals.inputTokens > 0, 'the prompt is billed');
    assert.equal(totals.outputTokens, 0);
  });

  it('a 60 MB stream is cut at MAX_ANSWER_BYTES: length, stored as received, upstream closed', async () => {
    const token = svc.token('flood-user');
    const { all, text, stored, usage } = await streamed(token, 'flood');
    assert.ok(text.length > MAX_ANSWER_BYTES / 2, `only ${text.length} bytes arrived`);
    assert.ok(Buffer.byteLength(text) <= MAX_ANSWER_BYTES, `${Buffer.byteLength(text)} bytes relayed`);
    const done = all.find((e) => e.event === 'done');
    assert.ok(done, JSON.stringify(all.at(-1)));
    assert.equal(done.data.finishReason, 'length');
    assert.equal(stored.status, 'complete');
    assert.equal(stored.content, text);
    assert.equal(stored.metadata.finishReason, 'length');
    // Billed for what was received, by our count: thousands of tokens, not the mock's claim.
    assert.ok(usage.outputTokens > 5000, `billed ${usage.outputTokens} output tokens`);
    const totals = await usageOf(token);
    assert.equal(totals.outputTokens, usage.outputTokens);
    assert.equal((await mock.stats()).streams.by_key.flood.cancelled, 1, 'the upstream stream was closed, not drained');
  });

  it('a non-streamed answer over MAX_ANSWER_BYTES is cut there (chat and gateway)', async () => {
    const token = svc.token('big-user');
    const d = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'a lot', model: 'big' } }));
    assert.ok(Buffer.byteLength(d.message) <= MAX_ANSWER_BYTES && d.message.length > MAX_ANSWER_BYTES / 2);
    const stored = (await messagesOf(token, d.conversationId)).find((m) => m.id === d.messageId);
    assert.equal(stored.content, d.message);
    assert.equal(stored.metadata.finishReason, 'length');
    const g = await svc.post('/api/ai/v1/chat/completions', {
      token, json: { model: 'big', messages: [{ role: 'user', content: 'a lot' }] },
    });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.body.choices[0].finish_reason, 'length');
    assert.ok(Buffer.byteLength(g.body.choices[0].message.content) <= MAX_ANSWER_BYTES);
  });

  it('usage the upstream under-reports is counted by our tokenizer, flagged estimated', async () => {
    const token = svc.token('liar-user');
    const d = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'count me', model: 'liar' } }));
    assert.ok(d.usage.outputTokens >= 2000, `billed ${d.usage.outputTokens} output tokens for 2000 words`);
    assert.equal(d.usage.estimated, true);
    // Streamed, the suite's STREAM_MAX_DURATION_MS (3 s) may end the answer before its 2,000 words
    // on a slow build or a loaded machine (it did, in an instrumented coverage run): what is billed
    // is then what arrived, still counted by our tokenizer and never the upstream's claimed 7.
    const { usage, text, stored } = await streamed(token, 'liar');
    const received = text.split(/\s+/).filter(Boolean).length;
    assert.ok(received > 7, `only ${received} words arrived`);
    assert.ok(usage.outputTokens >= (stored.status === 'complete' ? 2000 : received),
      `billed ${usage.outputTokens} output tokens for ${received} words received (${stored.status})`);
    assert.equal(usage.estimated, true);
  });

  it('an upstream that overruns the output cap is cut there, streamed and not', async () => {
    const token = svc.token('overrun-user');
    // Non-streamed, the whole answer came (and the upstream bills it): the text is cut, the
    // upstream's plausible count is what is billed.
    const d = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'go on', model: 'overrun' } }));
    assert.ok(d.message.split(' ').length < 400, 'the answer was cut');
    assert.equal(d.usage.outputTokens, 400);
    const stored = (await messagesOf(token, d.conversationId)).find((m) => m.id === d.messageId);
    assert.equal(stored.metadata.finishReason, 'length');
    assert.equal(stored.content, d.message);
    const { all, text, stored: s } = await streamed(token, 'overrun');
    assert.equal(all.find((e) => e.event === 'done').data.finishReason, 'length');
    assert.equal(s.content, text);
    // Streamed, it was read only so far: billed by our count of what arrived.
    assert.ok(s.usage.outputTokens <= OVERRUN_LIMIT, `stream billed ${s.usage.outputTokens} output tokens`);
    assert.ok(text.split(' ').length < 400, 'the answer was cut');
  });

  // The streams below must end by the suite's bounds (3 s, 1 s), not by some later default: the
  // code before these bounds ended them at 600 s and 60 s with the same events, so a generous
  // deadline on the wait (ten times the bound; no duration is asserted) is what tells them apart.
  it('a stream that drips forever ends at STREAM_MAX_DURATION_MS: interrupted, stored, billed', { timeout: 30000 }, async () => {
    const token = svc.token('drip-user');
    const { all, text, stored, usage } = await streamed(token, 'drip');
    assert.ok(text.length > 0);
    assert.equal(all.at(-1).event, 'error');
    assert.equal(all.at(-1).data.code, 'upstream_timeout');
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content, text);
    assert.ok(usage.outputTokens > 0);
    assert.equal((await usageOf(token)).outputTokens, usage.outputTokens);
  });

  it('a stream that stalls after its first words ends at STREAM_IDLE_TIMEOUT_MS: interrupted, stored, billed', { timeout: 30000 }, async () => {
    const token = svc.token('stall-user');
    const { all, text, stored, usage } = await streamed(token, 'stall-stream');
    assert.equal(text.trim().split(/\s+/).length, 5);
    assert.equal(all.at(-1).event, 'error');
    assert.equal(all.at(-1).data.code, 'upstream_timeout');
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content, text);
    assert.ok(usage.outputTokens >= 5);
    assert.equal((await usageOf(token)).requests, 1);
  });
});
