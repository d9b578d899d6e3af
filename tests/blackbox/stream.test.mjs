// POST /api/ai/chat answered as Server-Sent Events: the event sequence, headers, refusals before
// the stream, a client leaving mid-answer (model call cancelled, partial stored as interrupted),
// and answers left streaming by a killed process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { UUID_V7, assertError, assertOk } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';
import { assistantOf, collect, openStream, waitFor } from './lib/sse.mjs';

describe('streamed chat', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  it('sends start, deltas, usage and done, and stores the same text', async () => {
    const token = svc.token('stream-alice');
    const { res, events } = await openStream(svc, token, { message: 'Stream me please', stream: true });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['x-accel-buffering'], 'no');
    assert.equal(res.headers['content-length'], undefined);
    assert.match(res.headers['x-request-id'], /.+/);
    const all = await collect(events);
    const names = all.map((e) => e.event);
    assert.equal(names[0], 'start');
    assert.deepEqual(names.slice(-2), ['usage', 'done']);
    const deltas = all.filter((e) => e.event === 'delta');
    assert.ok(deltas.length > 3, 'the answer arrives in several pieces');
    assert.ok(names.slice(1, -2).every((n) => n === 'delta'));
    const start = all[0].data;
    assert.match(start.conversationId, UUID_V7);
    assert.match(start.messageId, UUID_V7);
    assert.match(start.userMessageId, UUID_V7);
    assert.equal(start.model, 'mock');
    const text = deltas.map((e) => e.data.text).join('');
    assert.ok(text.startsWith('[mock model] You said: "Stream me please"'), text);
    const usage = all.at(-2).data;
    assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0);
    assert.equal(usage.estimated, true);
    assert.equal(usage.cost, 0);
    assert.deepEqual(all.at(-1).data, { messageId: start.messageId, status: 'complete', finishReason: 'stop' });

    const stored = await assistantOf(svc, token, start.conversationId);
    assert.equal(stored.id, start.messageId);
    assert.equal(stored.status, 'complete');
    assert.equal(stored.content, text);
    assert.deepEqual(stored.usage, { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens });
  });

  it('is chosen by Accept: text/event-stream too, and continues a conversation', async () => {
    const token = svc.token('stream-bob');
    const first = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'one' } }));
    const { res, events } = await openStream(svc, token, { message: 'two', conversationId: first.conversationId },
      { accept: 'text/event-stream' });
    assert.equal(res.statusCode, 200);
    const all = await collect(events);
    assert.equal(all[0].data.conversationId, first.conversationId);
    const text = all.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    assert.match(text, /\(4 messages in context\)/);
  });

  it('refuses bad requests with JSON before any stream starts', async () => {
    const token = svc.token('stream-carol');
    assertError(await svc.post('/api/ai/chat', { token, json: { message: '   ', stream: true } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/chat', { token, json: { message: 'hi', stream: 'yes' } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/chat',
      { token, json: { message: 'hi', stream: true, conversationId: '01234567-89ab-7cde-8f01-23456789abcd' } }), 404, 'not_found');
  });
});

describe('a client leaving mid-answer', () => {
  let svc;
  // The mock model waits 5 s before its first word: long enough that only a cancellation can end
  // the turn within the 3 s the test waits.
  before(async () => { svc = await startService({ env: { MOCK_LATENCY_MS: '5000' } }); });
  after(async () => { await svc?.stop(); });

  it('cancels the model call and stores the answer as interrupted, with estimated usage', async () => {
    const token = svc.token('stream-dave');
    const { req, res, events } = await openStream(svc, token, { message: 'I will leave early', stream: true });
    assert.equal(res.statusCode, 200);
    const first = await events.next();
    assert.equal(first.value.event, 'start');
    const { conversationId, messageId } = first.value.data;
    const during = await assistantOf(svc, token, conversationId);
    assert.equal(during.id, messageId);
    assert.equal(during.status, 'streaming');
    req.destroy();
    res.destroy();
    const stored = await waitFor(async () => {
      const m = await assistantOf(svc, token, conversationId);
      return m.status !== 'streaming' ? m : undefined;
    }, 3000, 'the interrupted answer');
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content, '');
    assert.ok(stored.usage.inputTokens > 0, 'the prompt is billed');
    assert.equal(stored.metadata.usageEstimated, true);
    assert.equal(stored.metadata.finishReason, 'cancelled');
  });

  it('turns answers left streaming by a killed process into interrupted ones at the next start', async () => {
    const token = svc.token('stream-erin');
    const { res, events } = await openStream(svc, token, { message: 'crash during me', stream: true });
    const first = await events.next();
    const { conversationId, messageId } = first.value.data;
    // Killed while the answer is still in flight (the client stays connected until then).
    res.on('error', () => {});
    await svc.kill();
    res.destroy();
    svc = await startService({ dir: svc.dir, secret: svc.secret });
    const stored = await assistantOf(svc, token, conversationId);
    assert.equal(stored.id, messageId);
    assert.equal(stored.status, 'interrupted');
    assert.match(svc.stderr, /marked 1 answer\(s\) left streaming/);
  });
});
