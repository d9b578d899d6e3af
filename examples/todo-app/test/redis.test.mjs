// Two app instances on one Redis (REDIS_URL): todos and sessions are shared, a todo event emitted by
// one reaches the user's sockets on the other through @socket.io/redis-adapter, and a message that
// another service (the AI service) publishes into Redis in the adapter's wire format reaches the
// user's sockets on every instance. Redis is a throwaway redis-server (tests/blackbox/lib/redis.mjs).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { createClient } from 'redis';

import { randomSecret } from '../../../tests/blackbox/lib/jwt.mjs';
import { startRedis } from '../../../tests/blackbox/lib/redis.mjs';
import { waitFor } from '../../../tests/blackbox/lib/sse.mjs';
import { ALICE, BOB, connectSocket, login, nextEvent, startTodoApp } from './lib/app.mjs';

// A minimal MessagePack encoder (nil, booleans, small integers, strings, arrays, maps), written
// from the spec rather than taken from the adapter, so the test pins the wire format itself.
function msgpack(v) {
  const head = (small, fixBase, lens, n) => (n < small ? Buffer.from([fixBase + n]) : Buffer.from([lens, n >> 8, n & 0xff]));
  if (v === null || v === undefined) return Buffer.from([0xc0]);
  if (v === true) return Buffer.from([0xc3]);
  if (v === false) return Buffer.from([0xc2]);
  if (Number.isInteger(v) && v >= 0 && v < 128) return Buffer.from([v]);
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    assert.ok(s.length < 65536);
    return Buffer.concat([s.length < 32 ? Buffer.from([0xa0 + s.length]) : Buffer.from([0xda, s.length >> 8, s.length & 0xff]), s]);
  }
  if (Array.isArray(v)) return Buffer.concat([head(16, 0x90, 0xdc, v.length), ...v.map(msgpack)]);
  if (typeof v === 'object') {
    const entries = Object.entries(v);
    return Buffer.concat([head(16, 0x80, 0xde, entries.length), ...entries.flatMap(([k, x]) => [msgpack(k), msgpack(x)])]);
  }
  throw new Error(`msgpack: ${typeof v} not supported here`);
}

// What the redis adapter publishes for io.to(room).emit(event, data), and where: the channel
// `<key>#/#<room>#` and the message [uid, packet, opts] (packet type 2 = EVENT).
function adapterMessage(key, room, event, data) {
  const uid = `ai-service-${randomUUID().slice(0, 8)}`;
  return {
    channel: `${key}#/#${room}#`,
    message: msgpack([uid, { type: 2, data: [event, data], nsp: '/' }, { rooms: [room], except: [], flags: {} }]),
  };
}

describe('todo-app: two instances on one Redis', { timeout: 60000 }, () => {
  let redis;
  let a;
  let b;
  let custom;
  let publisher;
  let alice;
  let bob;
  const sockets = [];
  const open = async (app, token) => { const s = await connectSocket(app.url, token); sockets.push(s); return s; };

  before(async () => {
    redis = await startRedis();
    const secret = randomSecret();
    [a, b, custom] = await Promise.all([
      startTodoApp({ secret, env: { REDIS_URL: redis.url } }),
      startTodoApp({ secret, env: { REDIS_URL: redis.url } }),
      startTodoApp({ secret, env: { REDIS_URL: redis.url, SOCKETIO_REDIS_KEY: 'todo-events' } }),
    ]);
    alice = await login(a, ALICE);
    bob = await login(b, BOB);
    publisher = createClient({ url: redis.url });
    await publisher.connect();
  });
  after(async () => {
    for (const s of sockets) s.close();
    await publisher?.quit();
    await Promise.all([a, b, custom].map((app) => app?.stop()));
    await redis?.stop();
  });

  it('shares todos and session tokens between the instances', async () => {
    assert.equal((await a.get('/health')).body.store, 'redis');
    const made = (await a.post('/api/todos', { token: alice, json: { title: 'written on a' } })).body;
    assert.deepEqual((await b.get(`/api/todos/${made.id}`, { token: alice })).body, made);
    assert.equal((await b.get(`/api/todos/${made.id}`, { token: bob })).status, 404);
    const session = await login(a, ALICE, { tokenType: 'opaque' });
    assert.equal((await b.get('/api/auth/verify', { token: session })).body.user.id, ALICE.id);
    const keys = await redis.keys('todo-app:session:*');
    assert.equal(keys.length, 1);
    assert.ok(!keys[0].includes(session.slice(4)), 'sessions are stored by digest, not by token');
  });

  it('delivers an event emitted on one instance to the user\'s sockets on the other, and not to others', async () => {
    const aliceOnB = await open(b, alice);
    const bobOnB = await open(b, bob);
    const made = (await a.post('/api/todos', { token: alice, json: { title: 'created through a' } })).body;
    assert.deepEqual(await nextEvent(aliceOnB, 'todo:created', (t) => t.id === made.id), made);
    // Bob's own event, published after Alice's on the same Redis connection, comes after it.
    const bobs = (await a.post('/api/todos', { token: bob, json: { title: 'bob through a' } })).body;
    await nextEvent(bobOnB, 'todo:created', (t) => t.id === bobs.id);
    assert.deepEqual(bobOnB.received.map((r) => r.data.id), [bobs.id]);
  });

  it('delivers what another service publishes in the adapter\'s wire format (default key "socket.io")', async () => {
    const aliceOnA = await open(a, alice);
    const aliceOnB = await open(b, alice);
    const bobOnA = await open(a, bob);
    const payload = { conversationId: randomUUID(), message: 'Your answer is ready' };
    const { channel, message } = adapterMessage('socket.io', `user:${ALICE.id}`, 'ai-message', payload);
    assert.equal(channel, 'socket.io#/#user:u-alice#');
    assert.equal(await publisher.publish(channel, message), 2, 'both default-key instances subscribe');
    assert.deepEqual(await nextEvent(aliceOnA, 'ai-message'), payload);
    assert.deepEqual(await nextEvent(aliceOnB, 'ai-message'), payload);
    const forBob = adapterMessage('socket.io', `user:${BOB.id}`, 'ai-message', { for: 'bob' });
    await publisher.publish(forBob.channel, forBob.message);
    await nextEvent(bobOnA, 'ai-message');
    assert.deepEqual(bobOnA.received.map((r) => r.data), [{ for: 'bob' }]);
  });

  it('uses SOCKETIO_REDIS_KEY as the channel prefix', async () => {
    const aliceOnCustom = await open(custom, alice);
    const { channel, message } = adapterMessage('todo-events', `user:${ALICE.id}`, 'ai-message', { via: 'todo-events' });
    assert.equal(await publisher.publish(channel, message), 1, 'only the instance with that key subscribes');
    assert.deepEqual(await nextEvent(aliceOnCustom, 'ai-message'), { via: 'todo-events' });
  });
});

describe('todo-app: Redis gone', { timeout: 60000 }, () => {
  it('answers /health 503, and still closes and exits 0 on SIGTERM (the adapter does not wait for Redis)', async () => {
    const redis = await startRedis();
    const app = await startTodoApp({ env: { REDIS_URL: redis.url } });
    const socket = await connectSocket(app.url, await login(app, ALICE));
    const closed = new Promise((resolve) => socket.once('disconnect', resolve));
    try {
      assert.equal((await app.get('/health')).status, 200);
      await redis.stop();
      await waitFor(async () => (await app.get('/health')).status === 503, 10000, '/health 503 once Redis is gone');
      assert.deepEqual(await app.stop(), { code: 0, signal: null });
      assert.equal(await closed, 'transport close', 'the server closed the socket');
    } finally {
      socket.close();
      await app.kill();
    }
  });
});
