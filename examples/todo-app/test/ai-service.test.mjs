// End to end with the AI service (the built binary, AAS_BIN): it accepts the monolith's tokens —
// the JWTs this app signs with the shared JWT_SECRET, and its opaque session tokens through
// MAIN_BACKEND_URL → GET /api/auth/verify — and the plan's layout behind deploy/Caddyfile (a real
// caddy) works: the page, login, todos and Socket.IO (long-polling, sticky) on two app instances
// sharing Redis, and /api/ai/* on the AI service, all on one origin.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from '../../../tests/blackbox/lib/assert.mjs';
import { startCaddy } from '../../../tests/blackbox/lib/caddy.mjs';
import { client } from '../../../tests/blackbox/lib/http.mjs';
import { randomSecret } from '../../../tests/blackbox/lib/jwt.mjs';
import { startRedis } from '../../../tests/blackbox/lib/redis.mjs';
import { startService } from '../../../tests/blackbox/lib/service.mjs';
import { ADMIN, ALICE, BOB, connectSocket, login, nextEvent, startTodoApp } from './lib/app.mjs';

const TIMEOUT = { timeout: 120000 };

describe('the AI service accepts the monolith\'s tokens', TIMEOUT, () => {
  let app;
  let svc;
  before(async () => {
    const secret = randomSecret();
    app = await startTodoApp({ secret });
    svc = await startService({ secret, env: { MAIN_BACKEND_URL: app.url, MAIN_BACKEND_TIMEOUT_MS: '5000' } });
  });
  after(async () => {
    await svc?.stop();
    await app?.stop();
  });

  it('answers a chat for a JWT from POST /api/auth/login, as that user', async () => {
    const token = await login(app, ALICE);
    const chat = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'What is on my list?' } }));
    assert.equal(typeof chat.conversationId, 'string');
    assert.ok(chat.message.length > 0);
    const mine = assertOk(await svc.get('/api/ai/conversations', { token }));
    assert.ok(mine.items.some((c) => c.id === chat.conversationId));
    // The AI service keys the conversation by the token's `sub`: the same id its own token names.
    assertOk(await svc.get(`/api/ai/conversations/${chat.conversationId}`, { token: svc.token(ALICE.id) }));
    assertError(await svc.get(`/api/ai/conversations/${chat.conversationId}`, { token: await login(app, BOB) }), 404, 'not_found');
  });

  it('answers a chat for an opaque session token, checked with the app through MAIN_BACKEND_URL', async () => {
    const session = await login(app, ALICE, { tokenType: 'opaque' });
    const chat = assertOk(await svc.post('/api/ai/chat', { token: session, json: { message: 'Hello from a session' } }));
    assertOk(await svc.get(`/api/ai/conversations/${chat.conversationId}`, { token: await login(app, ALICE) }));
    assertError(await svc.post('/api/ai/chat', { token: 'tds_unknown-session', json: { message: 'hi' } }), 401, 'unauthorized');
    assert.ok(!(svc.stdout + svc.stderr + app.stdout + app.stderr).includes(session), 'a token reached a log');
  });

  it('takes the roles of the monolith\'s tokens: admin routes for its admin only', async () => {
    for (const tokenType of ['jwt', 'opaque']) {
      assertOk(await svc.get('/api/ai/admin/health', { token: await login(app, ADMIN, { tokenType }) }));
      assertError(await svc.get('/api/ai/admin/health', { token: await login(app, ALICE, { tokenType }) }), 403, 'forbidden');
    }
  });
});

describe('the plan\'s layout: deploy/Caddyfile in front of two app instances and the AI service', TIMEOUT, () => {
  let redis;
  let apps = [];
  let svc;
  let caddy;
  let via;
  const sockets = [];
  before(async () => {
    redis = await startRedis();
    const secret = randomSecret();
    apps = await Promise.all([0, 1].map(() => startTodoApp({ secret, env: { REDIS_URL: redis.url } })));
    svc = await startService({ secret, env: { MAIN_BACKEND_URL: apps[0].url } });
    caddy = await startCaddy({ ai: [`127.0.0.1:${svc.port}`], backends: apps.map((a) => `127.0.0.1:${a.port}`) });
    via = client(caddy.url);
  });
  after(async () => {
    for (const s of sockets) s.close();
    await caddy?.stop();
    await svc?.stop();
    await Promise.all(apps.map((a) => a.stop()));
    await redis?.stop();
  });

  it('serves the page, logs in, keeps todos and chats through one origin', async () => {
    const page = await via.get('/');
    assert.equal(page.status, 200);
    assert.match(page.text, /id="ai-chat-slot"/);
    assert.equal((await via.get('/socket.io/socket.io.js')).status, 200);
    const token = await login(via, ALICE);
    const made = await via.post('/api/todos', { token, json: { title: 'through caddy' } });
    assert.equal(made.status, 201, made.text);
    // Round robin over the two instances: both see it (one Redis).
    for (let i = 0; i < 2; ++i) assert.equal((await via.get(`/api/todos/${made.body.id}`, { token })).status, 200);
    const chat = assertOk(await via.post('/api/ai/chat', { token, json: { message: 'Summarise my todos' } }));
    assert.equal(typeof chat.conversationId, 'string');
    // The chat component's script path is the AI service's (its envelope and X-Request-Id), not the app's.
    const component = await via.get('/api/ai/ui/ai-chat.js');
    assert.ok(component.headers['x-request-id'], 'answered by the AI service');
    // (404 in the service's error envelope until the component ships.)
    if (component.status !== 200) assert.equal(component.body?.success, false, component.text);
  });

  it('keeps a long-polling Socket.IO session on one instance (sticky cookie) and delivers events from both', async () => {
    const token = await login(via, BOB);
    // Polling only: every poll is a separate request that must reach the instance holding the
    // session; the client keeps Caddy's cookie (withCredentials).
    const socket = await connectSocket(caddy.url, token, { transports: ['polling'], withCredentials: true });
    sockets.push(socket);
    const ids = [];
    for (let i = 0; i < 4; ++i) {
      const r = await via.post('/api/todos', { token, json: { title: `polled ${i}` } });
      assert.equal(r.status, 201);
      ids.push(r.body.id);
    }
    for (const id of ids) await nextEvent(socket, 'todo:created', (t) => t.id === id);
    // Each exactly once; in any order (those made on the other instance come through Redis).
    assert.deepEqual(socket.received.map((r) => r.data.id).sort(), [...ids].sort());
    assert.ok(socket.connected);
  });
});
