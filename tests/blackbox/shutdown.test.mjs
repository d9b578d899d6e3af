// Graceful shutdown: on SIGTERM (and SIGINT) the service stops accepting, finishes the requests in
// flight with Connection: close, and exits 0.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { assertOk } from './lib/assert.mjs';
import { probeConnect, request } from './lib/http.mjs';
import { startService } from './lib/service.mjs';
import { waitFor } from './lib/sse.mjs';

const running = new Set();
after(async () => { for (const s of running) await s.kill(); });

describe('graceful shutdown', () => {
  it('finishes in-flight chats on SIGTERM, refuses new connections, exits 0', async () => {
    // The mock model answers after 5 s: long enough that the chats are still in flight when the
    // signal goes out, which the test checks by order (each finishes after it) instead of assuming.
    // (2 s left a loaded machine too little between the first stored turn and the signal; 5 s
    // is still well inside the default SHUTDOWN_GRACE_MS of 10 s.)
    const svc = await startService({ env: { MOCK_LATENCY_MS: '5000' } });
    running.add(svc);
    const token = svc.token('shutdown-user');
    const N = 4;
    const finishedAt = [];
    const inflight = Array.from({ length: N }, (_, i) => request(svc.url, 'POST', '/api/ai/chat', { token, json: { message: `in flight ${i}` } })
      .then((res) => { finishedAt[i] = Date.now(); return res; }));
    // In flight: each turn stores its conversation and question before it calls the model.
    await waitFor(async () => assertOk(await svc.get('/api/ai/conversations', { token })).items.length === N,
      10000, `${N} turns waiting on the model`);
    const signalledAt = Date.now();
    svc.child.kill('SIGTERM');
    await waitFor(async () => (await probeConnect(svc.host, svc.port)) === 'ECONNREFUSED', 10000,
      'the listener to close on SIGTERM');

    const results = await Promise.all(inflight);
    results.forEach((res, i) => {
      const d = assertOk(res);
      assert.ok(d.message.includes(`"in flight ${i}"`), d.message);
      assert.equal(String(res.headers.connection).toLowerCase(), 'close', 'in-flight responses carry Connection: close');
    });
    finishedAt.forEach((t, i) => assert.ok(t >= signalledAt, `request ${i} finished before SIGTERM, so it was not in flight`));
    const exit = await svc.stop('SIGTERM');
    running.delete(svc);
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${svc.stderr}`);
    assert.equal(await probeConnect(svc.host, svc.port), 'ECONNREFUSED');

    // The answers given during shutdown were stored.
    const again = await startService({ dir: svc.dir, secret: svc.secret });
    running.add(again);
    const list = assertOk(await again.get('/api/ai/conversations', { token }));
    assert.equal(list.items.length, N);
    for (const c of list.items) assert.equal(c.messageCount, 2);
    assert.deepEqual(await again.stop(), { code: 0, signal: null });
    running.delete(again);
  });

  it('exits 0 on SIGINT when idle', async () => {
    const svc = await startService();
    running.add(svc);
    assert.equal((await svc.get('/health')).status, 200);
    assert.deepEqual(await svc.stop('SIGINT'), { code: 0, signal: null }, `stderr:\n${svc.stderr}`);
    running.delete(svc);
  });

  it('exits 0 on a SIGTERM sent the moment it says it is listening', async () => {
    // A supervisor (or another test) may signal as soon as it reads the "listening" line; the
    // signal handler was once installed just after that line, so a SIGTERM in between killed the
    // process (seen once as a replica dying of SIGTERM at start-up). The window was one statement
    // wide, so this cannot reproduce the old race on demand: it checks the order holds.
    for (let i = 0; i < 5; i++) {
      const svc = await startService();
      running.add(svc);
      assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null }, `start ${i}; stderr:\n${svc.stderr}`);
      running.delete(svc);
    }
  });

  it('closes an idle keep-alive connection at once on SIGTERM and exits 0', async () => {
    // A grace of 10 minutes: were the idle connection waited for, the exit would come long after
    // svc.stop gives up (60 s) — a bound on behaviour, not a timing measurement.
    const svc = await startService({ env: { SHUTDOWN_GRACE_MS: '600000' } });
    running.add(svc);
    const net = await import('node:net');
    const sock = net.connect({ host: svc.host, port: svc.port });
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    sock.write(`GET /health HTTP/1.1\r\nHost: ${svc.host}\r\n\r\n`);
    let got = '';
    await new Promise((resolve) => sock.on('data', (d) => { got += d; if (got.includes('"ok"')) resolve(); }));
    const closed = new Promise((resolve) => sock.once('close', resolve));
    sock.on('error', () => {});
    assert.deepEqual(await svc.stop('SIGTERM', 60000), { code: 0, signal: null });
    running.delete(svc);
    await closed;
  });
});
