// The official `@anthropic-ai/sdk` works against the service's Anthropic Messages API
// (/api/ai/v1/messages): baseURL is the service's /api/ai, apiKey the user's JWT (the SDK sends it
// as x-api-key; a Bearer token works too). Every feature is tested through a model served by an
// Anthropic upstream AND one served by an OpenAI-compatible upstream (tools/mock-llm speaks
// both), since the service translates either through its provider port: plain and streamed
// messages (the exact event sequence), system, stop_sequences, usage with cache fields, tools with
// tool_use / tool_result round trips, base64 images; CORS for the SDK's headers from a browser
// page; and errors as the SDK's typed classes in Anthropic's error shape, with nothing billed for
// a refused request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

import { UUID_V7, assertOk } from './lib/assert.mjs';
import { bothWireModels, startWithMockLlm } from './lib/upstream.mjs';

// The first bytes of a PNG file, then padding: enough for the service's magic-byte check.
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(16)]).toString('base64');
const WEATHER = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const ORIGIN = 'https://app.example.com';
const QUESTION = 'What is the capital of France?';
const ANSWER = `Mock answer to: ${QUESTION}`;

let mock;
let svc;
before(async () => {
  ({ mock, svc } = await startWithMockLlm((url) => `models:
${bothWireModels(url)}  - name: claude-cached
    deployments:
      - {provider: anthropic, model: claude-3-5-haiku-latest, base_url: "${url}/v1", api_key: sk, headers: {x-mock-cached-tokens: "2", x-mock-cache-write-tokens: "1"}}
  - name: claude-busy
    deployments:
      - {provider: anthropic, model: claude-3-5-haiku-latest, base_url: "${url}/v1", api_key: sk, headers: {x-mock-status: "429", x-mock-retry-after: "30"}}
`, { env: { RETRY_MAX_ATTEMPTS: '1', BREAKER_FAILURES: '1000', CORS_ORIGINS: ORIGIN } }));
});
after(async () => {
  await svc?.stop();
  await mock?.stop();
});

const client = (user, opts = {}) => new Anthropic({ baseURL: `${svc.url}/api/ai`, apiKey: svc.token(user), maxRetries: 0, ...opts });
const usageOf = async (user) => assertOk(await svc.get('/api/ai/usage/me', { token: svc.token(user) })).totals;
const textOf = (message) => message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

for (const model of ['claude', 'gpt']) {
  describe(`messages with model ${model} (${model === 'claude' ? 'an Anthropic' : 'an OpenAI-compatible'} upstream)`, { timeout: 60000 }, () => {
    it('answers a plain message with text, end_turn and usage, and bills it', async () => {
      const user = `plain-${model}`;
      const r = await client(user).messages.create({
        model, max_tokens: 100, system: 'You are terse.', messages: [{ role: 'user', content: QUESTION }],
      });
      assert.equal(r.type, 'message');
      assert.equal(r.role, 'assistant');
      assert.match(r.id, /^msg_/);
      assert.equal(r.model, model);
      assert.deepEqual(r.content, [{ type: 'text', text: ANSWER }]);
      assert.equal(r.stop_reason, 'end_turn');
      assert.equal(r.stop_sequence, null);
      // mock-llm counts words: 3 of system + 6 of question in, 9 out.
      assert.deepEqual(r.usage, { input_tokens: 9, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
      const totals = await usageOf(user);
      assert.equal(totals.requests, 1);
      assert.equal(totals.inputTokens, 9);
      assert.equal(totals.outputTokens, 9);
    });

    it('streams the exact event sequence, and the SDK assembles the same message', async () => {
      const stream = client(`stream-${model}`).messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: QUESTION }] });
      const types = [];
      let text = '';
      stream.on('streamEvent', (e) => {
        types.push(e.type);
        if (e.type === 'content_block_delta') text += e.delta.text;
      });
      const final = await stream.finalMessage();
      const deltas = types.filter((t) => t === 'content_block_delta').length;
      assert.ok(deltas >= 2, 'one delta per token');
      const sequence = ['message_start', 'content_block_start', ...Array(deltas).fill('content_block_delta'),
        'content_block_stop', 'message_delta', 'message_stop'];
      assert.deepEqual(types, sequence, 'as the SDK sees them (it drops ping)');
      // On the wire: the same, a ping after message_start, each event's data naming its type.
      const res = await fetch(`${svc.url}/api/ai/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': svc.token(`stream-${model}`), 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model, max_tokens: 100, stream: true, messages: [{ role: 'user', content: QUESTION }] }),
      });
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('event: ')).map((e) => {
        const [name, data] = e.split('\n');
        assert.equal(JSON.parse(data.slice('data: '.length)).type, name.slice('event: '.length));
        return name.slice('event: '.length);
      });
      assert.deepEqual(events, [sequence[0], 'ping', ...sequence.slice(1)]);
      assert.equal(text, ANSWER);
      assert.equal(final.content.length, 1);
      assert.equal(final.content[0].type, 'text');
      assert.equal(final.content[0].text, ANSWER);
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.output_tokens, 9);
      assert.equal(final.usage.input_tokens, 6);
    });

    it('accepts system as text blocks, several text blocks joined a newline apart, and cuts at max_tokens', async () => {
      const r = await client(`blocks-${model}`).messages.create({
        model, max_tokens: 3,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'world' }] }],
      });
      assert.equal(textOf(r), 'Mock answer to:');
      assert.equal(r.stop_reason, 'max_tokens');
      assert.equal(r.usage.input_tokens, 4, '2 words of system + 2 of the two blocks');
    });

    it('stops at a stop sequence: stop_reason stop_sequence naming it, streamed and not', async () => {
      // mock-llm honours stop sequences in both wire formats; an OpenAI-compatible upstream names
      // the one that matched as vLLM does (choices[].stop_reason), which the service carries.
      const body = { model, max_tokens: 100, stop_sequences: ['never', 'capital'], messages: [{ role: 'user', content: QUESTION }] };
      const r = await client(`stopseq-${model}`).messages.create(body);
      assert.equal(textOf(r), 'Mock answer to: What is the ');
      assert.equal(r.stop_reason, 'stop_sequence');
      assert.equal(r.stop_sequence, 'capital');
      const final = await client(`stopseq-${model}`).messages.stream(body).finalMessage();
      assert.equal(textOf(final), 'Mock answer to: What is the ');
      assert.equal(final.stop_reason, 'stop_sequence');
      assert.equal(final.stop_sequence, 'capital');
      // No sequence met: end_turn, stop_sequence null.
      const plain = await client(`stopseq-${model}`).messages.create({ ...body, stop_sequences: ['never'] });
      assert.equal(plain.stop_reason, 'end_turn');
      assert.equal(plain.stop_sequence, null);
    });

    it('calls a tool and takes its result back (tool_use / tool_result), streamed and not', async () => {
      const anthropic = client(`tools-${model}`);
      const ask = { role: 'user', content: 'Please call get_weather {"city": "Paris"}' };
      const r = await anthropic.messages.create({ model, max_tokens: 100, tools: [WEATHER], messages: [ask] });
      assert.equal(r.stop_reason, 'tool_use');
      const uses = r.content.filter((b) => b.type === 'tool_use');
      assert.equal(uses.length, 1);
      assert.equal(uses[0].name, 'get_weather');
      assert.deepEqual(uses[0].input, { city: 'Paris' });
      assert.ok(uses[0].id);

      const streamed = await anthropic.messages.stream({ model, max_tokens: 100, tools: [WEATHER], messages: [ask] }).finalMessage();
      assert.equal(streamed.stop_reason, 'tool_use');
      const streamedUse = streamed.content.find((b) => b.type === 'tool_use');
      assert.equal(streamedUse.name, 'get_weather');
      assert.deepEqual(streamedUse.input, { city: 'Paris' }, 'the input_json_delta pieces join into the input');

      const back = await anthropic.messages.create({
        model, max_tokens: 100, tools: [WEATHER],
        messages: [ask, { role: 'assistant', content: r.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: 'Sunny, 21 C' }] }],
      });
      assert.equal(textOf(back), 'Mock answer with tool result: Sunny, 21 C');
      assert.equal(back.stop_reason, 'end_turn');
    });

    it('forces a tool with tool_choice {type: tool}', async () => {
      const r = await client(`forced-${model}`).messages.create({
        model, max_tokens: 100, tools: [WEATHER], tool_choice: { type: 'tool', name: 'get_weather' },
        messages: [{ role: 'user', content: 'Weather?' }],
      });
      assert.equal(r.stop_reason, 'tool_use');
      assert.deepEqual(r.content.find((b) => b.type === 'tool_use').input, { city: 'mock' });
    });

    it('takes a base64 image (counted as the upstream counts it)', async () => {
      const r = await client(`image-${model}`).messages.create({
        model, max_tokens: 100,
        messages: [{ role: 'user', content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
          { type: 'text', text: 'What is this?' },
        ] }],
      });
      assert.equal(textOf(r), 'Mock answer to: What is this?');
      assert.equal(r.usage.input_tokens, 3 + 765, "mock-llm's words plus its 765 per image");
    });
  });
}

describe('messages: what only the API shape decides', { timeout: 60000 }, () => {
  it('reports the prompt cache in Anthropic\'s fields (input_tokens excludes cache reads and writes)', async () => {
    const r = await client('cache').messages.create({ model: 'claude-cached', max_tokens: 100, messages: [{ role: 'user', content: QUESTION }] });
    assert.deepEqual(r.usage, { input_tokens: 3, output_tokens: 9, cache_creation_input_tokens: 1, cache_read_input_tokens: 2 });
  });

  it('accepts the token as a Bearer token too (authToken)', async () => {
    const anthropic = new Anthropic({ baseURL: `${svc.url}/api/ai`, apiKey: null, authToken: svc.token('bearer'), maxRetries: 0 });
    const r = await anthropic.messages.create({ model: 'claude', max_tokens: 100, messages: [{ role: 'user', content: QUESTION }] });
    assert.equal(textOf(r), ANSWER);
  });
});

describe('messages from a browser page (CORS_ORIGINS)', { timeout: 30000 }, () => {
  it('grants the preflight the headers the SDK sends, and exposes the request id and X-Cache', async () => {
    // What @anthropic-ai/sdk sends from a browser (dangerouslyAllowBrowser): its key, version and telemetry headers.
    const asked = 'anthropic-dangerous-direct-browser-access,anthropic-version,content-type,x-api-key,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-retry-count,x-stainless-timeout';
    const preflight = await fetch(`${svc.url}/api/ai/v1/messages`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': asked },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    const granted = preflight.headers.get('access-control-allow-headers').toLowerCase().split(/,\s*/);
    for (const h of asked.split(',')) assert.ok(granted.includes(h), `${h} granted: ${granted}`);

    const res = await fetch(`${svc.url}/api/ai/v1/messages`, {
      method: 'POST',
      headers: { origin: ORIGIN, 'x-api-key': svc.token('browser'), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: QUESTION }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cache'), 'miss', 'a deterministic request says whether the cache answered');
    const exposed = res.headers.get('access-control-expose-headers').toLowerCase().split(/,\s*/);
    for (const h of ['x-request-id', 'request-id', 'x-cache', 'retry-after']) assert.ok(exposed.includes(h), `${h} exposed: ${exposed}`);
    // Another origin gets no CORS grant.
    const foreign = await fetch(`${svc.url}/api/ai/v1/messages`, {
      method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  });
});

describe('messages: errors are the SDK\'s typed errors, in Anthropic\'s shape', { timeout: 60000 }, () => {
  it('a bad token is an AuthenticationError (401) with the request id', async () => {
    const anthropic = new Anthropic({ baseURL: `${svc.url}/api/ai`, apiKey: 'not-a-jwt', maxRetries: 0 });
    const e = await anthropic.messages.create({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).then(assert.fail, (x) => x);
    assert.ok(e instanceof Anthropic.AuthenticationError, `${e.constructor.name} ${e.message}`);
    assert.equal(e.status, 401);
    assert.equal(e.error.type, 'error');
    assert.equal(e.error.error.type, 'authentication_error');
    assert.match(e.requestID, UUID_V7);
    assert.equal(e.error.request_id, e.requestID);
  });

  const bad = [
    ['no max_tokens', { model: 'claude', messages: [{ role: 'user', content: 'hi' }] }, /'max_tokens' is required/],
    ['no model', { max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, /'model' is required/],
    ['a system role in messages', { model: 'claude', max_tokens: 10, messages: [{ role: 'system', content: 'hi' }] }, /'messages\[0\]\.role' must be user or assistant/],
    ['temperature 1.5', { model: 'claude', max_tokens: 10, temperature: 1.5, messages: [{ role: 'user', content: 'hi' }] }, /'temperature' must be between 0 and 1/],
    ['a tool_result answering no call', { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'x', content: 'r' }] }] }, /tool_call_id/],
    ['a broken image', { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: '!!!!' } }] }] }, /image/],
    ['top_k', { model: 'claude', max_tokens: 10, top_k: 5, messages: [{ role: 'user', content: 'hi' }] }, /'top_k' is not supported/],
  ];
  for (const [what, body, message] of bad) {
    it(`${what} is a BadRequestError (400 invalid_request_error) naming the field`, async () => {
      const e = await client('bad').messages.create(body).then(assert.fail, (x) => x);
      assert.ok(e instanceof Anthropic.BadRequestError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.error.error.type, 'invalid_request_error');
      assert.match(e.error.error.message, message);
    });
  }

  it('a malformed body is a 400 in Anthropic\'s shape, and nothing was billed for any refusal', async () => {
    const res = await fetch(`${svc.url}/api/ai/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': svc.token('bad'), 'content-type': 'application/json' }, body: '{"model": ',
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(typeof body.error.message, 'string');
    assert.equal(body.request_id, res.headers.get('request-id'));
    assert.equal((await usageOf('bad')).requests, 0);
  });

  it('an upstream 429 is a RateLimitError with Retry-After, streamed or not', async () => {
    for (const stream of [false, true]) {
      const e = await client('busy').messages.create({ model: 'claude-busy', max_tokens: 10, stream, messages: [{ role: 'user', content: 'hi' }] }).then(assert.fail, (x) => x);
      assert.ok(e instanceof Anthropic.RateLimitError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.error.error.type, 'rate_limit_error');
      assert.equal(e.headers.get('retry-after'), '30');
    }
  });

  it('answers what no handler decides (405, 415) in Anthropic\'s shape too', async () => {
    const wrongMethod = await fetch(`${svc.url}/api/ai/v1/messages`, { method: 'GET', headers: { 'x-api-key': svc.token('x') } });
    assert.equal(wrongMethod.status, 405);
    assert.deepEqual(Object.keys(await wrongMethod.json()), ['type', 'error', 'request_id']);
    const notJson = await fetch(`${svc.url}/api/ai/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': svc.token('x'), 'content-type': 'text/plain' }, body: 'hi',
    });
    assert.equal(notJson.status, 415);
    const body = await notJson.json();
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
  });
});
