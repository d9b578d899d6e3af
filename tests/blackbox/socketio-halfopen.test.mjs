// Half-open and silent connections at the Socket.IO endpoint: 10,000 of them at once (fewer under a
// low ulimit -n) — TCP connections that never send a request, requests cut off in their headers,
// Engine.IO sessions over WebSocket that never answer a ping, and long-polling sessions that never
// poll again. While they
// are all open a real client connects and chats; then every one of them is closed by the service
// (the HTTP read timeout, the Engine.IO ping timeout), none left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { io } from 'socket.io-client';
import WebSocket from 'ws';

import { startService } from './lib/service.mjs';
import { connected, once, SOCKETIO_PATH as PATH } from './lib/socketio.mjs';

// Of each of the four kinds: 10,000 in all, as issue 13 asks, where the file descriptor limit
// (this process's and the service's, which inherits it) allows; never fewer than 2,000.
const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout) || 1024;
const EACH = Math.min(2500, Math.floor((fdLimit - 1000) / 4));
assert.ok(EACH >= 500, `ulimit -n is ${fdLimit}: raise it to 11,000 or more for this suite`);
const TIMEOUT = { timeout: 180000 };

// Resolves once the TCP connection has been opened; `closed` once the service closed it.
function rawConnection(port, bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.on('data', () => {});  // a 408/400 the service may answer with is read and dropped
    const closed = once(sock, 'close');
    sock.once('error', () => {});  // a reset is a close too
    sock.once('connect', () => {
      if (bytes) sock.write(bytes);
      resolve({ closed });
    });
    sock.once('error', reject);
  });
}

// Runs fn(0..n-1) with at most `limit` calls at a time; resolves to the results in the order of i.
async function pool(n, limit, fn) {
  const results = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}

// One GET on a connection of its own (node:http, no keep-alive), as each long-polling client
// would: { status, body }. Not fetch: its client (undici) gives up on a connection the server has
// not accepted within 10 s, and reuses kept-alive connections, which the service closes after
// IDLE_TIMEOUT_MS (2 s here) — a request written as that close crosses it fails "other side
// closed". Under load (2,500 handshakes at once, 2 cores at load 20+) either made one of them
// "fetch failed" now and then (issue 18) although the service refused nothing. A refusal or a
// reset still fails the test, named.
function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('error', (e) => reject(new Error(`GET ${url}: ${e.code ?? ''} ${e.message}`)));
  });
}

// An Engine.IO WebSocket session that reads its open packet and then answers nothing.
function silentWebSocket(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const closed = once(ws, 'close');
    ws.once('message', () => resolve({ closed }));
    ws.once('error', (e) => reject(new Error(`silent WebSocket ${url}: ${e.code ?? ''} ${e.message}`)));
  });
}

describe('half-open and silent connections', () => {
  let svc;
  before(async () => {
    svc = await startService({
      env: {
        // Silent sessions are closed within interval + timeout (4 s). Not shorter: the real client
        // below answers its pings from the same node process that holds the 10,000 connections,
        // and at load 14-16 its pong came later than a 500 ms timeout now and then — the service
        // rightly closed its session and the next poll's 400 read as 'xhr poll error' (issue 18).
        SOCKETIO_PING_INTERVAL_MS: '1000',
        SOCKETIO_PING_TIMEOUT_MS: '3000',
        // 10 s, not less: the same timeout bounds how long an accepted request may wait to be
        // read, and on 2 cores at load 20+ a few thousand handshakes at once took longer than 2 s
        // to reach (the service then closed them unanswered: "socket hang up", issue 18).
        READ_TIMEOUT_MS: '10000',
        IDLE_TIMEOUT_MS: '10000',
        // The 10,000 connections stand for as many clients, but all come from loopback: the
        // per-address cap (tested in http-strict.test.mjs) would refuse all but 256 of them, and
        // the global cap (¾ of ulimit -n) could refuse some where the limit is low.
        MAX_CONNECTIONS_PER_IP: '0',
        MAX_CONNECTIONS: '0',
      },
    });
  });
  after(async () => { await svc?.stop(); });

  it(`closes ${4 * EACH} connections that never complete or never answer, and serves a new client meanwhile`, TIMEOUT, async () => {
    const base = `${svc.url}${PATH}/?EIO=4`;
    // Long-polling sessions first: opened, then never polled (each handshake on its own request).
    // 100 at a time: how fast one client can open them is not what this test is about.
    const sids = await pool(EACH, 100, async () => {
      const res = await get(`${base}&transport=polling`);
      assert.equal(res.status, 200, res.body);
      return JSON.parse(res.body.slice(1)).sid;
    });
    const silentTcp = await Promise.all(Array.from({ length: EACH }, () => rawConnection(svc.port)));
    const cutOff = await Promise.all(Array.from({ length: EACH }, () =>
      rawConnection(svc.port, `GET ${PATH}/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websock`)));
    const wsUrl = `ws://127.0.0.1:${svc.port}${PATH}/?EIO=4&transport=websocket`;
    const silentWs = await pool(EACH, 500, () => silentWebSocket(wsUrl));

    // All of them still held or just being closed: a new client is served as usual.
    const socket = io(svc.url, { path: PATH, auth: { token: svc.token('halfopen-user') }, forceNew: true, reconnection: false });
    try {
      await connected(socket);
      const done = once(socket, 'ai:done');
      const ack = await socket.emitWithAck('ai:chat', { message: 'Anyone there?' });
      assert.match(ack.messageId ?? '', /./, JSON.stringify(ack));
      assert.equal((await done).status, 'complete');
    } finally {
      socket.close();
    }

    // Every one of them ends from the service's side.
    await Promise.all([...silentTcp, ...cutOff, ...silentWs].map((c) => c.closed));
    // A polling session that missed its pongs is gone: its next poll is refused (a poll made
    // before its deadline returns what waits, the ping, and the next one finds it closed).
    await pool(sids.length, 100, async (i) => {
      for (;;) {
        const res = await get(`${base}&transport=polling&sid=${sids[i]}`);
        if (res.status === 400) return assert.match(res.body, /Session ID unknown|Bad request/);
        assert.equal(res.status, 200, res.body);
      }
    });
  });
});
