// A webhook receiver for the black-box suites (node:http): records every request, answers what
// the test says, and verifies signatures as Stripe's libraries do (HMAC-SHA256 of "<t>.<body>" with
// the shared secret, compared in constant time).
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

export function verify(header, body, secret) {
  const parts = Object.fromEntries(String(header).split(',').map((kv) => kv.split('=')));
  assert.match(parts.t, /^\d+$/);
  assert.match(parts.v1, /^[0-9a-f]{64}$/);
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  assert.ok(timingSafeEqual(expected, Buffer.from(parts.v1, 'hex')), 'signature verifies');
  assert.ok(Math.abs(Date.now() / 1000 - Number(parts.t)) < 300, 'timestamp is recent');
}

// A receiver: records every request; `answer(req)` picks the status (default 200). waitFor(pred)
// resolves with the first recorded request matching pred, now or when it arrives.
export async function startReceiver() {
  const received = [];
  const waiters = [];
  const r = {
    received,
    answer: () => 200,
    waitFor(pred, timeoutMs = 20000) {
      const found = received.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching webhook within ${timeoutMs} ms; got ${received.length}`)), timeoutMs);
        waiters.push({ pred, resolve: (x) => { clearTimeout(timer); resolve(x); } });
      });
    },
  };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry = { headers: req.headers, body, json: JSON.parse(body), path: req.url };
      const status = r.answer(entry);
      entry.status = status;
      received.push(entry);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      for (const w of [...waiters]) {
        if (w.pred(entry)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(entry); }
      }
    });
  });
  await new Promise((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${r.server.address().port}/hooks/aas?token=kept-out-of-logs`;
  return r;
}
