// Finding and organising conversations over HTTP: full-text search (?q=) over titles and
// messages that never crosses users, pin / archive / tags through PATCH, and the list filters.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertConversation, assertError, assertOk } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

describe('search and organisation', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  const ids = (page) => page.items.map((c) => c.id);

  it('finds a conversation by a word of a message or of its title, and never another user\'s', async () => {
    const alice = svc.token('srch-alice');
    const bob = svc.token('srch-bob');
    const trip = assertOk(await svc.post('/api/ai/chat', { token: alice, json: { message: 'Which ferry goes to Naxos?' } }));
    const other = assertOk(await svc.post('/api/ai/chat', { token: alice, json: { message: 'Refactor the parser' } }));
    const bobs = assertOk(await svc.post('/api/ai/chat', { token: bob, json: { message: 'ferry tickets for Naxos' } }));

    let page = assertOk(await svc.get('/api/ai/conversations?q=naxos', { token: alice }));
    assert.deepEqual(ids(page), [trip.conversationId]);
    page.items.forEach(assertConversation);
    page = assertOk(await svc.get(`/api/ai/conversations?q=${encodeURIComponent('FERRY naxos')}`, { token: alice }));
    assert.deepEqual(ids(page), [trip.conversationId], 'case-insensitive, every word');
    // The mock model's answer quotes the message: words of answers are found too.
    page = assertOk(await svc.get('/api/ai/conversations?q=parser', { token: alice }));
    assert.deepEqual(ids(page), [other.conversationId]);
    page = assertOk(await svc.get('/api/ai/conversations?q=naxos', { token: bob }));
    assert.deepEqual(ids(page), [bobs.conversationId], 'only the caller\'s own');
    page = assertOk(await svc.get('/api/ai/conversations?q=submarine', { token: alice }));
    assert.deepEqual(page.items, []);
    assertError(await svc.get(`/api/ai/conversations?q=${'x'.repeat(201)}`, { token: alice }), 400, 'invalid_request');
  });

  it('pins, archives and tags through PATCH, and filters the list by them', async () => {
    const token = svc.token('srch-carol');
    const make = async (title) => assertOk(await svc.post('/api/ai/conversations', { token, json: { title } }), 201).id;
    const a = await make('a');
    const b = await make('b');
    const c = await make('c');
    const patched = assertOk(await svc.patch(`/api/ai/conversations/${a}`, { token, json: { pinned: true, tags: ['work', ' q4 ', 'work'] } }));
    assertConversation(patched);
    assert.equal(patched.pinned, true);
    assert.deepEqual(patched.tags, ['q4', 'work'], 'trimmed, sorted, distinct');
    assertOk(await svc.patch(`/api/ai/conversations/${b}`, { token, json: { archived: true, tags: ['work'] } }));

    const list = async (query) => ids(assertOk(await svc.get(`/api/ai/conversations${query}`, { token }))).sort();
    assert.deepEqual(await list(''), [a, c].sort(), 'archived ones are hidden by default');
    assert.deepEqual(await list('?archived=true'), [b]);
    assert.deepEqual(await list('?archived=all'), [a, b, c].sort());
    assert.deepEqual(await list('?archived=all&tag=work'), [a, b].sort());
    assert.deepEqual(await list('?pinned=true'), [a]);
    assertError(await svc.get('/api/ai/conversations?archived=maybe', { token }), 400, 'invalid_request');
    assertError(await svc.patch(`/api/ai/conversations/${c}`, { token, json: { tags: ['a,b'] } }), 400, 'invalid_request');
    assertError(await svc.patch(`/api/ai/conversations/${c}`, { token, json: { tags: 'work' } }), 400, 'invalid_request');
    assertError(await svc.patch(`/api/ai/conversations/${c}`, { token, json: { pinned: 'yes' } }), 400, 'invalid_request');
    assertError(await svc.patch(`/api/ai/conversations/${c}`, { token, json: { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) } }), 400, 'invalid_request');
    // Archived conversations are still exported.
    const ndjson = (await svc.get('/api/ai/conversations/export', { token })).text.trimEnd().split('\n');
    assert.equal(ndjson.length, 3);
  });
});

// Search input is only ever words to find: NUL is refused (it made SQLite's FTS5 fail with 500),
// and FTS5 syntax (quotes, *, NEAR, AND, -, :, parentheses, ^) is taken literally on both stores.
describe('search input', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  it('refuses NUL in q or tag with 400 naming the parameter', async () => {
    const token = svc.token('srch-nul');
    for (const [query, name] of [['q=before%00after', 'q'], ['q=%00', 'q'], ['tag=a%00', 'tag'], ['archived=all&q=x%00', 'q']]) {
      const res = await svc.get(`/api/ai/conversations?${query}`, { token });
      assertError(res, 400, 'invalid_request');
      assert.equal(res.body.error.message, `query parameter '${name}' contains a NUL character (U+0000)`, query);
    }
  });

  it('takes FTS5 operators and punctuation as plain words', async () => {
    const token = svc.token('srch-syntax');
    const hit = assertOk(await svc.post('/api/ai/conversations', { token, json: { title: 'gamma NEAR delta AND epsilon (draft) col:x' } }), 201).id;
    assertOk(await svc.post('/api/ai/conversations', { token, json: { title: 'unrelated' } }), 201);
    for (const q of ['"', '""', '"gamma', 'gamma"', '*', 'gam*', 'NEAR(gamma delta)', 'NEAR', 'gamma AND', 'AND', 'OR', 'NOT',
      '-gamma', 'title:gamma', 'col:x', '(', ')', '(draft', 'draft)', '^gamma', "'", '\\', '{title}: gamma', '+', 'gamma OR unrelated']) {
      const res = await svc.get(`/api/ai/conversations?q=${encodeURIComponent(q)}`, { token });
      assert.equal(res.status, 200, `q=${q}: ${res.text}`);
    }
    const found = async (q) => assertOk(await svc.get(`/api/ai/conversations?q=${encodeURIComponent(q)}`, { token })).items.map((c) => c.id);
    assert.deepEqual(await found('(draft)'), [hit], 'punctuation around a word');
    assert.deepEqual(await found('NEAR'), [hit], 'an operator name is a word');
    assert.deepEqual(await found('gamma AND epsilon'), [hit], 'AND is a word too: all three are in the title');
    assert.deepEqual(await found('gamma OR unrelated'), [], 'OR is a word, not an alternative: no title has all three');
  });
});
