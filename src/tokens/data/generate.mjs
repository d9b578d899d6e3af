// Build step of aas_tokens (see CMakeLists.txt): turns the pinned npm packages into the C++ tables
// the tokenizer embeds, so that the binary needs neither node nor these files at run time.
//
//   node generate.mjs NODE_MODULES_DIR CHECKSUMS_FILE OUT_CPP
//
// Inputs, all installed by scripts/install-deps.sh from tests/blackbox/package-lock.json:
//  - tiktoken/encoders/{cl100k_base,o200k_base}.json: the rank of every mergeable token (base64, in
//    rank order), the special tokens and the split pattern, exactly as npm `tiktoken` uses them;
//  - regenerate-unicode-properties: the Unicode 16.0 General_Category and White_Space sets. npm
//    tiktoken's regex engine (Rust regex-syntax) uses Unicode 16.0 tables; this package is the same
//    version, so \p{L}, \p{N}, \p{M} and \s classify every code point as tiktoken does. Neither the
//    Debian libraries (PCRE2 10.42: Unicode 14, ICU 72: 15.0) nor node (17.0) give that version.
// Every input's SHA-256 is checked against CHECKSUMS_FILE first; nothing is ever copied by hand.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [modulesDir, checksumsFile, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node generate.mjs NODE_MODULES_DIR CHECKSUMS_FILE OUT_CPP');
  process.exit(2);
}

function fail(message) {
  console.error(`aas_tokens: ${message}`);
  process.exit(1);
}

if (!existsSync(path.join(modulesDir, 'tiktoken', 'package.json'))) {
  fail(`${path.join(modulesDir, 'tiktoken')} is missing. The tokenizer's rank tables are built from ` +
    'the pinned npm package `tiktoken`: run scripts/install-deps.sh (or `npm ci` in tests/blackbox) first.');
}

// 1. Checksums ("<sha256>  <path>" lines, as sha256sum writes them).
for (const line of readFileSync(checksumsFile, 'utf8').split('\n')) {
  if (!line.trim() || line.startsWith('#')) continue;
  const [expected, file] = line.trim().split(/\s+/);
  const full = path.join(modulesDir, file);
  if (!existsSync(full)) fail(`${full} is missing: run scripts/install-deps.sh.`);
  const actual = createHash('sha256').update(readFileSync(full)).digest('hex');
  if (actual !== expected) {
    fail(`SHA-256 of ${full} is ${actual}, expected ${expected} (${checksumsFile}). Reinstall the pinned ` +
      'packages with scripts/install-deps.sh; if the lockfile was bumped on purpose, review the new ' +
      'data and update the checksums.');
  }
}

// 2. Ranks. The hand-written splitter in tokenizer.cpp implements these two patterns exactly: stop
// the build if the package ever ships another one.
const expectedPatterns = {
  cl100k_base: String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  o200k_base: String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
};

function loadEncoding(name) {
  const json = JSON.parse(readFileSync(path.join(modulesDir, 'tiktoken', 'encoders', `${name}.json`), 'utf8'));
  if (json.pat_str !== expectedPatterns[name]) {
    fail(`the split pattern of ${name} changed; tokenizer.cpp implements:\n${expectedPatterns[name]}\nbut the package has:\n${json.pat_str}`);
  }
  // bpe_ranks: lines of "<anything> <first rank> <base64 token> <base64 token> ...", ranks counting up.
  const tokens = [];
  for (const line of json.bpe_ranks.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    let rank = Number.parseInt(fields[1], 10);
    for (const b64 of fields.slice(2)) tokens[rank++] = Buffer.from(b64, 'base64');
  }
  // The tables index tokens by rank, so the ranks must be 0..n-1 without gaps or repeats.
  const seen = new Set();
  for (let rank = 0; rank < tokens.length; ++rank) {
    const token = tokens[rank];
    if (!token || token.length === 0 || token.length > 255) fail(`${name}: rank ${rank} missing or too long`);
    const key = token.toString('latin1');
    if (seen.has(key)) fail(`${name}: token of rank ${rank} repeated`);
    seen.add(key);
  }
  const specials = Object.entries(json.special_tokens).sort((a, b) => a[1] - b[1]);
  for (const [text, id] of specials) {
    if (id < tokens.length) fail(`${name}: special token ${text} has the rank ${id} of a mergeable token`);
  }
  return { name, tokens, specials };
}

// 3. Unicode classes, one byte of flags per code point (values mirror tokenizer.cpp's CharClass).
const requireFromModules = createRequire(path.join(modulesDir, 'noop.js'));
const unicodeVersion = requireFromModules('regenerate-unicode-properties/unicode-version.js');
const flagSets = [
  [1, ['General_Category/Uppercase_Letter', 'General_Category/Titlecase_Letter']],
  [2, ['General_Category/Lowercase_Letter']],
  [4, ['General_Category/Modifier_Letter', 'General_Category/Other_Letter']],
  [8, ['General_Category/Mark']],
  [16, ['General_Category/Number']],
  [32, ['Binary_Property/White_Space']],
];
const flags = new Uint8Array(0x110000);
for (const [bit, sets] of flagSets) {
  for (const set of sets) {
    for (const cp of requireFromModules(`regenerate-unicode-properties/${set}.js`).characters.toArray()) {
      flags[cp] |= bit;
    }
  }
}
// Two-stage table: blocks of 256 code points, identical blocks stored once.
const blockIndex = [];
const blocks = [];
const blockIds = new Map();
for (let start = 0; start < 0x110000; start += 256) {
  const block = flags.subarray(start, start + 256);
  const key = Buffer.from(block).toString('latin1');
  if (!blockIds.has(key)) {
    blockIds.set(key, blocks.length);
    blocks.push(Buffer.from(block));
  }
  blockIndex.push(blockIds.get(key));
}

// 4. C++ output. Bytes go into string literals, which g++ compiles far faster than brace lists;
// '"', '\\' and '?' (trigraphs, which g++ warns about) are escaped along with non-printable bytes.
function literal(bytes) {
  const lines = [];
  let line = '';
  for (const b of bytes) {
    line += (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x3f) ? String.fromCharCode(b)
      : '\\' + b.toString(8).padStart(3, '0');
    if (line.length >= 120) { lines.push(`"${line}"`); line = ''; }
  }
  if (line || lines.length === 0) lines.push(`"${line}"`);
  return lines.join('\n');
}

const tiktokenVersion = JSON.parse(readFileSync(path.join(modulesDir, 'tiktoken', 'package.json'), 'utf8')).version;
let out = `// Generated by src/tokens/data/generate.mjs from npm tiktoken ${tiktokenVersion} and the Unicode ${unicodeVersion}
// data of regenerate-unicode-properties. Do not edit: rebuilt when the lockfile or checksums change.
#include "tokens/tables.hpp"

#pragma GCC diagnostic ignored "-Woverlength-strings"

namespace aas::tokens::detail {
namespace {
`;
for (const enc of ['cl100k_base', 'o200k_base'].map(loadEncoding)) {
  out += `
const char ${enc.name}_bytes[] =
${literal(Buffer.concat(enc.tokens))};

const char ${enc.name}_lengths[] =
${literal(enc.tokens.map((t) => t.length))};

const SpecialToken ${enc.name}_specials[] = {
${enc.specials.map(([text, id]) => `    {"${text}", ${id}},`).join('\n')}
};
`;
}
out += `
const char class_blocks[] =
${literal(Buffer.concat(blocks))};

const unsigned short class_block_index[] = {
${blockIndex.join(',').replace(/((?:\d+,){32})/g, '$1\n')}
};
}  // namespace

const RankData cl100k_base_data{{cl100k_base_bytes, sizeof cl100k_base_bytes - 1},
    reinterpret_cast<const unsigned char*>(cl100k_base_lengths), sizeof cl100k_base_lengths - 1,
    cl100k_base_specials};
const RankData o200k_base_data{{o200k_base_bytes, sizeof o200k_base_bytes - 1},
    reinterpret_cast<const unsigned char*>(o200k_base_lengths), sizeof o200k_base_lengths - 1,
    o200k_base_specials};
const unsigned short* const unicode_class_block_index = class_block_index;
const unsigned char* const unicode_class_blocks = reinterpret_cast<const unsigned char*>(class_blocks);
const char* const unicode_version = "${unicodeVersion}";
const char* const tiktoken_version = "${tiktokenVersion}";

}  // namespace aas::tokens::detail
`;

mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(`${outFile}.tmp`, out);
renameSync(`${outFile}.tmp`, outFile);
