// Cursor pagination of conversations (newest activity first) and of messages (oldest first).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';
import { clockPasses } from './lib/sse.mjs';

const TOTAL = 45;
let svc;
let token;
const created = []; // ids in creation order
before(async () => {
  svc = await startService();
  token = svc.token('pager');
  for (let i = 0; i < TOTAL; i++) {
    const c = assertOk(await svc.post('/api/ai/conversations', { token, json: { title: `conversation ${i}` } }), 201);
    created.push(c.id);
  }
});
after(async () => { await svc?.stop(); });

// Follows nextCursor (found by cursorOf in each page's data) until it is null; returns every page's data.
async function walk(pathFor, tok = token, cursorOf = (d) => d.nextCursor, maxPages = 100) {
  const pages = [];
  let cursor = null;
  do {
    const res = await svc.get(pathFor(cursor), { token: tok });
    pages.push(assertOk(res));
    cursor = cursorOf(pages.at(-1));
    if (cursor !== null) assert.equal(typeof cursor, 'string');
    assert.ok(pages.length <= maxPages, 'pagination does not end');
  } while (cursor !== null);
  return pages;
}
const q = (path, limit) => (cursor) => `${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;

describe('conversation pages', () => {
  it('walks 45 conversations 7 at a time: each exactly once, newest activity first', async () => {
    const pages = await walk(q('/api/ai/conversations', 7));
    assert.deepEqual(pages.map((p) => p.items.length), [7, 7, 7, 7, 7, 7, 3]);
    for (const p of pages) assertSchema(p, 'ConversationPage');
    assert.equal(pages.at(-1).nextCursor, null);
    const items = pages.flatMap((p) => p.items);
    const ids = items.map((c) => c.id);
    assert.equal(new Set(ids).size, TOTAL, 'duplicates across pages');
    assert.deepEqual([...ids].sort(), [...created].sort(), 'every conversation seen');
    for (let i = 1; i < items.length; i++) {
      assert.ok(items[i - 1].updatedAt >= items[i].updatedAt, `order broken at ${i}: ${items[i - 1].updatedAt} < ${items[i].updatedAt}`);
    }
    assert.equal(ids[0], created.at(-1), 'the newest first');
    assert.equal(ids.at(-1), created[0], 'the oldest last');
  });

  it('ends with nextCursor null when the last page is exactly full', async () => {
    const pages = await walk(q('/api/ai/conversations', 9));
    assert.deepEqual(pages.map((p) => p.items.length), [9, 9, 9, 9, 9]);
    assert.equal(new Set(pages.flatMap((p) => p.items.map((c) => c.id))).size, TOTAL);
  });

  it('defaults to 20 and allows 100', async () => {
    const first = assertOk(await svc.get('/api/ai/conversations', { token }));
    assert.equal(first.items.length, 20);
    assert.notEqual(first.nextCursor, null);
    const all = assertOk(await svc.get('/api/ai/conversations?limit=100', { token }));
    assert.equal(all.items.length, TOTAL);
    assert.equal(all.nextCursor, null);
    const one = assertOk(await svc.get('/api/ai/conversations?limit=1', { token }));
    assert.equal(one.items.length, 1);
    assert.equal(one.items[0].id, all.items[0].id);
  });

  it('moves a conversation to the front when it gets a new message', async () => {
    const other = svc.token('pager-activity');
    const created = [];
    for (let i = 0; i < 3; i++) created.push(assertOk(await svc.post('/api/ai/conversations', { token: other, json: {} }), 201));
    const ids = created.map((c) => c.id);
    assert.deepEqual(assertOk(await svc.get('/api/ai/conversations', { token: other })).items.map((c) => c.id), [...ids].reverse());
    // The turn must be stamped after the newest conversation, or the tie goes to the newer id.
    await clockPasses(created.at(-1).updatedAt);
    assertOk(await svc.post('/api/ai/chat', { token: other, json: { message: 'wake up', conversationId: ids[0] } }));
    const after1 = assertOk(await svc.get('/api/ai/conversations', { token: other })).items.map((c) => c.id);
    assert.deepEqual(after1, [ids[0], ids[2], ids[1]]);
  });

  it('shows another user nothing of these', async () => {
    const page = assertOk(await svc.get('/api/ai/conversations?limit=100', { token: svc.token('pager-stranger') }));
    assert.deepEqual(page, { items: [], nextCursor: null });
  });

  it('rejects an invalid limit with 400', async () => {
    for (const limit of ['0', '101', 'abc', '-1', '1.5', '7abc', '1e1', '%20']) {
      assertError(await svc.get(`/api/ai/conversations?limit=${limit}`, { token }), 400, 'invalid_request');
    }
  });

  it('rejects a cursor it did not issue with 400', async () => {
    for (const cursor of ['garbage', '!!!', 'eyJmb28iOiJiYXIifQ', Buffer.from('{"t":"x","id":"y"}').toString('base64url')]) {
      const res = await svc.get(`/api/ai/conversations?cursor=${encodeURIComponent(cursor)}`, { token });
      assertError(res, 400, 'invalid_request');
    }
  });
});

describe('message pages', () => {
  let conv;
  const sent = [];
  before(async () => {
    const t = svc.token('pager-messages');
    for (let i = 0; i < 6; i++) {
      const message = `message ${i}`;
      sent.push(message);
      const d = assertOk(await svc.post('/api/ai/chat', { token: t, json: conv ? { message, conversationId: conv } : { message } }));
      conv = d.conversationId;
    }
  });

  it('walks 12 messages 5 at a time, oldest first, each exactly once', async () => {
    const t = svc.token('pager-messages');
    const pages = await walk(q(`/api/ai/conversations/${conv}`, 5), t, (d) => d.messages.nextCursor);
    assert.deepEqual(pages.map((p) => p.messages.items.length), [5, 5, 2]);
    for (const p of pages) {
      assertSchema(p.messages, 'MessagePage');
      assert.equal(p.conversation.id, conv);
      assert.equal(p.conversation.messageCount, 12);
    }
    assert.equal(pages.at(-1).messages.nextCursor, null);
    const items = pages.flatMap((p) => p.messages.items);
    assert.equal(new Set(items.map((m) => m.id)).size, 12);
    assert.deepEqual(items.filter((m) => m.role === 'user').map((m) => m.content), sent);
    assert.deepEqual(items.map((m) => m.role), Array.from({ length: 12 }, (_, i) => (i % 2 ? 'assistant' : 'user')));
    for (let i = 1; i < items.length; i++) assert.ok(items[i - 1].createdAt <= items[i].createdAt);
  });

  it('defaults to 50 messages', async () => {
    const d = assertOk(await svc.get(`/api/ai/conversations/${conv}`, { token: svc.token('pager-messages') }));
    assert.equal(d.messages.items.length, 12);
    assert.equal(d.messages.nextCursor, null);
  });

  it('rejects an invalid limit or cursor with 400', async () => {
    const t = svc.token('pager-messages');
    for (const limit of ['0', '101', 'abc', '-3']) {
      assertError(await svc.get(`/api/ai/conversations/${conv}?limit=${limit}`, { token: t }), 400, 'invalid_request');
    }
    for (const cursor of ['garbage', 'eyJmb28iOiJiYXIifQ']) {
      assertError(await svc.get(`/api/ai/conversations/${conv}?cursor=${cursor}`, { token: t }), 400, 'invalid_request');
    }
  });
});
