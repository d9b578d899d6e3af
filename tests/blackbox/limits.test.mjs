// Size limits: bodies over MAX_BODY_BYTES and oversized headers answer a 413 JSON envelope, and the
// service keeps serving afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

const MAX_BODY = 4096;
let svc;
before(async () => {
  svc = await startService({ env: { MAX_BODY_BYTES: String(MAX_BODY), MAX_MESSAGE_CHARS: '100000' } });
});
after(async () => { await svc?.stop(); });

describe('body size', () => {
  it('accepts a body just under MAX_BODY_BYTES', async () => {
    const token = svc.token('limits-user');
    const message = 'a'.repeat(MAX_BODY - 100);
    const body = JSON.stringify({ message });
    assert.ok(Buffer.byteLength(body) < MAX_BODY);
    const d = assertOk(await svc.post('/api/ai/chat', { token, body, headers: { 'content-type': 'application/json' } }));
    assert.ok(d.message.includes(message));
  });

  it('answers 413 payload_too_large for a chat body over MAX_BODY_BYTES and stores nothing', async () => {
    const token = svc.token('limits-big');
    const body = JSON.stringify({ message: 'b'.repeat(MAX_BODY * 2) });
    const res = await svc.post('/api/ai/chat', { token, body, headers: { 'content-type': 'application/json' } });
    assertError(res, 413, 'payload_too_large');
    assert.deepEqual(assertOk(await svc.get('/api/ai/conversations', { token })).items, []);
  });

  it('answers 413 for a conversation body over the limit, sent with content-length or chunked', async () => {
    const token = svc.token('limits-conv');
    const body = JSON.stringify({ title: 't', metadata: { blob: 'c'.repeat(MAX_BODY + 1) } });
    assertError(await svc.post('/api/ai/conversations', { token, body, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    assertError(await svc.post('/api/ai/conversations', { token, body, chunked: true, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    const big = 'd'.repeat(MAX_BODY * 16);
    assertError(await svc.patch('/api/ai/conversations/0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69', { token, json: { title: big } }), 413, 'payload_too_large');
    assert.deepEqual(assertOk(await svc.get('/api/ai/conversations', { token })).items, []);
  });

  it('answers 413 for request headers over 16 KiB, and accepts 12 KiB of headers', async () => {
    const res = await svc.get('/health', { headers: { 'x-filler': 'h'.repeat(20 * 1024) } });
    assertError(res, 413, 'payload_too_large');
    const ok = await svc.get('/health', { headers: { 'x-filler': 'h'.repeat(12 * 1024) } });
    assert.equal(ok.status, 200);
  });

  it('still serves after the oversized requests', async () => {
    const res = await svc.get('/health');
    assert.equal(res.status, 200);
    assertOk(await svc.post('/api/ai/chat', { token: svc.token('limits-after'), json: { message: 'still here' } }));
  });
});
