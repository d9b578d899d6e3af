// npm tiktoken (Rust compiled to WebAssembly) on the benchmark texts, single-threaded, for
// comparison with bench_tokenizer (same files, same encodings, same measure).
// Usage: node bench/tokenizer/bench_tiktoken.mjs FILE...
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'tests/blackbox/package.json'));
const { get_encoding } = require('tiktoken');
const minSeconds = Number(process.env.BENCH_SECONDS ?? 2);

for (const file of process.argv.slice(2)) {
  const bytes = readFileSync(file);
  const text = bytes.toString('utf8');
  for (const name of ['cl100k_base', 'o200k_base']) {
    const enc = get_encoding(name);
    let tokens = enc.encode_ordinary(text).length;  // warm-up
    let runs = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < minSeconds || runs < 3) {
      tokens = enc.encode_ordinary(text).length;
      ++runs;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    const mbps = (bytes.length * runs) / elapsed / 1e6;
    console.log(`tiktoken-npm ${name.padEnd(11)} ${path.basename(file).padEnd(18)} ${String(bytes.length).padStart(9)} B ` +
      `${String(tokens).padStart(8)} tokens  ${mbps.toFixed(2).padStart(7)} MB/s  ${(tokens * runs / elapsed / 1e6).toFixed(2)} Mtok/s`);
    enc.free();
  }
}
