// Probes, admin health, request ids, JSON 404/405 and the access log.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { RFC3339_MS_UTC, UUID_V7, assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { runCli, startService } from './lib/service.mjs';

let svc;
before(async () => { svc = await startService(); });
after(async () => { await svc?.stop(); });

describe('probes', () => {
  it('GET /health answers {"status":"ok"} without auth and without envelope', async () => {
    const res = await svc.get('/health');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.body, { status: 'ok' });
    assertSchema(res.body, 'HealthStatus');
  });

  it('GET /ready reports database and migrations ok', async () => {
    const res = await svc.get('/ready');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { status: 'ready', checks: { database: 'ok', migrations: 'ok' } });
    assertSchema(res.body, 'ReadyStatus');
  });
});

describe('admin health', () => {
  it('answers an admin token with version, database, providers and models', async () => {
    const res = await svc.get('/api/ai/admin/health', { token: svc.token('root', { admin: true }) });
    const data = assertOk(res);
    assertSchema(res.body, 'AdminHealthEnvelope');
    assert.equal(data.status, 'ok');
    assert.equal(data.database.ok, true);
    assert.equal(data.database.driver, 'sqlite');
    assert.ok(data.database.latestSchemaVersion >= 1, 'there is at least one migration');
    assert.equal(data.database.schemaVersion, data.database.latestSchemaVersion, 'fully migrated at start');
    assert.ok(data.models.includes('mock'), `models: ${data.models}`);
    assert.equal(data.defaultModel, 'mock', 'no provider key in the environment: mock is the default');
    assert.ok(data.uptimeSeconds >= 0);
    assert.match(data.version, /^\d+\.\d+\.\d+/);
    const cli = runCli(['--version']);
    assert.ok(cli.stdout.includes(data.version), `--version "${cli.stdout.trim()}" vs health version "${data.version}"`);
  });

  it('answers a user token with 403 forbidden', async () => {
    assertError(await svc.get('/api/ai/admin/health', { token: svc.token('plain-user') }), 403, 'forbidden');
  });

  it('answers no token with 401 and WWW-Authenticate: Bearer', async () => {
    const res = await svc.get('/api/ai/admin/health');
    assertError(res, 401, 'unauthorized');
    assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
  });
});

describe('X-Request-Id', () => {
  it('is generated as a UUIDv7 when the request has none, on success and on error', async () => {
    const ok = await svc.get('/health');
    assert.match(String(ok.headers['x-request-id']), UUID_V7);
    const err = await svc.get('/api/ai/conversations');
    assert.match(String(err.headers['x-request-id']), UUID_V7);
    assert.equal(err.body.requestId, err.headers['x-request-id']);
    const again = await svc.get('/health');
    assert.notEqual(again.headers['x-request-id'], ok.headers['x-request-id'], 'ids are unique per request');
  });

  it('echoes a sane request id (1..128 of [A-Za-z0-9._:-]) into the header and the error body', async () => {
    for (const id of ['abc.DEF_1:2-3', 'x', 'a'.repeat(128)]) {
      const res = await svc.get('/health', { headers: { 'x-request-id': id } });
      assert.equal(res.headers['x-request-id'], id);
    }
    const err = await svc.get('/nope', { headers: { 'x-request-id': 'trace-42' } });
    assertError(err, 404, 'not_found');
    assert.equal(err.body.requestId, 'trace-42');
  });

  it('replaces an insane request id with a new UUIDv7', async () => {
    for (const id of ['has space', 'a'.repeat(129), 'semi;colon', '<script>', 'slash/id']) {
      const res = await svc.get('/health', { headers: { 'x-request-id': id } });
      assert.match(String(res.headers['x-request-id']), UUID_V7, `for ${JSON.stringify(id)}`);
    }
  });
});

describe('unknown routes', () => {
  it('answers an unknown path with a JSON 404 not_found, with or without a token', async () => {
    assertError(await svc.get('/nope'), 404, 'not_found');
    assertError(await svc.get('/api/ai/nope', { token: svc.token('u1') }), 404, 'not_found');
    assertError(await svc.post('/api/ai/conversations/x/y', { token: svc.token('u1'), json: {} }), 404, 'not_found');
  });

  it('answers a wrong method with a JSON 405 and an Allow header', async () => {
    const token = svc.token('u1');
    const h = await svc.delete('/health');
    assertError(h, 405, 'method_not_allowed');
    assert.match(String(h.headers.allow), /\bGET\b/);
    const c = await svc.put('/api/ai/conversations', { token, json: {} });
    assertError(c, 405, 'method_not_allowed');
    assert.match(String(c.headers.allow), /\bGET\b/);
    assert.match(String(c.headers.allow), /\bPOST\b/);
    const chat = await svc.get('/api/ai/chat', { token });
    assertError(chat, 405, 'method_not_allowed');
    assert.match(String(chat.headers.allow), /\bPOST\b/);
    assert.doesNotMatch(String(chat.headers.allow), /\bGET\b/);
  });
});

describe('access log', () => {
  it('writes one JSON line per request on stdout with the contract fields', async () => {
    const rid = `log-check-${Date.now()}`;
    const res = await svc.get('/health', { headers: { 'x-request-id': rid } });
    assert.equal(res.status, 200);
    const line = await svc.waitForLogLine((l) => l.requestId === rid);
    assert.ok(line, `no access log line with requestId ${rid}; stdout:\n${svc.stdout.slice(-2000)}`);
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/health');
    assert.equal(line.status, 200);
    assert.equal(typeof line.latencyMs, 'number');
    assert.ok(line.latencyMs >= 0);
    assert.match(line.time, RFC3339_MS_UTC);
    assert.equal(svc.stdoutJsonLines().filter((l) => l.requestId === rid).length, 1, 'exactly one line per request');
    const missing = await svc.get('/nope', { headers: { 'x-request-id': `${rid}-404` } });
    assert.equal(missing.status, 404);
    const line404 = await svc.waitForLogLine((l) => l.requestId === `${rid}-404`);
    assert.ok(line404, 'no access log line for a 404');
    assert.equal(line404.status, 404);
  });

  it('never contains the bearer token or the chat message text', async () => {
    const token = svc.token('log-user');
    const secretText = `private-words-${Math.random().toString(36).slice(2)}`;
    const rid = `log-chat-${Date.now()}`;
    const res = await svc.post('/api/ai/chat', { token, json: { message: secretText }, headers: { 'x-request-id': rid } });
    const data = assertOk(res);
    assert.ok(data.message.includes(secretText), 'the mock echoes the message, so the text did reach the service');
    const line = await svc.waitForLogLine((l) => l.requestId === rid);
    assert.ok(line, 'no access log line for the chat request');
    assert.equal(line.method, 'POST');
    assert.equal(line.route, '/api/ai/chat');
    assert.equal(line.status, 200);
    assert.ok(!svc.stdout.includes(secretText), 'message text leaked into stdout');
    assert.ok(!svc.stdout.includes(token), 'token leaked into stdout');
    assert.ok(!svc.stderr.includes(token), 'token leaked into stderr');
    assert.ok(!svc.stdout.includes(token.split('.')[2]), 'token signature leaked into stdout');
  });
});

describe('CORS', () => {
  let cors;
  before(async () => { cors = await startService({ env: { CORS_ORIGINS: 'http://app.test,http://admin.test' } }); });
  after(async () => { await cors?.stop(); });

  it('answers a preflight from a listed origin with the allowed method and headers', async () => {
    const res = await cors.request('OPTIONS', '/api/ai/chat', {
      headers: { origin: 'http://admin.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
    assert.equal(res.headers['access-control-allow-origin'], 'http://admin.test');
    assert.match(String(res.headers['access-control-allow-methods']), /\bPOST\b/);
    assert.match(String(res.headers['access-control-allow-headers']), /authorization/i);
    assert.match(String(res.headers['access-control-allow-headers']), /content-type/i);
  });

  it('adds Access-Control-Allow-Origin only for listed origins, exposing X-Request-Id', async () => {
    const ok = await cors.get('/health', { headers: { origin: 'http://app.test' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'http://app.test');
    assert.match(String(ok.headers['access-control-expose-headers']), /x-request-id/i);
    const evil = await cors.get('/health', { headers: { origin: 'http://evil.test' } });
    assert.equal(evil.status, 200);
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    const pre = await cors.request('OPTIONS', '/api/ai/chat', { headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST' } });
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
  });

  it('sends no CORS headers when CORS_ORIGINS is unset', async () => {
    const res = await svc.get('/health', { headers: { origin: 'http://app.test' } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });
});
