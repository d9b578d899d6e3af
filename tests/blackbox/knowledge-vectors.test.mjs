// Knowledge bases with an embedding model, end to end with tools/mock-llm as the embeddings
// upstream (its vectors: stemmed bags of words, so texts about the same things are near):
// vector and hybrid search, ingestion billed to the user as `embedding` ledger rows, a model
// change that re-embeds every chunk while searches keep answering from the old vectors (never a
// mix), restart and cancel mid-embedding, another user's base 404 on reindex, and a second
// replica on the same database that sees vectors indexed by the first (event bus over Redis).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { startRedis } from './lib/redis.mjs';
import { makeTempDir, runCli, startService } from './lib/service.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './lib/sse.mjs';

const CATS = '# Cats\n\nCats purr when they are content and sleep sixteen hours a day.\n\n## Food\n\nCats eat fish, chicken and dry kibble.';
const DOGS = 'Dogs bark at strangers, fetch sticks and love long walks in the park.';
const SEAS = 'Oceans cover most of the planet. Tides follow the moon, and waves carry energy across the sea.';
// Many small chunks (CHUNK_TOKENS 32): a job with several embedding batches.
const LONG = Array.from({ length: 12 }, (_, i) => `Paragraph ${i} about volcanoes, lava flows and eruption number ${i}.`).join('\n\n');

function envFor(mock, extra = {}) {
  return {
    OPENAI_BASE_URL: `${mock.url}/v1`,
    OPENAI_API_KEY: 'sk-local',
    OPENAI_MODELS: 'gpt-4o-mini,text-embedding-3-large',
    EMBEDDING_MODEL: 'text-embedding-3-small',
    CHUNK_TOKENS: '32',
    CHUNK_OVERLAP: '0',
    KB_EMBED_BATCH: '2',
    ...extra,
  };
}

async function createBase(svc, token, json = {}) {
  const kb = assertOk(await svc.post('/api/ai/knowledge', { token, json: { name: 'Vectors', ...json } }), 201);
  assertSchema(kb, 'KnowledgeBase');
  return kb;
}

async function addText(svc, token, kb, title, text) {
  const data = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title, text } }), 202);
  return data.documents[0];
}

async function settled(svc, token, kb, doc) {
  return waitFor(async () => {
    const d = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${doc.id}`, { token }));
    return ['indexed', 'failed', 'cancelled'].includes(d.status) ? d : undefined;
  }, 30000, `document ${doc.title} to finish`);
}

async function search(svc, token, kb, q, mode, k = 5) {
  const found = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=${encodeURIComponent(q)}&mode=${mode}&k=${k}`, { token }));
  for (const p of found.items) assertSchema(p, 'KnowledgePassage');
  return found;
}

// The documents of ranked passages, each once, best first.
const documentsOf = (found) => [...new Set(found.items.map((p) => p.documentId))];

async function embeddingCalls(mock) {
  return (await mock.stats()).requests.by_path['/v1/embeddings'] ?? 0;
}

describe('knowledge bases with embeddings', () => {
  let mock;
  let svc;
  before(async () => {
    mock = await startMockLlm();
    svc = await startService({ env: envFor(mock) });
  });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  it('rank by vector and by hybrid fusion, and bill every embeddings call to the user', async () => {
    const token = svc.token('vec-search');
    const kb = await createBase(svc, token);
    assert.equal(kb.embeddingModel, 'text-embedding-3-small', 'EMBEDDING_MODEL is the default');
    const docs = [];
    for (const [title, text] of [['Cats', CATS], ['Dogs', DOGS], ['Seas', SEAS], ['Volcanoes', LONG]]) {
      docs.push(await settled(svc, token, kb, await addText(svc, token, kb, title, text)));
    }
    for (const d of docs) assert.equal(d.status, 'indexed', d.error);
    const base = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token }));
    assert.equal(base.embeddingDimensions, 1536);
    assert.equal(base.reindexingTo, null);

    // No word in common with the query but a stem ("purring" ~ "purr", "cat" ~ "Cats").
    const byVector = await search(svc, token, kb, 'purring cat', 'vector');
    assert.equal(byVector.mode, 'vector');
    assert.equal(byVector.items[0].documentId, docs[0].id);
    assert.ok(byVector.items[0].score > byVector.items.at(-1).score);
    const hybrid = await search(svc, token, kb, 'what do cats eat', 'hybrid');
    assert.equal(hybrid.mode, 'hybrid');
    assert.equal(hybrid.items[0].documentId, docs[0].id);
    assert.match(hybrid.items[0].text, /fish/);
    assert.equal((await search(svc, token, kb, 'tides and waves', 'lexical')).items[0].documentId, docs[2].id);
    // The default mode of a base with vectors is hybrid.
    assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=lava`, { token })).mode, 'hybrid');

    // Ledger: a row per batch of KB_EMBED_BATCH (2) chunks of each document, and one per query
    // embedded (vector, hybrid, default hybrid), all of the embedding model, for this user.
    const batches = docs.reduce((n, d) => n + Math.ceil(d.chunkCount / 2), 0);
    assert.ok(docs[3].chunkCount >= 4, `the long document has several chunks (${docs[3].chunkCount})`);
    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    const row = me.byModel.find((m) => m.model === 'text-embedding-3-small');
    assert.ok(row, JSON.stringify(me.byModel));
    assert.equal(row.requests, batches + 3);
    assert.ok(row.inputTokens > 0);
    assert.equal(row.outputTokens, 0);
  });

  it('retrieve hybrid for a chat turn: the query is embedded (billed) and the right document cited', async () => {
    const token = svc.token('vec-chat');
    const kb = await createBase(svc, token);
    const cats = await settled(svc, token, kb, await addText(svc, token, kb, 'Cats', CATS));
    await settled(svc, token, kb, await addText(svc, token, kb, 'Dogs', DOGS));
    const before = (assertOk(await svc.get('/api/ai/usage/me', { token })).byModel.find((m) => m.model === 'text-embedding-3-small')?.requests) ?? 0;
    const turn = assertOk(await svc.post('/api/ai/chat', { token, json: { model: 'gpt-4o-mini', message: 'What do cats eat for food?', knowledgeBaseIds: [kb.id] } }));
    assert.ok(turn.citations.length >= 1, JSON.stringify(turn.citations));
    assert.equal(turn.citations[0].documentId, cats.id);
    // The query's embedding is billed to the user like the documents'.
    const after = assertOk(await svc.get('/api/ai/usage/me', { token })).byModel.find((m) => m.model === 'text-embedding-3-small').requests;
    assert.equal(after, before + 1);
  });

  it('refuse a model that cannot embed, and vector search on a lexical-only base', async () => {
    const token = svc.token('vec-refusals');
    const chat = await svc.post('/api/ai/knowledge', { token, json: { name: 'x', embeddingModel: 'gpt-4o-mini' } });
    assertError(chat, 400, 'invalid_request');
    assert.match(chat.body.error.message, /not an embedding model/);
    assertError(await svc.post('/api/ai/knowledge', { token, json: { name: 'x', embeddingModel: 'nope' } }), 400, 'invalid_request');
    const kb = await createBase(svc, token);
    assertError(await svc.post(`/api/ai/knowledge/${kb.id}/reindex`, { token, json: { embeddingModel: 'gpt-4o-mini' } }), 400, 'invalid_request');
    assertError(await svc.patch(`/api/ai/knowledge/${kb.id}`, { token, json: { embeddingModel: 'gpt-4o-mini' } }), 400, 'invalid_request');
    assertError(await svc.post(`/api/ai/knowledge/${kb.id}/reindex`, { token, json: { model: 'x' } }), 400, 'invalid_request');
  });

  it('change model by a reindex job: searches answer throughout from one vector space, then switch', async () => {
    const token = svc.token('vec-reindex');
    const kb = await createBase(svc, token);
    const cats = await settled(svc, token, kb, await addText(svc, token, kb, 'Cats', CATS));
    const long = await settled(svc, token, kb, await addText(svc, token, kb, 'Volcanoes', LONG));
    assert.equal(long.status, 'indexed');

    // Another user: 404 on the reindex route and on the model change.
    const other = svc.token('vec-intruder');
    assertError(await svc.post(`/api/ai/knowledge/${kb.id}/reindex`, { token: other, json: {} }), 404, 'not_found');
    assertError(await svc.patch(`/api/ai/knowledge/${kb.id}`, { token: other, json: { embeddingModel: 'text-embedding-3-large' } }), 404, 'not_found');

    const started = assertOk(await svc.patch(`/api/ai/knowledge/${kb.id}`, { token, json: { embeddingModel: 'text-embedding-3-large' } }));
    assertSchema(started, 'KnowledgeBase');
    // Until every chunk has its new vector, the base is searched in the old space.
    assert.equal(started.embeddingModel, 'text-embedding-3-small');
    assert.equal(started.embeddingDimensions, 1536);
    assert.equal(started.reindexingTo, 'text-embedding-3-large');
    assertError(await svc.post(`/api/ai/knowledge/${kb.id}/reindex`, { token, json: {} }), 409, 'conflict');

    // Searches while the jobs run: every one answers, from a single space (a mix of 1536- and
    // 3072-dimension vectors could not be ranked against one query vector).
    let during = 0;
    const final = await waitFor(async () => {
      const found = await search(svc, token, kb, 'purring cat', 'vector', 3);
      assert.equal(found.items[0].documentId, cats.id);
      during += 1;
      const b = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token }));
      assert.ok((b.embeddingModel === 'text-embedding-3-small' && b.embeddingDimensions === 1536) ||
                (b.embeddingModel === 'text-embedding-3-large' && b.embeddingDimensions === 3072), JSON.stringify(b));
      return b.reindexingTo === null ? b : undefined;
    }, 30000, 'the reindex to complete');
    assert.ok(during >= 1);
    assert.equal(final.embeddingModel, 'text-embedding-3-large');
    assert.equal(final.embeddingDimensions, 3072);
    const docs = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents`, { token })).items;
    for (const d of docs) {
      assert.equal(d.job.kind, 'reindex');
      assert.equal(d.status, 'indexed');
      assert.equal(d.job.chunksDone, d.chunkCount);
    }
    const after = await search(svc, token, kb, 'purring cat', 'hybrid', 3);
    assert.equal(after.items[0].documentId, cats.id);
    // The new model is billed too.
    const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
    assert.ok(me.byModel.find((m) => m.model === 'text-embedding-3-large')?.requests > 0);

    // A lexical base (created without a model on a server without EMBEDDING_MODEL is covered by
    // knowledge.test.mjs) given one by POST …/reindex: the same path.
    const again = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/reindex`, { token, json: { embeddingModel: 'text-embedding-3-small' } }), 202);
    assert.equal(again.reindexingTo, 'text-embedding-3-small');
    await waitFor(async () => assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token })).reindexingTo === null || undefined,
      30000, 'the second reindex');
    assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token })).embeddingDimensions, 1536);
  });
});

describe('embedding jobs across restarts and replicas', () => {
  it('resume after a SIGKILL mid-embedding with only the chunks that had no vector, and cancel mid-embedding', async () => {
    // Slow embeddings (one chunk a call, 300 ms each) so the job is caught in the middle.
    const mock = await startMockLlm({ args: ['--delay-ms', '300'] });
    const env = envFor(mock, { KB_EMBED_BATCH: '1', KB_JOB_LEASE_MS: '500' });
    let svc = await startService({ env });
    try {
      const token = svc.token('vec-resume');
      const kb = await createBase(svc, token);
      const doc = await addText(svc, token, kb, 'Volcanoes', LONG);
      const midway = await waitFor(async () => {
        const d = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${doc.id}`, { token }));
        return d.status === 'embedding' && d.job.chunksDone >= 2 ? d : undefined;
      }, 30000, 'the job to be embedding');
      assert.ok(midway.job.chunksDone < midway.job.chunksTotal, 'caught before the end');
      await svc.kill();
      const before = await embeddingCalls(mock);
      svc = await startService({ dir: svc.dir, secret: svc.secret, env });
      const done = await settled(svc, token, kb, doc);
      assert.equal(done.status, 'indexed', done.error);
      assert.equal(done.job.attempts, 2);
      // The restart embedded what had no vector yet (the call in flight at the kill may be repeated).
      const resumed = (await embeddingCalls(mock)) - before;
      assert.ok(resumed <= done.chunkCount - midway.job.chunksDone + 1, `${resumed} calls after the restart`);
      assert.equal((await search(svc, token, kb, 'lava eruption', 'vector')).items.length, 5);

      // Cancelled while embedding: it stays cancelled, and nothing of it is searchable.
      const other = await addText(svc, token, kb, 'Oceans', `${SEAS}\n\n${LONG.replaceAll('volcanoes', 'reefs')}`);
      await waitFor(async () => {
        const d = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${other.id}`, { token }));
        return d.status === 'embedding' || undefined;
      }, 30000, 'the second job to be embedding');
      assert.equal(assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents/${other.id}/cancel`, { token })).status, 'cancelled');
      const hits = await search(svc, token, kb, 'tides moon reefs', 'hybrid', 10);
      assert.ok(hits.items.every((p) => p.documentId !== other.id));
      assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${other.id}`, { token })).status, 'cancelled');
    } finally {
      await svc.stop();
      await mock.stop();
    }
  });

  it('rank lexically when the embeddings upstream is gone (hybrid), and say so; vector is an upstream error', async () => {
    const mock = await startMockLlm();
    const svc = await startService({ env: envFor(mock) });
    try {
      const token = svc.token('vec-upstream-gone');
      const kb = await createBase(svc, token);
      const cats = await settled(svc, token, kb, await addText(svc, token, kb, 'Cats', CATS));
      assert.equal(cats.status, 'indexed');
      await mock.stop();
      const found = await search(svc, token, kb, 'what do cats eat', 'hybrid');
      assert.equal(found.mode, 'lexical');
      assert.equal(found.items[0].documentId, cats.id);
      const res = await svc.get(`/api/ai/knowledge/${kb.id}/search?q=cats&mode=vector`, { token });
      assert.ok(res.status >= 500, `${res.status} ${res.text}`);
      assertError(res, res.status, res.body.error.code);
      assert.ok(['upstream_error', 'unavailable', 'upstream_timeout'].includes(res.body.error.code), res.body.error.code);
    } finally {
      await svc.stop();
      await mock.stop();
    }
  });

  it('a second replica on the same database ranks vectors the first one indexed', async () => {
    const mock = await startMockLlm();
    const redis = await startRedis();
    const env = envFor(mock, { REDIS_URL: redis.url });
    const a = await startService({ env });
    const b = await startService({ dir: a.dir, secret: a.secret, env: { ...env, KB_INGEST_WORKERS: '0' } });
    try {
      const token = a.token('vec-replicas');
      const kb = await createBase(a, token);
      const cats = await settled(a, token, kb, await addText(a, token, kb, 'Cats', CATS));
      // B builds its in-process index now, with the cats only.
      assert.deepEqual(documentsOf(await search(b, token, kb, 'ocean tides', 'vector')), [cats.id]);
      const seas = await settled(a, token, kb, await addText(a, token, kb, 'Seas', SEAS));
      assert.equal(seas.status, 'indexed');
      assert.deepEqual(documentsOf(await search(b, token, kb, 'ocean tides', 'vector')), [seas.id, cats.id]);
      // And a deletion on A is gone from B's ranking.
      assertOk(await a.delete(`/api/ai/knowledge/${kb.id}/documents/${seas.id}`, { token }));
      assert.deepEqual(documentsOf(await search(b, token, kb, 'ocean tides', 'vector')), [cats.id]);
    } finally {
      await b.stop();
      await a.stop();
      await redis.stop();
      await mock.stop();
    }
  });
});

describe('ai-agent-service ingest with an embedding model', { skip: process.env.AAS_BLACKBOX_STORE === 'postgres' && 'the CLI run opens the SQLite file of its data dir' }, () => {
  it('embeds the documents through the provider router, bills the user, and the server searches them by vector', async () => {
    const mock = await startMockLlm();
    try {
      const dir = makeTempDir();
      const docs = path.join(dir, 'docs');
      mkdirSync(docs);
      writeFileSync(path.join(docs, 'cats.md'), CATS);
      writeFileSync(path.join(docs, 'seas.txt'), SEAS);
      const env = { ...envFor(mock), DATABASE_URL: `sqlite:${path.join(dir, 'ai.db')}`, JWT_SECRET: 'cli-secret-cli-secret-cli-secret-32' };
      // runCli blocks this process: mock-llm is a process of its own, so it answers meanwhile.
      const run = runCli(['ingest', '--user', 'vec-cli', '--kb', 'notes', docs], { env, timeoutMs: 60000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /2 indexed, 0 already there, 0 failed/);

      // The server finds the jobs done (it embeds nothing of the documents): the vectors it
      // searches and the ledger rows are the CLI's; the query is embedded by the server.
      const svc = await startService({ dir, secret: env.JWT_SECRET, env });
      try {
        const token = svc.token('vec-cli');
        const [kb] = assertOk(await svc.get('/api/ai/knowledge', { token })).items;
        assert.equal(kb.embeddingModel, 'text-embedding-3-small');
        const docsList = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents`, { token })).items;
        assert.deepEqual(docsList.map((d) => d.status), ['indexed', 'indexed']);
        const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
        const row = me.byModel.find((m) => m.model === 'text-embedding-3-small');
        const chunkBatches = docsList.reduce((n, d) => n + Math.ceil(d.chunkCount / 2), 0);
        assert.equal(row?.requests, chunkBatches, JSON.stringify(me.byModel));
        const hits = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=${encodeURIComponent('tides and waves of the sea')}&mode=vector`, { token }));
        assert.equal(hits.mode, 'vector');
        assert.equal(hits.items[0].title, 'seas.txt');
      } finally {
        await svc.stop();
      }
    } finally {
      await mock.stop();
    }
  });
});
