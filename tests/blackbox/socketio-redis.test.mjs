// Socket.IO rooms shared through Redis with the monolith: a stand-in of its Socket.IO server (the
// official `socket.io` 4.8 with `@socket.io/redis-adapter` 8, as the todo monolith runs it) and
// the service on one Redis. The service's ai-message and ai:typing reach the monolith's sockets of
// the same user, once, with no monolith code; the monolith's broadcasts to a user's room reach the
// service's sockets of that user, and no one else's.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';

import { patternSubscribers, startRedis } from './lib/redis.mjs';
import { startService } from './lib/service.mjs';
import { connected, once, SOCKETIO_PATH as PATH } from './lib/socketio.mjs';

// The monolith's Socket.IO server: its own auth is out of scope here; a socket says who it is.
async function startMonolith(redisUrl) {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const ioServer = new Server(http, { adapter: createAdapter(pub, sub) });
  ioServer.on('connection', (socket) => socket.join(`user:${socket.handshake.auth.userId}`));
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    io: ioServer,
    url: `http://127.0.0.1:${http.address().port}`,
    async stop() {
      ioServer.close();
      await Promise.all([pub.quit(), sub.quit()]);
    },
  };
}

describe('Socket.IO through the Redis adapter, with the monolith', () => {
  let redis;
  let svc;
  let monolith;
  const clients = [];
  const client = (url, opts) => {
    const c = io(url, { forceNew: true, reconnection: false, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    redis = await startRedis();
    svc = await startService({ env: { REDIS_URL: redis.url } });
    monolith = await startMonolith(redis.url);
    await patternSubscribers(redis, 2);
  });
  after(async () => {
    for (const c of clients) c.close();
    await monolith?.stop();
    await svc?.stop();
    await redis?.stop();
  });

  it("sends ai:typing and ai-message to the user's sockets on the monolith, once", async () => {
    const asker = client(svc.url, { path: PATH, auth: { token: svc.token('alice') } });
    const mine = client(svc.url, { path: PATH, auth: { token: svc.token('alice') } });
    const onMonolith = client(monolith.url, { auth: { userId: 'alice' } });
    const strangerOnMonolith = client(monolith.url, { auth: { userId: 'bob' } });
    await Promise.all([connected(asker), connected(mine), connected(onMonolith), connected(strangerOnMonolith)]);
    const strangerGot = [];
    strangerOnMonolith.onAny((name) => strangerGot.push(name));
    const mineMessages = [];
    mine.on('ai-message', (m) => mineMessages.push(m));

    const typing = [];
    const typingDone = new Promise((resolve) => onMonolith.on('ai:typing', (t) => { typing.push(t); if (!t.typing) resolve(); }));
    const message = once(onMonolith, 'ai-message');
    const done = once(asker, 'ai:done');
    const ack = await asker.emitWithAck('ai:chat', { message: 'Hello from the service' });
    await done;
    const m = await message;
    assert.equal(m.messageId, ack.messageId);
    assert.equal(m.conversationId, ack.conversationId);
    await typingDone;
    assert.deepEqual(typing.map((t) => t.typing), [true, false]);

    // Once on the service's own sockets too (not again through Redis): by the time an ack comes
    // back on `mine`, its ai-message has long arrived.
    await mine.emitWithAck('ai:stop', { conversationId: ack.conversationId });
    assert.equal(mineMessages.length, 1, JSON.stringify(mineMessages));
    assert.equal(mineMessages[0].messageId, ack.messageId);

    // Bob's monolith socket got nothing; a broadcast to him after the fact shows he is listening.
    const bobsOwn = once(strangerOnMonolith, 'ping-bob');
    monolith.io.to('user:bob').emit('ping-bob');
    await bobsOwn;
    assert.deepEqual(strangerGot, ['ping-bob']);
  });

  it("delivers the monolith's broadcasts to a user's room to the service's sockets of that user only", async () => {
    const carol = client(svc.url, { path: PATH, auth: { token: svc.token('carol') } });
    const dave = client(svc.url, { path: PATH, auth: { token: svc.token('dave') } });
    await Promise.all([connected(carol), connected(dave)]);
    const daveGot = [];
    dave.onAny((name) => daveGot.push(name));

    const todo = once(carol, 'todo:created');
    monolith.io.to('user:carol').emit('todo:created', { id: 7, title: 'Buy milk' });
    assert.deepEqual(await todo, { id: 7, title: 'Buy milk' });

    const daves = once(dave, 'todo:created');
    monolith.io.to('user:dave').emit('todo:created', { id: 8 });
    assert.deepEqual(await daves, { id: 8 });
    assert.deepEqual(daveGot, ['todo:created'], 'carol\'s broadcast did not reach dave');
  });

  it("reaches the user's sockets on another replica: ai:typing and one ai-message", async () => {
    const replica = await startService({ secret: svc.secret, env: { REDIS_URL: redis.url } });
    try {
      await patternSubscribers(redis, 3);
      const asker = client(svc.url, { path: PATH, auth: { token: svc.token('erin') } });
      // The replicas share the JWT secret, as replicas do.
      const elsewhere = client(replica.url, { path: PATH, auth: { token: svc.token('erin') } });
      await Promise.all([connected(asker), connected(elsewhere)]);
      const messages = [];
      elsewhere.on('ai-message', (m) => messages.push(m));
      const typingDone = new Promise((resolve) => elsewhere.on('ai:typing', (t) => { if (!t.typing) resolve(); }));
      const firstMessage = once(elsewhere, 'ai-message');
      const done = once(asker, 'ai:done');
      const ack = await asker.emitWithAck('ai:chat', { message: 'Across replicas' });
      await done;
      await typingDone;
      assert.equal((await firstMessage).messageId, ack.messageId);
      await elsewhere.emitWithAck('ai:stop', { conversationId: ack.conversationId });
      assert.equal(messages.length, 1, JSON.stringify(messages));
    } finally {
      await replica.stop();
    }
  });
});
