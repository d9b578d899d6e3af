// Refusals on the vendor routes in each vendor's own shape, checked with each official SDK's typed
// error classes: those the HTTP server makes before any route is chosen (a body over
// MAX_BODY_BYTES: 413; a malformed request: 400), the auth and limit refusals (401, 403, 429), and
// an unknown model (404 model_not_found on OpenAI's routes, not_found_error on Anthropic's), as the
// vendors answer them. The service's own routes keep the service envelope. tools/mock-llm is the
// upstream; nothing refused reaches it or is billed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { assertOk } from './lib/assert.mjs';
import { bothWireModels, startWithMockLlm } from './lib/upstream.mjs';

const MAX_BODY_BYTES = 4096;
const MESSAGES = [{ role: 'user', content: 'hello there' }];
const HUGE = [{ role: 'user', content: 'x'.repeat(2 * MAX_BODY_BYTES) }];

let mock;
let svc;
let admin;
before(async () => {
  ({ mock, svc } = await startWithMockLlm((url) => `models:
${bothWireModels(url)}`, { env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES), LIMIT_RPM: '0', LIMIT_TPM: '0' } }));
  admin = svc.token('root', { admin: true });
});
after(async () => {
  await svc?.stop();
  await mock?.stop();
});

const openai = (apiKey) => new OpenAI({ baseURL: `${svc.url}/api/ai/v1`, apiKey, maxRetries: 0 });
const anthropic = (apiKey) => new Anthropic({ baseURL: `${svc.url}/api/ai`, apiKey, maxRetries: 0 });
const rejectionOf = (promise) => promise.then((v) => assert.fail(`expected an error, got ${JSON.stringify(v)}`), (e) => e);
const upstreamCalls = async () => (await mock.stats()).requests.total ?? 0;

// The request bytes as written, and the response as read, over a raw socket (what no SDK sends).
function rawExchange(request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(new URL(svc.url).port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => { data += d; });
    socket.on('error', reject);
    socket.on('end', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), head, body: rest.join('\r\n\r\n') });
    });
  });
}

describe('refusals made before routing speak the vendor\'s shape', { timeout: 60000 }, () => {
  it('a body over MAX_BODY_BYTES is a 413 APIError in OpenAI\'s shape', async () => {
    const calls = await upstreamCalls();
    const e = await rejectionOf(openai(svc.token('u1')).chat.completions.create({ model: 'gpt', messages: HUGE }));
    assert.ok(e instanceof OpenAI.APIError, e.message);
    assert.equal(e.status, 413);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'payload_too_large');
    assert.match(e.message, /request body too large/);
    assert.equal(await upstreamCalls(), calls);
  });

  it('a body over MAX_BODY_BYTES is a 413 APIError in Anthropic\'s shape (request_too_large)', async () => {
    const e = await rejectionOf(anthropic(svc.token('u1')).messages.create({ model: 'claude', max_tokens: 10, messages: HUGE }));
    assert.ok(e instanceof Anthropic.APIError, e.message);
    assert.equal(e.status, 413);
    assert.equal(e.error.type, 'error');
    assert.equal(e.error.error.type, 'request_too_large');
    assert.ok(e.requestID, 'the request id, from its request-id header');
  });

  it('a malformed request is a 400 in the shape of its path, the service\'s own envelope elsewhere', async () => {
    // A header line without a colon: Beast refuses it once the request line (and so the path) is read.
    const bad = (path) => `POST ${path} HTTP/1.1\r\nHost: x\r\nthis is not a header\r\ncontent-length: 2\r\n\r\n{}`;
    const onOpenAi = await rawExchange(bad('/api/ai/v1/chat/completions'));
    assert.equal(onOpenAi.status, 400);
    const openaiBody = JSON.parse(onOpenAi.body);
    assert.deepEqual(Object.keys(openaiBody), ['error']);
    assert.equal(openaiBody.error.type, 'invalid_request_error');
    assert.match(openaiBody.error.message, /malformed HTTP request/);

    const onAnthropic = await rawExchange(bad('/api/ai/v1/messages'));
    assert.equal(onAnthropic.status, 400);
    const anthropicBody = JSON.parse(onAnthropic.body);
    assert.equal(anthropicBody.type, 'error');
    assert.equal(anthropicBody.error.type, 'invalid_request_error');
    assert.match(onAnthropic.head, /request-id: /i);

    const own = await rawExchange(bad('/api/ai/chat'));
    assert.equal(own.status, 400);
    assert.equal(JSON.parse(own.body).success, false);
  });

  it('a malformed JSON body is a BadRequestError in each vendor\'s shape', async () => {
    const post = (path) => fetch(`${svc.url}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${svc.token('u1')}`, 'content-type': 'application/json' }, body: '{"model": ',
    });
    const o = await post('/api/ai/v1/chat/completions');
    assert.equal(o.status, 400);
    assert.equal((await o.json()).error.type, 'invalid_request_error');
    const a = await post('/api/ai/v1/messages');
    assert.equal(a.status, 400);
    assert.equal((await a.json()).error.type, 'invalid_request_error');
  });
});

describe('auth and limit refusals are each SDK\'s typed errors', { timeout: 60000 }, () => {
  it('401: AuthenticationError from both SDKs', async () => {
    const o = await rejectionOf(openai('not-a-token').chat.completions.create({ model: 'gpt', messages: MESSAGES }));
    assert.ok(o instanceof OpenAI.AuthenticationError, o.message);
    assert.equal(o.type, 'authentication_error');
    const a = await rejectionOf(anthropic('not-a-token').messages.create({ model: 'claude', max_tokens: 10, messages: MESSAGES }));
    assert.ok(a instanceof Anthropic.AuthenticationError, a.message);
    assert.equal(a.error.error.type, 'authentication_error');
  });

  it('403: PermissionDeniedError for a service key used on a model it is not allowed', async () => {
    const key = assertOk(await svc.post('/api/ai/admin/keys', { token: admin, json: { name: 'gpt only', allowedModels: ['gpt'] } }), 201).key;
    const o = await rejectionOf(openai(key).chat.completions.create({ model: 'claude', messages: MESSAGES }));
    assert.ok(o instanceof OpenAI.PermissionDeniedError, o.message);
    assert.equal(o.type, 'permission_error');
    const a = await rejectionOf(anthropic(key).messages.create({ model: 'claude', max_tokens: 10, messages: MESSAGES }));
    assert.ok(a instanceof Anthropic.PermissionDeniedError, a.message);
    assert.equal(a.error.error.type, 'permission_error');
  });

  it('429: RateLimitError with Retry-After from both SDKs when a key\'s rate limit refuses', async () => {
    const key = assertOk(await svc.post('/api/ai/admin/keys', { token: admin, json: { name: 'slow', limits: { requestsPerMinute: 1 } } }), 201).key;
    await openai(key).chat.completions.create({ model: 'gpt', messages: MESSAGES });
    const o = await rejectionOf(openai(key).chat.completions.create({ model: 'gpt', messages: MESSAGES }));
    assert.ok(o instanceof OpenAI.RateLimitError, o.message);
    assert.ok(Number(o.headers['retry-after'] ?? o.headers.get?.('retry-after')) > 0);
    const a = await rejectionOf(anthropic(key).messages.create({ model: 'claude', max_tokens: 10, messages: MESSAGES }));
    assert.ok(a instanceof Anthropic.RateLimitError, a.message);
    assert.equal(a.error.error.type, 'rate_limit_error');
  });
});

describe('an unknown model is 404, as the vendors answer it', { timeout: 60000 }, () => {
  it('OpenAI routes: NotFoundError, code model_not_found, param model — streamed or not, every route', async () => {
    const client = openai(svc.token('u1'));
    const calls = await upstreamCalls();
    for (const request of [
      () => client.chat.completions.create({ model: 'gpt-nope', messages: MESSAGES }),
      () => client.chat.completions.create({ model: 'gpt-nope', messages: MESSAGES, stream: true }),
      () => client.completions.create({ model: 'gpt-nope', prompt: 'hi' }),
      () => client.responses.create({ model: 'gpt-nope', input: 'hi' }),
      () => client.embeddings.create({ model: 'gpt-nope', input: 'hi' }),
      () => client.models.retrieve('gpt-nope'),
    ]) {
      const e = await rejectionOf(request());
      assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, 'model');
      assert.match(e.message, /model 'gpt-nope' does not exist/);
    }
    assert.equal(await upstreamCalls(), calls);
  });

  it('Anthropic\'s route: NotFoundError with not_found_error, streamed or not', async () => {
    const client = anthropic(svc.token('u1'));
    for (const stream of [false, true]) {
      const e = await rejectionOf(client.messages.create({ model: 'claude-nope', max_tokens: 10, messages: MESSAGES, stream }));
      assert.ok(e instanceof Anthropic.NotFoundError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.error.error.type, 'not_found_error');
      assert.match(e.error.error.message, /model 'claude-nope' does not exist/);
    }
  });

  it('the chat API keeps its 400 listing the models', async () => {
    const res = await svc.post('/api/ai/chat', { token: svc.token('u1'), json: { message: 'hi', model: 'nope' } });
    assert.equal(res.status, 400);
  });
});
