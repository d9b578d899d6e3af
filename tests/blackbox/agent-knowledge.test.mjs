// The agent's knowledge_search tool (issue 15): offered to the model only in turns that answer
// from knowledge bases, searching the user's own bases only; the passages it returns are numbered
// and join the answer's citations (JSON, SSE `citations`, stored with the answer), as retrieved
// passages do. mock-llm calls it by its rule ("call knowledge_search {json}"). The query in the
// user's message is written with a JSON escape (l\u0061va), so the chat's own retrieval of the
// message (which sees "l" and "u0061va") finds nothing: every citation here is the tool's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { startAgentService } from './lib/agent.mjs';
import { collect, openStream, waitFor } from './lib/sse.mjs';

const START_MS = 60000;
const TIMEOUT = { timeout: 60000 };
const ASK_LAVA = 'call knowledge_search {"query": "l\\u0061va"}';

describe('the agent\'s knowledge_search tool', { timeout: 300000 }, () => {
  let mock;
  let svc;
  let alice;
  let bob;
  const kbs = {};
  const docs = {};

  async function addDoc(token, kb, title, text) {
    const doc = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title, text } }), 202).documents[0];
    await waitFor(async () => {
      const d = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${doc.id}`, { token }));
      return d.status === 'indexed' ? d : undefined;
    }, 20000, `document ${title} to be indexed`);
    return doc;
  }

  before(async () => {
    mock = await startMockLlm({ startTimeoutMs: START_MS });
    // One HTTP tool turns the agent on; it is never called here.
    svc = await startAgentService(mock.url, `tools:
  - {name: list_todos, method: GET, path: /api/todos, parameters: {type: object, properties: {}}}
`, { startTimeoutMs: START_MS, env: { MAIN_BACKEND_URL: 'http://127.0.0.1:9' } });
    alice = svc.token('ks-alice');
    bob = svc.token('ks-bob');
    kbs.alice = assertOk(await svc.post('/api/ai/knowledge', { token: alice, json: { name: 'Geology' } }), 201);
    kbs.bob = assertOk(await svc.post('/api/ai/knowledge', { token: bob, json: { name: 'Bob notes' } }), 201);
    docs.volcanoes = await addDoc(alice, kbs.alice, 'Volcanoes', 'Volcanoes erupt molten lava and ash when pressure builds below.');
    docs.zebras = await addDoc(alice, kbs.alice, 'Zebras', 'Zebras have black and white stripes and live in herds.');
    docs.bobs = await addDoc(bob, kbs.bob, 'Lamps', 'Bob keeps a lava lamp on his desk.');
  });

  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  const chat = (token, message, extra = {}) =>
    svc.post('/api/ai/chat', { token, json: { message, model: 'agent-model', ...extra } });

  it('is called by the model; the answer cites the passage it found, in JSON and stored', TIMEOUT, async () => {
    const d = assertOk(await chat(alice, ASK_LAVA, { knowledgeBaseIds: [kbs.alice.id] }));
    assert.match(d.message, /^Mock answer with tool result: \[1\] Volcanoes\s+Volcanoes erupt molten lava/);
    assert.ok(!d.message.includes('Zebras'));
    assert.equal(d.citations.length, 1);
    assert.equal(d.citations[0].index, 1);
    assert.equal(d.citations[0].documentId, docs.volcanoes.id);
    assert.equal(d.citations[0].knowledgeBaseId, kbs.alice.id);
    const conv = assertOk(await svc.get(`/api/ai/conversations/${d.conversationId}`, { token: alice }));
    const items = conv.messages.items;
    assert.deepEqual(items.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    assert.equal(items[1].toolCalls[0].function.name, 'knowledge_search');
    // What the model was given: the passage, numbered as the answer cites it.
    assert.equal(items[2].content, '[1] Volcanoes\nVolcanoes erupt molten lava and ash when pressure builds below.');
    const answer = items.at(-1);
    assert.equal(answer.id, d.messageId);
    assert.deepEqual(answer.metadata.citations.map((c) => c.documentId), [docs.volcanoes.id]);
  });

  it('streams a citations event once the tool found passages, and the conversation\'s own bases are searched', TIMEOUT, async () => {
    // A conversation that keeps the base: the next turn names none and still searches it.
    const first = assertOk(await chat(alice, 'hello', { knowledgeBaseIds: [kbs.alice.id] }));
    const stream = await openStream(svc, alice, { message: 'call knowledge_search {"query": "str\\u0069pes", "k": 1}', model: 'agent-model', conversationId: first.conversationId, stream: true });
    assert.equal(stream.res.statusCode, 200);
    const all = await collect(stream.events);
    const names = all.map((e) => e.event);
    const result = all.find((e) => e.event === 'tool_result');
    assert.ok(result, names.join(' '));
    assert.equal(result.data.isError, false);
    const cited = all.filter((e) => e.event === 'citations').at(-1);
    assert.ok(cited && names.indexOf('citations') > names.indexOf('tool_result'), names.join(' '));
    assert.ok(cited.data.citations.some((c) => c.documentId === docs.zebras.id));
    assert.equal(names.at(-1), 'done');
  });

  it('is not offered without knowledge bases', TIMEOUT, async () => {
    const d = assertOk(await chat(alice, ASK_LAVA));
    assert.equal(d.message, `Mock answer to: ${ASK_LAVA}`);
    assert.deepEqual(d.citations, []);
  });

  it('never reaches another user\'s base', TIMEOUT, async () => {
    // Bob's own base: his passage only, never alice's.
    const d = assertOk(await chat(bob, ASK_LAVA, { knowledgeBaseIds: [kbs.bob.id] }));
    assert.match(d.message, /\[1\] Lamps\s+Bob keeps a lava lamp/);
    assert.ok(!d.message.includes('Volcanoes'));
    assert.deepEqual(d.citations.map((c) => c.documentId), [docs.bobs.id]);
    // Alice's base named by bob: 404, as anything of another user's; nothing answered.
    assertError(await chat(bob, ASK_LAVA, { knowledgeBaseIds: [kbs.alice.id] }), 404, 'not_found');
  });
});
