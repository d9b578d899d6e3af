// Realtime end to end, the production way: three replicas of the service on ONE PostgreSQL
// database and ONE Redis, two instances of the stand-in monolith (examples/todo-app: socket.io 4.8
// with @socket.io/redis-adapter) on the same Redis, and deploy/Caddyfile run by a real caddy in
// front of all of them. The users log in at the monolith and use its JWTs everywhere. It proves:
//   - a socket.io-client connected to the MONOLITH receives `ai-message` for chats asked over REST
//     on any replica, with no code in the monolith, and another user's socket receives nothing;
//   - an answer streamed over `ai:chat` (through Caddy) can be stopped from a socket on another
//     replica, and the user's sockets on every replica and on the monolith hear of it;
//   - a Redis outage does not break direct streaming (the answer completes and is stored), and
//     room events resume once Redis is back;
//   - a replica restarted (SIGTERM) mid-stream: the partial answer is stored as interrupted, the
//     monolith's sockets get its `ai-message`, and the client reconnects by itself and goes on.
// Needs AAS_TEST_POSTGRES_URL (scripts/with-postgres.sh), like cluster.test.mjs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { io } from 'socket.io-client';

import { ALICE, BOB, connectSocket, login, nextEvent, startTodoApp } from '../../examples/todo-app/test/lib/app.mjs';
import { assertOk } from './lib/assert.mjs';
import { replicaOf, startCaddy } from './lib/caddy.mjs';
import { client } from './lib/http.mjs';
import { randomSecret } from './lib/jwt.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { createDatabase } from './lib/postgres.mjs';
import { patternSubscribers, startRedis } from './lib/redis.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { connected, once, SOCKETIO_PATH as PATH } from './lib/socketio.mjs';
import { waitFor } from './lib/sse.mjs';

const TIMEOUT = { timeout: 60000 };
// `long` drips LONG_TOKENS words at 10 a second: time enough to act in the middle of it.
const LONG_TOKENS = 40;
const REPLICAS = 3;
// Pattern subscribers on Redis: one per replica, one per monolith instance.
const ADAPTERS = REPLICAS + 2;

// The first `count` ai:delta of a turn on `socket`, then the rest of it up to ai:done / ai:error.
function turnOn(socket, count = 3) {
  const deltas = [];
  let first;
  const firstDeltas = new Promise((resolve) => { first = resolve; });
  const end = new Promise((resolve) => {
    const handler = (name, data) => {
      if (name === 'ai:delta') {
        deltas.push(data.text);
        if (deltas.length === count) first();
      }
      if (name === 'ai:done' || name === 'ai:error') {
        socket.offAny(handler);
        resolve({ name, data });
      }
    };
    socket.onAny(handler);
  });
  return { deltas, firstDeltas, end };
}

describe('realtime across three replicas, the monolith, Redis and Caddy', () => {
  let database;
  let redis;
  let mock;
  let apps = [];
  let replicas = [];
  let env;
  let secret;
  let caddy;
  let via;
  let alice;
  let bob;
  const sockets = [];
  const track = (s) => { sockets.push(s); return s; };
  const onReplica = (i, opts = {}) =>
    track(io(replicas[i].url, { path: PATH, auth: { token: alice }, forceNew: true, reconnection: false, ...opts }));

  before(async () => {
    database = createDatabase('aas_sio_cluster');
    redis = await startRedis();
    mock = await startMockLlm();
    const config = path.join(makeTempDir(), 'models.yaml');
    writeFileSync(config, `models:
  - name: quick
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk}
  - name: long
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk, headers: {x-mock-tokens-per-second: "10", x-mock-answer-tokens: "${LONG_TOKENS}"}}
`);
    secret = randomSecret();
    env = { AI_CONFIG: config, DEFAULT_MODEL: 'quick', DATABASE_URL: database.url, REDIS_URL: redis.url };
    // Started one after the other: the first migrates the empty database.
    for (let i = 0; i < REPLICAS; ++i) replicas.push(await startService({ secret, env }));
    apps = await Promise.all([0, 1].map(() => startTodoApp({ secret, env: { REDIS_URL: redis.url } })));
    caddy = await startCaddy({ ai: replicas.map((r) => `127.0.0.1:${r.port}`), backends: apps.map((a) => `127.0.0.1:${a.port}`) });
    via = client(caddy.url);
    alice = await login(via, ALICE);
    bob = await login(via, BOB);
    await patternSubscribers(redis, ADAPTERS);
  });

  after(async () => {
    for (const s of sockets) s.close();
    await caddy?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(apps.map((a) => a.stop()));
    await mock?.stop();
    await redis?.stop();
    database?.drop();
  });

  // A chat over REST through Caddy: the answer and the replica that served it.
  async function restChat(token, body) {
    const id = randomUUID();
    const res = await via.post('/api/ai/chat', { token, json: body, headers: { 'x-request-id': id } });
    return { chat: assertOk(res), replica: await replicaOf(replicas, id) };
  }

  it('a socket on the monolith gets ai-message for chats asked over REST on every replica; another user\'s nothing', TIMEOUT, async () => {
    // The monolith's own Socket.IO, through Caddy's /socket.io route, with its own login's token.
    const aliceOnMonolith = track(await connectSocket(caddy.url, alice));
    const bobOnMonolith = track(await connectSocket(caddy.url, bob));
    const served = new Set();
    for (let i = 0; served.size < REPLICAS; ++i) {
      assert.ok(i < 3 * REPLICAS, `round robin reached replicas ${[...served]} only`);
      const { chat, replica } = await restChat(alice, { message: `Over REST, turn ${i}` });
      served.add(replica);
      const m = await nextEvent(aliceOnMonolith, 'ai-message', (d) => d.messageId === chat.messageId);
      assert.equal(m.conversationId, chat.conversationId);
      assert.equal(m.message, chat.message);
      assert.equal(m.status, 'complete');
    }
    // Bob hears of his own answer, and by then would have heard of Alice's: he heard nothing else.
    const { chat } = await restChat(bob, { message: 'Bob asks' });
    await nextEvent(bobOnMonolith, 'ai-message', (d) => d.messageId === chat.messageId);
    assert.deepEqual(bobOnMonolith.received.map((r) => [r.event, r.data.messageId]), [['ai-message', chat.messageId]]);
  });

  it('streams ai:chat through Caddy, stopped from a socket on another replica; every socket of the user hears of it', TIMEOUT, async () => {
    const asker = track(io(caddy.url, { path: PATH, auth: { token: alice }, forceNew: true, reconnection: false, withCredentials: true }));
    const elsewhere = [0, 1, 2].map((i) => onReplica(i, { transports: ['websocket'] }));
    const aliceOnMonolith = track(await connectSocket(caddy.url, alice));
    await Promise.all([asker, ...elsewhere].map(connected));
    const typingEnded = elsewhere.map((s) => new Promise((resolve) => s.on('ai:typing', (t) => { if (!t.typing) resolve(t); })));
    const announced = elsewhere.map((s) => once(s, 'ai-message'));

    const turn = turnOn(asker);
    const ack = await asker.emitWithAck('ai:chat', { message: 'A long one, please', model: 'long' });
    await turn.firstDeltas;
    // Whichever replica streams it, a socket on replica 2 can stop it (the stop crosses Redis).
    const stopping = await elsewhere[2].emitWithAck('ai:stop', { conversationId: ack.conversationId });
    assert.deepEqual(stopping, { conversationId: ack.conversationId, stopping: true });
    const done = await turn.end;
    assert.equal(done.name, 'ai:done', JSON.stringify(done));
    assert.equal(done.data.finishReason, 'stopped');
    assert.ok(turn.deltas.length < LONG_TOKENS, `${turn.deltas.length} deltas: not stopped`);

    // The user's sockets on all three replicas (two of them not the streaming one) and on the
    // monolith: typing ended, and the stored, interrupted answer announced.
    for (const ended of typingEnded) assert.equal((await ended).conversationId, ack.conversationId);
    for (const heard of announced) {
      const m = await heard;
      assert.equal(m.messageId, ack.messageId);
      assert.equal(m.status, 'interrupted');
    }
    const m = await nextEvent(aliceOnMonolith, 'ai-message', (d) => d.messageId === ack.messageId);
    assert.equal(m.message, turn.deltas.join(''));
    const stored = assertOk(await via.get(`/api/ai/conversations/${ack.conversationId}`, { token: alice }));
    assert.equal(stored.messages.items.at(-1).status, 'interrupted');
    assert.equal(stored.messages.items.at(-1).content, turn.deltas.join(''));
  });

  it('streams through a Redis outage: the answer completes and is stored; room events resume when Redis is back', TIMEOUT, async () => {
    const asker = onReplica(0, { transports: ['websocket'] });
    await connected(asker);
    const turn = turnOn(asker);
    const ack = await asker.emitWithAck('ai:chat', { message: 'Keep talking while Redis is away', model: 'long' });
    await turn.firstDeltas;
    await redis.stop();
    const done = await turn.end;
    assert.equal(done.name, 'ai:done', JSON.stringify(done));
    assert.equal(done.data.status, 'complete');
    assert.equal(turn.deltas.length, LONG_TOKENS);
    const stored = assertOk(await replicas[1].get(`/api/ai/conversations/${ack.conversationId}`, { token: alice }));
    assert.equal(stored.messages.items.at(-1).content, turn.deltas.join(''));
    assert.equal(stored.messages.items.at(-1).status, 'complete');

    // Back (empty, as a Redis without persistence restarts): every adapter subscribes again, and
    // an answer on replica 1 reaches the user's socket on replica 2 and on the monolith.
    await redis.start();
    await patternSubscribers(redis, ADAPTERS);
    const elsewhere = onReplica(2, { transports: ['websocket'] });
    // While Redis was away the monolith answered Caddy's health checks 503 ("redis unavailable"),
    // and Caddy checks again only every 10 s: until then /socket.io has no healthy backend and
    // the handshake fails ("websocket error"). Wait for Caddy to route to the monolith again.
    const aliceOnMonolith = track(await waitFor(() => connectSocket(caddy.url, alice).catch(() => undefined), 30000,
      'Caddy to route /socket.io to the monolith again'));
    await connected(elsewhere);
    const heard = once(elsewhere, 'ai-message');
    const chat = assertOk(await replicas[1].post('/api/ai/chat', { token: alice, json: { message: 'After the outage' } }));
    assert.equal((await heard).messageId, chat.messageId);
    await nextEvent(aliceOnMonolith, 'ai-message', (d) => d.messageId === chat.messageId);
  });

  it('a replica restarted mid-stream: the partial answer is stored as interrupted and announced, the client reconnects and goes on', TIMEOUT, async () => {
    const aliceOnMonolith = track(await connectSocket(caddy.url, alice));
    const asker = onReplica(1, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    await connected(asker);
    const turn = turnOn(asker);
    const ack = await asker.emitWithAck('ai:chat', { message: 'Talk until the restart', model: 'long' });
    await turn.firstDeltas;

    const disconnected = once(asker, 'disconnect');
    const { port } = replicas[1];
    const exit = await replicas[1].stop('SIGTERM');
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    assert.equal(await disconnected, 'transport close', 'a restart is not a kick: the client reconnects');

    // Recorded before the replica exited, and announced through Redis.
    const announced = await nextEvent(aliceOnMonolith, 'ai-message', (d) => d.messageId === ack.messageId);
    assert.equal(announced.status, 'interrupted');
    const stored = assertOk(await via.get(`/api/ai/conversations/${ack.conversationId}`, { token: alice })).messages.items.at(-1);
    assert.equal(stored.id, ack.messageId);
    assert.equal(stored.status, 'interrupted');
    assert.ok(stored.content.startsWith(turn.deltas.join('')), `${JSON.stringify(stored.content)} vs ${JSON.stringify(turn.deltas.join(''))}`);
    assert.ok(stored.content.length < LONG_TOKENS * 2, 'not the whole answer');

    const reconnected = once(asker, 'connect');
    replicas[1] = await startService({ secret, env: { ...env, PORT: String(port) } });
    await reconnected;
    const next = turnOn(asker);
    const again = await asker.emitWithAck('ai:chat', { message: 'Where were we?', conversationId: ack.conversationId });
    assert.equal(again.conversationId, ack.conversationId);
    assert.equal((await next.end).data.status, 'complete');
  });
});
