// MAIN_BACKEND_URL: tokens the local JWT check refuses are verified by the monolith's
// GET /api/auth/verify (here a small node:http fake), whose user becomes the caller; answers are
// cached briefly; a backend that fails makes the request 503, never a login as somebody.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

// The fake monolith: opaque session tokens → users; counts calls per token.
function startFakeBackend() {
  const calls = new Map();
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    calls.set(token, (calls.get(token) ?? 0) + 1);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || req.url !== '/api/auth/verify') return send(404, { error: 'not found' });
    // By prefix, so a test can use tokens of its own and leave the call counts of others alone.
    if (token.startsWith('session-alice')) return send(200, { user: { id: 'alice', email: 'alice@example.com', role: 'user' } });
    if (token.startsWith('session-admin')) return send(200, { user: { id: 'root', role: 'admin' } });
    if (token.startsWith('session-broken')) return send(500, { error: 'database down' });
    return send(401, { error: 'Invalid token' });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        calls: (t) => calls.get(t) ?? 0,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
      });
    });
  });
}

describe('token check against the main backend', () => {
  let backend;
  let svc;
  before(async () => {
    backend = await startFakeBackend();
    svc = await startService({ env: { MAIN_BACKEND_URL: backend.url, MAIN_BACKEND_TIMEOUT_MS: '2000' } });
  });
  after(async () => {
    await svc?.stop();
    await backend?.close();
  });

  it('accepts a token only the backend knows, as the user it names', async () => {
    const created = assertOk(await svc.post('/api/ai/conversations', { token: 'session-alice', json: { title: 'via backend' } }), 201);
    // The same user with a locally signed JWT sees the conversation: one identity, two token kinds.
    const list = assertOk(await svc.get('/api/ai/conversations', { token: svc.token('alice') }));
    assert.ok(list.items.some((c) => c.id === created.id), 'alice (JWT) should see the conversation alice (session) made');
    // Somebody else does not.
    assertError(await svc.get(`/api/ai/conversations/${created.id}`, { token: svc.token('bob') }), 404, 'not_found');
  });

  it('caches the answer: repeated requests with one token ask the backend once', async () => {
    const before = backend.calls('session-alice');
    for (let i = 0; i < 5; i++) assertOk(await svc.get('/api/ai/conversations', { token: 'session-alice' }));
    assert.ok(before <= 1, `first test should have asked at most once, asked ${before}`);
    assert.equal(backend.calls('session-alice'), 1, 'the cached answer should serve the later requests');
  });

  it('takes roles from the backend user (admin routes)', async () => {
    assertOk(await svc.get('/api/ai/admin/health', { token: 'session-admin' }));
    assertError(await svc.get('/api/ai/admin/health', { token: 'session-alice' }), 403, 'forbidden');
  });

  it('refuses what the backend refuses, and caches the refusal', async () => {
    assertError(await svc.get('/api/ai/conversations', { token: 'session-unknown' }), 401, 'unauthorized');
    assertError(await svc.get('/api/ai/conversations', { token: 'session-unknown' }), 401, 'unauthorized');
    assert.equal(backend.calls('session-unknown'), 1);
  });

  it('answers 503 when the backend fails, and asks again next time', async () => {
    const res = await svc.get('/api/ai/conversations', { token: 'session-broken' });
    assertError(res, 503, 'unavailable');
    assert.doesNotMatch(res.text, /database down/, 'the backend body is not passed on');
    assertError(await svc.get('/api/ai/conversations', { token: 'session-broken' }), 503, 'unavailable');
    assert.equal(backend.calls('session-broken'), 2, 'failures are not cached');
  });

  it('never sends a locally valid JWT or a missing token to the backend', async () => {
    const jwt = svc.token('carol');
    assertOk(await svc.get('/api/ai/conversations', { token: jwt }));
    assert.equal(backend.calls(jwt), 0);
    assertError(await svc.get('/api/ai/conversations'), 401, 'unauthorized');
    assert.equal(backend.calls(''), 0);
  });

  it('never logs the tokens', async () => {
    // Each kind of answer the backend gives, made here so the check does not rely on the tests
    // above having run first: a user, an admin, an unknown token, a backend failure.
    const sessions = ['session-alice-log', 'session-admin-log', 'session-unknown-log', 'session-broken-log'];
    const statuses = [];
    for (const token of sessions) statuses.push((await svc.get('/api/ai/conversations', { token })).status);
    assert.deepEqual(statuses, [200, 200, 401, 503]);
    assert.doesNotMatch(svc.stdout + svc.stderr, /session-(alice|broken|unknown|admin)/);
  });
});

describe('main backend unreachable', () => {
  let svc;
  before(async () => {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    svc = await startService({ env: { MAIN_BACKEND_URL: 'http://127.0.0.1:9', MAIN_BACKEND_TIMEOUT_MS: '1000' } });
  });
  after(async () => { await svc?.stop(); });

  it('answers 503 for tokens it cannot check, and still accepts local JWTs', async () => {
    assertError(await svc.get('/api/ai/conversations', { token: 'session-alice' }), 503, 'unavailable');
    assertOk(await svc.get('/api/ai/conversations', { token: svc.token('dave') }));
  });
});
