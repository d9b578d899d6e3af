// POST /api/ai/chat against the offline mock model: new and continued conversations, titles,
// validation, models, ownership and content types.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { UUID_V7, assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

const MAX_CHARS = 200;
let svc;
before(async () => { svc = await startService({ env: { MAX_MESSAGE_CHARS: String(MAX_CHARS) } }); });
after(async () => { await svc?.stop(); });

const CONTEXT = /\((\d+) messages in context\)/;
const contextCount = (text) => {
  const m = CONTEXT.exec(text);
  assert.ok(m, `mock answer without context count: ${text}`);
  return Number(m[1]);
};
const chat = (token, json, opts = {}) => svc.post('/api/ai/chat', { token, json, ...opts });
const listIds = async (token) => assertOk(await svc.get('/api/ai/conversations?limit=100', { token })).items.map((c) => c.id);

describe('chat happy path', () => {
  it('starts a new conversation and answers with the mock model', async () => {
    const token = svc.token('chat-alice');
    const message = 'Hello there, mock! What is 2+2?';
    const res = await chat(token, { message });
    const data = assertOk(res);
    assertSchema(res.body, 'ChatResponseEnvelope');
    assert.match(data.conversationId, UUID_V7);
    assert.match(data.messageId, UUID_V7);
    assert.match(data.userMessageId, UUID_V7);
    assert.notEqual(data.messageId, data.userMessageId);
    assert.notEqual(data.messageId, data.conversationId);
    assert.ok(data.message.startsWith(`[mock model] You said: "${message}" (`), data.message);
    assert.ok(contextCount(data.message) >= 1);
    assert.equal(data.model, 'mock');
    assert.ok(Number.isInteger(data.usage.inputTokens) && data.usage.inputTokens > 0, 'inputTokens > 0');
    assert.ok(Number.isInteger(data.usage.outputTokens) && data.usage.outputTokens > 0, 'outputTokens > 0');
    assert.equal(data.usage.estimated, true);
    assert.ok(data.cost === null || (typeof data.cost === 'number' && data.cost >= 0));

    // Both messages are stored, in order, with the ids the chat returned.
    const conv = assertOk(await svc.get(`/api/ai/conversations/${data.conversationId}`, { token }));
    assertSchema(conv, 'ConversationDetail');
    assert.equal(conv.conversation.id, data.conversationId);
    assert.equal(conv.conversation.messageCount, 2);
    assert.equal(conv.conversation.title, message);
    const [u, a] = conv.messages.items;
    assert.equal(conv.messages.items.length, 2);
    assert.equal(conv.messages.nextCursor, null);
    assert.deepEqual([u.id, u.role, u.content, u.status], [data.userMessageId, 'user', message, 'complete']);
    assert.deepEqual([a.id, a.role, a.content, a.status, a.model], [data.messageId, 'assistant', data.message, 'complete', 'mock']);
    assert.equal(a.conversationId, data.conversationId);
    assert.deepEqual(a.usage, { inputTokens: data.usage.inputTokens, outputTokens: data.usage.outputTokens });
    assert.ok(Number.isInteger(a.latencyMs) && a.latencyMs >= 0, 'assistant latencyMs');
    assert.ok(u.createdAt <= a.createdAt);
  });

  it('continues a conversation: the context grows by the previous turn', async () => {
    const token = svc.token('chat-bob');
    const first = assertOk(await chat(token, { message: 'one' }));
    const second = assertOk(await chat(token, { message: 'two', conversationId: first.conversationId }));
    const third = assertOk(await chat(token, { message: 'three', conversationId: first.conversationId }));
    assert.equal(second.conversationId, first.conversationId);
    assert.equal(third.conversationId, first.conversationId);
    assert.ok(second.message.includes('You said: "two"'), second.message);
    assert.ok(third.message.includes('You said: "three"'), third.message);
    const [n1, n2, n3] = [first, second, third].map((d) => contextCount(d.message));
    assert.equal(n2, n1 + 2, `context ${n1} -> ${n2}`);
    assert.equal(n3, n2 + 2, `context ${n2} -> ${n3}`);
    const conv = assertOk(await svc.get(`/api/ai/conversations/${first.conversationId}`, { token }));
    assert.equal(conv.conversation.messageCount, 6);
    assert.deepEqual(conv.messages.items.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    assert.deepEqual(conv.messages.items.filter((m) => m.role === 'user').map((m) => m.content), ['one', 'two', 'three']);
    assert.equal(conv.conversation.title, 'one', 'title stays the first message');
    assert.equal((await listIds(token)).length, 1, 'continuing creates no new conversation');
  });

  it('names a new conversation after the first line of its first message, at most 80 characters', async () => {
    const token = svc.token('chat-titles');
    const multi = assertOk(await chat(token, { message: 'Plan my trip\nto Lisbon in May' }));
    const c1 = assertOk(await svc.get(`/api/ai/conversations/${multi.conversationId}`, { token })).conversation;
    assert.equal(c1.title, 'Plan my trip');

    const long = 'Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore';
    assert.ok(long.length > 80);
    const d2 = assertOk(await chat(token, { message: long }));
    const c2 = assertOk(await svc.get(`/api/ai/conversations/${d2.conversationId}`, { token })).conversation;
    assert.ok([...c2.title].length <= 80, `title too long (${c2.title.length}): ${c2.title}`);
    assert.ok(c2.title.length >= 40, `title needlessly short: ${c2.title}`);
    assert.ok(long.startsWith(c2.title.replace(/(…|\.\.\.)$/, '').trimEnd()), `title is not a prefix: ${c2.title}`);
  });

  it('accepts model "mock" explicitly, a systemPrompt, and application/json with a charset', async () => {
    const token = svc.token('chat-carol');
    const d = assertOk(await chat(token, { message: 'with model', model: 'mock', systemPrompt: 'Be brief.' }));
    assert.equal(d.model, 'mock');
    assert.ok(d.message.includes('You said: "with model"'));
    const res = await svc.post('/api/ai/chat', { token, body: JSON.stringify({ message: 'charset' }), headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.ok(assertOk(res).message.includes('You said: "charset"'));
  });

  it('counts the message limit in code points, not bytes or UTF-16 units', async () => {
    const token = svc.token('chat-emoji');
    const atLimit = '😀'.repeat(MAX_CHARS); // 200 code points, 400 UTF-16 units, 800 bytes
    const d = assertOk(await chat(token, { message: atLimit }));
    assert.ok(d.message.includes(atLimit));
    assertError(await chat(token, { message: atLimit + '😀' }), 400, 'invalid_request');
    assertError(await chat(token, { message: 'x'.repeat(MAX_CHARS + 1) }), 400, 'invalid_request');
    assertOk(await chat(token, { message: 'x'.repeat(MAX_CHARS) }));
  });
});

describe('chat validation', () => {
  const user = 'chat-validation';

  it('rejects bad bodies with 400 invalid_request and stores nothing', async () => {
    const token = svc.token(user);
    const bad = [
      {},
      { message: '' },
      { message: '   \n\t ' },
      { message: 123 },
      { message: null },
      { message: ['hi'] },
      { message: { text: 'hi' } },
      { message: 'hi', unknownField: 1 },
      { message: 'hi', conversationId: 42 },
      { message: 'hi', model: 7 },
      { message: 'hi', systemPrompt: false },
    ];
    for (const body of bad) {
      const res = await chat(token, body);
      assertError(res, 400, 'invalid_request');
    }
    for (const raw of ['{"message":', 'not json', '[]', '"hello"', '42', 'null', '']) {
      const res = await svc.post('/api/ai/chat', { token, body: raw, headers: { 'content-type': 'application/json' } });
      assertError(res, 400, 'invalid_request');
    }
    assert.deepEqual(await listIds(token), [], 'a rejected chat must not create a conversation');
  });

  it('rejects a message over MAX_MESSAGE_CHARS', async () => {
    const res = await chat(svc.token(user), { message: 'y'.repeat(MAX_CHARS + 50) });
    assertError(res, 400, 'invalid_request');
  });

  it('rejects an unknown model with 400 listing the available models', async () => {
    const res = await chat(svc.token(user), { message: 'hi', model: 'gpt-17-ultra' });
    assertError(res, 400, 'invalid_request');
    assert.match(res.body.error.message, /gpt-17-ultra/);
    assert.match(res.body.error.message, /available/);
    assert.match(res.body.error.message, /\bmock\b/);
    assert.deepEqual(await listIds(svc.token(user)), []);
  });

  it('rejects a body that is not JSON with 415', async () => {
    const token = svc.token(user);
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'multipart/form-data; boundary=x']) {
      const res = await svc.post('/api/ai/chat', { token, body: JSON.stringify({ message: 'hi' }), headers: { 'content-type': ct } });
      assertError(res, 415, 'unsupported_media_type');
    }
    const none = await svc.post('/api/ai/chat', { token, body: JSON.stringify({ message: 'hi' }) });
    assertError(none, 415, 'unsupported_media_type');
  });

  it('rejects without a token before looking at the body', async () => {
    assertError(await chat(undefined, { message: 'hi' }), 401, 'unauthorized');
  });
});

describe('chat ownership', () => {
  it('answers 404 for an unknown, a non-UUID and another user\'s conversationId, leaving it untouched', async () => {
    const alice = svc.token('own-alice');
    const mallory = svc.token('own-mallory');
    const a = assertOk(await chat(alice, { message: 'secret plans' }));
    const before = assertOk(await svc.get(`/api/ai/conversations/${a.conversationId}`, { token: alice }));

    assertError(await chat(alice, { message: 'hi', conversationId: randomUUID() }), 404, 'not_found');
    assertError(await chat(alice, { message: 'hi', conversationId: '0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69' }), 404, 'not_found');
    assertError(await chat(alice, { message: 'hi', conversationId: 'not-a-uuid' }), 404, 'not_found');
    const res = await chat(mallory, { message: 'let me in', conversationId: a.conversationId });
    assertError(res, 404, 'not_found');
    assert.ok(!res.text.includes('secret plans'));

    const afterwards = assertOk(await svc.get(`/api/ai/conversations/${a.conversationId}`, { token: alice }));
    assert.deepEqual(afterwards, before, 'the owner\'s conversation changed');
    assert.deepEqual(await listIds(mallory), [], 'mallory got no conversation out of it');
  });
});
