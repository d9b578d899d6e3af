// Knowledge bases end to end: CRUD with cursor pages and validation, documents as JSON and as
// multipart files of each text format (ingested by the service's own workers: queued -> indexed,
// or failed with a message for the user), de-duplication by content, quotas, cancel, jobs that
// survive a SIGKILL, BM25 search, another user's base answering 404 on every route, and chat
// turns that retrieve from a base and cite the right document (JSON, SSE, stored, exported).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { spawnSync } from 'node:child_process';
import { baseEnv, BIN, makeTempDir, runCli, startService } from './lib/service.mjs';
import { collect, openStream, waitFor } from './lib/sse.mjs';
import { connected, SOCKETIO_PATH } from './lib/socketio.mjs';
import { io } from 'socket.io-client';

const CATS = '# Cats\n\nCats purr when they are content and sleep sixteen hours a day.\n\n## Food\n\nCats eat fish, chicken and dry kibble.';
const DOGS = 'Dogs bark at strangers, fetch sticks and love long walks in the park.';

async function createBase(svc, token, name = 'Docs') {
  const kb = assertOk(await svc.post('/api/ai/knowledge', { token, json: { name } }), 201);
  assertSchema(kb, 'KnowledgeBase');
  return kb;
}

async function addText(svc, token, kb, title, text) {
  const res = await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title, text } });
  const data = assertOk(res, 202);
  assert.equal(data.documents.length, 1);
  return data.documents[0];
}

// Waits (polling the status API, as a client would) until the document's job has finished.
async function settled(svc, token, kb, doc) {
  return waitFor(async () => {
    const d = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${doc.id}`, { token }));
    return ['indexed', 'failed', 'cancelled'].includes(d.status) ? d : undefined;
  }, 20000, `document ${doc.title} to finish ingesting`);
}

function multipart(files, fields = {}) {
  const boundary = `----aas${Math.random().toString(16).slice(2)}`;
  const chunks = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  for (const f of files) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    chunks.push(Buffer.isBuffer(f.body) ? f.body : Buffer.from(f.body));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

describe('knowledge bases', () => {
  let svc;
  before(async () => { svc = await startService({ env: { MAX_UPLOAD_BYTES: '4096' } }); });
  after(async () => { await svc?.stop(); });

  it('are created, listed in cursor pages, renamed and deleted, with clear 400s', async () => {
    const token = svc.token('kb-crud');
    const made = [];
    for (const name of ['one', 'two', 'three']) made.push(await createBase(svc, token, name));
    const first = assertOk(await svc.get('/api/ai/knowledge?limit=2', { token }));
    assert.deepEqual(first.items.map((b) => b.name), ['three', 'two']);
    assert.ok(first.nextCursor);
    const second = assertOk(await svc.get(`/api/ai/knowledge?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`, { token }));
    assert.deepEqual(second.items.map((b) => b.name), ['one']);
    assert.equal(second.nextCursor, null);

    const renamed = assertOk(await svc.patch(`/api/ai/knowledge/${made[0].id}`, { token, json: { name: 'uno', description: 'first' } }));
    assert.equal(renamed.name, 'uno');
    assert.equal(renamed.description, 'first');
    assert.equal(assertOk(await svc.patch(`/api/ai/knowledge/${made[0].id}`, { token, json: { description: null } })).description, null);
    assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${made[0].id}`, { token })).name, 'uno');

    assertError(await svc.post('/api/ai/knowledge', { token, json: {} }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/knowledge', { token, json: { name: '  ' } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/knowledge', { token, json: { name: 'x', colour: 'red' } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/knowledge', { token, json: { name: 'x', embeddingModel: 'text-embedding-3-small' } }), 400, 'invalid_request');
    assertError(await svc.get('/api/ai/knowledge?cursor=nonsense', { token }), 400, 'invalid_request');
    assertError(await svc.get(`/api/ai/knowledge/${made[1].id}/search?q=x&k=0`, { token }), 400, 'invalid_request');
    assertError(await svc.get(`/api/ai/knowledge/${made[1].id}/search?q=x&mode=fuzzy`, { token }), 400, 'invalid_request');
    assertError(await svc.get(`/api/ai/knowledge/${made[1].id}/search`, { token }), 400, 'invalid_request');
    assertError(await svc.get(`/api/ai/knowledge/${made[1].id}/search?q=x&mode=vector`, { token }), 400, 'invalid_request');
    assertError(await svc.post(`/api/ai/knowledge/${made[1].id}/documents`, { token, json: { title: 't' } }), 400, 'invalid_request');
    assertError(await svc.post(`/api/ai/knowledge/${made[1].id}/documents`, { token, body: 'text', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');

    assertOk(await svc.delete(`/api/ai/knowledge/${made[2].id}`, { token }));
    assertError(await svc.get(`/api/ai/knowledge/${made[2].id}`, { token }), 404, 'not_found');
  });

  it('ingests documents, finds them by BM25, and takes the same bytes again as the same document', async () => {
    const token = svc.token('kb-ingest');
    const kb = await createBase(svc, token);
    const cats = await addText(svc, token, kb, 'Cats', CATS);
    assertSchema(cats, 'KnowledgeDocument');
    assert.equal(cats.existing, false);
    const dogs = await addText(svc, token, kb, 'Dogs', DOGS);
    const done = await settled(svc, token, kb, cats);
    assert.equal(done.status, 'indexed', done.error);
    assert.ok(done.chunkCount >= 1);
    assert.equal((await settled(svc, token, kb, dogs)).status, 'indexed');

    const found = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=${encodeURIComponent('What do cats eat?')}&k=5`, { token }));
    assertSchema({ success: true, data: found }, 'KnowledgeSearchEnvelope');
    assert.equal(found.mode, 'lexical');
    assert.equal(found.items[0].documentId, cats.id);
    assert.equal(found.items[0].title, 'Cats');
    assert.ok(found.items[0].text.includes('fish'));
    assert.ok(found.items[0].end > found.items[0].start);
    assert.ok(found.items.every((p) => p.documentId !== dogs.id), 'no dog passage matches a cat question');
    // Stemming: "barking" finds "bark".
    const barking = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=barking`, { token }));
    assert.equal(barking.items[0].documentId, dogs.id);

    const again = await addText(svc, token, kb, 'Cats again', CATS);
    assert.equal(again.existing, true);
    assert.equal(again.id, cats.id);
    const listed = assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents`, { token }));
    assert.deepEqual(listed.items.map((d) => d.id), [cats.id, dogs.id]);
    assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token })).documentCount, 2);

    assertOk(await svc.delete(`/api/ai/knowledge/${kb.id}/documents/${dogs.id}`, { token }));
    assertError(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${dogs.id}`, { token }), 404, 'not_found');
    assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=barking`, { token })).items.length, 0);
  });

  it('takes multipart files of each text format; a bad or oversized file fails on its own', async () => {
    const token = svc.token('kb-files');
    const kb = await createBase(svc, token);
    const html = '<html><head><title>Birds</title><script>secretScriptWord()</script><style>.x{}</style></head>'
      + '<body><h1>Parrots</h1><p>Parrots imitate human speech.</p></body></html>';
    const md = '# Fish\n\nSalmon swim upstream to spawn.\n\n- trout\n- carp\n';
    const { body, headers } = multipart([
      { name: 'notes.txt', body: 'Plain notes about volcanoes erupting.' },
      { name: 'birds.html', body: html },
      { name: 'fish.md', body: md },
      { name: 'blob.bin', body: Buffer.from([0, 1, 2, 3, 255, 254, 0, 0, 7]) },
      { name: 'huge.txt', body: 'word '.repeat(2000) },
    ]);
    const up = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, body, headers }), 202);
    assertSchema({ success: true, data: up }, 'KnowledgeUploadEnvelope');
    assert.equal(up.documents.length, 5);
    const [txt, htm, mdd, bin, huge] = up.documents;
    assert.equal(huge.status, 'failed');
    assert.equal(huge.error.code, 'payload_too_large');
    assert.equal((await settled(svc, token, kb, txt)).status, 'indexed');
    const h = await settled(svc, token, kb, htm);
    assert.equal(h.status, 'indexed', h.error);
    assert.equal(h.mediaType, 'text/html');
    assert.equal((await settled(svc, token, kb, mdd)).status, 'indexed');
    const b = await settled(svc, token, kb, bin);
    assert.equal(b.status, 'failed');
    assert.match(b.error, /not a supported document/);

    const search = async (q) => assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=${q}`, { token })).items;
    assert.equal((await search('parrots'))[0].documentId, htm.id);
    assert.equal((await search('secretScriptWord')).length, 0, 'scripts are dropped from HTML');
    assert.equal((await search('salmon'))[0].documentId, mdd.id);
    assert.equal((await search('volcano'))[0].documentId, txt.id);

    // A JSON document over MAX_UPLOAD_BYTES is refused whole.
    assertError(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: 'big', text: 'x'.repeat(5000) } }), 413, 'payload_too_large');
  });

  it('answers 404 for another user\'s base on every route, and never ranks its passages', async () => {
    const alice = svc.token('kb-alice');
    const bob = svc.token('kb-bob');
    const kb = await createBase(svc, alice, 'private');
    const doc = await addText(svc, alice, kb, 'Secret', 'The launch code is pineapple.');
    await settled(svc, alice, kb, doc);
    const base = `/api/ai/knowledge/${kb.id}`;
    const calls = [
      svc.get(base, { token: bob }),
      svc.patch(base, { token: bob, json: { name: 'mine' } }),
      svc.delete(base, { token: bob }),
      svc.post(`${base}/documents`, { token: bob, json: { title: 't', text: 'x' } }),
      svc.post(`${base}/documents`, { token: bob, ...multipart([{ name: 'a.txt', body: 'x' }]) }),
      svc.get(`${base}/documents`, { token: bob }),
      svc.get(`${base}/documents/${doc.id}`, { token: bob }),
      svc.delete(`${base}/documents/${doc.id}`, { token: bob }),
      svc.post(`${base}/documents/${doc.id}/cancel`, { token: bob }),
      svc.get(`${base}/search?q=pineapple`, { token: bob }),
      svc.post('/api/ai/chat', { token: bob, json: { message: 'what is the launch code?', knowledgeBaseIds: [kb.id] } }),
      svc.post('/api/ai/conversations', { token: bob, json: { knowledgeBaseIds: [kb.id] } }),
    ];
    for (const res of await Promise.all(calls)) assertError(res, 404, 'not_found');
    // The refused chat stored nothing.
    assert.equal(assertOk(await svc.get('/api/ai/conversations', { token: bob })).items.length, 0);
    // Bob's own base with the same words ranks only his.
    const bobs = await createBase(svc, bob, 'bobs');
    await settled(svc, bob, bobs, await addText(svc, bob, bobs, 'Fruit', 'A pineapple is a tropical fruit.'));
    const hits = assertOk(await svc.get(`/api/ai/knowledge/${bobs.id}/search?q=pineapple`, { token: bob })).items;
    assert.equal(hits.length, 1);
    assert.equal(hits[0].title, 'Fruit');
    assert.equal(assertOk(await svc.get(`${base}/documents/${doc.id}`, { token: alice })).status, 'indexed');
  });

  it('answers a chat from the base, citing the right document, in JSON, SSE, the stored answer and the export', async () => {
    const token = svc.token('kb-chat');
    const kb = await createBase(svc, token, 'pets');
    const cats = await addText(svc, token, kb, 'Cats', CATS);
    const dogs = await addText(svc, token, kb, 'Dogs', DOGS);
    await settled(svc, token, kb, cats);
    await settled(svc, token, kb, dogs);

    const turn = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'What food do cats eat?', knowledgeBaseIds: [kb.id] } }));
    assert.ok(turn.citations.length >= 1);
    for (const c of turn.citations) assertSchema(c, 'Citation');
    assert.equal(turn.citations[0].index, 1);
    assert.equal(turn.citations[0].documentId, cats.id);
    assert.equal(turn.citations[0].title, 'Cats');
    assert.ok(turn.citations[0].snippet.includes('fish'));

    const conv = assertOk(await svc.get(`/api/ai/conversations/${turn.conversationId}`, { token }));
    assert.deepEqual(conv.conversation.knowledgeBaseIds, [kb.id]);
    const answer = conv.messages.items.find((m) => m.role === 'assistant');
    assert.deepEqual(answer.metadata.citations, turn.citations);
    const exported = (await svc.get(`/api/ai/conversations/${turn.conversationId}/export`, { token })).body;
    assert.deepEqual(exported.messages.find((m) => m.role === 'assistant').metadata.citations, turn.citations);

    // The next turn answers from the conversation's bases without naming them; streamed, the
    // citations come as their own event after start.
    const { events } = await openStream(svc, token, { message: 'Do dogs bark at strangers?', conversationId: turn.conversationId, stream: true });
    const all = await collect(events);
    assert.deepEqual(all.slice(0, 2).map((e) => e.event), ['start', 'citations']);
    assert.equal(all[1].data.citations[0].documentId, dogs.id);
    assert.equal(all.at(-1).event, 'done');

    // Over Socket.IO: ai:citations follows ai:start; a foreign or unknown base is refused in the ack.
    const socket = io(svc.url, { path: SOCKETIO_PATH, forceNew: true, reconnection: false, auth: { token } });
    try {
      await connected(socket);
      const seen = [];
      const finished = new Promise((resolve) => {
        socket.onAny((name, data) => {
          if (!name.startsWith('ai:') || name === 'ai:typing') return;
          seen.push({ name, data });
          if (name === 'ai:done' || name === 'ai:error') resolve();
        });
      });
      const ack = await socket.emitWithAck('ai:chat', { message: 'How long do cats sleep?', knowledgeBaseIds: [kb.id] });
      assert.ok(ack.conversationId, JSON.stringify(ack));
      await finished;
      assert.deepEqual(seen.slice(0, 2).map((e) => e.name), ['ai:start', 'ai:citations']);
      assert.equal(seen[1].data.citations[0].documentId, cats.id);
      const refusedAck = await socket.emitWithAck('ai:chat', { message: 'x', knowledgeBaseIds: ['01234567-89ab-7cde-8f01-23456789abcd'] });
      assert.equal(refusedAck.error?.code, 'not_found');
    } finally {
      socket.close();
    }

    // PATCH replaces the bases ([] drops them): then no citations.
    assertOk(await svc.patch(`/api/ai/conversations/${turn.conversationId}`, { token, json: { knowledgeBaseIds: [] } }));
    const plain = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'What food do cats eat?', conversationId: turn.conversationId } }));
    assert.deepEqual(plain.citations, []);
    assertError(await svc.patch(`/api/ai/conversations/${turn.conversationId}`, { token, json: { knowledgeBaseIds: ['01234567-89ab-7cde-8f01-23456789abcd'] } }), 404, 'not_found');
  });
});

describe('knowledge ingestion jobs', () => {
  it('hold quotas per user, can be cancelled, and survive a SIGKILL to finish after the restart', async () => {
    // No workers: every job stays queued, so cancel and restart are seen without racing a worker.
    const env = { KB_INGEST_WORKERS: '0', KB_MAX_DOCUMENTS: '3', KB_MAX_BYTES: '200', KB_JOB_LEASE_MS: '500' };
    let svc = await startService({ env });
    try {
      const token = svc.token('kb-jobs');
      const kb = await createBase(svc, token);
      const a = await addText(svc, token, kb, 'A', 'alpha particles and gamma rays');
      const b = await addText(svc, token, kb, 'B', 'beta decay of neutrons');
      assert.equal(a.status, 'queued');
      const tooBig = await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: 'C', text: 'c'.repeat(190) } });
      assertError(tooBig, 413, 'payload_too_large');
      assert.match(tooBig.body.error.message, /storage quota/);
      await addText(svc, token, kb, 'C', 'cosmic rays');
      const tooMany = await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: 'D', text: 'delta' } });
      assertError(tooMany, 429, 'rate_limited');
      assert.match(tooMany.body.error.message, /document quota/);

      const cancelled = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents/${b.id}/cancel`, { token }));
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents/${b.id}/cancel`, { token })).status, 'cancelled');

      // Killed with jobs pending; started again (with workers) on the same database.
      await svc.kill();
      svc = await startService({ dir: svc.dir, secret: svc.secret, env: { ...env, KB_INGEST_WORKERS: '2' } });
      const done = await settled(svc, token, kb, a);
      assert.equal(done.status, 'indexed');
      assert.equal(done.job.attempts, 1);
      assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${b.id}`, { token })).status, 'cancelled');
      assertError(await svc.post(`/api/ai/knowledge/${kb.id}/documents/${a.id}/cancel`, { token }), 409, 'conflict');
      assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=gamma`, { token })).items[0].documentId, a.id);
      assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=neutron`, { token })).items.length, 0);
    } finally {
      await svc.stop();
    }
  });
});

describe('ai-agent-service ingest', { skip: process.env.AAS_BLACKBOX_STORE === 'postgres' && 'the CLI run opens the SQLite file of its data dir' }, () => {
  it('adds a directory of files to a knowledge base by name, ingests them, and skips the same bytes again', async () => {
    const dir = makeTempDir();
    const docs = path.join(dir, 'docs');
    mkdirSync(docs);
    writeFileSync(path.join(docs, 'volcanoes.md'), '# Volcanoes\n\nLava flows downhill from the crater.\n');
    writeFileSync(path.join(docs, 'glaciers.txt'), 'Glaciers carve valleys over centuries.');
    const env = { DATABASE_URL: `sqlite:${path.join(dir, 'ai.db')}`, JWT_SECRET: 'cli-secret-cli-secret-cli-secret-32' };
    const first = runCli(['ingest', '--user', 'kb-cli', '--kb', 'notes', docs], { env, timeoutMs: 60000 });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /2 indexed, 0 already there, 0 failed/);
    const again = runCli(['ingest', '--user', 'kb-cli', '--kb', 'notes', docs], { env, timeoutMs: 60000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /0 indexed, 2 already there, 0 failed/);

    const svc = await startService({ dir, secret: env.JWT_SECRET, env: { DATABASE_URL: env.DATABASE_URL } });
    try {
      const token = svc.token('kb-cli');
      const bases = assertOk(await svc.get('/api/ai/knowledge', { token })).items;
      assert.deepEqual(bases.map((b) => b.name), ['notes']);
      const hits = assertOk(await svc.get(`/api/ai/knowledge/${bases[0].id}/search?q=lava`, { token })).items;
      assert.equal(hits[0].title, 'volcanoes.md');
    } finally {
      await svc.stop();
    }
  });

  it('draws a progress bar on a terminal (under script(1), a pseudo-terminal) instead of a line per document', () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'tides.txt');
    writeFileSync(file, 'Tides follow the moon.');
    const env = { DATABASE_URL: `sqlite:${path.join(dir, 'ai.db')}`, JWT_SECRET: 'cli-secret-cli-secret-cli-secret-32' };
    const r = spawnSync('script', ['-qec', `${BIN} ingest --user kb-cli --kb tty ${file}`, '/dev/null'],
      { env: baseEnv(env), encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\r\[#{30}\] 1\/1 indexed/, JSON.stringify(r.stdout));
    assert.match(r.stdout, /1 indexed, 0 already there, 0 failed/);
  });

  it('names each file it cannot read or that is refused, ingests the rest, and exits 1', () => {
    const dir = makeTempDir();
    const good = path.join(dir, 'tides.txt');
    writeFileSync(good, 'Tides follow the moon.');
    const large = path.join(dir, 'large.txt');
    writeFileSync(large, 'word '.repeat(400));  // 2,000 bytes: over MAX_UPLOAD_BYTES, refused when added
    const binary = path.join(dir, 'image.bin');
    writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 0, 0xff, 0xfe]));  // fails when parsed
    const missing = path.join(dir, 'missing.txt');
    const env = { DATABASE_URL: `sqlite:${path.join(dir, 'ai.db')}`, JWT_SECRET: 'cli-secret-cli-secret-cli-secret-32',
                  MAX_UPLOAD_BYTES: '1024' };
    const run = runCli(['ingest', '--user', 'kb-cli', '--kb', 'mixed', good, large, binary, missing], { env, timeoutMs: 60000 });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /created knowledge base mixed/);
    assert.match(run.stdout, /1 indexed, 0 already there, 3 failed/);
    assert.match(run.stdout, / failed: .*not a supported document/);
    assert.ok(run.stderr.includes(`${missing}: cannot read`), run.stderr);
    assert.ok(run.stderr.includes(`${large}: `), run.stderr);
    assert.match(run.stderr, /larger than .*1024 bytes/);
  });
});
