// The HTTP API of examples/todo-app, driven over real HTTP: login, the verify route the AI service
// uses, todo CRUD per user, validation, persistence in DATA_FILE, configuration errors, SIGTERM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { decodeJwt, makeToken, nowSeconds, verifyHs256 } from '../../../tests/blackbox/lib/jwt.mjs';
import { baseEnv, makeTempDir } from '../../../tests/blackbox/lib/service.mjs';
import { ADMIN, ALICE, BOB, login, SERVER, startTodoApp } from './lib/app.mjs';

const TIMEOUT = { timeout: 60000 };

describe('todo-app: auth', TIMEOUT, () => {
  let app;
  before(async () => { app = await startTodoApp(); });
  after(async () => { await app?.stop(); });

  it('logs in with a good password and returns an HS256 JWT (sub, name, roles, exp)', async () => {
    const token = await login(app, ALICE);
    const { header, payload } = decodeJwt(token);
    assert.equal(header.alg, 'HS256');
    assert.ok(verifyHs256(token, app.secret), 'signed with JWT_SECRET');
    assert.equal(payload.sub, ALICE.id);
    assert.equal(payload.name, 'Alice');
    assert.deepEqual(payload.roles, ['user']);
    assert.ok(Number.isInteger(payload.exp) && payload.exp > nowSeconds(), `exp ${payload.exp}`);
  });

  it('refuses a wrong password or an unknown user with 401, and bad input with 400', async () => {
    for (const json of [{ username: 'alice', password: 'nope' }, { username: 'mallory', password: 'alice-password' }]) {
      const r = await app.post('/api/auth/login', { json });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.body.error.code, 'unauthorized');
      assert.equal(r.body.token, undefined);
    }
    for (const json of [{}, { username: 'alice' }, { username: 1, password: 'x' }, { username: 'alice', password: 'alice-password', tokenType: 'cookie' }]) {
      const r = await app.post('/api/auth/login', { json });
      assert.equal(r.status, 400, `${JSON.stringify(json)}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
    }
  });

  it('verifies its JWTs and its opaque session tokens as {user: {id, name, roles}}', async () => {
    for (const tokenType of ['jwt', 'opaque']) {
      const token = await login(app, ADMIN, { tokenType });
      const r = await app.get('/api/auth/verify', { token });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { user: { id: ADMIN.id, name: 'Admin', roles: ['user', 'admin'] } });
    }
  });

  it('answers 401 to verify without a good token: none, wrong secret, expired, alg none, unknown session', async () => {
    const bad = [undefined, makeToken('another-secret-of-enough-length', { sub: ALICE.id }),
      makeToken(app.secret, { sub: ALICE.id }, { ttl: -60 }), makeToken(null, { sub: ALICE.id }, { header: { alg: 'none' } }),
      'tds_not-a-session', 'garbage'];
    for (const token of bad) {
      const r = await app.get('/api/auth/verify', { token });
      assert.equal(r.status, 401, `${token}: ${r.text}`);
      assert.equal(r.body.error.code, 'unauthorized');
    }
  });

  it('never logs passwords or tokens', async () => {
    const token = await login(app, BOB);
    await app.get('/api/auth/verify', { token });
    await app.post('/api/auth/login', { json: { username: 'bob', password: 'wrong-password-123' } });
    const logs = app.stdout + app.stderr;
    for (const secret of [token, 'bob-password', 'wrong-password-123']) assert.ok(!logs.includes(secret), 'a secret reached the log');
  });
});

describe('todo-app: /api/todos', TIMEOUT, () => {
  let app;
  let alice;
  let bob;
  before(async () => {
    app = await startTodoApp();
    alice = await login(app, ALICE);
    bob = await login(app, BOB);
  });
  after(async () => { await app?.stop(); });

  const create = async (token, json) => {
    const r = await app.post('/api/todos', { token, json });
    assert.equal(r.status, 201, r.text);
    return r.body;
  };

  it('creates, reads, updates and deletes a todo', async () => {
    const t = await create(alice, { title: '  Buy milk  ', due: '2030-01-31' });
    assert.deepEqual({ title: t.title, done: t.done, due: t.due }, { title: 'Buy milk', done: false, due: '2030-01-31' });
    assert.match(t.id, /^[0-9a-f-]{36}$/);
    assert.equal(t.createdAt, t.updatedAt);

    assert.deepEqual((await app.get(`/api/todos/${t.id}`, { token: alice })).body, t);
    const patched = await app.patch(`/api/todos/${t.id}`, { token: alice, json: { done: true, title: 'Buy oat milk', due: '2030-02-01T10:00:00+02:00' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.done, true);
    assert.equal(patched.body.title, 'Buy oat milk');
    assert.equal(patched.body.due, '2030-02-01T08:00:00.000Z');
    assert.equal(patched.body.createdAt, t.createdAt);

    const cleared = await app.patch(`/api/todos/${t.id}`, { token: alice, json: { due: null } });
    assert.equal(cleared.body.due, null);

    assert.equal((await app.delete(`/api/todos/${t.id}`, { token: alice })).status, 204);
    assert.equal((await app.get(`/api/todos/${t.id}`, { token: alice })).status, 404);
    assert.equal((await app.delete(`/api/todos/${t.id}`, { token: alice })).status, 404);
  });

  it('lists my todos in creation order, filtered by ?done=', async () => {
    const token = await login(app, ADMIN);
    const a = await create(token, { title: 'first' });
    const b = await create(token, { title: 'second' });
    await app.patch(`/api/todos/${a.id}`, { token, json: { done: true } });
    const all = (await app.get('/api/todos', { token })).body.items.map((t) => t.id);
    assert.deepEqual(all, [a.id, b.id]);
    assert.deepEqual((await app.get('/api/todos?done=true', { token })).body.items.map((t) => t.id), [a.id]);
    assert.deepEqual((await app.get('/api/todos?done=false', { token })).body.items.map((t) => t.id), [b.id]);
    const bad = await app.get('/api/todos?done=yes', { token });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /done/);
  });

  it('keeps users apart: another user\'s todo is 404 for read, update and delete, and absent from lists', async () => {
    const t = await create(alice, { title: 'alice only' });
    for (const [method, json] of [['get'], ['patch', { done: true }], ['delete']]) {
      const r = await app[method](`/api/todos/${t.id}`, { token: bob, json });
      assert.equal(r.status, 404, `${method}: ${r.text}`);
      assert.equal(r.body.error.code, 'not_found');
    }
    assert.ok(!(await app.get('/api/todos', { token: bob })).body.items.some((x) => x.id === t.id));
    const still = await app.get(`/api/todos/${t.id}`, { token: alice });
    assert.equal(still.body.done, false, 'bob\'s PATCH changed nothing');
  });

  it('answers 400 naming what is wrong with a body', async () => {
    const t = await create(alice, { title: 'to patch' });
    const cases = [
      ['post', '/api/todos', {}, /title.*required/],
      ['post', '/api/todos', { title: '   ' }, /title.*empty/],
      ['post', '/api/todos', { title: 42 }, /title.*string/],
      ['post', '/api/todos', { title: 'x'.repeat(201) }, /at most 200/],
      ['post', '/api/todos', { title: 'ok', due: '2030-02-30' }, /due/],
      ['post', '/api/todos', { title: 'ok', due: 'tomorrow' }, /due/],
      ['post', '/api/todos', { title: 'ok', done: true }, /unknown field "done"/],
      ['post', '/api/todos', [1, 2], /JSON object/],
      ['patch', `/api/todos/${t.id}`, {}, /nothing to change/],
      ['patch', `/api/todos/${t.id}`, { done: 'yes' }, /done/],
      ['patch', `/api/todos/${t.id}`, { owner: 'bob' }, /unknown field "owner"/],
    ];
    for (const [method, p, json, message] of cases) {
      const r = await app[method](p, { token: alice, json });
      assert.equal(r.status, 400, `${method} ${JSON.stringify(json)}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.match(r.body.error.message, message);
    }
    const broken = await app.post('/api/todos', { token: alice, body: '{"title": ', headers: { 'content-type': 'application/json' } });
    assert.equal(broken.status, 400);
    assert.match(broken.body.error.message, /not valid JSON/);
    const huge = await app.post('/api/todos', { token: alice, json: { title: 'x'.repeat(100 * 1024) } });
    assert.equal(huge.status, 413);
  });

  it('needs a token: 401 without one or with a bad one', async () => {
    for (const token of [undefined, 'garbage', makeToken('another-secret-of-enough-length', { sub: ALICE.id })]) {
      assert.equal((await app.get('/api/todos', { token })).status, 401);
      assert.equal((await app.post('/api/todos', { token, json: { title: 'x' } })).status, 401);
    }
  });

  it('serves /health, the page (with the AI chat slot) and the bundled Socket.IO client', async () => {
    const h = await app.get('/health');
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'ok');
    const page = await app.get('/');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.text, /<div id="ai-chat-slot"[ >]/);
    assert.match(page.text, /<script src="\/socket\.io\/socket\.io\.js"><\/script>/);
    assert.doesNotMatch(page.text, /https?:\/\//, 'nothing is loaded from another host');
    const js = await app.get('/socket.io/socket.io.js');
    assert.equal(js.status, 200);
    assert.match(js.headers['content-type'], /javascript/);
    assert.equal((await app.get('/app.js')).status, 200);
    assert.equal((await app.get('/api/nothing')).status, 404);
  });
});

describe('todo-app: DATA_FILE, configuration, shutdown', TIMEOUT, () => {
  it('keeps todos in DATA_FILE across a restart (SIGTERM exits 0)', async () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'todos.json');
    const first = await startTodoApp({ dir, env: { DATA_FILE: file } });
    const token = await login(first, ALICE);
    const made = await first.post('/api/todos', { token, json: { title: 'survives restarts' } });
    assert.equal(made.status, 201);
    assert.deepEqual(await first.stop(), { code: 0, signal: null });
    assert.ok(existsSync(file));
    assert.ok(readFileSync(file, 'utf8').includes('survives restarts'));

    const second = await startTodoApp({ dir, secret: first.secret, env: { DATA_FILE: file } });
    try {
      const list = await second.get('/api/todos', { token });
      assert.deepEqual(list.body.items, [made.body]);
    } finally {
      await second.stop();
    }
  });

  const run = (env) => spawnSync(process.execPath, [SERVER], { env: baseEnv({ PORT: '0', HOST: '127.0.0.1', ...env }), encoding: 'utf8', timeout: 20000 });

  it('refuses to start without JWT_SECRET, or with a short one, naming the key', () => {
    for (const env of [{}, { NODE_ENV: 'production' }, { JWT_SECRET: 'short' }]) {
      const r = run(env);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /JWT_SECRET/);
    }
    const r = run({ JWT_SECRET: 'long-enough-secret-1234', PORT: 'eighty' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /PORT/);
    const users = run({ JWT_SECRET: 'long-enough-secret-1234', USERS_FILE: '/nonexistent/users.json' });
    assert.equal(users.status, 2);
    assert.match(users.stderr, /USERS_FILE/);
    const scheme = run({ JWT_SECRET: 'long-enough-secret-1234', REDIS_URL: 'http://127.0.0.1:6379' });
    assert.equal(scheme.status, 2);
    assert.match(scheme.stderr, /REDIS_URL/);
  });

  it('gives up, naming REDIS_URL, when Redis does not answer at start-up', () => {
    // Port 9 (discard) on loopback: nothing listens; the app must not wait for ever.
    const r = run({ JWT_SECRET: 'long-enough-secret-1234', REDIS_URL: 'redis://127.0.0.1:9' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /REDIS_URL: Redis did not answer/);
  });

  it('logs in the users of USERS_FILE, hashed by src/hash-password.mjs; refuses a file with a plaintext password', async () => {
    const hashed = spawnSync(process.execPath, [path.join(path.dirname(SERVER), 'hash-password.mjs')], { input: 'correct horse battery\n', encoding: 'utf8' });
    assert.equal(hashed.status, 0, hashed.stderr);
    const passwordHash = hashed.stdout.trim();
    assert.match(passwordHash, /^scrypt\$16384\$8\$1\$/);
    assert.ok(!passwordHash.includes('correct horse'));
    const dir = makeTempDir();
    const file = path.join(dir, 'users.json');
    writeFileSync(file, JSON.stringify([{ id: '42', username: 'carol', name: 'Carol', roles: [], passwordHash }]));
    const app = await startTodoApp({ dir, env: { USERS_FILE: file } });
    try {
      const token = await login(app, { username: 'carol', password: 'correct horse battery', id: '42' });
      assert.deepEqual((await app.get('/api/auth/verify', { token })).body, { user: { id: '42', name: 'Carol', roles: [] } });
      assert.equal((await app.post('/api/auth/login', { json: { username: 'alice', password: 'alice-password' } })).status, 401, 'the demo users are not there');
    } finally {
      await app.stop();
    }
    writeFileSync(file, JSON.stringify([{ id: '42', username: 'carol', name: 'Carol', roles: [], password: 'correct horse battery' }]));
    const plain = run({ JWT_SECRET: 'long-enough-secret-1234', USERS_FILE: file });
    assert.equal(plain.status, 2);
    assert.match(plain.stderr, /passwordHash/);
  });

  it('starts with a fixed development secret and a loud warning when NODE_ENV=development', async () => {
    const app = await startTodoApp({ env: { NODE_ENV: 'development', JWT_SECRET: '' } });
    try {
      assert.match(app.stderr, /FIXED DEVELOPMENT SECRET/);
      const token = await login(app, ALICE);
      assert.equal((await app.get('/api/auth/verify', { token })).status, 200);
    } finally {
      await app.stop();
    }
  });
});
