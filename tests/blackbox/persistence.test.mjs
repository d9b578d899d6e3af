// Data outlives the process: stop with SIGTERM, start again on the same DATABASE_URL.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { assertOk } from './lib/assert.mjs';
import { makeTempDir, startService } from './lib/service.mjs';

const running = new Set();
after(async () => { for (const s of running) await s.kill(); });
async function start(opts) {
  const s = await startService(opts);
  running.add(s);
  return s;
}
async function stop(s) {
  const r = await s.stop('SIGTERM');
  running.delete(s);
  return r;
}

describe('persistence', () => {
  it('keeps conversations, messages and edits across a restart', async () => {
    const dir = makeTempDir();
    const first = await start({ dir });
    const secret = first.secret;
    const token = first.token('persist-alice');

    const chat1 = assertOk(await first.post('/api/ai/chat', { token, json: { message: 'remember me' } }));
    const chat2 = assertOk(await first.post('/api/ai/chat', { token, json: { message: 'and this', conversationId: chat1.conversationId } }));
    assertOk(await first.patch(`/api/ai/conversations/${chat1.conversationId}`, { token, json: { title: 'Kept', metadata: { k: 'v' } } }));
    const other = assertOk(await first.post('/api/ai/conversations', { token, json: { title: 'second', systemPrompt: 'sp' } }), 201);
    const deleted = assertOk(await first.post('/api/ai/conversations', { token, json: { title: 'gone' } }), 201);
    assertOk(await first.delete(`/api/ai/conversations/${deleted.id}`, { token }));

    const beforeConv = assertOk(await first.get(`/api/ai/conversations/${chat1.conversationId}`, { token }));
    const beforeList = assertOk(await first.get('/api/ai/conversations', { token }));
    assert.equal(beforeList.items.length, 2);

    assert.deepEqual(await stop(first), { code: 0, signal: null }, `exit after SIGTERM; stderr:\n${first.stderr}`);

    const second = await start({ dir, secret });
    assert.notEqual(second.port, 0);
    const ready = await second.get('/ready');
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(assertOk(await second.get(`/api/ai/conversations/${chat1.conversationId}`, { token })), beforeConv);
    assert.deepEqual(assertOk(await second.get('/api/ai/conversations', { token })), beforeList);
    const o = assertOk(await second.get(`/api/ai/conversations/${other.id}`, { token }));
    assert.deepEqual([o.conversation.title, o.conversation.systemPrompt], ['second', 'sp']);
    assert.equal((await second.get(`/api/ai/conversations/${deleted.id}`, { token })).status, 404, 'a deletion is durable too');

    // The conversation goes on where it stopped: the context holds the 4 stored messages.
    const chat3 = assertOk(await second.post('/api/ai/chat', { token, json: { message: 'still there?', conversationId: chat1.conversationId } }));
    const n = (d) => Number(/\((\d+) messages in context\)/.exec(d.message)[1]);
    assert.equal(n(chat3), n(chat2) + 2);
    assert.equal(assertOk(await second.get(`/api/ai/conversations/${chat1.conversationId}`, { token })).conversation.messageCount, 6);
    assert.deepEqual(await stop(second), { code: 0, signal: null });

    // DATABASE_URL may also be a plain path to the same file (SQLite only).
    if (process.env.AAS_BLACKBOX_STORE === 'postgres') return;
    const third = await start({ dir, secret, env: { DATABASE_URL: path.join(dir, 'ai.db') } });
    const c = assertOk(await third.get(`/api/ai/conversations/${chat1.conversationId}`, { token }));
    assert.equal(c.conversation.title, 'Kept');
    assert.equal(c.messages.items.length, 6);
    assert.deepEqual(await stop(third), { code: 0, signal: null });
  });
});
