// Socket.IO on /socket.io with the official socket.io-client: the handshake's auth.token decides
// the user, each socket is in the room user:<id>, and todo events reach that user's sockets only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { makeToken } from '../../../tests/blackbox/lib/jwt.mjs';
import { ALICE, BOB, connectSocket, login, nextEvent, startTodoApp } from './lib/app.mjs';

describe('todo-app: Socket.IO (in-process adapter)', { timeout: 60000 }, () => {
  let app;
  let alice;
  let bob;
  const sockets = [];
  const open = async (token, opts) => { const s = await connectSocket(app.url, token, opts); sockets.push(s); return s; };

  before(async () => {
    app = await startTodoApp();
    alice = await login(app, ALICE);
    bob = await login(app, BOB);
  });
  after(async () => {
    for (const s of sockets) s.close();
    await app?.stop();
  });

  it('refuses a handshake without a valid token', async () => {
    for (const token of [undefined, 'garbage', makeToken('another-secret-of-enough-length', { sub: ALICE.id })]) {
      await assert.rejects(connectSocket(app.url, token), (e) => e.message === 'unauthorized');
    }
  });

  it('delivers todo:created / updated / deleted to the user\'s own sockets only', async () => {
    const aliceSocket = await open(alice);
    const bobSocket = await open(bob);

    const created = (await app.post('/api/todos', { token: alice, json: { title: 'for alice\'s eyes' } })).body;
    assert.deepEqual(await nextEvent(aliceSocket, 'todo:created', (t) => t.id === created.id), created);
    const updated = (await app.patch(`/api/todos/${created.id}`, { token: alice, json: { done: true } })).body;
    assert.deepEqual(await nextEvent(aliceSocket, 'todo:updated', (t) => t.id === created.id), updated);
    assert.equal((await app.delete(`/api/todos/${created.id}`, { token: alice })).status, 204);
    assert.deepEqual(await nextEvent(aliceSocket, 'todo:deleted', (t) => t.id === created.id), { id: created.id });

    // Bob's own event comes after anything of Alice's the server might have sent him (one
    // process, one connection, in order): when it is there, nothing of hers came before it.
    const bobs = (await app.post('/api/todos', { token: bob, json: { title: 'bob\'s' } })).body;
    await nextEvent(bobSocket, 'todo:created', (t) => t.id === bobs.id);
    assert.deepEqual(bobSocket.received.map((r) => r.data.id), [bobs.id]);
  });

  it('accepts an opaque session token, over long-polling as well', async () => {
    const session = await login(app, ALICE, { tokenType: 'opaque' });
    const polling = await open(session, { transports: ['polling'] });
    const created = (await app.post('/api/todos', { token: session, json: { title: 'via polling' } })).body;
    assert.deepEqual(await nextEvent(polling, 'todo:created', (t) => t.id === created.id), created);
  });
});
