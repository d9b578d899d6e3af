// The official `openai` SDK works against the service's OpenAI-compatible gateway (/api/ai/v1).
//
// baseURL is the service's /api/ai/v1 and apiKey the user's JWT, as docs/openapi.yaml tells a
// client to do; the models route to a real upstream (tools/mock-llm) over OpenAI's and Anthropic's
// wire formats. Covered: completions streamed (with and without include_usage) and not, usage as
// the upstream reported it, an Anthropic-backed model behind the same OpenAI surface, the model
// list, and every refusal the SDK should type (401, 400, 429 with Retry-After, 502), including a
// stream that breaks after it started, which must reach the SDK's iterator as an error; and two
// streamed calls over one kept-alive connection (the gateway's and mock-llm's).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';

import { UUID_V7, loadSpec } from './lib/assert.mjs';
import { randomSecret, makeToken } from './lib/jwt.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, startService } from './lib/service.mjs';

const UPSTREAM_KEY = 'sk-mock-gateway';
const RETRY_MAX_ATTEMPTS = 3;

// The gateway's models: name -> [provider, upstream model, extra x-mock-* headers]. Each gets its
// own x-mock-key so mock-llm's stats show how many upstream requests each one caused.
const MODELS = {
  'gpt-4o-mini': ['openai', 'gpt-4o-mini', {}],
  'claude-haiku': ['anthropic', 'claude-3-5-haiku-latest', {}],
  // Retry-After 30 is beyond the router's 20 s cap: it is not waited for, the client is told.
  'gpt-busy': ['openai', 'gpt-4o-mini', { 'x-mock-status': '429', 'x-mock-retry-after': '30' }],
  'gpt-broken': ['openai', 'gpt-4o-mini', { 'x-mock-status': '500' }],
  // Streamed: 3 tokens, then the connection closes without finish_reason or [DONE].
  'gpt-dropping': ['openai', 'gpt-4o-mini', { 'x-mock-drop-after': '3' }],
};
const mockKey = (model) => `gateway-${model}`;

// The same two turns for every happy-path test: 3 + 6 words of prompt, and mock-llm's answer
// "Mock answer to: <last user message>" has 9 words.
const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is the capital of France?' },
];
const ANSWER = 'Mock answer to: What is the capital of France?';
const words = (text) => text.split(/\s+/).filter(Boolean);

// The responses docs/openapi.yaml documents for the gateway's completion endpoint.
const documentedStatuses = () =>
  Object.keys(loadSpec().spec.paths['/api/ai/v1/chat/completions'].post.responses).map(Number);

// Collects an SDK chat stream: the concatenated text and every chunk.
async function collectChat(stream) {
  let text = '';
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return { text, chunks };
}

// The rejection of a promise (fails the test when it resolves).
const rejectionOf = (promise) => promise.then((v) => assert.fail(`expected an error, got ${JSON.stringify(v)}`), (e) => e);

describe('the OpenAI-compatible gateway through the openai SDK', { timeout: 60000 }, () => {
  let mock;
  let svc;
  let openai;  // the gateway, as a user's client sees it
  let direct;  // mock-llm itself, for the upstream's own figures

  before(async () => {
    // --models: an upstream model name the service got wrong would be a 404 here, not an answer;
    // --require-key: each vendor's auth header must carry the configured key.
    mock = await startMockLlm({ args: ['--require-key', UPSTREAM_KEY, '--models', 'gpt-4o-mini,claude-3-5-haiku-latest'] });
    const dir = makeTempDir();
    const lines = ['models:'];
    for (const [name, [provider, model, headers]] of Object.entries(MODELS)) {
      const h = Object.entries({ 'x-mock-key': mockKey(name), ...headers }).map(([k, v]) => `${k}: "${v}"`).join(', ');
      lines.push(`  - name: ${name}`);
      if (name === 'gpt-4o-mini') lines.push('    price: {input: 0.15, output: 0.60}');
      lines.push('    deployments:');
      // Both providers append their path to base_url: {base}/chat/completions, {base}/messages.
      lines.push(`      - {provider: ${provider}, model: ${model}, base_url: "${mock.url}/v1", api_key: ${UPSTREAM_KEY}, headers: {${h}}}`);
    }
    const file = path.join(dir, 'models.yaml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    svc = await startService({
      dir,
      env: {
        AI_CONFIG: file,
        RETRY_MAX_ATTEMPTS: String(RETRY_MAX_ATTEMPTS),
        RETRY_BASE_DELAY_MS: '10',
        RETRY_MAX_DELAY_MS: '50',
        // The fault models fail on purpose, more than once: their breakers must stay closed so
        // that each test sees the upstream's answer, not an open circuit's.
        BREAKER_FAILURES: '1000',
      },
    });
    openai = new OpenAI({ baseURL: `${svc.url}/api/ai/v1`, apiKey: svc.token('user-1'), maxRetries: 0 });
    direct = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: UPSTREAM_KEY, maxRetries: 0 });
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  // Upstream requests that carried one model's x-mock-key so far.
  const upstreamRequests = async (model) => (await mock.stats()).requests.by_key[mockKey(model)] ?? 0;

  describe('completions', () => {
    it('answers non-streamed with mock-llm\'s answer, its usage, the model name and finish_reason', async () => {
      const before = await upstreamRequests('gpt-4o-mini');
      const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
      assert.equal(r.object, 'chat.completion');
      assert.match(r.id, /^chatcmpl-/);
      assert.equal(r.model, 'gpt-4o-mini');
      assert.ok(Number.isInteger(r.created) && Math.abs(r.created - Date.now() / 1000) < 300, `created ${r.created}`);
      assert.equal(r.choices.length, 1);
      assert.equal(r.choices[0].index, 0);
      assert.equal(r.choices[0].message.role, 'assistant');
      assert.equal(r.choices[0].message.content, ANSWER);
      assert.equal(r.choices[0].finish_reason, 'stop');
      // mock-llm's rule: a token is a whitespace-separated word of any message.
      assert.equal(r.usage.prompt_tokens, 3 + 6);
      assert.equal(r.usage.completion_tokens, words(ANSWER).length);
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
      // The same figures the upstream reports for the same request.
      const up = await direct.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
      assert.equal(up.choices[0].message.content, r.choices[0].message.content);
      for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.equal(r.usage[k], up.usage[k], k);
      assert.equal(await upstreamRequests('gpt-4o-mini'), before + 1, 'one upstream request, through the configured deployment');
      // The SDK exposes the service's X-Request-Id.
      const { response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }).withResponse();
      assert.match(response.headers.get('x-request-id'), UUID_V7);
    });

    it('passes max_tokens through: the answer is cut with finish_reason length', async () => {
      const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, max_tokens: 3 });
      assert.equal(r.choices[0].message.content, 'Mock answer to:');
      assert.equal(r.choices[0].finish_reason, 'length');
      assert.equal(r.usage.completion_tokens, 3);
    });

    it('streams deltas that concatenate to the non-streamed answer, with a usage chunk when asked', async () => {
      const whole = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
      const { text, chunks } = await collectChat(await openai.chat.completions.create({
        model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true },
      }));
      assert.equal(text, whole.choices[0].message.content);
      assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id && c.model === 'gpt-4o-mini'));
      assert.match(chunks[0].id, /^chatcmpl-/);
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      assert.ok(chunks.filter((c) => c.choices[0]?.delta?.content).length >= words(ANSWER).length,
        'the answer arrives in pieces, one per upstream token');
      const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
      assert.equal(finishes.length, 1);
      assert.equal(finishes[0].choices[0].finish_reason, 'stop');
      // The usage chunk is last, has no choices, and carries the same usage as the non-streamed call.
      const last = chunks.at(-1);
      assert.deepEqual(last.choices, []);
      assert.deepEqual(last.usage, whole.usage);
      assert.ok(chunks.slice(0, -1).every((c) => c.usage == null), 'only the last chunk carries usage');
    });

    it('streams without any usage chunk when include_usage is not asked for', async () => {
      const { text, chunks } = await collectChat(await openai.chat.completions.create({
        model: 'gpt-4o-mini', messages: MESSAGES, stream: true,
      }));
      assert.equal(text, ANSWER);
      assert.ok(chunks.every((c) => c.usage == null), 'no usage anywhere');
      assert.ok(chunks.every((c) => c.choices.length === 1), 'no choice-less usage chunk');
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    });

    it('is assembled by the SDK stream helper into the same completion', async () => {
      const whole = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
      const final = await openai.chat.completions
        .stream({ model: 'gpt-4o-mini', messages: MESSAGES, stream_options: { include_usage: true } })
        .finalChatCompletion();
      assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
      assert.equal(final.choices[0].finish_reason, 'stop');
      assert.deepEqual(final.usage, whole.usage);
    });

    it('serves an Anthropic-backed model through the same OpenAI surface, streamed and not', async () => {
      const before = (await mock.stats()).requests.by_path['/v1/messages'] ?? 0;
      const r = await openai.chat.completions.create({ model: 'claude-haiku', messages: MESSAGES });
      assert.equal(r.model, 'claude-haiku', 'the gateway\'s model name, not the upstream\'s');
      assert.equal(r.choices[0].message.content, ANSWER);
      assert.equal(r.choices[0].finish_reason, 'stop', 'Anthropic\'s end_turn becomes stop');
      // The system message went to Anthropic's `system`, which mock-llm counts too.
      assert.equal(r.usage.prompt_tokens, 9);
      assert.equal(r.usage.completion_tokens, 9);
      assert.equal(r.usage.total_tokens, 18);

      const { text, chunks } = await collectChat(await openai.chat.completions.create({
        model: 'claude-haiku', messages: MESSAGES, stream: true, stream_options: { include_usage: true },
      }));
      assert.equal(text, ANSWER);
      assert.ok(chunks.every((c) => c.model === 'claude-haiku'));
      assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length, 1);
      assert.deepEqual(chunks.at(-1).usage, r.usage);
      // Both calls went to the Anthropic route of the upstream, not its OpenAI one.
      assert.equal((await mock.stats()).requests.by_path['/v1/messages'], before + 2);
    });

    it('lists the configured models (and the offline mock) with models.list()', async () => {
      const ids = [];
      for await (const m of openai.models.list()) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.owned_by, 'string');
        ids.push(m.id);
      }
      assert.deepEqual(ids, [...Object.keys(MODELS), 'mock']);
    });
  });

  describe('errors reach the SDK as its typed errors', () => {
    it('a bad, expired or wrongly signed token is an AuthenticationError (401)', async () => {
      const tokens = {
        garbage: 'not-a-jwt',
        expired: svc.token('user-1', { ttl: -3600 }),
        'wrong secret': makeToken(randomSecret(), { sub: 'user-1' }),
      };
      for (const [what, apiKey] of Object.entries(tokens)) {
        const client = new OpenAI({ baseURL: `${svc.url}/api/ai/v1`, apiKey, maxRetries: 0 });
        for (const call of [
          () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }),
          () => client.models.list(),
        ]) {
          const e = await rejectionOf(call());
          assert.ok(e instanceof OpenAI.AuthenticationError, `${what}: ${e.constructor.name} ${e.message}`);
          assert.equal(e.status, 401);
          assert.equal(e.code, 'unauthorized', `${what}: the service's error code`);
          assert.match(e.requestID, UUID_V7);
        }
      }
      assert.ok(documentedStatuses().includes(401));
    });

    it('an unknown model is a NotFoundError (404 model_not_found), as OpenAI answers and openapi.yaml documents', async () => {
      const before = (await mock.stats()).requests.total;
      const e = await rejectionOf(openai.chat.completions.create({ model: 'gpt-nonexistent', messages: MESSAGES }));
      assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.param, 'model');
      assert.match(e.message, /model 'gpt-nonexistent' does not exist/);
      assert.ok(documentedStatuses().includes(404));
      // Streamed too: refused as JSON before any stream starts.
      const s = await rejectionOf(openai.chat.completions.create({ model: 'gpt-nonexistent', messages: MESSAGES, stream: true }));
      assert.ok(s instanceof OpenAI.NotFoundError, s.constructor.name);
      assert.equal((await mock.stats()).requests.total, before, 'nothing went upstream');
    });

    it('an invalid body is a BadRequestError (400) naming the field', async () => {
      const cases = [
        [{ model: 'gpt-4o-mini' }, /'messages'/],
        [{ model: 'gpt-4o-mini', messages: [] }, /'messages'/],
        [{ messages: MESSAGES }, /'model'/],
        [{ model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'hi' }] }, /role/],
        [{ model: 'gpt-4o-mini', messages: MESSAGES, temperature: 3 }, /temperature/],
        [{ model: 'gpt-4o-mini', messages: MESSAGES, n: 9 }, /'n' must be an integer from 1 to 8/],
      ];
      for (const [body, field] of cases) {
        const e = await rejectionOf(openai.chat.completions.create(body));
        assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e.constructor.name}`);
        assert.equal(e.status, 400);
        assert.equal(e.code, 'invalid_request');
        assert.match(e.message, field);
      }
    });

    it('an upstream 429 with Retry-After beyond the router\'s cap is a RateLimitError with Retry-After', async () => {
      const before = await upstreamRequests('gpt-busy');
      const e = await rejectionOf(openai.chat.completions.create({ model: 'gpt-busy', messages: MESSAGES }));
      assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.headers.get('retry-after'), '30', 'the upstream\'s Retry-After is passed on');
      // One attempt: the 30 s asked for were not waited for, nor retried sooner.
      assert.equal(await upstreamRequests('gpt-busy'), before + 1, 'no retry when the wait asked for is beyond the cap');
      assert.ok(documentedStatuses().includes(429));
    });

    it('an upstream 500 on every attempt is an InternalServerError with status 502', async () => {
      const before = await upstreamRequests('gpt-broken');
      const e = await rejectionOf(openai.chat.completions.create({ model: 'gpt-broken', messages: MESSAGES }));
      assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 502);
      assert.equal(e.code, 'upstream_error');
      assert.equal(await upstreamRequests('gpt-broken'), before + RETRY_MAX_ATTEMPTS, 'the router retried each attempt');
      assert.ok(documentedStatuses().includes(502));
    });

    it('a streamed request whose upstream fails before any token is refused with its status, like a non-streamed one', async () => {
      // Nothing of the stream is sent before the first token (the role chunk goes out with it),
      // so the failure is a 502 with a JSON error: the SDK raises its typed error at create(),
      // and would retry a 5xx or 429 as it does for any request.
      const before = await upstreamRequests('gpt-broken');
      const e = await rejectionOf(openai.chat.completions.create({ model: 'gpt-broken', messages: MESSAGES, stream: true }));
      assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 502);
      assert.equal(e.code, 'upstream_error');
      assert.match(e.headers.get('x-request-id') ?? '', UUID_V7, 'the request id survives the replaced response');
      assert.equal(await upstreamRequests('gpt-broken'), before + RETRY_MAX_ATTEMPTS);
    });
  });

  describe('keep-alive after a streamed response', () => {
    // Two streamed calls, one after the other, through an agent with one kept-alive socket: the
    // second must go over the first's connection (an SDK streaming call after call stops paying
    // a new connection per call). POSTs `body` to `url` with `token`; resolves the text of the
    // SSE body, the client's local port and whether the socket was a reused one.
    const streamOnce = (agent, url, token, body) => new Promise((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST', agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({
          status: res.statusCode, connection: res.headers.connection, text,
          port: req.socket.localPort, reused: req.reusedSocket,
        }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });

    for (const [who, target] of [['the gateway', () => [`${svc.url}/api/ai/v1/chat/completions`, svc.token('user-1')]],
      ['mock-llm (the same HTTP server)', () => [`${mock.url}/v1/chat/completions`, UPSTREAM_KEY]]]) {
      it(`${who} serves two streamed calls over one connection`, async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const [url, token] = target();
          const body = { model: 'gpt-4o-mini', messages: MESSAGES, stream: true };
          const first = await streamOnce(agent, url, token, body);
          const second = await streamOnce(agent, url, token, body);
          for (const r of [first, second]) {
            assert.equal(r.status, 200);
            assert.notEqual(r.connection, 'close');
            assert.match(r.text, /data: \[DONE\]/, 'the whole stream arrived');
          }
          assert.equal(first.reused, false);
          assert.equal(second.reused, true, 'the second call went over the first one\'s connection');
          assert.equal(second.port, first.port);
        } finally {
          agent.destroy();
        }
      });
    }
  });

  describe('an upstream that drops mid-stream', () => {
    it('surfaces as an error to the SDK iterator, after the tokens that did arrive, not as a clean end', async () => {
      const before = await mock.streamsOf(mockKey('gpt-dropping'));
      const requestsBefore = await upstreamRequests('gpt-dropping');
      const stream = await openai.chat.completions.create({
        model: 'gpt-dropping', messages: MESSAGES, stream: true, stream_options: { include_usage: true },
      });
      let text = '';
      const chunks = [];
      const e = await rejectionOf((async () => {
        for await (const c of stream) {
          chunks.push(c);
          text += c.choices[0]?.delta?.content ?? '';
        }
      })());
      assert.ok(e instanceof OpenAI.APIError, `${e.constructor.name} ${e.message}`);
      assert.ok(!(e instanceof OpenAI.APIUserAbortError));
      assert.equal(e.code, 'upstream_error');
      assert.match(e.message, /broke off/);
      assert.equal(text, 'Mock answer to:', 'the 3 tokens sent before the drop reached the client');
      assert.ok(chunks.every((c) => !c.choices[0]?.finish_reason && c.usage == null), 'no finish_reason, no usage chunk');
      const after = await mock.streamsOf(mockKey('gpt-dropping'));
      assert.equal(after.dropped, before.dropped + 1);
      // Tokens had reached the client: the router must not retry (that would repeat them).
      assert.equal(await upstreamRequests('gpt-dropping'), requestsBefore + 1);
    });

    it('and the stream helper rejects too', async () => {
      await assert.rejects(
        openai.chat.completions.stream({ model: 'gpt-dropping', messages: MESSAGES }).finalChatCompletion(),
        OpenAI.APIError);
    });
  });
});
