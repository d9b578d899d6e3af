// Lexical search on a synthetic knowledge base of 1,000,000 chunks (issue 12): the base is written
// straight into a migrated SQLite store file by generate.sh (SQL, not HTTP), then the service is
// started on that file and asked --queries searches through GET /api/ai/knowledge/:id/search?k=10,
// one at a time. Queries are 2–6 words drawn with the same Zipf-like law as the chunks' words (so
// most queries hold a frequent word and most hold a rare one). Prints one JSON line: generation
// time, database size, search p50/p99 (client clock, HTTP included) and the service's CPU per
// search, its RSS. Nothing here asserts a timing.
//
//   node bench/retrieval/lexical-1m/run.mjs [--chunks 1000000] [--terms 24] [--vocab 50000] [--queries 300]
//   (or `make bench-retrieval-1m`)
//   bash scripts/with-postgres.sh node bench/retrieval/lexical-1m/run.mjs --store postgres
//   (generate-postgres.sh writes the same base into a fresh database of that server)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
process.env.AAS_BIN ??= path.join(root, 'build', 'test', 'ai-agent-service');
const { makeTempDir, runCli, startService } = await import(path.join(root, 'tests', 'blackbox', 'lib', 'service.mjs'));

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : def; };
const store = args.includes('--store') ? args[args.indexOf('--store') + 1] : 'sqlite';
const chunks = opt('chunks', 1000000);
const terms = opt('terms', 24);
const vocab = opt('vocab', 50000);
const queries = opt('queries', 300);
const kb = '01900000-0000-7000-8000-00000000b001';

const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const status = (pid, key) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${key}:\\s+(\\d+)`))[1]);

// --db FILE: the database file to generate, kept afterwards; when it exists, it is used as it is
// (generating a million chunks takes minutes).
const keep = args.includes('--db') ? path.resolve(args[args.indexOf('--db') + 1]) : null;
const dir = makeTempDir();
const db = path.join(dir, 'ai.db');
let generateS = null;
let databaseUrl = `sqlite:${db}`;
if (store === 'postgres') {
  const server = process.env.AAS_TEST_POSTGRES_URL;
  if (!server) throw new Error('--store postgres runs under scripts/with-postgres.sh (AAS_TEST_POSTGRES_URL)');
  const name = `aas_bench_1m_${process.pid}`;
  execFileSync('psql', [server, '-qc', `CREATE DATABASE ${name}`]);
  const url = new URL(server);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  const migrated = runCli(['migrate'], { env: { DATABASE_URL: databaseUrl, JWT_SECRET: 'x'.repeat(32) } });
  if (migrated.status !== 0) throw new Error(`migrate: ${migrated.stderr}`);
  const t0 = performance.now();
  execFileSync('bash', [path.join(here, 'generate-postgres.sh'), databaseUrl, String(chunks), String(terms), String(vocab)], { stdio: 'inherit' });
  generateS = Number(((performance.now() - t0) / 1000).toFixed(1));
} else if (keep && existsSync(keep)) {
  symlinkSync(keep, db);
} else {
  const target = keep ?? db;
  const migrated = runCli(['migrate'], { env: { DATABASE_URL: `sqlite:${target}`, JWT_SECRET: 'x'.repeat(32) } });
  if (migrated.status !== 0) throw new Error(`migrate: ${migrated.stderr}`);
  const t0 = performance.now();
  execFileSync('bash', [path.join(here, 'generate.sh'), target, String(chunks), String(terms), String(vocab)], { stdio: 'inherit' });
  generateS = Number(((performance.now() - t0) / 1000).toFixed(1));
  if (keep) symlinkSync(keep, db);
}
const dbBytes = store === 'postgres'
  ? Number(execFileSync('psql', [databaseUrl, '-Atc', 'SELECT pg_database_size(current_database())'], { encoding: 'utf8' }).trim())
  : statSync(db).size;

// Zipf-like ranks, as generate.sh draws them.
const rank = () => Math.floor(Math.exp(Math.random() * Math.log(vocab)));
// The first search builds the base's in-process index (seconds for a million chunks): no request
// timeout cuts it.
const svc = await startService({ dir, env: { THREADS: '2', REQUEST_TIMEOUT_MS: '600000', DATABASE_URL: databaseUrl, KB_MAX_DOCUMENTS: '0', KB_MAX_BYTES: '0' } });
try {
  const token = svc.token('bench-1m');
  let empty = 0;  // queries whose words no chunk holds (rare words on a small base)
  const ask = async (q, timeoutMs = 30000) => {
    const t = performance.now();
    const res = await svc.get(`/api/ai/knowledge/${kb}/search?q=${encodeURIComponent(q)}&k=10&mode=lexical`, { token, timeoutMs });
    const ms = performance.now() - t;
    if (res.status !== 200) throw new Error(`search: ${res.status} ${res.text}`);
    if (res.body.data.items.length === 0) empty++;
    return ms;
  };
  const cpuCold = cpuSeconds(svc.pid);
  const coldMs = await ask('w1 w2', 600000);  // builds the index
  const coldCpuS = cpuSeconds(svc.pid) - cpuCold;
  const indexRss = { rss_anon_kib: status(svc.pid, 'RssAnon') };
  for (let i = 0; i < 20; i++) await ask(`w${rank()} w${rank()} w${rank()}`);  // warm the page cache
  empty = 0;
  const latencies = [];
  const cpu0 = cpuSeconds(svc.pid);
  for (let i = 0; i < queries; i++) {
    const words = Array.from({ length: 2 + Math.floor(Math.random() * 5) }, () => `w${rank()}`);
    latencies.push(await ask(words.join(' ')));
  }
  const answered = queries - empty;
  const cpuMs = ((cpuSeconds(svc.pid) - cpu0) * 1000) / queries;
  // A change: one document added through the API and indexed by the service's worker. The next
  // search brings the base's index up to date from the change log (migration 16) instead of
  // rebuilding it (what the first search above did, and every search after a change before).
  const added = await svc.post(`/api/ai/knowledge/${kb}/documents`, { token, json: { title: 'fresh', text: 'w1 w2 w3 a fresh document' } });
  if (added.status !== 202) throw new Error(`upload: ${added.status} ${added.text}`);
  const docId = added.body.data.documents[0].id;
  for (;;) {
    const d = (await svc.get(`/api/ai/knowledge/${kb}/documents/${docId}`, { token })).body.data;
    if (d.status === 'indexed') break;
    if (d.status === 'failed') throw new Error(`ingest: ${d.error}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpuChange = cpuSeconds(svc.pid);
  const afterChangeMs = await ask('w1 w2', 600000);
  const afterChangeCpuMs = (cpuSeconds(svc.pid) - cpuChange) * 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(JSON.stringify({
    store, chunks, terms_per_chunk: terms, vocab, postings_approx: chunks * terms, queries, answered,
    load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    generate_s: generateS,
    // The first search: reading the base and building its index.
    first_search_ms: Number(coldMs.toFixed(0)), first_search_cpu_s: Number(coldCpuS.toFixed(2)),
    rss_anon_kib_after_build: indexRss.rss_anon_kib,
    db_bytes: dbBytes,
    search_ms: { p50: Number(pct(50).toFixed(2)), p99: Number(pct(99).toFixed(2)) },
    search_cpu_ms_per_query: Number(cpuMs.toFixed(2)),
    // The first search after one document was added: the index caught up (or, before migration
    // 16, was rebuilt whole).
    search_after_change_ms: Number(afterChangeMs.toFixed(1)), search_after_change_cpu_ms: Number(afterChangeCpuMs.toFixed(1)),
    // RssFile is mostly the memory-mapped database's pages (the OS's to drop); RssAnon the process's own.
    rss_kib: status(svc.pid, 'VmRSS'), rss_anon_kib: status(svc.pid, 'RssAnon'), rss_file_kib: status(svc.pid, 'RssFile'),
    hwm_kib: status(svc.pid, 'VmHWM'),
  }));
} finally {
  await svc.stop();
}
