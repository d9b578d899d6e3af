// Builds the tokenizer test corpus and the token ids npm `tiktoken` gives for it, so that
// tokenizer_test.cpp can compare ours id for id. Deterministic: a seeded generator plus this
// repository's own sources and docs. Run by the test itself:
//
//   node tests/unit/tokens/make_reference.mjs OUT_DIR [SOURCE_DIR]
//
// OUT_DIR/corpus.bin        records: u8 flags (1 = special tokens allowed), u32 size, the bytes,
//                           u32 size, the text tiktoken was given (see below) as UTF-8
// OUT_DIR/<encoding>.ids    per record: u32 count, the ids (little-endian u32)
// OUT_DIR/models.tsv        tiktoken's model -> encoding table
//
// Invalid UTF-8: npm tiktoken takes JavaScript strings, so bytes reach it only through a decoder.
// The reference text of every record is `new TextDecoder('utf-8', {ignoreBOM: true})` of its bytes
// (each maximal invalid subsequence becomes U+FFFD; valid text, a BOM included, is unchanged), which
// is the policy the C++ tokenizer implements on raw bytes.
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2];
const sourceDir = process.argv[3] ?? path.resolve(here, '../../..');
if (!outDir) {
  console.error('usage: node make_reference.mjs OUT_DIR [SOURCE_DIR]');
  process.exit(2);
}
const require = createRequire(path.join(sourceDir, 'tests/blackbox/package.json'));
const { get_encoding } = require('tiktoken');

// --- deterministic randomness (mulberry32) ---
let seed = 0x5eed1234;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(random() * n);
const pick = (list) => list[int(list.length)];
const range = (a, b) => String.fromCodePoint(a + int(b - a + 1));
const repeat = (n, f) => Array.from({ length: n }, f).join('');

const records = [];  // { bytes: Buffer, special: bool }
const add = (text, special = false) => records.push({ bytes: Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), special });

// --- English prose, with contractions in every case ---
const words = ('the of and to in is that it for was on are as with his they at be this from have or by one ' +
  'had not but what all were when we there can an your which their said if do will each about how up out ' +
  'them then she many some so these would other into has more her two like him see time could no make than ' +
  'first been its who now people my made over did down only way find use may water long little very after ' +
  'words called just where most know get through back much before go good new write our used me man too any ' +
  'day same right look think also around another came come work three word must because does part even place ' +
  'well such here take why things help put years different away again off went old number great tell men say ' +
  'small every found still between name should home big give air line set own under read last never us left ' +
  'end along while might next sound below saw something thought both few those always looked show large often ' +
  'together asked house world going want school important until form food keep children feet land side without ' +
  'boy once animals life enough took sometimes four head above kind began almost live page got earth need far ' +
  'hand high year mother light parts country father let night following picture being study second eyes soon ' +
  'tokenizer budget streaming conversation retrieval knowledge assistant upstream latency throughput Prometheus ' +
  'naïve café résumé coöperate façade jalapeño Ångström Zürich Straße œuvre').split(' ');
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D",
  "'Re", "'rE", "'Ve", "'vE", "'Ll", "'lL", "'ſ", "'x", "'", "''s"];
const stems = ["don", "can", "it", "I", "they", "we", "you", "she", "he", "DON", "IT", "THEY", "O", "rock'n", "John"];
function sentence() {
  let s = '';
  const n = 4 + int(16);
  for (let i = 0; i < n; ++i) {
    let w = pick(words);
    const r = random();
    if (i === 0 || r < 0.05) w = w[0].toUpperCase() + w.slice(1);
    else if (r < 0.07) w = w.toUpperCase();
    else if (r < 0.12) w = pick(stems) + pick(contractions);
    else if (r < 0.15) w = String(int(100000));
    else if (r < 0.17) w = `${int(100)}.${int(100)}%`;
    else if (r < 0.19) w = `"${w}"`;
    else if (r < 0.21) w = `(${w})`;
    s += (i ? (random() < 0.03 ? '  ' : ' ') : '') + w;
    if (random() < 0.08) s += pick([',', ';', ':', ' -', ' —', '…']);
  }
  return s + pick(['.', '.', '.', '?', '!', '...', '?!', '."', '.)']);
}
for (let i = 0; i < 900; ++i) {
  add(repeat(1 + int(8), () => sentence() + ' ') + pick(['', '\n', '\n\n', '  \n', ' ', '\r\n']));
}

// --- source code (synthetic), mixed indentation and line endings ---
const idents = ['foo', 'bar', 'i', 'n', 'count', 'userId', 'HTTP_OK', 'std', 'vector', 'size_t', 'parse_json',
  'self', 'this', 'fmt', 'x1', 'y2', '_private', '__init__', 'ConversationStore', 'kMaxTokens', 'ĸ', 'naïve'];
function codeLine(indent) {
  const id = () => pick(idents);
  const forms = [
    () => `${id()} = ${id()}(${id()}, ${int(1000)});`,
    () => `if (${id()} != nullptr && ${id()}->${id()}() >= ${int(10)}) {`,
    () => `for (int ${id()} = 0; ${id()} < ${int(64)}; ++${id()}) {`,
    () => `return ${id()}[${int(8)}] + 0x${int(0xffffff).toString(16)};`,
    () => `// ${sentence()}`,
    () => `# ${sentence()}`,
    () => `/* ${sentence()} */`,
    () => `const ${id()} = require('./${id()}/${id()}.js');`,
    () => `std::vector<std::uint32_t> ${id()}{${int(5)}, ${int(5)}};`,
    () => `def ${id()}(${id()}, *args, **kwargs) -> dict[str, int]:`,
    () => `printf("%d items\\n", ${id()}); // TODO(${id()}): ${pick(words)}`,
    () => `url = "https://example.com/api/ai/v1/${id()}?limit=${int(100)}&cursor=${id()}"`,
    () => `path = "src/${id()}/${id()}.cpp";  // see docs/${id()}.md`,
    () => `}`, () => `};`, () => `} else {`, () => `])`, () => `<div class="${id()}">${pick(words)}</div>`,
    () => `${id()} := map[string]int{"${id()}": ${int(9)}}`,
    () => `SELECT ${id()}, COUNT(*) FROM ${id()} WHERE ${id()} >= $1 GROUP BY 1;`,
  ];
  return indent + pick(forms)();
}
for (let i = 0; i < 500; ++i) {
  const eol = pick(['\n', '\n', '\r\n']);
  const tab = pick(['  ', '    ', '\t']);
  add(repeat(5 + int(30), () => codeLine(tab.repeat(int(5))) + (random() < 0.1 ? '   ' : '') + eol +
    (random() < 0.1 ? eol : '')));
}

// --- this repository's own sources and docs: real code and prose ---
function walk(dir, out) {
  let entries;
  try { entries = readdirSync(dir).sort(); } catch { return out; }
  for (const name of entries) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(cpp|hpp|md|mjs|lua|yaml)$/.test(name)) out.push(full);
  }
  return out;
}
let realBytes = 0;
for (const file of [...walk(path.join(sourceDir, 'src'), []), ...walk(path.join(sourceDir, 'docs'), [])]) {
  if (realBytes > 400_000) break;
  const text = readFileSync(file);
  realBytes += text.length;
  add(text);
}

// --- CJK, with Latin, digits and CJK punctuation ---
const cjkRanges = [[0x4e00, 0x9fff], [0x3040, 0x309f], [0x30a0, 0x30ff], [0xac00, 0xd7a3], [0x3400, 0x4dbf],
  [0x20000, 0x2a6df], [0x31350, 0x323af], [0x2ebf0, 0x2ee5d], [0xff10, 0xff19], [0xff21, 0xff3a]];
const cjkPunct = ['。', '、', '，', '！', '？', '「', '」', '：', '（', '）', '・', '　', ' ', '\n', 'ー'];
for (let i = 0; i < 700; ++i) {
  let s = '';
  const n = 20 + int(200);
  for (let j = 0; j < n; ++j) {
    const r = random();
    if (r < 0.8) s += range(...pick(cjkRanges.slice(0, 4)));
    else if (r < 0.85) s += range(...pick(cjkRanges));
    else if (r < 0.93) s += pick(cjkPunct);
    else if (r < 0.97) s += ` ${pick(words)} `;
    else s += String(int(2025));
  }
  add(s);
}

// --- emoji: single, skin tones, ZWJ sequences, flags, keycaps, tags, variation selectors ---
const zwj = ['👨‍👩‍👧‍👦', '👩‍💻', '👩🏽‍💻', '🏳️‍🌈', '🏳️‍⚧️', '👁️‍🗨️', '🧑🏿‍🤝‍🧑🏻', '❤️‍🔥', '🐕‍🦺', '👨🏻‍❤️‍💋‍👨🏼'];
const flags = ['🇫🇷', '🇯🇵', '🇺🇸', '🇩🇪', '🇺🇦', '🇧🇷', '🇪🇺', '🇺🇳'];
function emoji() {
  const r = random();
  if (r < 0.3) return range(0x1f300, 0x1faff);
  if (r < 0.45) return range(0x1f466, 0x1f469) + range(0x1f3fb, 0x1f3ff);
  if (r < 0.6) return pick(zwj);
  if (r < 0.72) return pick(flags);
  if (r < 0.78) return String.fromCodePoint(0x1f1e6 + int(26));  // lone regional indicator
  if (r < 0.84) return `${int(10)}\ufe0f\u20e3`;
  if (r < 0.88) return '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}';
  if (r < 0.94) return range(0x2600, 0x27bf) + (random() < 0.5 ? '\ufe0f' : '');
  return '\u200d';
}
for (let i = 0; i < 500; ++i) {
  let s = '';
  const n = 5 + int(60);
  for (let j = 0; j < n; ++j) {
    const r = random();
    s += r < 0.6 ? emoji() : r < 0.8 ? ` ${pick(words)}` : r < 0.9 ? ' ' : pick(['!', '\n', '...', "'s", '中文']);
  }
  add(s);
}

// --- whitespace: long runs of mixed kinds, before words, digits, punctuation and at the end ---
const spaces = [' ', ' ', ' ', '\t', '\n', '\r\n', '\r', '\v', '\f', '\u00a0', '\u2003', '\u3000', '\u0085',
  '\u2028', '\u2029', '\u180e', '\u200b', '\u1680', '\u202f'];
for (let i = 0; i < 600; ++i) {
  let s = '';
  const n = 3 + int(12);
  for (let j = 0; j < n; ++j) {
    s += repeat(int(random() < 0.1 ? 300 : 12), () => (random() < 0.6 ? ' ' : pick(spaces)));
    s += pick([pick(words), String(int(1000)), pick(['!', '(', '//', '-', '"', '<|']), '中', 'Über', "'ll"]);
  }
  add(s + repeat(int(20), () => pick(spaces)));
}
add(' '.repeat(10000));
add('\n'.repeat(5000));
add(repeat(4000, () => pick([' ', '\t', '\n'])));
add('x' + ' '.repeat(3000) + 'y' + '\t'.repeat(3000));
add(' \n '.repeat(2000) + 'end  ');

// --- numbers, in several scripts and forms ---
const digitRanges = [[0x30, 0x39], [0x660, 0x669], [0x966, 0x96f], [0xff10, 0xff19], [0x2160, 0x217f],
  [0xb2, 0xb3], [0xbc, 0xbe], [0x2460, 0x249b], [0x1d7ce, 0x1d7ff], [0x16d70, 0x16d79], [0x10d40, 0x10d49]];
for (let i = 0; i < 400; ++i) {
  let s = '';
  const n = 5 + int(40);
  for (let j = 0; j < n; ++j) {
    const r = random();
    if (r < 0.4) s += String(int(10 ** (1 + int(9))));
    else if (r < 0.5) s += repeat(1 + int(40), () => String(int(10)));
    else if (r < 0.6) s += `${int(1000)},${String(int(1000)).padStart(3, '0')}.${int(100)}`;
    else if (r < 0.7) s += repeat(1 + int(8), () => range(...pick(digitRanges)));
    else if (r < 0.8) s += `-${int(100)}e${int(20)}`;
    else s += pick([' ', ', ', 'x', 'km', '$', '€', '\n', '#', 'v1.2.3', '0x1F', 'a1b2c3']);
  }
  add(s);
}

// --- punctuation and symbol runs, with the slashes and newlines that end o200k's punctuation ---
const puncts = [...'!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\'', '//', '/\n', '\r\n', '—', '–', '…', '«', '»', '¿', '¡',
  '§', '©', '®', '™', '°', '±', '×', '÷', '→', '⇒', '∀', '∑', '√', '∞', '≠', '≤', '■', '●', '★', '♪', '\u0301', '\u20dd'];
for (let i = 0; i < 500; ++i) {
  let s = '';
  const n = 5 + int(50);
  for (let j = 0; j < n; ++j) {
    const r = random();
    s += r < 0.6 ? repeat(1 + int(6), () => pick(puncts)) : r < 0.8 ? ` ${pick(words)}` : pick([' ', '\n', '  ', '/']);
  }
  add(s);
}

// --- contractions and apostrophes in every context ---
{
  const before = ['', 'a', 'A', 'don', 'DON', ' ', '1', '中', 'ǅ', 'ʰ', 'e\u0301', '\u0301', '!', "'", '\n', 'ſ', 'Ω'];
  const after = ['', 'a', 'x', 'S', ' ', '1', '中', '!', "'", 's', 'ſ', '\n', 'll'];
  const core = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL", "'d",
    "'D", "'ſ", "'r", "'v", "'l", "'", "’s", "'ss"];
  let s = '';
  for (const b of before) for (const c of core) for (const a of after) s += `${b}${c}${a} | `;
  add(s);
}

// --- letters of every case class: o200k splits on case changes, and on Lm/Lo/M between them ---
const letterPool = ['a', 'b', 'Z', 'Q', 'é', 'É', 'ǅ', 'ǈ', 'ᾈ', 'ʰ', 'ˈ', 'ー', '中', 'ا', 'א', 'ก', '\u0301',
  '\u0308', '\u0903', '\u20dd', 'ß', 'ẞ', 'Σ', 'ς', 'ſ', 'İ', 'ı', 'K', '1', '٣', ' ', '\t', "'", '’', '-', '_',
  '.', '/', '\n', '\r', '😀', '\u200d', 'x', 'Y', 'ä', 'Ö', 'ﬀ', 'Ⅻ', 'ⓐ', '𝐀', '𝐚'];
for (let i = 0; i < 6000; ++i) add(repeat(1 + int(40), () => pick(letterPool)));
// Tokens whose text the o200k split cuts in two ("亚洲AV" is the token, yet the first word alternative
// stops after "亚洲"): only a splitter that backtracks exactly like tiktoken's leaves them unused.
{
  const json = require('tiktoken/encoders/o200k_base.json');
  const strict = new TextDecoder('utf-8', { fatal: true });
  let s = '';
  for (const b64 of json.bpe_ranks.split(/[ \n]/).slice(2)) {
    let text;
    try { text = strict.decode(Buffer.from(b64, 'base64')); } catch { continue; }
    if (/[\p{Lm}\p{Lo}\p{M}][\p{Lu}\p{Lt}]/u.test(text)) s += `${text} ${text}s ${text}'s x${text}\n`;
  }
  add(s);
}

// --- long pieces: BPE over thousands of bytes ---
add('a'.repeat(5000));
add(repeat(3000, () => pick(['a', 'b', 'c', 'd', 'e'])));
add(repeat(2000, () => '0123456789abcdef'[int(16)]) + ' ' + repeat(2000, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[int(64)]));
add('='.repeat(4000) + '\n' + '-'.repeat(3000) + '/'.repeat(500));
add(repeat(1500, () => range(0x4e00, 0x9fff)));
add(repeat(800, () => pick(['👍', '🏽', '\u200d'])));
add('ab'.repeat(3000));
add('Straße'.repeat(500));

// --- special tokens, allowed and as text ---
const specials = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|endofprompt|>',
  '<|im_start|>', '<|im_end|>', '<|endoftext', '<|', '|>', '<|<|endoftext|>|>', '<|endoftext|><|endoftext|>'];
for (let i = 0; i < 300; ++i) {
  let s = '';
  const n = 1 + int(12);
  for (let j = 0; j < n; ++j) {
    s += pick([pick(specials), ` ${pick(words)}`, ' ', '\n', '  ', sentence(), "'s", '中']);
  }
  add(s, true);
  add(s, false);
}

// --- invalid UTF-8 ---
const invalid = [[0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe], [0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xe2, 0x28, 0xa1], [0xc3, 0x28], [0xef, 0xbb, 0xbf]];
for (let i = 0; i < 800; ++i) {
  const parts = [];
  const n = 1 + int(20);
  for (let j = 0; j < n; ++j) {
    const r = random();
    if (r < 0.4) parts.push(Buffer.from(pick(invalid)));
    else if (r < 0.5) parts.push(Buffer.from(repeat(1 + int(4), () => String.fromCharCode(0x80 + int(128))), 'latin1'));
    else parts.push(Buffer.from(pick([` ${pick(words)}`, ' ', "'s", '中文', '😀', '\n', '  ', '<|endoftext|>']), 'utf8'));
  }
  add(Buffer.concat(parts), random() < 0.2);
}
add(Buffer.from([0xef, 0xbb, 0xbf, 0x68, 0x69]));  // a BOM is text, not dropped
add(Buffer.from([0x68, 0x69, 0xe2, 0x82]));  // truncated at the very end

// --- every character class: each assigned code point (per node's newer Unicode) in probing contexts ---
// tiktoken's classes are Unicode 16.0; these contexts change the ids when a code point's class differs.
// Runs of code points of one category are sampled (every 8th, plus both ends) to keep the corpus small.
{
  const cats = ['Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Zs', 'Cc', 'Cf', 'Cn', 'Co', 'Cs'];
  const catRe = cats.map((c) => new RegExp(`^\\p{gc=${c}}$`, 'u'));
  const category = (cp) => {
    const ch = String.fromCodePoint(cp);
    for (let k = 0; k < cats.length; ++k) if (catRe[k].test(ch)) return cats[k];
    return 'other';
  };
  let previous = '';
  let batch = '';
  let runStart = 0;
  for (let cp = 0; cp <= 0x10ffff; ++cp) {
    const cat = category(cp);
    if (cat !== previous) runStart = cp;
    const nextCat = cp < 0x10ffff ? category(cp + 1) : '';
    previous = cat;
    if (cat === 'Cs' || cat === 'Co' || (cat === 'Cn' && cp > 0x3ffff)) continue;
    if (cp - runStart >= 4 && nextCat === cat && (cp - runStart) % 8 !== 0) continue;
    const x = String.fromCodePoint(cp);
    batch += `${x}'s a${x} ${x}a A${x} 1${x}${x}1 ${x}\n`;
    if (batch.length > 2000) { add(batch); batch = ''; }
  }
  add(batch);
}

// --- output ---
mkdirSync(outDir, { recursive: true });
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const texts = records.map((r) => decoder.decode(r.bytes));
const corpus = [];
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
records.forEach((r, i) => {
  const given = Buffer.from(texts[i], 'utf8');
  corpus.push(Buffer.from([r.special ? 1 : 0]), u32(r.bytes.length), r.bytes, u32(given.length), given);
});
writeFileSync(path.join(outDir, 'corpus.bin'), Buffer.concat(corpus));
for (const name of ['cl100k_base', 'o200k_base']) {
  const enc = get_encoding(name);
  const out = [];
  records.forEach((r, i) => {
    const ids = r.special ? enc.encode(texts[i], 'all') : enc.encode_ordinary(texts[i]);
    out.push(u32(ids.length), Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength));
  });
  enc.free();
  writeFileSync(path.join(outDir, `${name}.ids`), Buffer.concat(out));
}
const models = require('tiktoken/model_to_encoding.json');
writeFileSync(path.join(outDir, 'models.tsv'), Object.entries(models).map(([m, e]) => `${m}\t${e}\n`).join(''));
const total = records.reduce((n, r) => n + r.bytes.length, 0);
console.log(`make_reference: ${records.length} records, ${total} bytes`);
