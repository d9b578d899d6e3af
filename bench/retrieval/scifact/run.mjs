// SciFact through the public API (issue 12): the corpus ingested as JSON documents into one
// knowledge base, the 809 training claims asked through GET .../search, nDCG@10 against the
// judgments (as BEIR computes it), the ingestion time and the search latency.
//
//   node bench/retrieval/scifact/run.mjs [--store sqlite|postgres] [--mode lexical|hybrid]
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
const mode = opt('mode', 'lexical');
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

const svc = await startService({ env: { KB_INGEST_WORKERS: opt('workers', '2'), KB_MAX_DOCUMENTS: '0', KB_MAX_BYTES: '0', THREADS: '2' } });
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

  const latencies = [];
  let ndcgSum = 0;
  let judged = 0;
  for (const q of queries) {
    const rel = qrels.get(String(q._id));
    if (!rel) continue;
    const t0 = performance.now();
    const res = await svc.get(`/api/ai/knowledge/${kb.id}/search?q=${encodeURIComponent(q.text)}&k=10&mode=${mode}`, { token });
    latencies.push(performance.now() - t0);
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
    ndcgSum += idcg ? dcg / idcg : 0;
    judged++;
  }
  const cpuSearched = cpuSeconds(svc.pid);
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(JSON.stringify({
    store, mode, documents: corpus.length, failed, queries: judged,
    ndcg_at_10: Number((ndcgSum / judged).toFixed(4)),
    upload_s: Number(((uploaded - started) / 1000).toFixed(2)),
    ingest_s: Number(((ingested - started) / 1000).toFixed(2)),
    ingest_cpu_s: Number((cpuIngested - cpuStarted).toFixed(2)),
    search_ms: { p50: Number(pct(50).toFixed(2)), p99: Number(pct(99).toFixed(2)) },
    search_cpu_ms_per_query: Number((((cpuSearched - cpuIngested) * 1000) / judged).toFixed(2)),
  }));
} finally {
  await svc.stop();
}
