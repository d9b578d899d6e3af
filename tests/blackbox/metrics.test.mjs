// GET /metrics: the Prometheus exposition counts requests by route pattern (never a raw path),
// carries no user label, feeds the resilience router's retries, errors, fallbacks and breaker
// states, passes `promtool check metrics`, and is guarded by METRICS_TOKEN when that is set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, startService } from './lib/service.mjs';

const UNKNOWN_ID = '0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69';

// { 'name{labels}': value } of every sample line; labels as the service writes them.
function samples(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out[line.slice(0, space)] = Number(line.slice(space + 1));
  }
  return out;
}

// The label sets of a family's samples, as objects.
function labelSets(text, name) {
  const sets = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{([^}]*)\\} `).exec(line);
    if (!m) continue;
    sets.push(Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])));
  }
  return sets;
}

// promtool check metrics reads the exposition on stdin. It exits 1 when the text does not parse and
// 3 when it parses but has lint problems (missing HELP, a counter without _total, a non-base
// unit, ...), which it prints on stderr. So exit 0 with nothing on stderr: parsable and lint-clean.
function promtoolCheck(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20000 });
  if (r.error) throw r.error;
  return r;
}

async function scrape(svc, opts = {}) {
  const res = await svc.get('/metrics', opts);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return res.text;
}

describe('GET /metrics without METRICS_TOKEN', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  it('counts requests by method, route pattern and status, never by raw path', async () => {
    const token = svc.token('metrics-user-4711');
    for (let i = 0; i < 3; i++) assert.equal((await svc.get('/health')).status, 200);
    assertError(await svc.get(`/api/ai/conversations/${UNKNOWN_ID}`, { token }), 404, 'not_found');
    assertError(await svc.get(`/api/ai/conversations/${UNKNOWN_ID}`), 401, 'unauthorized');
    assertError(await svc.get('/no/such/route-4711'), 404, 'not_found');
    assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'count me' } }));

    const text = await scrape(svc);
    const s = samples(text);
    assert.equal(s['http_requests_total{method="GET",route="/health",status="200"}'], 3);
    assert.equal(s['http_requests_total{method="GET",route="/api/ai/conversations/:id",status="404"}'], 1);
    assert.equal(s['http_requests_total{method="GET",route="/api/ai/conversations/:id",status="401"}'], 1);
    assert.equal(s['http_requests_total{method="GET",route="unmatched",status="404"}'], 1);
    assert.equal(s['http_requests_total{method="POST",route="/api/ai/chat",status="200"}'], 1);
    assert.equal(s['http_request_duration_seconds_count{route="/health"}'], 3);
    assert.equal(s['http_request_duration_seconds_bucket{route="/health",le="+Inf"}'], 3);
    // The scrape that produced this text is counted once it is answered, not before.
    assert.equal(s['http_requests_total{method="GET",route="/metrics",status="200"}'], undefined);
    assert.ok(!text.includes(UNKNOWN_ID), 'a raw path (with its id) became a label');
    assert.ok(!text.includes('route-4711'), 'an unmatched raw path became a label');

    const again = samples(await scrape(svc));
    assert.equal(again['http_requests_total{method="GET",route="/metrics",status="200"}'], 1);
  });

  it('has no user label and no user id anywhere', async () => {
    const token = svc.token('metrics-user-4711');
    assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'who am I' } }));
    const text = await scrape(svc);
    assert.doesNotMatch(text, /[{,]\s*user[a-z_]*="/i, 'a user label');
    assert.ok(!text.includes('metrics-user-4711'), 'a user id in the exposition');
  });

  it('reports the standard process metrics with sane values', async () => {
    const s = samples(await scrape(svc));
    assert.ok(s.process_resident_memory_bytes > 1024 * 1024, `rss ${s.process_resident_memory_bytes}`);
    assert.ok(s.process_virtual_memory_bytes >= s.process_resident_memory_bytes);
    assert.ok(s.process_cpu_seconds_total >= 0);
    assert.ok(s.process_open_fds >= 3 && s.process_open_fds <= s.process_max_fds, `fds ${s.process_open_fds}/${s.process_max_fds}`);
    const now = Date.now() / 1000;
    assert.ok(s.process_start_time_seconds <= now + 1 && s.process_start_time_seconds > now - 600,
      `start ${s.process_start_time_seconds} vs now ${now}`);
    assert.equal(s.ai_active_streams, 0);
  });

  it('passes promtool check metrics (parses, no lint problems)', async () => {
    const r = promtoolCheck(await scrape(svc));
    assert.equal(r.status, 0, `promtool exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(r.stderr.trim(), '', 'promtool printed lint problems');
  });

  it('is documented as open: no user token needed', async () => {
    const res = await svc.get('/metrics', { token: 'not-a-jwt' });
    assert.equal(res.status, 200, 'a bearer token is ignored when METRICS_TOKEN is not set');
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  const METRICS_TOKEN = 'scrape-secret-0123456789';
  let svc;
  before(async () => { svc = await startService({ env: { METRICS_TOKEN } }); });
  after(async () => { await svc?.stop(); });

  it('answers 401 in the JSON envelope without the token or with another one', async () => {
    for (const opts of [{}, { token: 'wrong' }, { token: `${METRICS_TOKEN}x` }, { token: METRICS_TOKEN.slice(0, -1) },
      { token: svc.token('metrics-user') }, { headers: { authorization: `Basic ${METRICS_TOKEN}` } }]) {
      const res = await svc.get('/metrics', opts);
      assertError(res, 401, 'unauthorized');
      assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
      assert.ok(!res.text.includes('http_requests_total'), 'metrics leaked with a 401');
    }
  });

  it('answers 200 with the token, and still counts the refused scrapes', async () => {
    const s = samples(await scrape(svc, { token: METRICS_TOKEN }));
    assert.equal(s['http_requests_total{method="GET",route="/metrics",status="401"}'], 6);
    const lower = await svc.get('/metrics', { headers: { authorization: `bearer ${METRICS_TOKEN}` } });
    assert.equal(lower.status, 200, 'the scheme is case-insensitive');
  });

  it('leaves the other open routes open', async () => {
    assert.equal((await svc.get('/health')).status, 200);
  });
});

describe('resilience metrics against mock-llm', () => {
  let mock;
  let svc;
  let token;

  // name -> mock-llm fault headers; every model has one OpenAI-style deployment on mock-llm.
  const MODELS = {
    flaky: { 'x-mock-fail-first': '2', 'x-mock-status': '503' },
    broken: { 'x-mock-status': '500' },
    primary: { 'x-mock-status': '502' },
    backup: {},
  };

  before(async () => {
    mock = await startMockLlm();
    const dir = makeTempDir();
    const lines = ['models:'];
    for (const [name, headers] of Object.entries(MODELS)) {
      const h = Object.entries({ 'x-mock-key': `metrics-${name}`, ...headers }).map(([k, v]) => `${k}: "${v}"`).join(', ');
      lines.push(`  - name: ${name}`);
      if (name === 'primary') lines.push('    fallbacks: [backup]');
      lines.push('    deployments:');
      lines.push(`      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk-test, headers: {${h}}}`);
    }
    const file = path.join(dir, 'models.yaml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    svc = await startService({
      dir,
      env: {
        AI_CONFIG: file,
        RETRY_MAX_ATTEMPTS: '3',
        RETRY_BASE_DELAY_MS: '10',
        RETRY_MAX_DELAY_MS: '50',
        BREAKER_FAILURES: '3',
        BREAKER_OPEN_MS: '60000',
      },
    });
    token = svc.token('metrics-resilience-user');
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  const chat = (model) => svc.post('/api/ai/chat', { token, json: { message: 'hello metrics', model } });

  it('starts with every deployment\'s breaker closed', async () => {
    const text = await scrape(svc);
    const s = samples(text);
    const states = labelSets(text, 'ai_circuit_state');
    // Deployment names are unique across models, though all four share one upstream model.
    assert.deepEqual(states.map((l) => l.deployment).sort(),
      Object.keys(MODELS).map((m) => `${m}/openai/gpt-4o-mini#1`).sort());
    for (const m of Object.keys(MODELS)) assert.equal(s[`ai_circuit_state{deployment="${m}/openai/gpt-4o-mini#1"}`], 0);
  });

  it('counts upstream errors by class, retries, fallbacks, and an open breaker', async () => {
    assertOk(await chat('flaky'));
    assertError(await chat('broken'), 502, 'upstream_error');
    assertOk(await chat('primary'));

    const text = await scrape(svc);
    const s = samples(text);
    const dep = (m) => `${m}/openai/gpt-4o-mini#1`;
    // flaky: 2 failed attempts (HTTP 503: class unavailable), both retried, then an answer.
    assert.equal(s[`ai_upstream_errors_total{class="unavailable",deployment="${dep('flaky')}"}`], 2);
    assert.equal(s[`ai_upstream_retries_total{deployment="${dep('flaky')}"}`], 2);
    assert.equal(s[`ai_circuit_state{deployment="${dep('flaky')}"}`], 0);
    // broken: RETRY_MAX_ATTEMPTS (3) failures, the last not retried; BREAKER_FAILURES (3) in a
    // row open its breaker.
    assert.equal(s[`ai_upstream_errors_total{class="upstream_error",deployment="${dep('broken')}"}`], 3);
    assert.equal(s[`ai_upstream_retries_total{deployment="${dep('broken')}"}`], 2);
    assert.equal(s[`ai_circuit_state{deployment="${dep('broken')}"}`], 1);
    // primary fails the same way, then falls back to backup, which answers.
    assert.equal(s[`ai_upstream_errors_total{class="upstream_error",deployment="${dep('primary')}"}`], 3);
    assert.equal(s[`ai_circuit_state{deployment="${dep('primary')}"}`], 1);
    assert.equal(s['ai_fallbacks_total{from="primary",to="backup"}'], 1);
    assert.equal(s[`ai_upstream_errors_total{class="upstream_error",deployment="${dep('backup')}"}`], undefined);
    const r = promtoolCheck(text);
    assert.equal(r.status, 0, r.stderr);
  });
});
