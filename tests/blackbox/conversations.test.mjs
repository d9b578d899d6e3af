// Conversation CRUD and ownership: create, read with messages, patch, delete.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertConversation, assertError, assertGatewayError, assertOk, assertSchema } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';
import { clockPasses } from './lib/sse.mjs';

let svc;
before(async () => { svc = await startService(); });
after(async () => { await svc?.stop(); });

const base = '/api/ai/conversations';
const create = async (token, json) => assertOk(await svc.post(base, { token, json }), 201);
const get = (token, id, q = '') => svc.get(`${base}/${id}${q}`, { token });

describe('create', () => {
  it('creates with every field and answers 201 with the conversation', async () => {
    const token = svc.token('crud-alice');
    const body = { title: 'Trip planning', systemPrompt: 'You are terse.', model: 'mock', metadata: { source: 'web', nested: { tags: ['a', 'b'], n: 1.5, ok: true } } };
    const res = await svc.post(base, { token, json: body });
    const c = assertOk(res, 201);
    assertSchema(res.body, 'ConversationEnvelope');
    assertConversation(c);
    assert.equal(c.title, body.title);
    assert.equal(c.systemPrompt, body.systemPrompt);
    assert.equal(c.model, 'mock');
    assert.deepEqual(c.metadata, body.metadata);
    assert.equal(c.messageCount, 0);
    const got = assertOk(await get(token, c.id));
    assert.deepEqual(got.conversation, c, 'GET returns what POST returned');
    assert.deepEqual(got.messages, { items: [], nextCursor: null });
  });

  it('creates from an empty object with nulls and empty metadata', async () => {
    const c = await create(svc.token('crud-empty'), {});
    assertConversation(c);
    assert.deepEqual([c.title, c.systemPrompt, c.model, c.metadata, c.messageCount], [null, null, null, {}, 0]);
  });

  it('keeps unicode intact', async () => {
    const token = svc.token('crud-unicode');
    const c = await create(token, { title: 'Ünïcödé 日本語 😀', metadata: { emoji: '🚀', quote: 'a "b" \\ c' } });
    const got = assertOk(await get(token, c.id)).conversation;
    assert.equal(got.title, 'Ünïcödé 日本語 😀');
    assert.deepEqual(got.metadata, { emoji: '🚀', quote: 'a "b" \\ c' });
  });

  it('rejects unknown fields, wrong types and non-object bodies with 400', async () => {
    const token = svc.token('crud-bad');
    for (const json of [{ bogus: 1 }, { title: 5 }, { systemPrompt: [] }, { model: {} }, { metadata: 'x' }, { metadata: [1, 2] }, { metadata: 3 }, [], 'title']) {
      assertError(await svc.post(base, { token, json }), 400, 'invalid_request');
    }
    assertError(await svc.post(base, { token, body: '{"title":"x"', headers: { 'content-type': 'application/json' } }), 400, 'invalid_request');
    assertError(await svc.post(base, { token, body: '{"title":"x"}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    assert.deepEqual(assertOk(await svc.get(base, { token })).items, [], 'nothing was created');
  });
});

describe('read', () => {
  it('returns the messages oldest first', async () => {
    const token = svc.token('crud-reader');
    const c = await create(token, { title: 'ordered' });
    const sent = ['first', 'second', 'third'];
    for (const message of sent) assertOk(await svc.post('/api/ai/chat', { token, json: { message, conversationId: c.id } }));
    const res = await get(token, c.id);
    const data = assertOk(res);
    assertSchema(res.body, 'ConversationDetailEnvelope');
    assert.equal(data.conversation.messageCount, 6);
    assert.equal(data.conversation.title, 'ordered', 'chat keeps an existing title');
    const items = data.messages.items;
    assert.deepEqual(items.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    assert.deepEqual(items.filter((m) => m.role === 'user').map((m) => m.content), sent);
    items.filter((m) => m.role === 'assistant').forEach((m, i) => assert.ok(m.content.includes(`"${sent[i]}"`), m.content));
    for (let i = 1; i < items.length; i++) assert.ok(items[i - 1].createdAt <= items[i].createdAt, 'createdAt order');
    for (const m of items) assert.equal(m.conversationId, c.id);
    assert.equal(new Set(items.map((m) => m.id)).size, 6);
    assert.ok(data.conversation.updatedAt >= c.updatedAt, 'chat moves updatedAt forward');
  });

  it('answers 404 for unknown and non-UUID ids', async () => {
    const token = svc.token('crud-reader');
    assertError(await get(token, '0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69'), 404, 'not_found');
    assertError(await get(token, 'not-a-uuid'), 404, 'not_found');
    assertError(await get(token, '%27%20OR%201%3D1'), 404, 'not_found');
  });
});

describe('patch', () => {
  it('sets and clears fields, leaving the others alone', async () => {
    const token = svc.token('crud-patcher');
    const c = await create(token, { title: 'old', systemPrompt: 'sp', model: 'mock', metadata: { a: 1 } });
    await clockPasses(c.updatedAt);
    const r1 = await svc.patch(`${base}/${c.id}`, { token, json: { title: 'new' } });
    const p1 = assertOk(r1);
    assertSchema(r1.body, 'ConversationEnvelope');
    assert.deepEqual([p1.id, p1.title, p1.systemPrompt, p1.model, p1.metadata, p1.createdAt], [c.id, 'new', 'sp', 'mock', { a: 1 }, c.createdAt]);
    assert.ok(p1.updatedAt > c.updatedAt, `updatedAt ${c.updatedAt} -> ${p1.updatedAt}`);

    const p2 = assertOk(await svc.patch(`${base}/${c.id}`, { token, json: { systemPrompt: null, model: null } }));
    assert.deepEqual([p2.title, p2.systemPrompt, p2.model], ['new', null, null]);

    const p3 = assertOk(await svc.patch(`${base}/${c.id}`, { token, json: { metadata: { b: [2] }, title: null } }));
    assert.deepEqual([p3.title, p3.metadata], [null, { b: [2] }]);

    const got = assertOk(await get(token, c.id)).conversation;
    assert.deepEqual(got, p3, 'GET shows the patched conversation');
  });

  it('rejects an empty patch, unknown fields and wrong types with 400', async () => {
    const token = svc.token('crud-patcher');
    const c = await create(token, { title: 'keep' });
    for (const json of [{}, { bogus: 1 }, { title: 5 }, { metadata: 'x' }, { messageCount: 3 }, { id: c.id }, []]) {
      assertError(await svc.patch(`${base}/${c.id}`, { token, json }), 400, 'invalid_request');
    }
    assertError(await svc.patch(`${base}/${c.id}`, { token, body: '{"title":"x"}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    assert.deepEqual(assertOk(await get(token, c.id)).conversation, c, 'unchanged');
    assertError(await svc.patch(`${base}/0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69`, { token, json: { title: 'x' } }), 404, 'not_found');
  });
});

describe('delete', () => {
  it('deletes a conversation with its messages', async () => {
    const token = svc.token('crud-deleter');
    const chat = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'to be deleted' } }));
    const keep = await create(token, { title: 'keep me' });
    const res = await svc.delete(`${base}/${chat.conversationId}`, { token });
    const data = assertOk(res);
    assertSchema(res.body, 'DeletedEnvelope');
    assert.deepEqual(data, { id: chat.conversationId, deleted: true });

    assertError(await get(token, chat.conversationId), 404, 'not_found');
    assertError(await svc.delete(`${base}/${chat.conversationId}`, { token }), 404, 'not_found');
    assertError(await svc.patch(`${base}/${chat.conversationId}`, { token, json: { title: 'x' } }), 404, 'not_found');
    assertError(await svc.post('/api/ai/chat', { token, json: { message: 'again', conversationId: chat.conversationId } }), 404, 'not_found');
    const list = assertOk(await svc.get(base, { token }));
    assert.deepEqual(list.items.map((c) => c.id), [keep.id]);
  });
});

describe('ownership', () => {
  it('another user cannot read, patch or delete; the owner\'s data is unchanged', async () => {
    const alice = svc.token('own-alice');
    const bob = svc.token('own-bob');
    const chat = assertOk(await svc.post('/api/ai/chat', { token: alice, json: { message: 'alice private' } }));
    const id = chat.conversationId;
    const before = assertOk(await get(alice, id));

    for (const res of [
      await get(bob, id),
      await svc.patch(`${base}/${id}`, { token: bob, json: { title: 'pwned' } }),
      await svc.delete(`${base}/${id}`, { token: bob }),
    ]) {
      assertError(res, 404, 'not_found');
      assert.ok(!res.text.includes('alice private'), 'leaked content');
    }
    assert.deepEqual(assertOk(await svc.get(base, { token: bob })).items, []);
    assert.deepEqual(assertOk(await get(alice, id)), before, 'alice\'s conversation changed');
    const adminBob = svc.token('own-bob', { admin: true });
    assertError(await get(adminBob, id), 404, 'not_found');
  });
});

// PostgreSQL cut text at a NUL byte while SQLite kept it (issue 18, finding 5): one rule for both
// stores, at the edge — any JSON string (or field name) holding U+0000 is refused, naming it.
describe('text with NUL', () => {
  const nul = 'before\u0000after';
  it('is refused with 400 naming the field, on every route that stores text, and nothing is stored', async () => {
    const token = svc.token('nul-alice');
    const cases = [
      ['POST', '/api/ai/chat', { message: nul }, 'message'],
      ['POST', '/api/ai/chat', { message: 'fine', systemPrompt: nul }, 'systemPrompt'],
      ['POST', base, { title: nul }, 'title'],
      ['POST', base, { title: 't', metadata: { notes: ['ok', nul] } }, 'metadata.notes[1]'],
      ['POST', base, { title: 't', metadata: { [`k${'\u0000'}`]: 1 } }, 'metadata.<a field name>'],
      ['POST', '/api/ai/prompts', { name: 'p', content: nul }, 'content'],
      ['POST', '/api/ai/conversations/import', { conversations: [{ title: 'i', messages: [{ role: 'user', content: nul }] }] }, 'conversations[0].messages[0].content'],
      ['POST', '/api/ai/v1/chat/completions', { model: 'mock', messages: [{ role: 'user', content: nul }] }, 'messages[0].content'],
    ];
    for (const [method, path, json, field] of cases) {
      const res = await svc.request(method, path, { token, json });
      (path.startsWith('/api/ai/v1/') ? assertGatewayError : assertError)(res, 400, 'invalid_request');
      assert.equal(res.body.error.message, `'${field}' contains a NUL character (U+0000)`, `${method} ${path}`);
    }
    const id = (await create(token, { title: 'kept' })).id;
    assertError(await svc.patch(`${base}/${id}`, { token, json: { title: nul } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/chat', { token, json: { conversationId: id, message: nul } }), 400, 'invalid_request');
    const list = assertOk(await svc.get(base, { token }));
    assert.deepEqual(list.items.map((c) => c.title), ['kept'], 'nothing else was stored');
    const kept = assertOk(await get(token, id));
    assert.equal(kept.conversation.title, 'kept');
    assert.deepEqual(kept.messages.items, [], 'no message either');
  });

  // Found by fuzzing (tests/fuzz, issue 18): 1e999 parsed as infinity was stored as `Infinity`,
  // not JSON, and the metadata read back as {} after a 201.
  it('a number beyond a double is refused with 400, and nothing is stored', async () => {
    const token = svc.token('nul-carol');
    const headers = { 'content-type': 'application/json' };
    for (const body of ['{"title":"t","metadata":{"x":1e999}}', '{"title":"t","metadata":{"x":[-1e400]}}']) {
      const res = await svc.request('POST', base, { token, body, headers });
      assertError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /number out of range/);
    }
    const ok = await create(token, { title: 'big but finite', metadata: { x: 1.7976931348623157e308 } });
    assert.equal(assertOk(await get(token, ok.id)).conversation.metadata.x, 1.7976931348623157e308);
    assert.deepEqual(assertOk(await svc.get(base, { token })).items.map((c) => c.title), ['big but finite']);
  });

  it('other control characters are stored and read back whole', async () => {
    const token = svc.token('nul-bob');
    const text = 'tab\there\u0001\u001f end';
    const c = await create(token, { title: text });
    assert.equal(assertOk(await get(token, c.id)).conversation.title, text);
  });
});
