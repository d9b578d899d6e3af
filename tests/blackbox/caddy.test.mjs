// The production topology on loopback: deploy/Caddyfile itself (its upstreams and address given by
// the environment placeholders it reads) run by Debian's caddy in front of three replicas of the
// service and two stand-ins for the monolith's backends. It proves what the Caddyfile promises:
// /api/ai/* is spread round robin over the replicas and a stopped replica is skipped, a streamed
// answer crosses Caddy as it is produced (not buffered to the end), /socket.io/* reaches only the
// monolith and sticks to one backend, and the rest goes to the monolith.
//
// Each replica has its own SQLite file: shared state across replicas is PostgreSQL + Redis
// (docs/operations.md, "Scale out"), which this suite does not need — every request here stands
// alone (a new conversation, a list). The upstream is tools/mock-llm, pacing its tokens.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { replicaOf as replicaOfLib, startCaddy } from './lib/caddy.mjs';
import { randomSecret } from './lib/jwt.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { assertArrivesWhileOpen, sseEvents, upstreamClosed } from './lib/sse.mjs';

// A stand-in for one of the monolith's backends: answers every path with its name.
function startBackend(name) {
  const hits = [];
  const server = http.createServer((req, res) => {
    if (req.url !== '/health') hits.push(req.url);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ backend: name, path: req.url }));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ name, server, hits, port: server.address().port }));
  });
}

// One request on a fresh connection; resolves { status, headers, body (parsed JSON or text) }.
function send(port, method, urlPath, { headers = {}, json } = {}) {
  const payload = json === undefined ? undefined : JSON.stringify(json);
  const h = { ...headers };
  if (payload !== undefined) Object.assign(h, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; }).on('end', () => {
        let body = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('Caddy in front of three replicas (deploy/Caddyfile)', () => {
  let mock;
  let replicas = [];
  let backends = [];
  let caddy;
  let port;
  let token;

  before(async () => {
    mock = await startMockLlm();
    const dir = makeTempDir();
    const config = path.join(dir, 'models.yaml');
    writeFileSync(config, `models:
  - name: dripping
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: "${mock.url}/v1"
        api_key: sk-test
        headers: {x-mock-drip: "1", x-mock-key: caddy-sse}
`);
    // One JWT secret for all (they verify the same users' tokens); one database each.
    const secret = randomSecret();
    const env = { AI_CONFIG: config, LIMIT_RPM: '0', LIMIT_TPM: '0', LIMIT_CONCURRENT_STREAMS: '0' };
    replicas = await Promise.all([0, 1, 2].map(() => startService({ secret, env })));
    backends = await Promise.all(['backend-1', 'backend-2'].map(startBackend));
    token = replicas[0].token('caddy-user');

    caddy = await startCaddy({
      ai: replicas.map((r) => `127.0.0.1:${r.port}`),
      backends: backends.map((b) => `127.0.0.1:${b.port}`),
    });
    port = caddy.port;
  });

  after(async () => {
    await caddy?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    for (const b of backends) b.server.close();
    await mock?.stop();
  });

  const replicaOf = (requestId) => replicaOfLib(replicas, requestId);

  it('answers /health itself', async () => {
    const r = await send(port, 'GET', '/health');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'OK');
  });

  it('spreads /api/ai requests round robin over the three replicas', async () => {
    const ids = [];
    for (let i = 0; i < 12; ++i) {
      const id = randomUUID();
      ids.push(id);
      const r = await send(port, 'GET', '/api/ai/conversations?limit=5', { headers: { authorization: `Bearer ${token}`, 'x-request-id': id } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.headers['x-request-id'], id);
    }
    const served = [];
    for (const id of ids) served.push(await replicaOf(id));
    // Round robin: each replica takes every third request, in a fixed rotation.
    for (let i = 3; i < served.length; ++i) assert.equal(served[i], served[i - 3], `rotation: ${served}`);
    assert.deepEqual([...new Set(served.slice(0, 3))].sort(), [0, 1, 2], `rotation: ${served}`);
  });

  it('passes a streamed answer through as it is produced (flush_interval -1)', async () => {
    const id = randomUUID();
    const body = JSON.stringify({ message: 'Stream through Caddy', model: 'dripping', stream: true });
    let req;
    const res = await new Promise((resolve, reject) => {
      req = http.request({
        host: '127.0.0.1', port, method: 'POST', path: '/api/ai/chat', agent: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': id },
      }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    try {
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'], /^text\/event-stream/);
      await assertArrivesWhileOpen(sseEvents(res), mock, 'caddy-sse');
    } finally {
      req.destroy();
      res.destroy();
    }
    await upstreamClosed(mock, 'caddy-sse');
    // Logged when the stream ends (here: the client went away), by exactly one replica.
    await replicaOf(id);
  });

  // Every answer names the stand-in backend that gave it, so none came from an AI replica.
  it('sends /socket.io to the monolith only, sticky by cookie', async () => {
    const first = await send(port, 'GET', '/socket.io/?EIO=4&transport=polling');
    assert.equal(first.status, 200);
    const owner = first.body.backend;
    assert.ok(['backend-1', 'backend-2'].includes(owner), JSON.stringify(first.body));
    const cookie = [first.headers['set-cookie']].flat().find((c) => c?.startsWith('todo_lb='));
    assert.ok(cookie, `no sticky cookie: ${JSON.stringify(first.headers)}`);
    for (let i = 0; i < 6; ++i) {
      const r = await send(port, 'GET', `/socket.io/?EIO=4&transport=polling&sid=s${i}`, { headers: { cookie: cookie.split(';')[0] } });
      assert.equal(r.body.backend, owner, `poll ${i} went to ${r.body.backend}, the session lives on ${owner}`);
    }
  });

  it('sticks the AI service\'s realtime path (/api/ai/socket.io/) to one replica', async () => {
    const firstId = randomUUID();
    const first = await send(port, 'GET', '/api/ai/socket.io/?EIO=4&transport=polling', { headers: { 'x-request-id': firstId } });
    const cookie = [first.headers['set-cookie']].flat().find((c) => c?.startsWith('aas_lb='));
    assert.ok(cookie, `no sticky cookie: ${JSON.stringify(first.headers)}`);
    const owner = await replicaOf(firstId);
    for (let i = 0; i < 4; ++i) {
      const id = randomUUID();
      await send(port, 'GET', '/api/ai/socket.io/?EIO=4&transport=polling', { headers: { cookie: cookie.split(';')[0], 'x-request-id': id } });
      assert.equal(await replicaOf(id), owner);
    }
  });

  it('sends everything else to the monolith, round robin', async () => {
    const seen = [];
    for (const p of ['/api/todos', '/api/todos', '/', '/api/auth/login']) {
      const r = await send(port, 'GET', p);
      assert.equal(r.status, 200);
      assert.equal(r.body.path, p);
      seen.push(r.body.backend);
    }
    assert.deepEqual([...new Set(seen)].sort(), ['backend-1', 'backend-2']);
    for (let i = 1; i < seen.length; ++i) assert.notEqual(seen[i], seen[i - 1], `not round robin: ${seen}`);
  });

  it('skips a stopped replica: no request fails while one is down', async () => {
    const stopped = replicas[2];
    await stopped.stop();
    const ids = [];
    for (let i = 0; i < 9; ++i) {
      const id = randomUUID();
      ids.push(id);
      const r = await send(port, 'GET', '/api/ai/conversations', { headers: { authorization: `Bearer ${token}`, 'x-request-id': id } });
      assert.equal(r.status, 200, `request ${i} through Caddy with a replica down: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const served = [];
    for (const id of ids) served.push(await replicaOf(id));
    assert.deepEqual([...new Set(served)].sort(), [0, 1], `served by ${served}`);
  });
});
