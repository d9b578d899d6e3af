// Regenerate and edit: new versions of an answer or of a user message, the active branch that
// GET shows and the model is given, every version kept and listed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

describe('message versions', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  const messagesOf = async (token, id) =>
    assertOk(await svc.get(`/api/ai/conversations/${id}`, { token })).messages.items;

  it('regenerates an answer as a sibling and keeps the old one', async () => {
    const token = svc.token('ver-alice');
    const first = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'first question' } }));
    const second = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'second question', conversationId: first.conversationId } }));
    const again = assertOk(await svc.post(`/api/ai/conversations/${first.conversationId}/messages/${second.messageId}/regenerate`, { token }));
    assert.notEqual(again.messageId, second.messageId);
    assert.equal(again.userMessageId, second.userMessageId, 'the same question, asked again');
    assert.match(again.message, /You said: "second question" \(4 messages in context\)/, 'the old answer is not in the context');

    const active = await messagesOf(token, first.conversationId);
    active.forEach((m) => assertSchema(m, 'Message'));
    assert.deepEqual(active.map((m) => m.id), [first.userMessageId, first.messageId, second.userMessageId, again.messageId]);
    assert.equal(active.at(-1).versionCount, 2);
    assert.equal(active.at(-1).parentId, second.userMessageId);
    const versions = assertOk(await svc.get(`/api/ai/conversations/${first.conversationId}/messages/${again.messageId}/versions`, { token })).items;
    assert.deepEqual(versions.map((m) => [m.id, m.active]), [[second.messageId, false], [again.messageId, true]]);

    // Streamed regenerate works the same way.
    const url = `/api/ai/conversations/${first.conversationId}/messages/${again.messageId}/regenerate`;
    const res = await svc.post(url, { token, json: { stream: true } });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal((await messagesOf(token, first.conversationId)).at(-1).versionCount, 3);
  });

  it('edits a user message into a new branch', async () => {
    const token = svc.token('ver-bob');
    const a = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'one' } }));
    const b = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'two', conversationId: a.conversationId } }));
    const edited = assertOk(await svc.post(`/api/ai/conversations/${a.conversationId}/messages/${b.userMessageId}/edit`, { token, json: { message: 'two, better' } }));
    assert.match(edited.message, /You said: "two, better" \(4 messages in context\)/);
    const active = await messagesOf(token, a.conversationId);
    assert.deepEqual(active.map((m) => m.content.slice(0, 11)), ['one', active[1].content.slice(0, 11), 'two, better', active[3].content.slice(0, 11)]);
    assert.equal(active[2].versionCount, 2);
    // Editing the first message leaves only the new branch.
    assertOk(await svc.post(`/api/ai/conversations/${a.conversationId}/messages/${a.userMessageId}/edit`, { token, json: { message: 'zero' } }));
    assert.deepEqual((await messagesOf(token, a.conversationId)).map((m) => m.role), ['user', 'assistant']);
  });

  it('refuses what cannot be versioned', async () => {
    const token = svc.token('ver-carol');
    const a = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'q' } }));
    const base = `/api/ai/conversations/${a.conversationId}/messages`;
    assertError(await svc.post(`${base}/${a.userMessageId}/regenerate`, { token }), 400, 'invalid_request');
    assertError(await svc.post(`${base}/${a.messageId}/edit`, { token, json: { message: 'x' } }), 400, 'invalid_request');
    assertError(await svc.post(`${base}/${a.userMessageId}/edit`, { token, json: {} }), 400, 'invalid_request');
    assertError(await svc.post(`${base}/${a.messageId}/regenerate`, { token: svc.token('ver-mallory') }), 404, 'not_found');
    assertError(await svc.post(`${base}/not-a-uuid/regenerate`, { token }), 404, 'not_found');
    const again = assertOk(await svc.post(`${base}/${a.messageId}/regenerate`, { token }));
    assertError(await svc.post(`${base}/${a.messageId}/regenerate`, { token }), 404, 'not_found'); // now an inactive version
    assertError(await svc.get(`${base}/${again.messageId}/versions`, { token: svc.token('ver-mallory') }), 404, 'not_found');
  });
});
