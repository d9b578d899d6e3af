// Several answers to one request (`n` > 1) and log probabilities through the OpenAI-compatible
// gateway, with the official `openai` SDK against tools/mock-llm over both wire formats.
// The service emulates n: it makes n calls to the upstream (so an Anthropic model serves it too),
// all admitted before the first starts, each billed as its own ledger row; the choices carry
// indexes 0..n-1 and the response's usage is the sum. logprobs / top_logprobs pass through to an
// OpenAI-compatible upstream (mock-llm's are deterministic: minus the token's length / 100) and
// are refused with a 400 for an Anthropic one. docs/compatibility.md lists what each test backs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';

import { assertOk } from './lib/assert.mjs';
import { bothWireModels, startWithMockLlm } from './lib/upstream.mjs';

const MESSAGES = [{ role: 'user', content: 'Name a colour.' }];
const ANSWER = 'Mock answer to: Name a colour.';
const words = (text) => text.split(/\s+/).filter(Boolean);
const PROMPT_TOKENS = 3;  // mock-llm counts whitespace-separated words
const ANSWER_TOKENS = words(ANSWER).length;

let mock;
let svc;
before(async () => {
  ({ mock, svc } = await startWithMockLlm((url) => `models:
${bothWireModels(url)}`));
});
after(async () => {
  await svc?.stop();
  await mock?.stop();
});

const client = (user) => new OpenAI({ baseURL: `${svc.url}/api/ai/v1`, apiKey: svc.token(user), maxRetries: 0 });
const usageOf = async (user) => assertOk(await svc.get('/api/ai/usage/me', { token: svc.token(user) })).totals;
const upstreamCalls = async () => {
  const { by_path: byPath } = (await mock.stats()).requests;
  return (byPath['/v1/chat/completions'] ?? 0) + (byPath['/v1/messages'] ?? 0);
};

for (const model of ['gpt', 'claude']) {
  describe(`n > 1 through ${model}`, { timeout: 60000 }, () => {
    it('answers n choices, indexed, with the usage of all n calls, each billed', async () => {
      const user = `choices-${model}`;
      const before = await usageOf(user);
      const calls = await upstreamCalls();
      const r = await client(user).chat.completions.create({ model, messages: MESSAGES, n: 3 });
      assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
      for (const c of r.choices) {
        assert.equal(c.message.role, 'assistant');
        assert.equal(c.message.content, ANSWER);
        assert.equal(c.finish_reason, 'stop');
      }
      assert.equal(r.usage.prompt_tokens, 3 * PROMPT_TOKENS);
      assert.equal(r.usage.completion_tokens, 3 * ANSWER_TOKENS);
      assert.equal(await upstreamCalls(), calls + 3, 'one upstream call per choice');
      const now = await usageOf(user);
      assert.equal(now.requests - before.requests, 3, 'a ledger row per call');
      assert.equal(now.inputTokens - before.inputTokens, r.usage.prompt_tokens);
      assert.equal(now.outputTokens - before.outputTokens, r.usage.completion_tokens);
    });

    it('streams the choices one after the other, each with its role chunk and finish_reason; usage once, summed', async () => {
      const stream = await client(`choices-stream-${model}`).chat.completions.create({
        model, messages: MESSAGES, n: 2, stream: true, stream_options: { include_usage: true },
      });
      const texts = {};
      const roles = {};
      const finishes = {};
      const chunks = [];
      for await (const chunk of stream) {
        chunks.push(chunk);
        for (const c of chunk.choices) {
          texts[c.index] = (texts[c.index] ?? '') + (c.delta?.content ?? '');
          if (c.delta?.role) roles[c.index] = (roles[c.index] ?? 0) + 1;
          if (c.finish_reason) finishes[c.index] = [...(finishes[c.index] ?? []), c.finish_reason];
        }
      }
      assert.deepEqual(texts, { 0: ANSWER, 1: ANSWER });
      assert.deepEqual(roles, { 0: 1, 1: 1 });
      assert.deepEqual(finishes, { 0: ['stop'], 1: ['stop'] });
      const usages = chunks.filter((c) => c.usage);
      assert.equal(usages.length, 1);
      assert.equal(usages[0], chunks.at(-1), 'the usage chunk is last');
      assert.equal(usages[0].usage.completion_tokens, 2 * ANSWER_TOKENS);
      assert.equal(usages[0].usage.prompt_tokens, 2 * PROMPT_TOKENS);
    });

    it('is assembled by the SDK stream helper into n choices', async () => {
      const final = await client(`choices-helper-${model}`).chat.completions
        .stream({ model, messages: MESSAGES, n: 2 })
        .finalChatCompletion();
      assert.deepEqual(final.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
        [[0, ANSWER, 'stop'], [1, ANSWER, 'stop']]);
    });

    it('answers legacy completions n per prompt, indexed prompt * n + answer', async () => {
      const r = await client(`choices-legacy-${model}`).completions.create({
        model, prompt: ['Say one', 'Say two'], n: 2, max_tokens: 50,
      });
      assert.deepEqual(r.choices.map((c) => [c.index, c.text]), [
        [0, 'Mock answer to: Say one'], [1, 'Mock answer to: Say one'],
        [2, 'Mock answer to: Say two'], [3, 'Mock answer to: Say two'],
      ]);
      assert.equal(r.usage.prompt_tokens, 4 * 2);

      const stream = await client(`choices-legacy-${model}`).completions.create({
        model, prompt: 'Say one', n: 2, max_tokens: 50, stream: true,
      });
      const texts = {};
      for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] = (texts[c.index] ?? '') + c.text;
      assert.deepEqual(texts, { 0: 'Mock answer to: Say one', 1: 'Mock answer to: Say one' });
    });
  });
}

describe('n out of range', { timeout: 30000 }, () => {
  for (const [what, body] of [['n: 0', { n: 0 }], ['n: 9', { n: 9 }], ['n: "2"', { n: '2' }], ['n: 1.5', { n: 1.5 }]]) {
    it(`refuses ${what} with a 400 naming n, billing nothing`, async () => {
      const user = 'choices-refused';
      const before = await usageOf(user);
      const calls = await upstreamCalls();
      await assert.rejects(client(user).chat.completions.create({ model: 'gpt', messages: MESSAGES, ...body }), (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, e.message);
        assert.match(e.message, /'n' must be an integer from 1 to 8/);
        return true;
      });
      assert.deepEqual(await usageOf(user), before);
      assert.equal(await upstreamCalls(), calls);
    });
  }

  it('refuses legacy completions asking for more than 16 answers in all', async () => {
    await assert.rejects(
      client('choices-refused').completions.create({ model: 'gpt', prompt: ['a', 'b', 'c'], n: 6 }),
      (e) => e instanceof OpenAI.BadRequestError && /'n' times the number of prompts/.test(e.message));
  });
});

// mock-llm's rule: a token (a word with its leading space) has logprob -length/100; its
// alternatives are itself, then alt1, alt2... each 1 lower.
const tokensOf = (text) => text.split(/(?= )/);
const expectedLogprob = (token) => -Buffer.byteLength(token) / 100;
function assertLogprobs(content, text, top) {
  assert.deepEqual(content.map((t) => t.token), tokensOf(text));
  for (const t of content) {
    assert.equal(t.logprob, expectedLogprob(t.token), t.token);
    assert.deepEqual(t.bytes, [...Buffer.from(t.token)]);
    assert.deepEqual(t.top_logprobs.map((a) => a.token), [t.token, 'alt1', 'alt2'].slice(0, top));
    t.top_logprobs.forEach((a, k) => assert.equal(a.logprob, t.logprob - k));
  }
}

describe('logprobs through an OpenAI-compatible upstream', { timeout: 60000 }, () => {
  it('returns each token\'s log probability with its alternatives, not streamed', async () => {
    const r = await client('logprobs').chat.completions.create({ model: 'gpt', messages: MESSAGES, logprobs: true, top_logprobs: 2 });
    assert.equal(r.choices[0].message.content, ANSWER);
    assertLogprobs(r.choices[0].logprobs.content, ANSWER, 2);
    // Not asked: null, as OpenAI answers.
    const plain = await client('logprobs').chat.completions.create({ model: 'gpt', messages: MESSAGES });
    assert.equal(plain.choices[0].logprobs, null);
  });

  it('streams them in the chunks of the text they belong to', async () => {
    const stream = await client('logprobs').chat.completions.create({
      model: 'gpt', messages: MESSAGES, logprobs: true, top_logprobs: 1, stream: true,
    });
    let text = '';
    const content = [];
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      if (c.delta?.content) {
        assert.deepEqual(c.logprobs.content.map((t) => t.token).join(''), c.delta.content, 'a chunk\'s logprobs are its own text\'s');
        text += c.delta.content;
      }
      content.push(...(c.logprobs?.content ?? []));
    }
    assert.equal(text, ANSWER);
    assertLogprobs(content, ANSWER, 1);
  });

  it('includes them in the Responses API\'s output_text when asked, streamed and not', async () => {
    const openai = client('logprobs-responses');
    const asked = { model: 'gpt', input: 'Name a colour.', include: ['message.output_text.logprobs'], top_logprobs: 2 };
    const r = await openai.responses.create(asked);
    assert.equal(r.output_text, ANSWER);
    assertLogprobs(r.output[0].content[0].logprobs, ANSWER, 2);

    const deltas = [];
    const stream = openai.responses.stream(asked);
    stream.on('response.output_text.delta', (e) => deltas.push(e));
    const streamed = await stream.finalResponse();
    assert.ok(deltas.length > 0);
    for (const e of deltas) assert.equal(e.logprobs.map((t) => t.token).join(''), e.delta, 'a delta\'s logprobs are its own text\'s');
    assertLogprobs(deltas.flatMap((e) => e.logprobs), ANSWER, 2);
    assertLogprobs(streamed.output[0].content[0].logprobs, ANSWER, 2);

    // Not asked: no logprobs in the part; an include value this gateway has not is a 400 naming it.
    const plain = await openai.responses.create({ model: 'gpt', input: 'Name a colour.' });
    assert.equal(plain.output[0].content[0].logprobs, undefined);
    const refused = await openai.responses.create({ model: 'gpt', input: 'x', include: ['file_search_call.results'] }).catch((e) => e);
    assert.ok(refused instanceof OpenAI.BadRequestError);
    assert.match(refused.message, /include\[0\].*file_search_call\.results.*not supported/);
    const anthropic = await openai.responses.create({ ...asked, model: 'claude' }).catch((e) => e);
    assert.ok(anthropic instanceof OpenAI.BadRequestError);
    assert.match(anthropic.message, /'logprobs' is not supported by this model's provider/);
  });

  it('gives every choice its own with n > 1', async () => {
    const r = await client('logprobs').chat.completions.create({ model: 'gpt', messages: MESSAGES, n: 2, logprobs: true });
    assert.equal(r.choices.length, 2);
    for (const c of r.choices) assertLogprobs(c.logprobs.content, ANSWER, 0);
  });

  it('answers legacy completions\' logprobs: N in their own shape, streamed and not', async () => {
    const r = await client('logprobs').completions.create({ model: 'gpt', prompt: 'Say one', logprobs: 2, max_tokens: 50 });
    const text = 'Mock answer to: Say one';
    const lp = r.choices[0].logprobs;
    assert.deepEqual(lp.tokens, tokensOf(text));
    assert.deepEqual(lp.token_logprobs, lp.tokens.map(expectedLogprob));
    assert.deepEqual(lp.top_logprobs, lp.tokens.map((t) => ({ [t]: expectedLogprob(t), alt1: expectedLogprob(t) - 1 })));
    assert.deepEqual(lp.text_offset, lp.tokens.map((_, i) => lp.tokens.slice(0, i).join('').length));

    const stream = await client('logprobs').completions.create({ model: 'gpt', prompt: 'Say one', logprobs: 0, max_tokens: 50, stream: true });
    const tokens = [];
    const offsets = [];
    for await (const chunk of stream) {
      tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
      offsets.push(...(chunk.choices[0]?.logprobs?.text_offset ?? []));
    }
    assert.deepEqual(tokens, tokensOf(text));
    assert.deepEqual(offsets, lp.text_offset);
  });

  it('refuses them for an Anthropic model with a 400 naming the field, billing nothing', async () => {
    const user = 'logprobs-refused';
    const before = await usageOf(user);
    const calls = await upstreamCalls();
    for (const body of [{ logprobs: true }, { logprobs: true, top_logprobs: 3 }]) {
      for (const stream of [false, true]) {
        await assert.rejects(client(user).chat.completions.create({ model: 'claude', messages: MESSAGES, stream, ...body }), (e) => {
          assert.ok(e instanceof OpenAI.BadRequestError, e.message);
          assert.match(e.message, /'logprobs' is not supported by this model's provider \(Anthropic\)/);
          assert.equal(e.param, 'logprobs');
          return true;
        });
      }
    }
    await assert.rejects(client(user).completions.create({ model: 'claude', prompt: 'x', logprobs: 1 }), OpenAI.BadRequestError);
    assert.deepEqual(await usageOf(user), before);
    assert.equal(await upstreamCalls(), calls);
  });

  it('refuses top_logprobs without logprobs, and out of range', async () => {
    for (const [body, message] of [
      [{ top_logprobs: 2 }, /'top_logprobs' requires 'logprobs' to be true/],
      [{ logprobs: true, top_logprobs: 21 }, /'top_logprobs' must be an integer from 0 to 20/],
      [{ logprobs: 'yes' }, /'logprobs'/],
    ]) {
      await assert.rejects(client('logprobs').chat.completions.create({ model: 'gpt', messages: MESSAGES, ...body }),
        (e) => e instanceof OpenAI.BadRequestError && message.test(e.message));
    }
  });
});
