// Export and import: one conversation as JSON or Markdown, all of a user's conversations as
// streamed NDJSON (across page boundaries), and the JSON export imported back as an equal
// conversation (the round trip). Another user's conversations are never exported.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

// What a round trip must keep: the conversation's fields and each message's role, content,
// status and model, in order (ids, times and usage are new).
const essence = (exported) => ({
  conversation: {
    title: exported.conversation.title,
    systemPrompt: exported.conversation.systemPrompt,
    model: exported.conversation.model,
    metadata: exported.conversation.metadata,
  },
  messages: exported.messages.map((m) => ({ role: m.role, content: m.content, status: m.status, model: m.model })),
});

describe('export and import', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  it('exports one conversation as JSON equal to what GET shows, and imports it back equal', async () => {
    const token = svc.token('exp-alice');
    const first = assertOk(await svc.post('/api/ai/chat', {
      token, json: { message: 'Ünïcödé & *markdown* — 日本語 🎉', systemPrompt: 'Answer in haiku.' },
    }));
    for (const message of ['second turn', 'third\nturn with\nlines']) {
      assertOk(await svc.post('/api/ai/chat', { token, json: { message, conversationId: first.conversationId } }));
    }
    assertOk(await svc.patch(`/api/ai/conversations/${first.conversationId}`, { token, json: { metadata: { tag: 'x', n: 1 } } }));
    const res = await svc.get(`/api/ai/conversations/${first.conversationId}/export`, { token });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-disposition'], /attachment; filename="conversation-.*\.json"/);
    const exported = res.body;
    const shown = assertOk(await svc.get(`/api/ai/conversations/${first.conversationId}?limit=100`, { token }));
    assert.deepEqual(exported.conversation, shown.conversation);
    assert.deepEqual(exported.messages, shown.messages.items);
    assert.equal(exported.messages.length, 6);

    const imported = assertOk(await svc.post('/api/ai/conversations/import', { token, json: exported }), 201);
    assert.notEqual(imported.id, first.conversationId);
    assert.equal(imported.messageCount, 6);
    const again = (await svc.get(`/api/ai/conversations/${imported.id}/export`, { token })).body;
    assert.deepEqual(essence(again), essence(exported));
  });

  it('exports Markdown', async () => {
    const token = svc.token('exp-bob');
    const chat = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'Plan my week' } }));
    const res = await svc.get(`/api/ai/conversations/${chat.conversationId}/export?format=markdown`, { token });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/markdown/);
    assert.match(res.text, /^# Plan my week\n/);
    assert.match(res.text, /\n## User — \d{4}-\d\d-\d\dT[^\n]+\n\nPlan my week\n/);
    assert.match(res.text, /\n## Assistant \(mock\) — /);
    assertError(await svc.get(`/api/ai/conversations/${chat.conversationId}/export?format=xml`, { token }), 400, 'invalid_request');
    assertError(await svc.get(`/api/ai/conversations/${chat.conversationId}/export`, { token: svc.token('exp-mallory') }), 404, 'not_found');
  });

  it('streams all of a user\'s conversations as NDJSON, across pages, and only theirs', async () => {
    const token = svc.token('exp-carol');
    const ids = new Set();
    for (let i = 0; i < 105; i++) {
      ids.add(assertOk(await svc.post('/api/ai/conversations', { token, json: { title: `c${i}` } }), 201).id);
    }
    const chat = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'with messages' } }));
    ids.add(chat.conversationId);
    assertOk(await svc.post('/api/ai/chat', { token: svc.token('exp-dave'), json: { message: 'not carol' } }));

    const res = await svc.get('/api/ai/conversations/export', { token });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/x-ndjson/);
    assert.equal(res.headers['transfer-encoding'], 'chunked', 'streamed, not buffered');
    assert.ok(res.text.endsWith('\n'));
    const lines = res.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 106);
    assert.deepEqual(new Set(lines.map((l) => l.conversation.id)), ids);
    const withMessages = lines.find((l) => l.conversation.id === chat.conversationId);
    assert.deepEqual(withMessages.messages.map((m) => m.role), ['user', 'assistant']);
  });

  it('refuses malformed imports with 400 and stores nothing', async () => {
    const token = svc.token('exp-erin');
    for (const json of [
      {}, { conversation: {}, messages: 'x' }, { conversation: {}, messages: [{ role: 'robot', content: 'x' }] },
      { conversation: {}, messages: [{ role: 'user' }] }, { conversation: {}, messages: [{ role: 'user', content: 'x', status: 'streaming' }] },
      { conversation: { model: 'no-such-model' }, messages: [] }, { conversation: {}, messages: [], extra: 1 },
    ]) {
      assertError(await svc.post('/api/ai/conversations/import', { token, json }), 400, 'invalid_request');
    }
    assert.equal(assertOk(await svc.get('/api/ai/conversations', { token })).items.length, 0);
  });
});
