// Writes the benchmark's input texts into OUT_DIR, deterministically:
//   code_and_docs.txt  this repository's sources and docs (real C++, JavaScript and English prose)
//   mixed.txt          the tokenizer test corpus (make_reference.mjs): prose, code, CJK, emoji,
//                      whitespace runs, numbers, punctuation, every character class
// Usage: node bench/tokenizer/make_corpus.mjs OUT_DIR
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node make_corpus.mjs OUT_DIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(cpp|hpp|md|mjs|js|lua|py|sh|yaml)$/.test(name)) out.push(full);
  }
  return out;
}
const files = ['src', 'tests', 'docs', 'bench', 'tools'].flatMap((d) => {
  try { return walk(path.join(root, d), []); } catch { return []; }
});
writeFileSync(path.join(outDir, 'code_and_docs.txt'), Buffer.concat(files.map((f) => readFileSync(f))));

// The test corpus: the texts npm tiktoken is given (valid UTF-8), one after another.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'aas-bench-'));
execFileSync(process.execPath, [path.join(root, 'tests/unit/tokens/make_reference.mjs'), tmp, root], { stdio: 'ignore' });
const corpus = readFileSync(path.join(tmp, 'corpus.bin'));
const texts = [];
for (let pos = 0; pos < corpus.length;) {
  pos += 1;
  const size = corpus.readUInt32LE(pos);
  pos += 4 + size;
  const givenSize = corpus.readUInt32LE(pos);
  texts.push(corpus.subarray(pos + 4, pos + 4 + givenSize));
  pos += 4 + givenSize;
}
writeFileSync(path.join(outDir, 'mixed.txt'), Buffer.concat(texts));
rmSync(tmp, { recursive: true, force: true });
for (const f of ['code_and_docs.txt', 'mixed.txt']) {
  console.log(`${f}: ${statSync(path.join(outDir, f)).size} bytes`);
}
