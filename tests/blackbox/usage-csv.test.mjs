// format=csv on the admin usage and cost reports: streamed (chunked), a header row, RFC 4180
// quoting (user ids with commas and quotes), formula-looking cells defused, a Content-Disposition
// download. The CSV is parsed back with csv-parse and compared, row by row, with the JSON report of
// the same query. More users than one page of the report (100), so the stream spans pages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { parse } from 'csv-parse/sync';

import { assertError, assertOk } from './lib/assert.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';

const today = () => new Date().toISOString().slice(0, 10);
const USERS = [
  ...Array.from({ length: 103 }, (_, i) => `csv-user-${String(i).padStart(3, '0')}`),
  'smith, "jr"',
  '=HYPERLINK("http://x")',
];

describe('usage and cost reports as CSV', () => {
  let mock;
  let svc;
  let admin;

  before(async () => {
    ({ mock, svc } = await startWithMockLlm((url) => `models:
  - name: metered
    price: {input: 1.5, output: 2.25}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk}
`, { env: { LIMIT_RPM: '0', LIMIT_TPM: '0' } }));
    admin = svc.token('csv-admin', { admin: true });
    for (let i = 0; i < USERS.length; i += 15) {
      await Promise.all(USERS.slice(i, i + 15).map(async (user, j) => {
        const words = Array.from({ length: 1 + ((i + j) % 7) }, () => 'word').join(' ');
        const r = await svc.post('/api/ai/v1/chat/completions', {
          token: svc.token(user), json: { model: 'metered', messages: [{ role: 'user', content: words }] },
        });
        assert.equal(r.status, 200, r.text);
      }));
    }
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  // Every row of the JSON report, page by page.
  async function jsonRows(route, query) {
    const rows = [];
    let cursor = null;
    do {
      const page = assertOk(await svc.get(`${route}?${query}&limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token: admin }));
      rows.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return rows;
  }

  // What the CSV holds for a JSON row's key: formulas defused with a leading quote.
  const defused = (key) => (/^[=+\-@\t\r]/.test(key) ? `'${key}` : key);

  for (const [route, groupBy] of [['/api/ai/admin/usage', 'user'], ['/api/ai/admin/costs', 'user'], ['/api/ai/admin/usage', 'model']]) {
    it(`${route}?groupBy=${groupBy}&format=csv matches the JSON report`, async () => {
      const query = `groupBy=${groupBy}&from=${today()}&to=${today()}`;
      const res = await svc.get(`${route}?${query}&format=csv`, { token: admin });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers['content-type'], /^text\/csv; charset=utf-8/);
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      const name = route.endsWith('costs') ? 'costs' : 'usage';
      assert.equal(res.headers['content-disposition'], `attachment; filename="${name}-${today()}-${today()}.csv"`);
      assert.ok(res.text.endsWith('\r\n'));

      const records = parse(res.text, { columns: true, record_delimiter: '\r\n' });
      const expected = await jsonRows(route, query);
      if (groupBy === 'user') assert.equal(expected.length, USERS.length + 0, 'every user has a row');
      assert.equal(records.length, expected.length);
      expected.forEach((row, i) => {
        const rec = records[i];
        assert.equal(rec[groupBy], defused(row.key), `row ${i}: key`);
        for (const f of ['requests', 'inputTokens', 'outputTokens', 'cachedInputTokens', 'cacheWriteTokens',
          'reasoningTokens', 'unpricedRequests', 'estimatedRequests']) {
          assert.equal(Number(rec[f]), row[f], `row ${i}: ${f}`);
        }
        assert.match(rec.costUsd, /^\d+\.\d{6}$/);
        assert.equal(Math.round(Number(rec.costUsd) * 1e6), Math.round(row.cost * 1e6), `row ${i}: cost`);
      });
      if (groupBy === 'user') {
        assert.ok(res.text.includes('"smith, ""jr"""'), 'RFC 4180 quoting');
        assert.ok(records.some((r) => r.user === `'=HYPERLINK("http://x")`), 'a formula is defused');
      }
    });
  }

  it('refuses an unknown format and bad queries with JSON errors, and non-admins', async () => {
    assertError(await svc.get('/api/ai/admin/usage?format=xml', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/usage?format=csv&groupBy=planet', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/costs?format=csv&from=2026-13-01', { token: admin }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/admin/costs?format=csv', { token: svc.token('csv-user-001') }), 403, 'forbidden');
  });

  it('answers a range without usage with the header row only', async () => {
    const res = await svc.get('/api/ai/admin/usage?groupBy=user&from=2020-01-01&to=2020-01-31&format=csv', { token: admin });
    assert.equal(res.status, 200);
    assert.equal(res.text, 'user,requests,inputTokens,outputTokens,cachedInputTokens,cacheWriteTokens,reasoningTokens,costUsd,unpricedRequests,estimatedRequests\r\n');
  });
});
