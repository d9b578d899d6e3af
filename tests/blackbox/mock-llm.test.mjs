// tools/mock-llm is faithful to the real wire formats: the official `openai` and
// `@anthropic-ai/sdk` clients parse its answers (streamed and not), its errors reach them as their
// typed errors, the SDKs' own retries get past its injected failures, and its faults (drop,
// malformed chunk, drip, pacing, large chunks) look to a client as they would from a real upstream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { startMockLlm } from './lib/mock-llm.mjs';

const KEY = 'sk-mock-test-key';
const MODELS = ['gpt-4o-mini', 'text-embedding-3-small', 'claude-3-5-haiku-latest'];
const GPT = 'gpt-4o-mini';
const CLAUDE = 'claude-3-5-haiku-latest';

let mock;
let openai;
let anthropic;

// A fresh x-mock-key per use, so counters (fail-first, stats) never leak between tests.
let keySeq = 0;
const newKey = (what) => `${what}-${process.pid}-${++keySeq}`;

const words = (text) => text.split(/\s+/).filter(Boolean);

before(async () => {
  mock = await startMockLlm({ args: ['--require-key', KEY, '--models', MODELS.join(',')] });
  openai = new OpenAI({ apiKey: KEY, baseURL: `${mock.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: KEY, baseURL: mock.url, maxRetries: 0 });
});
after(async () => {
  const r = await mock?.stop();
  if (r) assert.deepEqual(r, { code: 0, signal: null }, `mock-llm exits cleanly on SIGTERM; stderr:\n${mock.stderr}`);
});

async function waitFor(fn, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// Raw SSE events of a response: [{ event, data }] with data as text (pings included).
async function rawEvents(res) {
  const text = await res.text();
  return text.split('\n\n').filter((b) => b.trim()).map((block) => {
    let event = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    return { event, data: data.join('\n') };
  });
}

// Collects an SDK chat stream: text, chunks, and the usage chunk.
async function collectChat(stream) {
  let text = '';
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return { text, chunks, usage: chunks.at(-1)?.usage };
}

describe('OpenAI chat completions through the openai SDK', { timeout: 60000 }, () => {
  const request = {
    model: GPT,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is the capital of France?' },
    ],
  };

  it('answers deterministically, with usage counted in whitespace-separated words', async () => {
    const a = await openai.chat.completions.create(request);
    const b = await openai.chat.completions.create(request);
    assert.equal(a.object, 'chat.completion');
    assert.equal(a.model, GPT);
    assert.equal(a.choices.length, 1);
    assert.equal(a.choices[0].finish_reason, 'stop');
    assert.equal(a.choices[0].message.role, 'assistant');
    assert.equal(a.choices[0].message.content, 'Mock answer to: What is the capital of France?');
    assert.equal(b.choices[0].message.content, a.choices[0].message.content, 'same request, same answer');
    assert.notEqual(a.id, b.id, 'each completion has its own id');
    // 3 words of system prompt + 6 of the user's message; the answer has 9 words.
    assert.equal(a.usage.prompt_tokens, 9);
    assert.equal(a.usage.completion_tokens, words(a.choices[0].message.content).length);
    assert.equal(a.usage.total_tokens, a.usage.prompt_tokens + a.usage.completion_tokens);
    assert.equal(a.usage.prompt_tokens_details.cached_tokens, 0);
    assert.equal(a.usage.completion_tokens_details.reasoning_tokens, 0);
  });

  it('streams chunks that concatenate to the non-streamed answer, with include_usage', async () => {
    const whole = await openai.chat.completions.create(request);
    const stream = await openai.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const { text, chunks, usage } = await collectChat(stream);
    assert.equal(text, whole.choices[0].message.content);
    assert.ok(chunks.length >= words(text).length + 2, `one chunk per token plus role and finish chunks (${chunks.length})`);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finish.length, 1);
    assert.equal(finish[0].choices[0].finish_reason, 'stop');
    // The usage chunk comes last, with no choices, and equals the non-streamed usage.
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.deepEqual(usage, whole.usage);
    assert.equal(usage.completion_tokens, words(text).length, 'usage counts exactly what was streamed');
  });

  it('streams without a usage chunk when include_usage is not asked for', async () => {
    const { text, chunks } = await collectChat(await openai.chat.completions.create({ ...request, stream: true }));
    assert.equal(text, 'Mock answer to: What is the capital of France?');
    assert.ok(chunks.every((c) => !c.usage), 'no usage anywhere');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });

  it('is accumulated by the SDK stream helper into the same completion', async () => {
    const whole = await openai.chat.completions.create(request);
    const final = await openai.chat.completions
      .stream({ ...request, stream_options: { include_usage: true } })
      .finalChatCompletion();
    assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.deepEqual(final.usage, whole.usage);
  });

  it('pads with filler to x-mock-answer-tokens and cuts at max_tokens with finish_reason length', async () => {
    const long = await openai.chat.completions.create(request, { headers: { 'x-mock-answer-tokens': '40' } });
    const text = long.choices[0].message.content;
    assert.equal(words(text).length, 40);
    assert.ok(text.startsWith('Mock answer to: What is the capital of France?'));
    assert.equal(long.usage.completion_tokens, 40);

    const cut = await openai.chat.completions.create({ ...request, max_completion_tokens: 3 });
    assert.equal(cut.choices[0].message.content, 'Mock answer to:');
    assert.equal(cut.choices[0].finish_reason, 'length');
    assert.equal(cut.usage.completion_tokens, 3);

    const { text: streamed, usage } = await collectChat(await openai.chat.completions.create(
      { ...request, max_tokens: 3, stream: true, stream_options: { include_usage: true } }));
    assert.equal(streamed, 'Mock answer to:');
    assert.equal(usage.completion_tokens, 3);
  });

  it('reports x-mock-cached-tokens and x-mock-reasoning-tokens in the usage details', async () => {
    const headers = { 'x-mock-cached-tokens': '4', 'x-mock-reasoning-tokens': '7' };
    const r = await openai.chat.completions.create(request, { headers });
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 4);
    assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 7);
    // Reasoning tokens are billed as completion tokens, as OpenAI reports them.
    assert.equal(r.usage.completion_tokens, words(r.choices[0].message.content).length + 7);
    const { usage } = await collectChat(await openai.chat.completions.create(
      { ...request, stream: true, stream_options: { include_usage: true } }, { headers }));
    assert.deepEqual(usage, r.usage);
    // Never more cached than prompt tokens.
    const capped = await openai.chat.completions.create(request, { headers: { 'x-mock-cached-tokens': '1000' } });
    assert.equal(capped.usage.prompt_tokens_details.cached_tokens, capped.usage.prompt_tokens);
  });

  it('calls a tool when the user says "call <name>", and answers the tool result after', async () => {
    const tools = [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ];
    const ask = { model: GPT, tools, messages: [{ role: 'user', content: 'Please call get_weather for Paris' }] };
    const r = await openai.chat.completions.create(ask);
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    const calls = r.choices[0].message.tool_calls;
    assert.equal(calls.length, 1);
    assert.equal(calls[0].type, 'function');
    assert.equal(calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].function.arguments), {});
    assert.match(calls[0].id, /^call_/);

    // Streamed, the SDK helper assembles the same call from its deltas.
    const final = await openai.chat.completions.stream(ask).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(final.choices[0].message.tool_calls[0].function.name, 'get_weather');
    assert.equal(final.choices[0].message.tool_calls[0].function.arguments, '{}');

    // No tool named: a plain answer even with tools given.
    const plain = await openai.chat.completions.create({ ...ask, messages: [{ role: 'user', content: 'call get_w' }] });
    assert.equal(plain.choices[0].finish_reason, 'stop');

    // After the tool's result the model answers with it.
    const next = await openai.chat.completions.create({
      model: GPT,
      tools,
      messages: [
        ...ask.messages,
        r.choices[0].message,
        { role: 'tool', tool_call_id: calls[0].id, content: 'sunny, 21 degrees' },
      ],
    });
    assert.equal(next.choices[0].finish_reason, 'stop');
    assert.equal(next.choices[0].message.content, 'Mock answer with tool result: sunny, 21 degrees');
  });

  it('calls with the JSON arguments written after "call <name>", several tools at once, streamed alike', async () => {
    const tools = ['get_weather', 'get_time'].map((name) =>
      ({ type: 'function', function: { name, parameters: { type: 'object', properties: { city: { type: 'string' } } } } }));
    const ask = { model: GPT, tools, messages: [{ role: 'user', content: 'call get_weather {"city": "Paris"} and call get_time {"city":"Oslo"}' }] };
    const r = await openai.chat.completions.create(ask);
    const calls = r.choices[0].message.tool_calls;
    assert.deepEqual(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
      [['get_weather', { city: 'Paris' }], ['get_time', { city: 'Oslo' }]]);
    // Name 1 token, arguments' words: '{"city":"Paris"}' is one.
    assert.equal(r.usage.completion_tokens, 4);
    const final = await openai.chat.completions.stream(ask).finalChatCompletion();
    assert.deepEqual(final.choices[0].message.tool_calls.map((c) => c.function.arguments), calls.map((c) => c.function.arguments));
  });

  it('keeps calling a tool after its results on "keep calling <name>", until tool_choice "none"; quotes parallel results', async () => {
    const tools = ['spin', 'other'].map((name) =>
      ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } }));
    const ask = { model: GPT, tools, messages: [{ role: 'user', content: 'keep calling spin {"n": 1}' }] };
    let messages = ask.messages;
    for (let step = 0; step < 3; step++) {
      const r = await openai.chat.completions.create({ ...ask, messages });
      assert.equal(r.choices[0].finish_reason, 'tool_calls', `step ${step} calls again`);
      const [call] = r.choices[0].message.tool_calls;
      assert.equal(call.function.name, 'spin');
      assert.deepEqual(JSON.parse(call.function.arguments), { n: 1 });
      messages = [...messages, r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: `result ${step}` }];
    }
    const streamed = await openai.chat.completions.stream({ ...ask, messages }).finalChatCompletion();
    assert.equal(streamed.choices[0].finish_reason, 'tool_calls');
    const stop = await openai.chat.completions.create({ ...ask, messages, tool_choice: 'none' });
    assert.equal(stop.choices[0].finish_reason, 'stop');
    assert.equal(stop.choices[0].message.content, 'Mock answer with tool result: result 2');

    // Two calls in one answer, two results after: the answer quotes both.
    const two = await openai.chat.completions.create({ model: GPT, tools, messages: [{ role: 'user', content: 'call spin and call other' }] });
    const calls = two.choices[0].message.tool_calls;
    assert.equal(calls.length, 2);
    const after = await openai.chat.completions.create({ model: GPT, tools, messages: [
      { role: 'user', content: 'call spin and call other' }, two.choices[0].message,
      { role: 'tool', tool_call_id: calls[0].id, content: 'A' }, { role: 'tool', tool_call_id: calls[1].id, content: 'B' }] });
    assert.equal(after.choices[0].message.content, 'Mock answer with tool result: A B');
  });

  it('obeys a forced tool_choice with arguments sampled from the parameters schema', async () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 }, x: { type: 'boolean' } }, required: ['city', 'days'] };
    const tools = [{ type: 'function', function: { name: 'forecast', parameters } }];
    const r = await openai.chat.completions.create({
      model: GPT, tools, tool_choice: { type: 'function', function: { name: 'forecast' } },
      messages: [{ role: 'user', content: 'weather?' }] });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { city: 'mock', days: 1 });
    const required = await openai.chat.completions.create({ model: GPT, tools, tool_choice: 'required', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(required.choices[0].message.tool_calls[0].function.name, 'forecast');
  });

  it('answers valid JSON in JSON mode: json_object and json_schema (required properties by type)', async () => {
    const object = await openai.chat.completions.create({ ...request, response_format: { type: 'json_object' } });
    assert.deepEqual(JSON.parse(object.choices[0].message.content), { answer: 'Mock answer to: What is the capital of France?' });
    const schema = { type: 'object', properties: { capital: { type: 'string' }, population: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } }, kind: { enum: ['city', 'town'] } }, required: ['capital', 'population', 'tags', 'kind'] };
    const ask = { ...request, response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } };
    const r = await openai.chat.completions.create(ask);
    assert.deepEqual(JSON.parse(r.choices[0].message.content), { capital: 'mock', population: 0, tags: [], kind: 'city' });
    const streamed = await collectChat(await openai.chat.completions.create({ ...ask, stream: true }));
    assert.equal(streamed.text, r.choices[0].message.content);
  });

  it('accepts image parts and counts them as tokens (85 at detail low, else 765)', async () => {
    const image = (detail) => ({ type: 'image_url', image_url: { url: 'https://example.com/cat.png', ...(detail ? { detail } : {}) } });
    const r = await openai.chat.completions.create({ model: GPT, messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, image('low'), image()] }] });
    assert.equal(r.usage.prompt_tokens, 3 + 85 + 765);
    assert.equal(r.choices[0].message.content, 'Mock answer to: what is this');
  });
});

describe('OpenAI embeddings and models through the openai SDK', { timeout: 60000 }, () => {
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

  it('returns deterministic unit vectors (SDK default base64 and float alike) with usage', async () => {
    const input = ['the cat sat on the mat', 'the cat sat on a mat', 'quantum chromodynamics lecture notes'];
    const r = await openai.embeddings.create({ model: 'text-embedding-3-small', input });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 3);
    assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
    for (const d of r.data) {
      assert.equal(d.embedding.length, 1536);
      assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-4, 'unit length');
    }
    assert.equal(r.usage.prompt_tokens, 6 + 6 + 4);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);

    const floats = await openai.embeddings.create({ model: 'text-embedding-3-small', input, encoding_format: 'float' });
    for (let i = 0; i < 3; i++) {
      floats.data[i].embedding.forEach((x, j) => assert.ok(Math.abs(x - r.data[i].embedding[j]) < 1e-6));
    }
    // Texts sharing words are closer than unrelated ones (retrieval tests can rely on it).
    const [a, b, c] = r.data.map((d) => d.embedding);
    assert.ok(dot(a, b) > dot(a, c) + 0.3, `similar ${dot(a, b)} vs unrelated ${dot(a, c)}`);
  });

  it('honours dimensions', async () => {
    const r = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', dimensions: 8 });
    assert.equal(r.data[0].embedding.length, 8);
    const again = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', dimensions: 8 });
    assert.deepEqual(again.data[0].embedding, r.data[0].embedding);
  });

  it('lists the models given with --models', async () => {
    const ids = [];
    for await (const m of openai.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids, MODELS);
    const one = await openai.models.retrieve(GPT);
    assert.equal(one.id, GPT);
  });
});

describe('OpenAI errors reach the openai SDK as its typed errors', { timeout: 60000 }, () => {
  const request = { model: GPT, messages: [{ role: 'user', content: 'hi' }] };

  it('429 with Retry-After is a RateLimitError', async () => {
    const err = await openai.chat.completions
      .create(request, { headers: { 'x-mock-status': '429', 'x-mock-retry-after': '7' } })
      .then(() => assert.fail('expected an error'), (e) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, err.constructor.name);
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(err.headers.get('retry-after'), '7');
  });

  it('a wrong or missing key is an AuthenticationError (401)', async () => {
    for (const apiKey of ['sk-wrong', '']) {
      const client = new OpenAI({ apiKey: apiKey || 'unused', baseURL: `${mock.url}/v1`, maxRetries: 0, defaultHeaders: apiKey ? {} : { authorization: null } });
      await assert.rejects(client.chat.completions.create(request), (e) => {
        assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
        assert.equal(e.status, 401);
        assert.equal(e.type, 'invalid_request_error');
        return true;
      });
    }
  });

  it('an unknown model is a NotFoundError (404 model_not_found), a bad body a BadRequestError', async () => {
    await assert.rejects(openai.chat.completions.create({ ...request, model: 'gpt-nonexistent' }), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
      assert.equal(e.code, 'model_not_found');
      return true;
    });
    await assert.rejects(openai.chat.completions.create({ model: GPT, messages: [] }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
      assert.equal(e.param, 'messages');
      return true;
    });
    await assert.rejects(openai.embeddings.create({ model: 'text-embedding-3-small', input: '' }), OpenAI.BadRequestError);
  });

  it('5xx is an InternalServerError', async () => {
    for (const status of ['500', '503']) {
      await assert.rejects(openai.chat.completions.create(request, { headers: { 'x-mock-status': status } }), (e) => {
        assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
        assert.equal(e.status, Number(status));
        assert.equal(e.type, 'server_error');
        return true;
      });
    }
  });

  it('a malformed JSON body gets 400 in the error shape {"error":{message,type,param,code}}', async () => {
    const res = await fetch(`${mock.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{"model": "gpt-4o-mini", "messages": [',
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.type, 'invalid_request_error');
  });

  it("the SDK's own retries get past x-mock-fail-first", async () => {
    const retrying = new OpenAI({ apiKey: KEY, baseURL: `${mock.url}/v1`, maxRetries: 2 });
    const key = newKey('openai-retry');
    const headers = { 'x-mock-fail-first': '2', 'x-mock-status': '503', 'x-mock-key': key };
    const r = await retrying.chat.completions.create(request, { headers });
    assert.equal(r.choices[0].message.content, 'Mock answer to: hi');
    assert.equal((await mock.stats()).requests.by_key[key], 3, 'two failures, then the success');
    // The counter is per key: a new key fails again, and without retries the failure shows.
    await assert.rejects(openai.chat.completions.create(request, { headers: { ...headers, 'x-mock-key': newKey('openai-retry') } }),
      OpenAI.InternalServerError);
  });
});

describe('OpenAI stream faults as the openai SDK sees them', { timeout: 60000 }, () => {
  const request = { model: GPT, messages: [{ role: 'user', content: 'tell me a story' }], stream: true };

  it('x-mock-drop-after ends the stream early: no finish_reason, and the stream helper throws', async () => {
    const key = newKey('drop');
    const headers = { 'x-mock-drop-after': '3', 'x-mock-key': key };
    // The stream's head offered keep-alive (as a real upstream's does), so Node's fetch reads the
    // close before the last chunk as a broken body: the raw iteration throws after 3 tokens,
    // which arrived without finish_reason, usage or [DONE].
    let text = '';
    const chunks = [];
    const stream = await openai.chat.completions.create({ ...request, stream_options: { include_usage: true } }, { headers });
    await assert.rejects(async () => {
      for await (const c of stream) {
        chunks.push(c);
        text += c.choices[0]?.delta?.content ?? '';
      }
    }, /terminated/);
    assert.equal(text, 'Mock answer to:');
    assert.ok(chunks.every((c) => !c.choices[0]?.finish_reason && !c.usage));
    // The stream helper throws as well: at the broken body now, before it could miss finish_reason.
    await assert.rejects(openai.chat.completions.stream(request, { headers }).finalChatCompletion(), /terminated/);
    assert.equal((await mock.streamsOf(key)).dropped, 2);
  });

  it('x-mock-malformed makes the SDK throw while iterating', async () => {
    const stream = await openai.chat.completions.create(request, { headers: { 'x-mock-malformed': '2' } });
    let text = '';
    await assert.rejects(async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    }, SyntaxError);
    assert.equal(text, 'Mock answer', 'the tokens before the bad chunk arrived');
  });

  it('x-mock-chunk-bytes sends large chunks that still concatenate to the answer', async () => {
    const headers = { 'x-mock-answer-tokens': '30000' };
    const whole = await openai.chat.completions.create({ ...request, stream: false }, { headers });
    const { text, chunks } = await collectChat(await openai.chat.completions.create(request, {
      headers: { ...headers, 'x-mock-chunk-bytes': '65536' },
    }));
    assert.equal(text, whole.choices[0].message.content);
    const contents = chunks.map((c) => c.choices[0]?.delta?.content).filter(Boolean);
    assert.ok(contents.length >= 2, `several chunks (${contents.length})`);
    for (const c of contents.slice(0, -1)) assert.ok(Buffer.byteLength(c) >= 65536, `chunk of ${c.length} bytes`);
  });

  it('paces tokens (x-mock-tokens-per-second) after the delay (x-mock-delay-ms)', async () => {
    const started = Date.now();
    const stream = await openai.chat.completions.create(request, {
      headers: { 'x-mock-delay-ms': '200', 'x-mock-tokens-per-second': '40', 'x-mock-answer-tokens': '21' },
    });
    let firstTokenAt;
    let text = '';
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content && firstTokenAt === undefined) firstTokenAt = Date.now();
      text += c.choices[0]?.delta?.content ?? '';
    }
    const done = Date.now();
    assert.equal(words(text).length, 21);
    // Lower bounds only, each from the request's start to what the mock must have waited for
    // before sending it: 200 ms before the first token, then 20 gaps of 25 ms, so the last token
    // cannot arrive before 700 ms (the delay alone would end it at about 200). The time between
    // the first and the last token as the client reads them is no bound: a client busy when the
    // first token arrives reads the tokens paced meanwhile in one burst.
    assert.ok(firstTokenAt - started >= 180, `first token after ${firstTokenAt - started} ms`);
    assert.ok(done - started >= 680, `the delay and 20 paced tokens took ${done - started} ms`);
  });

  it('x-mock-drip streams until the client goes away, and the mock counts the stream cancelled', async () => {
    const key = newKey('drip');
    const stream = await openai.chat.completions.create(request, { headers: { 'x-mock-drip': '1', 'x-mock-key': key } });
    let tokens = 0;
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content) tokens += 1;
      if (tokens === 3) {
        assert.deepEqual(await mock.streamsOf(key), { open: 1, completed: 0, cancelled: 0, dropped: 0 });
        break;  // the SDK aborts the request
      }
    }
    const s = await waitFor(async () => {
      const st = await mock.streamsOf(key);
      return st.cancelled === 1 ? st : null;
    }, 'the drip to notice the client left');
    assert.deepEqual(s, { open: 0, completed: 0, cancelled: 1, dropped: 0 });
  });

  it('a non-streamed drip holds the SDK until it aborts, and the mock counts it cancelled', async () => {
    // The headers come at once, so the SDK's own `timeout` (which ends at the headers) never
    // fires: only an abort ends the wait for a body that never completes. The abort waits until
    // the SDK has the headers (seen through its `fetch` option): a fixed timer can fire first on
    // a busy machine, and an abort before the headers is the SDK's own APIUserAbortError instead.
    const key = newKey('drip-json');
    let headersIn;
    const gotHeaders = new Promise((resolve) => { headersIn = resolve; });
    const client = new OpenAI({
      apiKey: KEY,
      baseURL: `${mock.url}/v1`,
      maxRetries: 0,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        headersIn(res);
        // The body as the SDK reads it, counted on its way, so the test can wait for pieces of
        // it to have arrived instead of sleeping for a number of drip intervals.
        const counted = res.body.pipeThrough(new TransformStream({
          transform(chunk, controller) { pieces += 1; controller.enqueue(chunk); },
        }));
        return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
      },
    });
    let pieces = 0;
    const abort = new AbortController();
    let settled = false;
    const call = client.chat.completions.create({ ...request, stream: false },
      { headers: { 'x-mock-drip': '1', 'x-mock-key': key }, signal: abort.signal });
    call.then(() => { settled = true; }, () => { settled = true; });
    assert.equal((await gotHeaders).status, 200);
    // Three pieces of the dripping body have reached the SDK, and it is still waiting for the end.
    await waitFor(() => pieces >= 3, 'three pieces of the dripping body', 30000);
    assert.equal(settled, false, 'the SDK must still be waiting for the body');
    abort.abort();
    await assert.rejects(call, { name: 'AbortError' });
    await waitFor(async () => (await mock.streamsOf(key)).cancelled === 1, 'the drip to be cancelled');
  });
});

describe('stop sequences and logprobs as the SDKs see them', { timeout: 60000 }, () => {
  const messages = [{ role: 'user', content: 'What is the capital of France?' }];

  it('OpenAI: cut before the first stop sequence met, finish_reason stop, vLLM\'s stop_reason naming it', async () => {
    const r = await openai.chat.completions.create({ model: GPT, messages, stop: ['zzz', 'capital'] });
    assert.equal(r.choices[0].message.content, 'Mock answer to: What is the ');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].stop_reason, 'capital');
    const { text, chunks } = await collectChat(await openai.chat.completions.create({ model: GPT, messages, stop: 'answer', stream: true }));
    assert.equal(text, 'Mock ');
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason).choices[0].stop_reason, 'answer');
  });

  it('Anthropic: stop_reason stop_sequence with the sequence, streamed and not', async () => {
    const body = { model: CLAUDE, max_tokens: 100, messages, stop_sequences: ['capital'] };
    const m = await anthropic.messages.create(body);
    assert.equal(m.content[0].text, 'Mock answer to: What is the ');
    assert.equal(m.stop_reason, 'stop_sequence');
    assert.equal(m.stop_sequence, 'capital');
    const final = await anthropic.messages.stream(body).finalMessage();
    assert.equal(final.content[0].text, 'Mock answer to: What is the ');
    assert.equal(final.stop_sequence, 'capital');
  });

  it('OpenAI: deterministic logprobs per token (minus its length / 100) with alternatives, streamed and not', async () => {
    const r = await openai.chat.completions.create({ model: GPT, messages, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs.content;
    assert.equal(content.map((t) => t.token).join(''), r.choices[0].message.content);
    assert.deepEqual(content[1], {
      token: ' answer', logprob: -0.07, bytes: [...Buffer.from(' answer')],
      top_logprobs: [{ token: ' answer', logprob: -0.07, bytes: [...Buffer.from(' answer')] }, { token: 'alt1', logprob: -1.07, bytes: [...Buffer.from('alt1')] }],
    });
    const { chunks } = await collectChat(await openai.chat.completions.create({ model: GPT, messages, logprobs: true, stream: true }));
    const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
    assert.deepEqual(streamed.map((t) => [t.token, t.logprob]), content.map((t) => [t.token, t.logprob]));
    await assert.rejects(openai.chat.completions.create({ model: GPT, messages, top_logprobs: 2 }), OpenAI.BadRequestError);
  });
});

describe('Anthropic messages through @anthropic-ai/sdk', { timeout: 60000 }, () => {
  const request = {
    model: CLAUDE,
    max_tokens: 256,
    system: 'You are terse.',
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
  };

  it('answers with a text block, end_turn and usage', async () => {
    const m = await anthropic.messages.create(request);
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.equal(m.model, CLAUDE);
    assert.match(m.id, /^msg_/);
    assert.equal(m.content.length, 1);
    assert.equal(m.content[0].type, 'text');
    assert.equal(m.content[0].text, 'Mock answer to: What is the capital of France?');
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.input_tokens, 9);
    assert.equal(m.usage.output_tokens, 9);
    assert.equal(m.usage.cache_read_input_tokens, 0);
    assert.equal(m.usage.cache_creation_input_tokens, 0);
  });

  it('streams (messages.stream) into the same message, usage included', async () => {
    const whole = await anthropic.messages.create(request);
    const stream = anthropic.messages.stream(request);
    let text = '';
    stream.on('text', (t) => { text += t; });
    const final = await stream.finalMessage();
    assert.equal(text, whole.content[0].text);
    assert.deepEqual(final.content, whole.content);
    assert.equal(final.stop_reason, 'end_turn');
    assert.deepEqual(final.usage, whole.usage);
  });

  it('sends the real event sequence (create with stream: true, and on the wire with ping)', async () => {
    const events = [];
    for await (const e of await anthropic.messages.create({ ...request, stream: true })) events.push(e);
    const types = events.map((e) => e.type);
    const deltas = types.filter((t) => t === 'content_block_delta').length;
    assert.deepEqual(types, ['message_start', 'content_block_start',
      ...Array(deltas).fill('content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
    assert.equal(deltas, 9);
    assert.equal(events[0].message.usage.output_tokens, 1);
    assert.equal(events[0].message.usage.input_tokens, 9);
    assert.equal(events.at(-2).usage.output_tokens, 9);
    assert.equal(events.at(-2).delta.stop_reason, 'end_turn');

    const res = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ ...request, stream: true }),
    });
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const raw = await rawEvents(res);
    assert.deepEqual(raw.slice(0, 3).map((e) => e.event), ['message_start', 'content_block_start', 'ping']);
    for (const e of raw) assert.equal(JSON.parse(e.data).type, e.event, 'event name matches data.type');
  });

  it('reports cache reads and writes apart from input_tokens', async () => {
    const headers = { 'x-mock-cached-tokens': '4', 'x-mock-cache-write-tokens': '2' };
    const m = await anthropic.messages.create(request, { headers });
    assert.equal(m.usage.cache_read_input_tokens, 4);
    assert.equal(m.usage.cache_creation_input_tokens, 2);
    assert.equal(m.usage.input_tokens, 9 - 4 - 2);
    const final = await anthropic.messages.stream(request, { headers }).finalMessage();
    assert.deepEqual(final.usage, m.usage);
  });

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    const m = await anthropic.messages.create({ ...request, max_tokens: 2 });
    assert.equal(m.content[0].text, 'Mock answer');
    assert.equal(m.stop_reason, 'max_tokens');
    assert.equal(m.usage.output_tokens, 2);
    const final = await anthropic.messages.stream({ ...request, max_tokens: 2 }).finalMessage();
    assert.equal(final.stop_reason, 'max_tokens');
    assert.equal(final.usage.output_tokens, 2);
  });

  it('uses a tool when asked to "call <name>", streamed and not', async () => {
    const ask = {
      model: CLAUDE,
      max_tokens: 100,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
      messages: [{ role: 'user', content: 'call get_weather please' }],
    };
    const m = await anthropic.messages.create(ask);
    assert.equal(m.stop_reason, 'tool_use');
    assert.equal(m.content[0].type, 'tool_use');
    assert.equal(m.content[0].name, 'get_weather');
    assert.deepEqual(m.content[0].input, {});
    const final = await anthropic.messages.stream(ask).finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(final.content[0].name, 'get_weather');
    assert.deepEqual(final.content[0].input, {});

    const next = await anthropic.messages.create({
      ...ask,
      messages: [...ask.messages, { role: 'assistant', content: m.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: m.content[0].id, content: 'sunny' }] }],
    });
    assert.equal(next.stop_reason, 'end_turn');
    assert.equal(next.content[0].text, 'Mock answer with tool result: sunny');
  });

  it('keeps using a tool after its results on "keep calling <name>", until tool_choice none', async () => {
    const ask = { model: CLAUDE, max_tokens: 100, tools: [{ name: 'spin', input_schema: { type: 'object', properties: {} } }],
      messages: [{ role: 'user', content: 'keep calling spin {"n": 2}' }] };
    const m = await anthropic.messages.create(ask);
    assert.equal(m.stop_reason, 'tool_use');
    const messages = [...ask.messages, { role: 'assistant', content: m.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: m.content[0].id, content: 'spun' }] }];
    const again = await anthropic.messages.stream({ ...ask, messages }).finalMessage();
    assert.equal(again.stop_reason, 'tool_use');
    assert.deepEqual(again.content[0].input, { n: 2 });
    const done = await anthropic.messages.create({ ...ask, messages, tool_choice: { type: 'none' } });
    assert.equal(done.stop_reason, 'end_turn');
    assert.equal(done.content[0].text, 'Mock answer with tool result: spun');
  });

  it('uses a tool with the JSON input written after "call <name>", or forced by tool_choice, streamed and not', async () => {
    const input_schema = { type: 'object', properties: { city: { type: 'string' }, n: { type: 'integer' } }, required: ['city'] };
    const ask = { model: CLAUDE, max_tokens: 100, tools: [{ name: 'get_weather', input_schema }],
      messages: [{ role: 'user', content: 'call get_weather {"city": "Paris", "n": 2}' }] };
    const m = await anthropic.messages.create(ask);
    assert.deepEqual(m.content[0].input, { city: 'Paris', n: 2 });
    const final = await anthropic.messages.stream(ask).finalMessage();
    assert.deepEqual(final.content[0].input, { city: 'Paris', n: 2 }, 'the input_json_delta fragments join');
    const forced = await anthropic.messages.create({ ...ask, tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'weather?' }] });
    assert.equal(forced.stop_reason, 'tool_use');
    assert.deepEqual(forced.content[0].input, { city: 'mock' });
  });

  it('accepts image blocks and counts each as 765 tokens', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
    const m = await anthropic.messages.create({ model: CLAUDE, max_tokens: 50, messages: [{ role: 'user', content: [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      { type: 'text', text: 'what is this' }] }] });
    assert.equal(m.usage.input_tokens, 3 + 765);
    assert.equal(m.content[0].text, 'Mock answer to: what is this');
  });

  it('counts tokens and lists models in Anthropic\'s shape', async () => {
    const { input_tokens } = await anthropic.messages.countTokens({ model: CLAUDE, system: request.system, messages: request.messages });
    assert.equal(input_tokens, 9);
    const ids = [];
    for await (const m of anthropic.models.list()) {
      assert.equal(m.type, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids, MODELS);
  });
});

describe('Anthropic errors and faults as @anthropic-ai/sdk sees them', { timeout: 60000 }, () => {
  const request = { model: CLAUDE, max_tokens: 100, messages: [{ role: 'user', content: 'hi there' }] };

  it('429 is a RateLimitError, 529 an OverloadedError, 500 an InternalServerError', async () => {
    const cases = [
      ['429', Anthropic.RateLimitError, 'rate_limit_error'],
      ['529', Anthropic.OverloadedError, 'overloaded_error'],
      ['500', Anthropic.InternalServerError, 'api_error'],
    ];
    for (const [status, cls, type] of cases) {
      await assert.rejects(anthropic.messages.create(request, { headers: { 'x-mock-status': status, 'x-mock-retry-after': '3' } }), (e) => {
        assert.ok(e instanceof cls, `${status}: ${e.constructor.name}`);
        assert.equal(e.status, Number(status));
        assert.equal(e.type, type);
        assert.equal(e.error.type, 'error');
        assert.match(e.requestID, /^req_/);
        assert.equal(e.headers.get('retry-after'), '3');
        return true;
      });
    }
    // Streamed requests fail the same way, before any event.
    await assert.rejects(anthropic.messages.stream(request, { headers: { 'x-mock-status': '529' } }).finalMessage(),
      Anthropic.OverloadedError);
  });

  it('a wrong key is an AuthenticationError, an unknown model a NotFoundError', async () => {
    const wrong = new Anthropic({ apiKey: 'sk-wrong', baseURL: mock.url, maxRetries: 0 });
    await assert.rejects(wrong.messages.create(request), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, e.constructor.name);
      assert.equal(e.type, 'authentication_error');
      return true;
    });
    await assert.rejects(anthropic.messages.create({ ...request, model: 'claude-nonexistent' }), Anthropic.NotFoundError);
    await assert.rejects(anthropic.messages.create({ ...request, max_tokens: undefined }), Anthropic.BadRequestError);
  });

  it('requires anthropic-version (400 invalid_request_error)', async () => {
    const res = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /anthropic-version/);
  });

  it("the SDK's own retries get past x-mock-fail-first", async () => {
    const retrying = new Anthropic({ apiKey: KEY, baseURL: mock.url, maxRetries: 2 });
    const key = newKey('anthropic-retry');
    const m = await retrying.messages.create(request, {
      headers: { 'x-mock-fail-first': '2', 'x-mock-status': '529', 'x-mock-key': key },
    });
    assert.equal(m.content[0].text, 'Mock answer to: hi there');
    assert.equal((await mock.stats()).requests.by_key[key], 3);
  });

  it('x-mock-drop-after and x-mock-malformed make the stream reject', async () => {
    const key = newKey('anthropic-drop');
    const dropped = anthropic.messages.stream(request, { headers: { 'x-mock-drop-after': '2', 'x-mock-key': key } });
    let text = '';
    dropped.on('text', (t) => { text += t; });
    await assert.rejects(dropped.finalMessage(), Anthropic.AnthropicError);
    assert.equal(text, 'Mock answer');
    assert.equal((await mock.streamsOf(key)).dropped, 1);

    await assert.rejects(anthropic.messages.stream(request, { headers: { 'x-mock-malformed': '1' } }).finalMessage(),
      /JSON/);
  });

  it('a drip is cancelled when the SDK aborts the stream', async () => {
    const key = newKey('anthropic-drip');
    const stream = anthropic.messages.stream(request, { headers: { 'x-mock-drip': 'true', 'x-mock-key': key } });
    let tokens = 0;
    await new Promise((resolve) => {
      stream.on('text', () => { if (++tokens === 2) resolve(); });
    });
    stream.abort();
    await assert.rejects(stream.finalMessage(), Anthropic.APIUserAbortError);
    await waitFor(async () => (await mock.streamsOf(key)).cancelled === 1, 'the drip to be cancelled');
  });
});

describe('mock-llm flags and non-streamed faults', { timeout: 60000 }, () => {
  it('flags set the defaults, x-mock-* headers override them', async () => {
    // --delay-ms is shown by order, not by a stopwatch: a call on the 10-minute default is still
    // waiting after the mock counted it and answered a later call that overrode the delay.
    const other = await startMockLlm({ args: ['--answer-tokens', '5', '--delay-ms', '600000'] });
    const held = new AbortController();
    try {
      const client = new OpenAI({ apiKey: 'any', baseURL: `${other.url}/v1`, maxRetries: 0 });
      const request = { model: 'any-model-is-fine', messages: [{ role: 'user', content: 'hello' }] };
      const key = newKey('default-delay');
      let settled = false;
      const slow = client.chat.completions.create(request, { headers: { 'x-mock-key': key }, signal: held.signal })
        .then(() => { settled = true; }, (e) => { settled = true; return e; });
      await waitFor(async () => ((await other.stats()).requests.by_key[key] ?? 0) === 1, 'the default-delay call to arrive');
      const r = await client.chat.completions.create(request, { headers: { 'x-mock-delay-ms': '0' } });
      assert.equal(r.choices[0].message.content, 'Mock answer to: hello lorem', '--answer-tokens 5 applies');
      assert.equal(r.model, 'any-model-is-fine', 'without --models any model is accepted');
      assert.equal(settled, false, 'the --delay-ms default holds the first call');
      held.abort();
      assert.ok((await slow) instanceof OpenAI.APIUserAbortError);
      const o = await client.chat.completions.create(request, { headers: { 'x-mock-answer-tokens': '2', 'x-mock-delay-ms': '0' } });
      assert.equal(o.choices[0].message.content, 'Mock answer');
      await assert.rejects(client.chat.completions.create(request, { headers: { 'x-mock-delay-ms': 'soon' } }), (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError);
        assert.match(e.message, /x-mock-delay-ms/);
        return true;
      });
    } finally {
      held.abort();
      await other.stop();
    }
  });

  it('x-mock-drop-after cuts a non-streamed body, x-mock-malformed sends invalid JSON: the SDKs throw', async () => {
    const request = { model: GPT, messages: [{ role: 'user', content: 'hi' }] };
    const key = newKey('json-drop');
    await assert.rejects(openai.chat.completions.create(request, { headers: { 'x-mock-drop-after': '1', 'x-mock-key': key } }));
    assert.equal((await mock.streamsOf(key)).dropped, 1);
    await assert.rejects(openai.chat.completions.create(request, { headers: { 'x-mock-malformed': '1' } }));
    const claude = { model: CLAUDE, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    await assert.rejects(anthropic.messages.create(claude, { headers: { 'x-mock-drop-after': '1' } }));
    await assert.rejects(anthropic.messages.create(claude, { headers: { 'x-mock-malformed': '1' } }));
  });
});

describe('mock-llm stats', { timeout: 60000 }, () => {
  it('counts requests by path and by key', async () => {
    const key = newKey('stats');
    const before = await mock.stats();
    await openai.chat.completions.create({ model: GPT, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-mock-key': key } });
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }, { headers: { 'x-mock-key': key } });
    const after = await mock.stats();
    assert.equal(after.requests.by_key[key], 2);
    assert.equal(after.requests.by_path['/v1/chat/completions'], before.requests.by_path['/v1/chat/completions'] + 1);
    assert.equal(after.requests.by_path['/v1/embeddings'], before.requests.by_path['/v1/embeddings'] + 1);
    assert.equal(after.requests.total, before.requests.total + 2);
    assert.equal(after.streams.open, 0);
  });

  it('POST /mock/reset zeroes the counters', async () => {
    const res = await fetch(`${mock.url}/mock/reset`, { method: 'POST' });
    assert.equal(res.status, 204);
    const s = await mock.stats();
    assert.equal(s.requests.total, 0);
    assert.deepEqual(s.requests.by_key, {});
    assert.equal(s.streams.cancelled, 0);
  });
});
