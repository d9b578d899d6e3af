// Starts examples/todo-app (node src/server.mjs) as a child process on a free loopback port, with
// the helpers of tests/blackbox/lib (process handling, requests), and talks to it: log in, open a
// Socket.IO client, wait for an event.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { io } from 'socket.io-client';

import { randomSecret } from '../../../../tests/blackbox/lib/jwt.mjs';
import { baseEnv, launch, makeTempDir } from '../../../../tests/blackbox/lib/service.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SERVER = path.resolve(here, '..', '..', 'src', 'server.mjs');

// The demo users of users.json (README.md).
export const ALICE = { username: 'alice', password: 'alice-password', id: 'u-alice' };
export const BOB = { username: 'bob', password: 'bob-password', id: 'u-bob' };
export const ADMIN = { username: 'admin', password: 'admin-password', id: 'u-admin' };

// Resolves a Service (tests/blackbox/lib/service.mjs): url, port, get/post/patch/delete, stop().
export function startTodoApp({ secret = randomSecret(), env = {}, dir = makeTempDir() } = {}) {
  return launch(process.execPath, [SERVER], baseEnv({ PORT: '0', HOST: '127.0.0.1', JWT_SECRET: secret, ...env }), { dir, secret });
}

// Logs a demo user in (at the app, or at Caddy in front of it) and returns the token.
export async function login(app, user, { tokenType } = {}) {
  const res = await app.post('/api/auth/login', { json: { username: user.username, password: user.password, ...(tokenType ? { tokenType } : {}) } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.user.id, user.id);
  return res.body.token;
}

// A connected Socket.IO client (rejects with the server's refusal, e.g. "unauthorized"). Every
// event it receives is recorded in `received` ({event, data}), in order.
export function connectSocket(url, token, opts = {}) {
  const socket = io(url, { auth: token === undefined ? {} : { token }, reconnection: false, forceNew: true, transports: ['websocket'], ...opts });
  socket.received = [];
  socket.onAny((event, data) => socket.received.push({ event, data }));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (e) => { socket.close(); reject(e); });
  });
}

// Resolves the first event of that name (already received or still to come) whose data passes pred.
export function nextEvent(socket, event, pred = () => true) {
  const seen = socket.received.find((r) => r.event === event && pred(r.data));
  if (seen) return Promise.resolve(seen.data);
  return new Promise((resolve) => {
    const on = (data) => {
      if (!pred(data)) return;
      socket.off(event, on);
      resolve(data);
    };
    socket.on(event, on);
  });
}
