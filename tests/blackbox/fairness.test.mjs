// Fair sharing of a deployment's slots (issue 18, finding 4): one greedy user holding every slot of
// a deployment with long streams, and more of them queued, does not keep another user's plain chat
// waiting behind its queue — the next slot that frees goes to the other user. And 13 greedy users
// whose endless streams hold the deployment leave a newcomer a reserved slot: its stream starts
// while theirs still run. Asserted by the order in which calls are served (the deployment's gauges,
// mock-llm's counters), never by time.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertOk } from './lib/assert.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, startService } from './lib/service.mjs';
import { openStream, waitFor } from './lib/sse.mjs';

const SLOTS = 4;
const KEY = 'fair';
const DEPLOYMENT = 'shared/openai/gpt-4o-mini#1';
// The crowded deployment: 64 slots with the default reserve (64 / 16 = 4 slots only for users
// holding none), answers dripping one token every 500 ms forever (until the client leaves).
const CROWD_SLOTS = 64;
const CROWD_RESERVED = 4;
const CROWD_KEY = 'crowd';
const CROWD_DEPLOYMENT = 'crowded/openai/gpt-4o-mini#1';

function writeConfig(dir, mockUrl) {
  // Paced at 5 tokens a second: the greedy answers (200 words) would run for 40 s, far beyond the
  // test, while the other user's 4-token answer takes under a second.
  const file = path.join(dir, 'models.yaml');
  writeFileSync(file, [
    'models:',
    '  - name: shared',
    '    price: {input: 0.15, output: 0.60}',
    '    deployments:',
    `      - {provider: openai, model: gpt-4o-mini, base_url: "${mockUrl}/v1", api_key: sk-test, max_concurrency: ${SLOTS}, reserved_slots: 0, max_queue: 32, headers: {x-mock-key: "${KEY}", x-mock-tokens-per-second: "5"}}`,
    '  - name: crowded',
    '    price: {input: 0.15, output: 0.60}',
    '    deployments:',
    `      - {provider: openai, model: gpt-4o-mini, base_url: "${mockUrl}/v1", api_key: sk-test, max_concurrency: ${CROWD_SLOTS}, max_queue: 256, headers: {x-mock-key: "${CROWD_KEY}", x-mock-drip: "1"}}`,
    '',
  ].join('\n'));
  return file;
}

describe('fair sharing of a deployment between users', () => {
  let mock;
  let svc;
  const open = [];

  before(async () => {
    mock = await startMockLlm();
    const dir = makeTempDir();
    // No per-user stream cap: the greedy user's eight streams are what the router must share fairly.
    svc = await startService({ dir, env: { AI_CONFIG: writeConfig(dir, mock.url), LIMIT_CONCURRENT_STREAMS: '0' } });
  });
  after(async () => {
    for (const s of open) { s.req.destroy(); s.res.destroy(); }
    await svc?.stop();
    await mock?.stop();
  });

  // A deployment's gauges, from /metrics.
  async function load(deployment = DEPLOYMENT) {
    const res = await svc.get('/metrics');
    assert.equal(res.status, 200);
    const value = (name) => {
      const line = res.text.split('\n').find((l) => l.startsWith(`${name}{deployment="${deployment}"} `));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    return { inFlight: value('ai_deployment_in_flight'), queued: value('ai_deployment_queued') };
  }
  const queuedReaches = (n) => waitFor(async () => (await load()).queued === n, 10000, `${n} calls queued`);

  // What mock-llm saw on a deployment: every call, and the streamed ones.
  async function upstream(key = KEY) {
    const stats = await mock.stats();
    const s = stats.streams.by_key[key] ?? { open: 0, completed: 0, cancelled: 0, dropped: 0 };
    const calls = stats.requests.by_key[key] ?? 0;
    return { calls, openStreams: s.open };
  }

  it("serves another user's plain chat at the next free slot, ahead of a greedy user's queued streams", { timeout: 30000 }, async () => {
    const greedy = svc.token('fair-greedy');
    const other = svc.token('fair-other');
    const long = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    const stream = async () => {
      const s = await openStream(svc, greedy, { message: long, model: 'shared', stream: true });
      assert.equal(s.res.statusCode, 200);
      open.push(s);
      return s;
    };

    // The greedy user alone may take every slot...
    for (let i = 0; i < SLOTS; i++) await stream();
    await waitFor(async () => (await upstream()).openStreams === SLOTS, 10000, 'the greedy streams to run');
    assert.deepEqual(await load(), { inFlight: SLOTS, queued: 0 });
    // ...and queues four more behind them.
    for (let i = 0; i < 4; i++) await stream();
    await queuedReaches(4);

    // The other user's plain chat queues after all of them.
    const answer = svc.post('/api/ai/chat', { token: other, json: { message: 'hello there', model: 'shared' } });
    await queuedReaches(5);
    assert.deepEqual(await upstream(), { calls: SLOTS, openStreams: SLOTS });

    // One greedy stream ends (its client leaves): that one slot goes to the other user, whose
    // answer arrives while the greedy user's other streams still run and its queue still waits.
    const first = open[0];
    first.req.destroy();
    first.res.destroy();
    const data = assertOk(await answer);
    assert.equal(data.message, 'Mock answer to: hello there');
    const seen = await upstream();
    // At most one greedy call can have followed, into the slot the plain chat gave back. (Served
    // first-in-first-out, the plain chat would wait for a greedy stream to end: 40 s, past the
    // test's timeout.)
    assert.ok(seen.calls <= SLOTS + 2, `upstream saw ${seen.calls} calls`);
    assert.ok(seen.openStreams >= SLOTS - 1, 'the greedy streams are still running');
    assert.ok((await load()).queued >= 3, "the greedy user's queue is still waiting");
  });

  it("starts a newcomer's stream while 13 greedy users' endless streams hold every other slot", { timeout: 60000 }, async () => {
    // Issue 18's finding: 13 users x 5 long streams, on 64 slots. These
    // never end by themselves, so without a reserve the newcomer would wait for ever (the old
    // fair queue hands out only slots that free, and none does).
    const GREEDY = 13;
    const EACH = 5;
    const tokens = Array.from({ length: GREEDY }, (_, u) => svc.token(`crowd-greedy-${u}`));
    const start = async (token) => {
      const s = await openStream(svc, token, { message: 'tell me everything', model: 'crowded', stream: true });
      open.push(s);
      assert.equal(s.res.statusCode, 200);
    };
    // Every greedy user first gets one stream running, so each holds a slot before the shared ones
    // run out: the calls reach the service in whatever order the network gives, and a greedy user
    // whose first call came after the shared slots were gone would rightly get a reserved one.
    await Promise.all(tokens.map(start));
    await waitFor(async () => (await upstream(CROWD_KEY)).openStreams === GREEDY, 20000, 'one stream per greedy user');
    await Promise.all(tokens.flatMap((token) => Array.from({ length: EACH - 1 }, () => start(token))));
    // The greedy users hold every slot but the reserve; the rest of their streams wait.
    const held = CROWD_SLOTS - CROWD_RESERVED;
    await waitFor(async () => (await upstream(CROWD_KEY)).openStreams === held, 20000, 'the greedy streams to run');
    await waitFor(async () => (await load(CROWD_DEPLOYMENT)).queued === GREEDY * EACH - held, 20000, 'the greedy queue');
    assert.deepEqual(await load(CROWD_DEPLOYMENT), { inFlight: held, queued: GREEDY * EACH - held });

    // The newcomer's stream gets a reserved slot: its first delta arrives...
    const polite = await openStream(svc, svc.token('crowd-polite'), { message: 'hello there', model: 'crowded', stream: true });
    open.push(polite);
    assert.equal(polite.res.statusCode, 200);
    // Read with next(), not for-await: leaving a for-await loop would close the connection.
    const names = [];
    for (let e = await polite.events.next(); !e.done; e = await polite.events.next()) {
      names.push(e.value.event);
      assert.ok(!['done', 'error'].includes(e.value.event), `the polite stream ended: ${names}`);
      if (e.value.event === 'delta') break;
    }
    assert.equal(names.at(-1), 'delta', `events: ${names}`);
    // ...while every greedy stream still runs and their queue still waits (none has ended: they
    // drip for ever), so it was not served by a slot that freed.
    assert.deepEqual(await upstream(CROWD_KEY), { calls: held + 1, openStreams: held + 1 });
    assert.deepEqual(await load(CROWD_DEPLOYMENT), { inFlight: held + 1, queued: GREEDY * EACH - held });
  });
});
