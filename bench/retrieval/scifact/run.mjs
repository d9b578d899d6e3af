// SciFact through the public API (issue 12): the corpus ingested as JSON documents into one
// knowledge base, the 809 training claims asked through GET .../search, nDCG@10 against the
// judgments (as BEIR computes it), the ingestion time and the search latency.
//
//   node bench/retrieval/scifact/run.mjs [--store sqlite|postgres] [--mode lexical|hybrid|vector[,…]]
//                                        [--embeddings]
//
// --embeddings: tools/mock-llm (MOCK_LLM_BIN, default build/test/mock-llm) serves the embeddings
// (text-embedding-3-small: its stemmed bag-of-words vectors, 1536 dimensions): the base gets
// vectors at ingestion, and every mode listed is asked each claim in turn (interleaved), one
// figure line per mode.
//
// Needs the built binary (AAS_BIN, default build/test/ai-agent-service) and ../shared/data/scifact
// (not in the repository: CC BY-NC). With --store postgres it runs under scripts/with-postgres.sh
// (AAS_TEST_POSTGRES_URL). Prints one JSON line of figures.
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
process.env.AAS_BIN ??= path.join(root, 'build', 'test', 'ai-agent-service');
const { startService } = await import(path.join(root, 'tests', 'blackbox', 'lib', 'service.mjs'));

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const store = opt('store', 'sqlite');
const modes = opt('mode', 'lexical').split(',');
const embeddings = args.includes('--embeddings');
// --hybrid-weights 0.5,rrf:0.25: more replicas on the same database, each with that
// KB_HYBRID_VECTOR_WEIGHT (and KB_HYBRID_FUSION when prefixed, else the default fusion), asked as
// modes `hybrid@0.5`, `hybrid@rrf:0.25` … (interleaved with the others).
const weights = opt('hybrid-weights', '').split(',').filter(Boolean);
const data = process.env.SCIFACT_DIR ?? path.resolve(root, '..', 'shared', 'data', 'scifact');
if (store === 'postgres') process.env.AAS_BLACKBOX_STORE = 'postgres';

// The service's own CPU time (user + system, from /proc): on a machine shared with other work the
// wall clock measures the queue for a core as much as the code; this does not.
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime, stime in clock ticks (USER_HZ = 100)
};
const keepDb = opt('keep-db', null);

const lines = (f) => readFileSync(path.join(data, f), 'utf8').split('\n').filter((l) => l.trim());
const corpus = lines('corpus.jsonl').map((l) => JSON.parse(l));
const queries = lines('queries-train.jsonl').map((l) => JSON.parse(l));
const qrels = new Map();
for (const l of lines('qrels-train.tsv').slice(1)) {
  const [q, d, s] = l.split('\t');
  if (!qrels.has(q)) qrels.set(q, new Map());
  qrels.get(q).set(d, Number(s));
}

let mock = null;
const env = { KB_INGEST_WORKERS: opt('workers', '2'), KB_MAX_DOCUMENTS: '0', KB_MAX_BYTES: '0', THREADS: '2' };
if (embeddings) {
  process.env.MOCK_LLM_BIN ??= path.join(root, 'build', 'test', 'mock-llm');
  const { startMockLlm } = await import(path.join(root, 'tests', 'blackbox', 'lib', 'mock-llm.mjs'));
  mock = await startMockLlm({ args: ['--threads', '2'] });
  // One user uploads 5,183 documents (a call each) and asks 809 claims per mode: the default
  // per-user limits (60 requests a minute) would pace the run, not measure it.
  Object.assign(env, { OPENAI_BASE_URL: `${mock.url}/v1`, OPENAI_API_KEY: 'sk-local', EMBEDDING_MODEL: 'text-embedding-3-small',
    LIMIT_RPM: '0', LIMIT_TPM: '0' });
}
const svc = await startService({ env });
try {
  const token = svc.token('bench-scifact');
  const kb = (await svc.post('/api/ai/knowledge', { token, json: { name: 'scifact' } })).body.data;
  const byDocument = new Map();
  const started = performance.now();
  const cpuStarted = cpuSeconds(svc.pid);
  // Uploads from 8 clients at once.
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < corpus.length) {
      const c = corpus[next++];
      const res = await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: c.title || c._id, text: c.text || c.title || c._id } });
      if (res.status !== 202) throw new Error(`upload ${c._id}: ${res.status} ${res.text}`);
      byDocument.set(res.body.data.documents[0].id, c._id);
    }
  }));
  const uploaded = performance.now();
  // Done when every document's job has finished (polling the documents list, as a client would).
  let failed = 0;
  for (;;) {
    let cursor = null, pending = 0;
    failed = 0;
    do {
      const page = (await svc.get(`/api/ai/knowledge/${kb.id}/documents?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token })).body.data;
      for (const d of page.items) {
        if (d.status === 'failed') failed++;
        else if (d.status !== 'indexed') pending++;
      }
      cursor = page.nextCursor;
    } while (cursor);
    if (pending === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const ingested = performance.now();
  const cpuIngested = cpuSeconds(svc.pid);
  if (keepDb && store === 'sqlite') {
    // The ingested database, for EXPLAIN and for timing queries outside the service.
    const file = readdirSync(svc.dir).find((f) => f.endsWith('.db'));
    copyFileSync(path.join(svc.dir, file), keepDb);
    if (readdirSync(svc.dir).includes(`${file}-wal`)) copyFileSync(path.join(svc.dir, `${file}-wal`), `${keepDb}-wal`);
  }

  const replicas = new Map(modes.map((m) => [m, svc]));
  for (const w of weights) {
    const [fusion, weight] = w.includes(':') ? w.split(':') : [null, w];
    const extra = await startService({ dir: svc.dir, secret: svc.secret, env: { ...env, KB_INGEST_WORKERS: '0',
      KB_HYBRID_VECTOR_WEIGHT: weight, ...(fusion ? { KB_HYBRID_FUSION: fusion } : {}) } });
    replicas.set(`hybrid@${w}`, extra);
  }
  const allModes = [...replicas.keys()];
  const figures = new Map(allModes.map((m) => [m, { latencies: [], ndcgSum: 0, judged: 0 }]));
  for (const q of queries) {
    const rel = qrels.get(String(q._id));
    if (!rel) continue;
    for (const mode of allModes) {
      const f = figures.get(mode);
      const t0 = performance.now();
      const res = await replicas.get(mode).get(`/api/ai/knowledge/${kb.id}/search?q=${encodeURIComponent(q.text)}&k=10&mode=${mode.split('@')[0]}`, { token });
      f.latencies.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`search: ${res.status} ${res.text}`);
      // A document's chunks count once, at its best rank (BEIR ranks documents).
      const ranked = [];
      for (const p of res.body.data.items) {
        const id = byDocument.get(p.documentId);
        if (!ranked.includes(id)) ranked.push(id);
      }
      let dcg = 0;
      ranked.slice(0, 10).forEach((id, i) => { dcg += (rel.get(id) ?? 0) / Math.log2(i + 2); });
      const ideal = [...rel.values()].sort((a, b) => b - a).slice(0, 10);
      let idcg = 0;
      ideal.forEach((g, i) => { idcg += g / Math.log2(i + 2); });
      f.ndcgSum += idcg ? dcg / idcg : 0;
      f.judged++;
    }
  }
  // Service CPU per search, averaged over the modes the first service answered (the hybrid weights
  // run on replicas of their own).
  const cpuSearched = cpuSeconds(svc.pid);
  const onSvc = allModes.filter((m) => replicas.get(m) === svc).length;
  for (const r of replicas.values()) if (r !== svc) await r.stop();
  for (const mode of allModes) {
    const { latencies, ndcgSum, judged } = figures.get(mode);
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
    console.log(JSON.stringify({
      store, mode, embeddings, documents: corpus.length, failed, queries: judged,
      ndcg_at_10: Number((ndcgSum / judged).toFixed(4)),
      upload_s: Number(((uploaded - started) / 1000).toFixed(2)),
      ingest_s: Number(((ingested - started) / 1000).toFixed(2)),
      ingest_cpu_s: Number((cpuIngested - cpuStarted).toFixed(2)),
      search_ms: { p50: Number(pct(50).toFixed(2)), p99: Number(pct(99).toFixed(2)) },
      search_cpu_ms_per_query: Number((((cpuSearched - cpuIngested) * 1000) / (judged * onSvc)).toFixed(2)),
    }));
  }
} finally {
  await svc.stop();
  await mock?.stop();
}
