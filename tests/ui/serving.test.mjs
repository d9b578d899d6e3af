// How the service serves the embedded UI: the page at / with its Content-Security-Policy, the
// hashed bundle cached for a year, the stable name and the page revalidated (strong ETag, 304),
// gzip when asked, and JSON 404s for unknown files.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import { startUiService } from './lib/ui.mjs';

describe('serving the UI', { timeout: 60000 }, () => {
  let service;
  let url;
  before(async () => { service = await startUiService(); url = service.svc.url; });
  after(async () => { await service?.stop(); });

  it('serves the page at / with a strict CSP and the hashed bundle it names', async () => {
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const csp = page.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]+</, 'no inline script');
    const bundle = /src="(\/api\/ai\/ui\/ai-chat\.[0-9a-f]{12}\.js)"/.exec(html)?.[1];
    assert.ok(bundle, html);

    const js = await fetch(`${url}${bundle}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const body = await js.text();
    assert.match(body, /customElements\.define\(/);
    const stable = await fetch(`${url}/api/ai/ui/ai-chat.js`);
    assert.equal(stable.headers.get('cache-control'), 'no-cache');
    assert.equal(await stable.text(), body, 'the stable name serves the same bundle');
  });

  it('answers 304 to a matching If-None-Match, and gzip to who accepts it', async () => {
    const first = await fetch(`${url}/api/ai/ui/ai-chat.js`, { headers: { 'accept-encoding': 'identity' } });
    const etag = first.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const again = await fetch(`${url}/api/ai/ui/ai-chat.js`, { headers: { 'if-none-match': `"other", ${etag}`, 'accept-encoding': 'identity' } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('etag'), etag);
    assert.equal(await again.text(), '');
    const changed = await fetch(`${url}/api/ai/ui/ai-chat.js`, { headers: { 'if-none-match': '"stale"', 'accept-encoding': 'identity' } });
    assert.equal(changed.status, 200);

    // node's fetch would inflate on its own: a raw request shows what was sent.
    const http = await import('node:http');
    const raw = await new Promise((resolve, reject) => {
      http.get(`${url}/api/ai/ui/ai-chat.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    assert.equal(raw.headers['content-encoding'], 'gzip');
    assert.equal(raw.headers.vary, 'Accept-Encoding');
    assert.notEqual(raw.headers.etag, etag, 'the gzip variant has its own tag');
    assert.equal(gunzipSync(raw.body).toString(), await first.text());
  });

  it('answers a JSON 404 for an unknown file', async () => {
    const res = await service.svc.get('/api/ai/ui/nope.js');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'not_found');
  });

  it('mints a development token only for a sane user name', async () => {
    const ok = await service.svc.post('/api/ai/dev/token', { json: { user: 'dev.user@example' } });
    assert.equal(ok.status, 200);
    const me = await service.svc.get('/api/ai/usage/me', { token: ok.body.data.token });
    assert.equal(me.body.data.userId, 'dev.user@example');
    for (const json of [{ user: '' }, { user: 'a b' }, { user: 'x'.repeat(65) }, {}, { user: 'ok', admin: true }]) {
      const bad = await service.svc.post('/api/ai/dev/token', { json });
      assert.equal(bad.status, 400, JSON.stringify(json));
      assert.equal(bad.body.error.code, 'invalid_request');
    }
  });
});
