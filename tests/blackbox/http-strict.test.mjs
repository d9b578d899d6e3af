// HTTP/1.1 framing as RFC 9112 wants it, over raw TCP (node:net) so every byte is ours: request
// smuggling payloads (a Transfer-Encoding other than a lone `chunked`, or with Content-Length)
// are refused with 400 and the connection closed, so the bytes of their "body" never run as a
// second request; duplicate Host / Content-Length / Authorization are refused too.
// Connection caps (MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS) and running out of file descriptors.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { request } from './lib/http.mjs';
import { launch, baseEnv, BIN, makeTempDir, startService } from './lib/service.mjs';

// Sends `bytes` on a fresh connection and collects everything until the server closes it.
// `statuses` lists the status code of every response that came back.
function exchange(port, bytes, { localAddress, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let data = '';
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms; got:\n${data}`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => { if (bytes) socket.write(bytes); });
    socket.on('data', (d) => { data += d; });
    socket.on('error', () => { /* a reset after the answer: 'close' follows */ });
    socket.on('close', () => {
      clearTimeout(guard);
      resolve({ data, statuses: [...data.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])) });
    });
  });
}

// A connection that stays open (idle) until the test closes it; resolves once connected.
function openIdle(port, localAddress) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

// Sends a last GET /health on a held connection; resolves with all it got once the server closed it.
function lastRequest(socket) {
  return new Promise((resolve) => {
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => { data += d; });
    socket.on('close', () => resolve(data));
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

// The JSON error body of a raw response.
function errorBody(data) {
  const body = data.slice(data.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body.slice(0, body.lastIndexOf('}') + 1));
}

// What a smuggler puts in the body: a second request that must never be answered.
const SMUGGLED = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';

function post(headers, body = SMUGGLED) {
  return `POST /api/ai/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
}

describe('request framing', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  const smuggling = {
    'Transfer-Encoding: x': post('Transfer-Encoding: x\r\n'),
    'Transfer-Encoding: xchunked': post('Transfer-Encoding: xchunked\r\n'),
    'Transfer-Encoding: chunked ,x': post('Transfer-Encoding: chunked ,x\r\n'),
    'Transfer-Encoding: chunked, identity': post('Transfer-Encoding: chunked, identity\r\n'),
    'Transfer-Encoding: gzip, chunked (a coding we do not decode)': post('Transfer-Encoding: gzip, chunked\r\n', `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`),
    'two Transfer-Encoding fields, x then chunked': post('Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n', `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`),
    'Transfer-Encoding: x with Content-Length': post(`Transfer-Encoding: x\r\nContent-Length: ${SMUGGLED.length}\r\n`),
    'Content-Length with Transfer-Encoding: chunked': post(`Content-Length: 4\r\nTransfer-Encoding: chunked\r\n`, `0\r\n\r\n${SMUGGLED}`),
    'Transfer-Encoding in HTTP/1.0': `POST /api/ai/conversations HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  };
  for (const [name, bytes] of Object.entries(smuggling)) {
    it(`refuses ${name} with 400 and closes without answering the smuggled request`, async () => {
      const { data, statuses } = await exchange(svc.port, bytes);
      assert.deepEqual(statuses, [400], data);
      // (HTTP/1.0 closes by default.)
      if (data.startsWith('HTTP/1.1')) assert.match(data, /\r\nConnection: close\r\n/i);
      const body = errorBody(data);
      assert.equal(body.success, false);
      assert.equal(body.error.code, 'invalid_request');
    });
  }

  const duplicates = {
    'two Authorization fields': `GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n`,
    'two Host fields': `GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`,
    'two equal Content-Length fields': post('Content-Length: 2\r\nContent-Length: 2\r\n', '{}'),
    'a Content-Length list': post('Content-Length: 2, 2\r\n', '{}'),
  };
  for (const [name, bytes] of Object.entries(duplicates)) {
    it(`refuses ${name} with 400 and closes`, async () => {
      const { data, statuses } = await exchange(svc.port, bytes);
      assert.deepEqual(statuses, [400], data);
      assert.equal(errorBody(data).error.code, 'invalid_request');
    });
  }

  it('still takes a chunked body (any case of `chunked`) and a single Content-Length', async () => {
    const token = svc.token('strict-alice');
    const json = '{"title":"chunked"}';
    const chunked = `POST /api/ai/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/json\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n` +
      `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    let { data, statuses } = await exchange(svc.port, chunked);
    assert.deepEqual(statuses, [201], data);
    ({ data, statuses } = await exchange(svc.port, `GET /health HTTP/1.1\r\nHost: x\r\n\r\n${SMUGGLED.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`));
    assert.deepEqual(statuses, [200, 200], 'pipelined requests are still answered in order');
  });
});

describe('connection caps', () => {
  it('refuses the connection over MAX_CONNECTIONS_PER_IP with 503 while another client is served', async () => {
    const svc = await startService({ env: { MAX_CONNECTIONS_PER_IP: '20' } });
    const held = [];
    try {
      for (let i = 0; i < 20; i++) held.push(await openIdle(svc.port, '127.0.0.1'));
      const refused = await exchange(svc.port, null, { localAddress: '127.0.0.1' });
      assert.deepEqual(refused.statuses, [503], refused.data);
      assert.equal(errorBody(refused.data).error.code, 'unavailable');
      // Another address (all of 127.0.0.0/8 is loopback on Linux) is another client.
      const other = await request(svc.url, 'GET', '/health', { localAddress: '127.0.0.2' });
      assert.equal(other.status, 200);
      // The connections held are still served.
      const again = await exchange(svc.port, null, { localAddress: '127.0.0.1' });
      assert.deepEqual(again.statuses, [503], 'still over the cap');
      assert.match(await lastRequest(held[0]), /^HTTP\/1\.1 200 /);
      // That connection is gone: its slot is free again (the server may release it just after
      // the client saw the close, so a few attempts).
      let freed;
      for (let attempt = 0; attempt < 200 && freed?.statuses?.[0] !== 200; attempt++) {
        freed = await exchange(svc.port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { localAddress: '127.0.0.1' });
      }
      assert.deepEqual(freed.statuses, [200], 'a slot is free once a connection closed');
    } finally {
      for (const s of held) s.destroy();
      await svc.stop();
    }
  });

  it('refuses connections over MAX_CONNECTIONS (plus the loopback reserve) and keeps serving those it holds', async () => {
    const svc = await startService({ env: { MAX_CONNECTIONS: '10', MAX_CONNECTIONS_PER_IP: '0' } });
    const held = [];
    try {
      // 10 for everyone, then 16 more that only loopback clients (health checks) may take.
      for (let i = 0; i < 26; i++) held.push(await openIdle(svc.port, `127.0.0.${2 + (i % 5)}`));
      const refused = await exchange(svc.port, null, { localAddress: '127.0.0.9' });
      assert.deepEqual(refused.statuses, [503], refused.data);
      assert.match(await lastRequest(held[25]), /^HTTP\/1\.1 200 /);
    } finally {
      for (const s of held) s.destroy();
      await svc.stop();
    }
  });

  // Not under UBSan (make test-asan, make coverage COV_SANITIZE=…): its vptr check probes memory
  // through pipe(), so in a process with no descriptor left it reports a valid object as having an
  // invalid vptr, and the build's -fno-sanitize-recover ignores suppressions (docs/testing.md).
  const ubsan = process.env.UBSAN_OPTIONS ? "UBSan's vptr check needs a free descriptor" : false;
  it('keeps accepting after running out of file descriptors, and logs that once', { skip: ubsan }, async () => {
    // A tiny descriptor limit and a cap above it: the kernel, not the cap, runs out first.
    const dir = makeTempDir();
    const svc = await launch('bash', ['-c', 'ulimit -n 64 && exec "$0"', BIN], baseEnv({
      PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${dir}/ai.db`, JWT_SECRET: 'x'.repeat(32),
      LOG_LEVEL: 'info', THREADS: '2', GENERATE_TITLES: 'false', MAX_CONNECTIONS: '1000', MAX_CONNECTIONS_PER_IP: '0',
    }), { dir });
    const held = [];
    try {
      const failed = new Promise((resolve) => {
        const seen = () => { if (/accept failed/.test(svc.stderr)) { svc.child.stderr.off('data', seen); resolve(); } };
        svc.child.stderr.on('data', seen);
        seen();
      });
      for (let i = 0; i < 80; i++) held.push(await openIdle(svc.port, '127.0.0.1'));
      await failed;
      // Some of these wait in the backlog while accept fails with EMFILE; free them all.
      for (const s of held.splice(0)) s.destroy();
      let res;
      for (let attempt = 0; attempt < 200 && res?.status !== 200; attempt++) {
        res = await request(svc.url, 'GET', '/health').catch((e) => ({ status: e.code }));
      }
      assert.equal(res.status, 200, 'served again once descriptors are free');
      const lines = svc.stderr.split('\n').filter((l) => /accept failed/.test(l));
      assert.equal(lines.length, 1, `one log line per interval, not one per failed accept:\n${lines.join('\n')}`);
    } finally {
      for (const s of held) s.destroy();
      await svc.stop();
    }
  });
});
