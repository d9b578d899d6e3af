// Requests over node:http on a fresh connection each (agent: false), so no pooled keep-alive socket
// outlives a service, and the suites control every header and body byte.
import http from 'node:http';

// opts: token (Bearer), json (serialized, content-type application/json unless given), body (raw
// string/Buffer), headers (lower-case names), chunked (send body without content-length), timeoutMs,
// localAddress (the client's source address, e.g. another of 127.0.0.0/8).
export function request(baseUrl, method, path, opts = {}) {
  const { token, json, headers = {}, chunked = false, timeoutMs = 30000, localAddress } = opts;
  const url = new URL(path, baseUrl);
  const h = { ...headers };
  let body = opts.body;
  if (json !== undefined) {
    body = JSON.stringify(json);
    if (!('content-type' in h)) h['content-type'] = 'application/json';
  }
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  if (body !== undefined && !chunked && !('content-length' in h)) h['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(url, { method, headers: h, agent: false, timeout: timeoutMs, localAddress }, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed;
        try { parsed = text.length ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    // A server may answer (413) and close before it has read the whole body; once answered, write
    // errors such as EPIPE are expected and not the test's concern.
    req.on('error', (e) => { if (!answered) reject(e); });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// A client for one service: every call names method, path and the same opts as request().
export function client(baseUrl) {
  const call = (method) => (path, opts) => request(baseUrl, method, path, opts);
  return {
    request: (method, path, opts) => request(baseUrl, method, path, opts),
    get: call('GET'), post: call('POST'), patch: call('PATCH'), delete: call('DELETE'), put: call('PUT'),
  };
}

// Opens a TCP connection and resolves 'connected' or the error code (e.g. 'ECONNREFUSED').
export async function probeConnect(host, port) {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e) => resolve(e.code ?? String(e)));
  });
}

// A port nothing listens on now, for a server that starts only later: below the kernel's range of
// ephemeral ports, so no outgoing connection (this machine's, any process's) is given it
// meanwhile — a port from freePort() can be, and the late listen then fails with EADDRINUSE.
export async function portForLater() {
  const fs = await import('node:fs');
  const net = await import('node:net');
  const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  for (let i = 0; i < 100; i++) {
    const port = 10000 + Math.floor(Math.random() * (low - 10000));
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port between 10000 and ${low}`);
}

// A port nothing listens on right now (the kernel's pick, then released).
export async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}
