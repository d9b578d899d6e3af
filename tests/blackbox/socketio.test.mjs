// The Socket.IO channel at /api/ai/socket.io with the official socket.io-client 4.8: handshake
// auth (auth.token or the Authorization header; refused → connect_error), ai:chat streamed with an
// ack and ai:* events, ai:stop, ai:typing and ai-message to the user's other sockets (never to
// another user's), every transport (polling + upgrade, WebSocket-only, polling-only), reconnection
// after a restart, and bad input (garbage frames, unknown packets, oversize messages, floods).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { io } from 'socket.io-client';
import WebSocket from 'ws';

import { UUID_V7 } from './lib/assert.mjs';
import { makeToken, randomSecret } from './lib/jwt.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { connected, once, refused, SOCKETIO_PATH as PATH } from './lib/socketio.mjs';
import { collect, openStream } from './lib/sse.mjs';
import { pacedModels, startWithMockLlm } from './lib/upstream.mjs';

const MAX_PAYLOAD = 65536;
const RATE = { SOCKETIO_EVENTS_PER_SECOND: '5', SOCKETIO_EVENT_BURST: '10' };

const sockets = new Set();
function connect(svc, opts = {}) {
  const socket = io(svc.url, { path: PATH, forceNew: true, reconnection: false, ...opts });
  sockets.add(socket);
  return socket;
}

// The ai:* events of one turn on `socket`, up to ai:done or ai:error (ai:typing left out).
function turnEvents(socket, { until = () => false } = {}) {
  return new Promise((resolve) => {
    const events = [];
    const handler = (name, data) => {
      if (!name.startsWith('ai:') || name === 'ai:typing') return;
      events.push({ name, data });
      if (name === 'ai:done' || name === 'ai:error' || until(events)) {
        socket.offAny(handler);
        resolve(events);
      }
    };
    socket.onAny(handler);
  });
}

async function chatTurn(socket, body) {
  const events = turnEvents(socket);
  const ack = await socket.emitWithAck('ai:chat', body);
  return { ack, events: await events };
}

function assertStreamedTurn({ ack, events }) {
  assert.match(ack.conversationId, UUID_V7, JSON.stringify(ack));
  assert.match(ack.messageId, UUID_V7);
  assert.match(ack.userMessageId, UUID_V7);
  const names = events.map((e) => e.name);
  assert.equal(names[0], 'ai:start');
  assert.deepEqual(names.slice(-2), ['ai:usage', 'ai:done'], names.join());
  assert.ok(names.slice(1, -2).length > 0 && names.slice(1, -2).every((n) => n === 'ai:delta'), names.join());
  assert.equal(events[0].data.messageId, ack.messageId);
  assert.equal(events.at(-1).data.status, 'complete');
  return events.filter((e) => e.name === 'ai:delta').map((e) => e.data.text).join('');
}

async function storedAnswer(svc, token, conversationId) {
  const res = await svc.get(`/api/ai/conversations/${conversationId}`, { token });
  assert.equal(res.status, 200, res.text);
  return res.body.data.messages.items.at(-1);
}

describe('Socket.IO', () => {
  let mock;
  let svc;
  before(async () => {
    ({ mock, svc } = await startWithMockLlm(pacedModels, { env: { SOCKETIO_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), ...RATE } }));
  });
  after(async () => {
    for (const s of sockets) s.close();
    await svc?.stop();
    await mock?.stop();
  });

  it('connects with auth.token over polling and upgrades to WebSocket', async () => {
    const socket = connect(svc, { auth: { token: svc.token('sio-alice') } });
    const upgraded = once(socket.io, 'open').then(() => once(socket.io.engine, 'upgrade'));
    await connected(socket);
    await upgraded;
    assert.equal(socket.io.engine.transport.name, 'websocket');
    assert.equal(socket.connected, true);
  });

  it('accepts the token in the Authorization header too', async () => {
    const socket = connect(svc, { extraHeaders: { Authorization: `Bearer ${svc.token('sio-header')}` } });
    await connected(socket);
  });

  it('refuses a handshake without a token, with a forged one or an expired one: connect_error, nothing stored', async () => {
    const none = await refused(connect(svc));
    assert.match(none.message, /unauthorized/);
    assert.equal(none.data.code, 'unauthorized');

    const forged = await refused(connect(svc, { auth: { token: makeToken(randomSecret(), { sub: 'sio-mallory' }) } }));
    assert.match(forged.message, /^unauthorized: /);
    assert.equal(forged.data.code, 'unauthorized');
    assert.doesNotMatch(forged.message, /eyJ/, 'the token is never echoed');

    const expired = await refused(connect(svc, { auth: { token: makeToken(svc.secret, { sub: 'sio-mallory' }, { ttl: -3600 }) } }));
    assert.equal(expired.data.code, 'unauthorized');

    const listed = await svc.get('/api/ai/conversations', { token: svc.token('sio-mallory') });
    assert.deepEqual(listed.body.data.items, []);
  });

  it('streams ai:chat: the ack with the ids, then ai:start, ai:delta…, ai:usage, ai:done; the answer is stored', async () => {
    const token = svc.token('sio-chat');
    const socket = connect(svc, { auth: { token } });
    await connected(socket);
    const turn = await chatTurn(socket, { message: 'Hello over Socket.IO' });
    const text = assertStreamedTurn(turn);
    assert.match(text, /Hello over Socket\.IO/);
    const stored = await storedAnswer(svc, token, turn.ack.conversationId);
    assert.equal(stored.id, turn.ack.messageId);
    assert.equal(stored.content, text);

    // The conversation goes on with conversationId, like POST /api/ai/chat.
    const next = await chatTurn(socket, { message: 'And again', conversationId: turn.ack.conversationId });
    assertStreamedTurn(next);
    assert.equal(next.ack.conversationId, turn.ack.conversationId);
  });

  it('refuses a malformed ai:chat in its ack and stores nothing', async () => {
    const token = svc.token('sio-bad-chat');
    const socket = connect(svc, { auth: { token } });
    await connected(socket);
    for (const body of [{}, { message: 42 }, 'hello', { message: 'hi', userId: 'someone-else' }, { message: 'x'.repeat(40000) }]) {
      const ack = await socket.emitWithAck('ai:chat', body);
      assert.equal(ack.error?.code, 'invalid_request', `${JSON.stringify(body).slice(0, 60)} → ${JSON.stringify(ack)}`);
    }
    const nul = await socket.emitWithAck('ai:chat', { message: 'before\u0000after' });
    assert.equal(nul.error?.message, "'message' contains a NUL character (U+0000)", 'the same rule as HTTP bodies');
    const unknown = await socket.emitWithAck('ai:chat', { message: 'hi', conversationId: '0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69' });
    assert.equal(unknown.error.code, 'not_found');
    const listed = await svc.get('/api/ai/conversations', { token });
    assert.deepEqual(listed.body.data.items, []);
  });

  it('names each malformed member of ai:chat and ai:stop, in the ack or, without one, in ai:error', async () => {
    const socket = connect(svc, { auth: { token: svc.token('sio-bad-members') } });
    await connected(socket);
    for (const [event, body, message] of [
      ['ai:chat', [1], 'ai:chat takes an object {message, conversationId?, model?}'],
      ['ai:chat', { message: 'hi', conversationId: 5 }, "'conversationId' must be a string"],
      ['ai:chat', { message: 'hi', model: true }, "'model' must be a string"],
      ['ai:chat', { message: 'hi', knowledgeBaseIds: 'kb' }, "'knowledgeBaseIds' must be an array of strings"],
      ['ai:chat', { message: 'hi', knowledgeBaseIds: [1] }, "'knowledgeBaseIds' must be an array of strings"],
      ['ai:chat', { message: null }, "'message' is required"],
      ['ai:stop', {}, 'ai:stop takes {conversationId}'],
      ['ai:stop', 'conversation', 'ai:stop takes {conversationId}'],
      ['ai:stop', { conversationId: 7 }, 'ai:stop takes {conversationId}'],
    ]) {
      const ack = await socket.emitWithAck(event, body);
      assert.equal(ack.error?.code, 'invalid_request', `${event} ${JSON.stringify(body)} → ${JSON.stringify(ack)}`);
      assert.equal(ack.error.message, message);
    }
    // Without an ack the refusal comes as ai:error.
    const error = new Promise((resolve) => socket.once('ai:error', resolve));
    socket.emit('ai:stop', {});
    const e = await error;
    assert.equal(e.code, 'invalid_request');
    assert.equal(e.message, 'ai:stop takes {conversationId}');
  });

  it("tells the user's other sockets (ai:typing, ai-message for answers asked any way), never another user's", async () => {
    const token = svc.token('sio-bob');
    const asker = connect(svc, { auth: { token } });
    const other = connect(svc, { auth: { token }, transports: ['websocket'] });
    const stranger = connect(svc, { auth: { token: svc.token('sio-eve') } });
    await Promise.all([connected(asker), connected(other), connected(stranger)]);
    const strangerGot = [];
    stranger.onAny((name, data) => strangerGot.push({ name, data }));
    const askerTyping = [];
    asker.on('ai:typing', (d) => askerTyping.push(d));

    const typing = [];
    const typingDone = new Promise((resolve) => other.on('ai:typing', (d) => { typing.push(d); if (!d.typing) resolve(); }));
    const message = once(other, 'ai-message');
    const turn = await chatTurn(asker, { message: 'Who else hears this?' });
    assertStreamedTurn(turn);
    await typingDone;
    assert.deepEqual(typing, [
      { conversationId: turn.ack.conversationId, typing: true },
      { conversationId: turn.ack.conversationId, typing: false },
    ]);
    const m = await message;
    assert.equal(m.conversationId, turn.ack.conversationId);
    assert.equal(m.messageId, turn.ack.messageId);
    assert.equal(m.status, 'complete');

    // An answer asked over REST reaches the sockets too.
    const rest = once(other, 'ai-message');
    const posted = await svc.post('/api/ai/chat', { token, json: { message: 'Asked over HTTP' } });
    assert.equal(posted.status, 200, posted.text);
    assert.equal((await rest).messageId, posted.body.data.messageId);
    // So does one streamed over SSE; neither types (ai:typing is for answers asked over a socket,
    // and would have come before the ai-message on this socket).
    const streamed = once(other, 'ai-message');
    const sse = await openStream(svc, token, { message: 'Asked over SSE', stream: true });
    const sseEvents = await collect(sse.events);
    assert.equal(sseEvents.at(-1).event, 'done', JSON.stringify(sseEvents.at(-1)));
    assert.equal((await streamed).messageId, sseEvents[0].data.messageId);
    assert.equal(typing.length, 2, `typing for answers not asked over a socket: ${JSON.stringify(typing)}`);

    // Eve cannot stop Bob's conversation (it does not exist for her); her answer comes after
    // anything of Bob's could have reached her, and nothing did.
    const stop = await stranger.emitWithAck('ai:stop', { conversationId: turn.ack.conversationId });
    assert.equal(stop.error.code, 'not_found');
    assert.deepEqual(strangerGot, []);
    assert.deepEqual(askerTyping, [], 'the asking socket is not told that it is typing');
  });

  it('stops an answer with ai:stop: ai:done with finishReason stopped, the partial answer stored', async () => {
    const token = svc.token('sio-stopper');
    const socket = connect(svc, { auth: { token } });
    await connected(socket);
    const firstWords = turnEvents(socket, { until: (ev) => ev.filter((e) => e.name === 'ai:delta').length >= 3 });
    const rest = turnEvents(socket);
    const ack = await socket.emitWithAck('ai:chat', { message: 'Tell me a long story', model: 'paced' });
    await firstWords;
    const stopping = await socket.emitWithAck('ai:stop', { conversationId: ack.conversationId });
    assert.deepEqual(stopping, { conversationId: ack.conversationId, stopping: true });
    const events = await rest;
    const done = events.at(-1);
    assert.equal(done.name, 'ai:done', JSON.stringify(done));
    assert.equal(done.data.finishReason, 'stopped');
    const stored = await storedAnswer(svc, token, ack.conversationId);
    assert.equal(stored.status, 'interrupted');
  });

  for (const transports of [['websocket'], ['polling']]) {
    it(`chats over ${transports[0]} only`, async () => {
      const socket = connect(svc, { auth: { token: svc.token(`sio-${transports[0]}`) }, transports });
      await connected(socket);
      assert.equal(socket.io.engine.transport.name, transports[0]);
      assertStreamedTurn(await chatTurn(socket, { message: `Over ${transports[0]}` }));
    });
  }

  it('closes a session that sends garbage or unknown packets, and one that sends an oversize message', async () => {
    const url = `ws://127.0.0.1:${svc.port}${PATH}/?EIO=4&transport=websocket`;
    const closeOf = async (frames) => {
      const ws = new WebSocket(url);
      const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
      await once(ws, 'message');  // Engine.IO open packet
      for (const f of frames) ws.send(f);
      return closed;
    };
    await closeOf(['garbage']);                       // not an Engine.IO packet
    await closeOf(['4abc']);                          // not a Socket.IO packet
    await closeOf(['42["ai:chat"']);                  // broken JSON
    await closeOf([Buffer.from([1, 2, 3])]);          // an attachment nobody announced
    assert.equal(await closeOf(['4' + 'x'.repeat(MAX_PAYLOAD + 1)]), 1009);  // message too big

    // Long-polling: a malformed payload closes the session (400), later requests find no session.
    const open = await fetch(`${svc.url}${PATH}/?EIO=4&transport=polling`);
    const sid = JSON.parse((await open.text()).slice(1)).sid;
    const bad = await fetch(`${svc.url}${PATH}/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '9zzz' });
    assert.equal(bad.status, 400);
    const after = await fetch(`${svc.url}${PATH}/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(after.status, 400);
    const wrongVersion = await fetch(`${svc.url}${PATH}/?EIO=3&transport=polling`);
    assert.equal(wrongVersion.status, 400);
    // The service still serves.
    const socket = connect(svc, { auth: { token: svc.token('sio-after-garbage') } });
    await connected(socket);
  });

  it('refuses a flood of events (rate_limited in the ack), then disconnects the socket', async () => {
    const socket = connect(svc, { auth: { token: svc.token('sio-flooder') } });
    await connected(socket);
    const acks = await Promise.all(
      Array.from({ length: 15 }, () => socket.emitWithAck('ai:stop', { conversationId: 'nope' })));
    assert.ok(acks.some((a) => a.error?.code === 'rate_limited'), JSON.stringify(acks));
    const gone = once(socket, 'disconnect');
    for (let i = 0; i < 40; i++) socket.emit('ai:stop', { conversationId: 'nope' });
    assert.equal(await gone, 'io server disconnect');
  });
});

describe('Socket.IO across a restart', () => {
  let svc;
  after(async () => { await svc?.stop(); });

  it('reconnects by itself once the service is back, and chats again', async () => {
    const dir = makeTempDir();
    svc = await startService({ dir });
    const port = svc.port;
    const { secret } = svc;
    const token = svc.token('sio-restart');
    const socket = connect(svc, { auth: { token }, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    await connected(socket);
    const first = await chatTurn(socket, { message: 'Before the restart' });
    assertStreamedTurn(first);

    const disconnected = once(socket, 'disconnect');
    await svc.stop();
    assert.notEqual(await disconnected, 'io server disconnect', 'a restart is not a kick: the client reconnects');
    const reconnected = once(socket, 'connect');
    svc = await startService({ dir, secret, env: { PORT: String(port) } });
    await reconnected;
    const second = await chatTurn(socket, { message: 'After the restart', conversationId: first.ack.conversationId });
    assertStreamedTurn(second);
    socket.close();
  });
});
