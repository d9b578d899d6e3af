// POST /api/ai/conversations/:id/stop, the "stop generating" button: the answer streaming in the
// conversation ends where it is, its client gets `usage` and `done` (finishReason "stopped", no
// error), the upstream call is cancelled, and the partial answer is stored `interrupted` and billed.
// The upstream is tools/mock-llm pacing a long answer, so only a stop can end it early.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertOk } from './lib/assert.mjs';
import { assistantOf, openStream, waitFor } from './lib/sse.mjs';
import { PACED_ANSWER_TOKENS as ANSWER_TOKENS, pacedModels, startWithMockLlm } from './lib/upstream.mjs';


// Opens a paced stream and reads until `words` deltas arrived: { conversationId, messageId, events, deltas }.
export async function streamUntil(svc, token, words) {
  const { res, events } = await openStream(svc, token, { message: 'Tell me a long story', model: 'paced', stream: true });
  assert.equal(res.statusCode, 200);
  const start = await events.next();
  assert.equal(start.value.event, 'start');
  const deltas = [];
  while (deltas.length < words) {
    const e = await events.next();
    assert.equal(e.value.event, 'delta', `got ${JSON.stringify(e.value)}`);
    deltas.push(e.value.data.text);
  }
  return { ...start.value.data, events, deltas };
}

// The rest of a stream after a stop: its remaining deltas and the events that ended it.
export async function rest(events) {
  const deltas = [];
  const others = [];
  for await (const e of events) {
    if (e.event === 'delta') deltas.push(e.data.text);
    else others.push(e);
  }
  return { deltas, others };
}

describe('stopping a streamed answer', () => {
  let mock;
  let svc;
  before(async () => { ({ mock, svc } = await startWithMockLlm(pacedModels)); });
  after(async () => { await svc?.stop(); await mock?.stop(); });

  it('ends the stream with done/stopped, cancels the upstream call and stores what was said', async () => {
    const token = svc.token('stop-alice');
    const s = await streamUntil(svc, token, 3);
    const stopped = await svc.post(`/api/ai/conversations/${s.conversationId}/stop`, { token });
    assert.equal(stopped.status, 202);
    assert.deepEqual(stopped.body.data, { conversationId: s.conversationId, stopping: true });

    const { deltas, others } = await rest(s.events);
    const said = [...s.deltas, ...deltas].join('');
    assert.ok(s.deltas.length + deltas.length < ANSWER_TOKENS, 'the answer ended early');
    assert.deepEqual(others.map((e) => e.event), ['usage', 'done'], 'no error event: a stop is not a failure');
    const done = others[1].data;
    assert.equal(done.finishReason, 'stopped');
    assert.equal(done.status, 'interrupted');
    assert.ok(others[0].data.outputTokens > 0, 'the words produced are billed');

    const stored = await assistantOf(svc, token, s.conversationId);
    assert.equal(stored.id, s.messageId);
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content, said);
    assert.equal(stored.metadata.finishReason, 'stopped');
    assert.equal(stored.metadata.error, undefined);
    // The upstream saw its stream cancelled, not read to the end.
    const streams = await waitFor(async () => {
      const st = await mock.streamsOf('paced');
      return st.cancelled >= 1 ? st : undefined;
    }, 5000, 'mock-llm to see the stream cancelled');
    assert.equal(streams.completed, 0);
  });

  it("answers 404 for another user's conversation and leaves its stream alone", async () => {
    const owner = svc.token('stop-bob');
    const s = await streamUntil(svc, owner, 1);
    const r = await svc.post(`/api/ai/conversations/${s.conversationId}/stop`, { token: svc.token('stop-mallory') });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
    // Bob's answer goes on: more words arrive after Mallory's attempt.
    const next = await s.events.next();
    assert.equal(next.value.event, 'delta');
    assertOk(await svc.post(`/api/ai/conversations/${s.conversationId}/stop`, { token: owner }), 202);
    const { others } = await rest(s.events);
    assert.equal(others.at(-1).data.finishReason, 'stopped');
  });

  it('answers 202 when nothing is streaming and 404 for an unknown conversation', async () => {
    const token = svc.token('stop-carol');
    const chat = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'Hi', model: 'mock' } }));
    const r = await svc.post(`/api/ai/conversations/${chat.conversationId}/stop`, { token });
    assert.equal(r.status, 202, 'the answer may just have finished: not an error');
    const stored = await assistantOf(svc, token, chat.conversationId);
    assert.equal(stored.status, 'complete');
    const unknown = await svc.post('/api/ai/conversations/0190f0b8-7c2a-7000-8000-000000000000/stop', { token });
    assert.equal(unknown.status, 404);
  });
});
