// The service against a misbehaving upstream: every fault tools/mock-llm can produce leads to its
// documented behaviour (docs/architecture.md, "When the upstream fails"): retry then success,
// fallback to the next model, the circuit breaker opening and recovering through half-open,
// 429 with Retry-After / 502 / 504 when every attempt fails, a stream dropped or garbled after
// its first words stored as interrupted with an error event, and a client leaving mid-answer
// cancelling the upstream call. Each model below is one scenario: its deployment sends mock-llm
// the fault headers, and its own x-mock-key keeps its counters apart in /mock/stats.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { assistantOf, collect, openStream, waitFor } from './lib/sse.mjs';

const SYSTEM_PROMPT_WORDS = 'You are a helpful AI assistant for the Todo app.'.split(' ').length;

// name -> [provider, mock-llm fault headers]; the x-mock-key is the model name.
const SCENARIOS = {
  healthy: ['openai', {}],
  flaky: ['openai', { 'x-mock-fail-first': '2', 'x-mock-status': '503' }],
  'flaky-stream': ['openai', { 'x-mock-fail-first': '2', 'x-mock-status': '500' }],
  busy: ['openai', { 'x-mock-status': '429', 'x-mock-retry-after': '30' }],
  broken: ['openai', { 'x-mock-status': '500' }],
  slow: ['openai', { 'x-mock-delay-ms': '3000' }],
  primary: ['openai', { 'x-mock-status': '502' }],
  backup: ['anthropic', {}],
  fragile: ['openai', { 'x-mock-fail-first': '3', 'x-mock-status': '500' }],
  dropper: ['openai', { 'x-mock-drop-after': '3' }],
  'claude-dropper': ['anthropic', { 'x-mock-drop-after': '2' }],
  garbled: ['openai', { 'x-mock-malformed': '2' }],
  drip: ['openai', { 'x-mock-drip': '1' }],
};

function writeConfig(dir, mockUrl) {
  const lines = ['models:'];
  for (const [name, [provider, headers]] of Object.entries(SCENARIOS)) {
    const all = { 'x-mock-key': name, ...headers };
    const h = Object.entries(all).map(([k, v]) => `${k}: "${v}"`).join(', ');
    lines.push(`  - name: ${name}`);
    lines.push('    price: {input: 0.15, output: 0.60}');
    if (name === 'primary') lines.push('    fallbacks: [backup]');
    lines.push('    deployments:');
    const model = provider === 'openai' ? 'gpt-4o-mini' : 'claude-3-5-haiku-latest';
    lines.push(`      - {provider: ${provider}, model: ${model}, base_url: "${mockUrl}/v1", api_key: sk-test, headers: {${h}}}`);
  }
  const file = path.join(dir, 'models.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('resilience against a failing upstream', () => {
  let mock;
  let svc;
  let token;
  const requestsOf = async (key) => (await mock.stats()).requests.by_key[key] ?? 0;

  before(async () => {
    mock = await startMockLlm({ args: ['--drip-interval-ms', '50'] });
    const dir = makeTempDir();
    svc = await startService({
      dir,
      env: {
        AI_CONFIG: writeConfig(dir, mock.url),
        RETRY_MAX_ATTEMPTS: '3',
        RETRY_BASE_DELAY_MS: '10',
        RETRY_MAX_DELAY_MS: '50',
        BREAKER_FAILURES: '3',
        // Long enough that the turn right after the one that opens the breaker still finds it
        // open on a loaded machine; the test then waits for half-open by polling, not sleeping.
        BREAKER_OPEN_MS: '3000',
        UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '400',
        // Waiting for the breaker's half-open probe asks again and again (refused turns): the
        // user's rate limit, not what this suite is about, must not refuse the later turns.
        LIMIT_RPM: '0',
        LIMIT_TPM: '0',
      },
    });
    token = svc.token('resilience-user');
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  const chat = (model, message, extra = {}) => svc.post('/api/ai/chat', { token, json: { message, model, ...extra } });

  // A conversation, then a failing turn in it: the error answer, and what was stored.
  async function failingTurn(model) {
    const conv = assertOk(await svc.post('/api/ai/conversations', { token, json: { model } }), 201);
    const res = await chat(model, 'this will fail', { conversationId: conv.id });
    const stored = assertOk(await svc.get(`/api/ai/conversations/${conv.id}`, { token })).messages.items;
    return { res, stored };
  }

  it('answers with exact upstream usage and cost when nothing fails', async () => {
    const data = assertOk(await chat('healthy', 'hello resilient world'));
    assert.equal(data.message, 'Mock answer to: hello resilient world');
    assert.deepEqual(data.usage, { inputTokens: SYSTEM_PROMPT_WORDS + 3, outputTokens: 6, estimated: false });
    // (13 × 0.15 + 6 × 0.60) USD per million tokens = 5.55 micro-dollars, rounded to 6.
    assert.equal(data.cost, 0.000006);
  });

  it('retries a failing upstream and then succeeds', async () => {
    const data = assertOk(await chat('flaky', 'third time lucky'));
    assert.equal(data.message, 'Mock answer to: third time lucky');
    assert.equal(await requestsOf('flaky'), 3, 'two failed attempts and the good one');
  });

  it('retries a stream that fails before its first token, invisibly to the client', async () => {
    const { res, events } = await openStream(svc, token, { message: 'stream after retries', model: 'flaky-stream', stream: true });
    assert.equal(res.statusCode, 200);
    const all = await collect(events);
    assert.deepEqual(all.map((e) => e.event).filter((n) => n !== 'delta'), ['start', 'usage', 'done']);
    assert.equal(all.filter((e) => e.event === 'delta').map((e) => e.data.text).join(''), 'Mock answer to: stream after retries');
    assert.equal(await requestsOf('flaky-stream'), 3);
  });

  it('answers 429 with the upstream Retry-After when it keeps rate limiting, and stores an error answer', async () => {
    const { res, stored } = await failingTurn('busy');
    assertError(res, 429, 'rate_limited');
    assert.equal(res.headers['retry-after'], '30');
    // Retry-After 30 s is beyond what the router waits for (20 s): it gives up at once.
    assert.equal(await requestsOf('busy'), 1);
    assert.deepEqual(stored.map((m) => [m.role, m.status]), [['user', 'complete'], ['assistant', 'error']]);
    assert.equal(stored[0].content, 'this will fail', 'the user message is kept');
  });

  it('answers 502 when every attempt fails, after RETRY_MAX_ATTEMPTS tries', async () => {
    const { res, stored } = await failingTurn('broken');
    assertError(res, 502, 'upstream_error');
    assert.equal(await requestsOf('broken'), 3);
    assert.equal(stored.at(-1).status, 'error');
    assert.doesNotMatch(res.text, /mock|server_error|injected/i, 'the upstream error text is not passed on');
  });

  it('answers 504 when the upstream does not answer in time', async () => {
    const { res } = await failingTurn('slow');
    assertError(res, 504, 'upstream_timeout');
    assert.equal(await requestsOf('slow'), 3, 'a timeout is retried too');
  });

  it('falls back to the next model of the chain (another provider) when one is exhausted', async () => {
    const data = assertOk(await chat('primary', 'save me'));
    assert.equal(data.message, 'Mock answer to: save me');
    assert.equal(await requestsOf('primary'), 3);
    assert.equal(await requestsOf('backup'), 1);
  });

  it('opens the circuit breaker after repeated failures, then recovers through a half-open probe', async () => {
    // fragile fails its first 3 requests: the 3 attempts of the first turn, which opens the breaker.
    assertError(await chat('fragile', 'one'), 502, 'upstream_error');
    assert.equal(await requestsOf('fragile'), 3);
    // Open: refused at once, the upstream is left alone.
    const refused = await chat('fragile', 'two');
    assertError(refused, 503, 'unavailable');
    assert.equal(await requestsOf('fragile'), 3, 'an open breaker sends nothing upstream');
    // After BREAKER_OPEN_MS one probe goes through; it succeeds and closes the breaker. Until
    // then every turn is refused the same way, without reaching the upstream.
    const three = await waitFor(async () => {
      const res = await chat('fragile', 'three');
      if (res.status === 503) { assertError(res, 503, 'unavailable'); return undefined; }
      return res;
    }, 30000, 'the breaker to let a half-open probe through');
    assert.equal(assertOk(three).message, 'Mock answer to: three');
    assert.equal(assertOk(await chat('fragile', 'four')).message, 'Mock answer to: four');
    assert.equal(await requestsOf('fragile'), 5);
    assert.match(svc.stderr, /circuit breaker of \S+ is now open/);
  });

  for (const [model, sent] of [['dropper', 'Mock answer to:'], ['claude-dropper', 'Mock answer']]) {
    it(`stores a stream dropped mid-answer as interrupted and ends with an error event (${model})`, async () => {
      const { events } = await openStream(svc, token, { message: 'drop me halfway please', model, stream: true });
      const all = await collect(events);
      const names = all.map((e) => e.event);
      assert.equal(names[0], 'start');
      assert.deepEqual(names.slice(-2), ['usage', 'error']);
      const text = all.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
      assert.equal(text, sent);
      assert.equal(all.at(-1).data.code, 'upstream_error');
      const usage = all.at(-2).data;
      assert.ok(usage.inputTokens > 0, 'the prompt is billed');
      assert.ok(usage.outputTokens > 0, 'what arrived is billed');
      assert.ok(usage.cost > 0);

      const stored = await assistantOf(svc, token, all[0].data.conversationId);
      assert.equal(stored.status, 'interrupted');
      assert.equal(stored.content, sent);
      assert.deepEqual(stored.usage, { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens });
      assert.equal(stored.metadata.usageEstimated, true);
      assert.equal(await requestsOf(model), 1, 'a stream that reached the client is not retried');
      assert.equal((await mock.streamsOf(model)).dropped, 1);
    });
  }

  it('stops at a malformed chunk: interrupted answer, error event', async () => {
    const { events } = await openStream(svc, token, { message: 'garble the third chunk', model: 'garbled', stream: true });
    const all = await collect(events);
    assert.deepEqual(all.map((e) => e.event).slice(-2), ['usage', 'error']);
    assert.equal(all.at(-1).data.code, 'upstream_error');
    const text = all.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    assert.equal(text, 'Mock answer');
    const stored = await assistantOf(svc, token, all[0].data.conversationId);
    assert.equal(stored.status, 'interrupted');
    assert.equal(stored.content, 'Mock answer');
  });

  it('cancels the upstream call when the client leaves, and stores and bills the partial answer', async () => {
    const { req, res, events } = await openStream(svc, token, { message: 'drip forever', model: 'drip', stream: true });
    const start = (await events.next()).value;
    assert.equal(start.event, 'start');
    let received = '';
    for (let i = 0; i < 3; i++) received += (await events.next()).value.data.text;
    assert.equal((await mock.streamsOf('drip')).open, 1);
    req.destroy();
    res.destroy();
    const streams = await waitFor(async () => {
      const s = await mock.streamsOf('drip');
      return s.cancelled === 1 && s.open === 0 ? s : undefined;
    }, 5000, 'mock-llm to see its stream cancelled');
    assert.equal(streams.completed, 0);
    const stored = await waitFor(async () => {
      const m = await assistantOf(svc, token, start.data.conversationId);
      return m.status !== 'streaming' ? m : undefined;
    }, 5000, 'the interrupted answer');
    assert.equal(stored.status, 'interrupted');
    assert.ok(stored.content.startsWith(received), `stored "${stored.content}" should start with what the client saw, "${received}"`);
    assert.ok(stored.usage.inputTokens > 0 && stored.usage.outputTokens >= 3);
    assert.ok(stored.cost > 0, 'the partial answer is billed');
    assert.equal(stored.metadata.finishReason, 'cancelled');
    assert.equal(stored.metadata.usageEstimated, true);
  });
});
