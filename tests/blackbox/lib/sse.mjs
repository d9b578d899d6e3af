// Streamed chats (POST /api/ai/chat answered as Server-Sent Events) read with node:http, so a test
// sees every event as it arrives and can drop the connection at any point.
import assert from 'node:assert/strict';
import http from 'node:http';

import { assertOk } from './assert.mjs';

// Opens a streamed chat and hands back the request, the response and an async iterator over the
// parsed events ({event, data}).
export function openStream(svc, token, body, { accept } = {}) {
  const url = new URL('/api/ai/chat', svc.url);
  const payload = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(payload) };
  if (accept) headers.accept = accept;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => resolve({ req, res, events: sseEvents(res) }));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function* sseEvents(res) {
  res.setEncoding('utf8');
  let buffer = '';
  for await (const chunk of res) {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length) yield { event: name, data: JSON.parse(data.join('\n')) };
    }
  }
}

export async function collect(events) {
  const out = [];
  for await (const e of events) out.push(e);
  return out;
}

// Polls fn until it returns something truthy (and returns that), or fails after timeoutMs.
export async function waitFor(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Waits until the clock (the service's too: the same machine) has passed `time` (RFC 3339, as the
// service writes it, in milliseconds), so that whatever the service stamps next is strictly later
// than what it stamped then — a condition to wait for, not a guessed sleep.
export async function clockPasses(time) {
  const t = Date.parse(time);
  assert.ok(Number.isFinite(t), `not a time: ${time}`);
  await waitFor(() => Date.now() > t, 10000, `the clock to pass ${time}`);
}

// The assistant message of a conversation, as stored (the first one when there are several).
export async function assistantOf(svc, token, conversationId) {
  const data = assertOk(await svc.get(`/api/ai/conversations/${conversationId}`, { token }));
  return data.messages.items.find((m) => m.role === 'assistant');
}

// Reads `count` deltas of a stream whose upstream never ends (a mock-llm model with `x-mock-drip: 1`
// and `x-mock-key: key`) and checks that each crossed while that upstream stream was still open.
// Text buffered anywhere on the way (the service, a proxy in front) would not arrive before the
// stream ends, and this one never ends: arrival is the proof, with no clock involved, so a slow
// machine cannot make it fail. The caller closes the connection afterwards.
export async function assertArrivesWhileOpen(events, mock, key, count = 3) {
  const names = [];
  let deltas = 0;
  for await (const e of events) {
    names.push(e.event);
    assert.ok(!['usage', 'done', 'error'].includes(e.event), `the stream ended: ${names}`);
    if (e.event === 'delta' && ++deltas === count) break;
  }
  assert.equal(deltas, count, `events: ${names}`);
  assert.equal(names[0], 'start', `events: ${names}`);
  const upstream = await mock.streamsOf(key);
  assert.equal(upstream.open, 1, `upstream streams of ${key}: ${JSON.stringify(upstream)}`);
  assert.equal(upstream.completed, 0, `upstream streams of ${key}: ${JSON.stringify(upstream)}`);
}

// After the client of such a stream went away: waits until the service has noticed and closed the
// upstream stream too, so the next test does not find it still counted (ai_active_streams).
export async function upstreamClosed(mock, key) {
  await waitFor(async () => (await mock.streamsOf(key)).open === 0, 10000, `the upstream stream ${key} to close`);
}
