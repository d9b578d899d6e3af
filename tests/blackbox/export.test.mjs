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

  it('exports every role, an agent step\'s tool calls and an unfinished answer in Markdown', async () => {
    const token = svc.token('exp-grace');
    const imported = assertOk(await svc.post('/api/ai/conversations/import', {
      token,
      json: {
        conversation: { title: 'Agent run' },
        messages: [
          { role: 'system', content: 'Use tools.' },
          { role: 'user', content: 'What time is it?' },
          { role: 'assistant', content: '', model: 'gpt-x', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }] },
          { role: 'tool', content: '12:00', toolCallId: 'call_1' },
          { role: 'assistant', content: 'It is no', model: 'gpt-x', status: 'interrupted' },
        ],
      },
    }), 201);
    const res = await svc.get(`/api/ai/conversations/${imported.id}/export?format=markdown`, { token });
    assert.equal(res.status, 200, res.text);
    assert.match(res.text, /\n## System — [^\n]+\n\nUse tools\.\n/);
    assert.match(res.text, /\n## Assistant \(gpt-x\) — [^\n]+\n\n- calls `get_time` \(call_1\): `\{"tz":"UTC"\}`\n/);
    assert.match(res.text, /\n## Tool result \(call call_1\) — [^\n]+\n\n12:00\n/);
    assert.match(res.text, /\n## Assistant \(gpt-x\) — [^\n]+\n\n_\[interrupted\]_\n\nIt is no\n/);
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

  it('names what is wrong in each malformed imported member, and imports structured messages as exported', async () => {
    const token = svc.token('exp-frank');
    const msg = (extra) => ({ conversation: {}, messages: [{ role: 'user', content: 'x', ...extra }] });
    for (const [json, message] of [
      [{ conversation: [], messages: [] }, 'expected {conversation: {...}, messages: [...]} as exported'],
      [{ conversation: { title: 5 }, messages: [] }, "'title' must be a string"],
      [{ conversation: { systemPrompt: [] }, messages: [] }, "'systemPrompt' must be a string"],
      [{ conversation: { model: 1 }, messages: [] }, "'model' must be a string"],
      [{ conversation: { metadata: 'x' }, messages: [] }, 'conversation.metadata must be an object'],
      [{ conversation: {}, messages: [5] }, 'messages[0] must be an object'],
      [{ conversation: {}, messages: [{ role: 7, content: 'x' }] }, 'messages[0].role is required'],
      [{ conversation: {}, messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role must be user, assistant, system or tool'],
      [{ conversation: {}, messages: [{ role: 'user', content: false }] }, 'messages[0].content is required'],
      [msg({ parts: 'x' }), 'messages[0].parts must be an array'],
      [msg({ parts: [{ type: 'audio' }] }), "'messages[0].parts[0].type' audio is not supported (text and image_url are)"],
      [msg({ toolCalls: {} }), "'messages[0].toolCalls' must be an array"],
      [msg({ toolCallId: 5 }), "'toolCallId' must be a string"],
      [msg({ status: 5 }), "'status' must be a string"],
      [msg({ status: 'streaming' }), 'messages[0].status must be complete, interrupted or error'],
      [msg({ model: {} }), "'model' must be a string"],
    ]) {
      const res = await svc.post('/api/ai/conversations/import', { token, json });
      assertError(res, 400, 'invalid_request');
      assert.equal(res.body.error.message, message, JSON.stringify(json));
    }
    assert.equal(assertOk(await svc.get('/api/ai/conversations', { token })).items.length, 0);

    const imported = assertOk(await svc.post('/api/ai/conversations/import', { token, json: {
      conversation: { title: 'structured', metadata: { k: 1 } },
      messages: [
        { role: 'user', content: 'look', parts: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
          status: 'complete', model: 'mock-model', parts: null },
        { role: 'tool', content: '42', toolCallId: 'c1', status: 'error' },
      ],
    } }), 201);
    const back = (await svc.get(`/api/ai/conversations/${imported.id}/export`, { token })).body;
    assert.deepEqual(back.messages.map((m) => [m.role, m.status]), [['user', 'complete'], ['assistant', 'complete'], ['tool', 'error']]);
    assert.deepEqual(back.messages[0].parts, [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }]);
    assert.equal(back.messages[1].toolCalls[0].id, 'c1');
    assert.equal(back.messages[2].toolCallId, 'c1');
    assert.deepEqual(back.conversation.metadata, { k: 1 });
  });
});
