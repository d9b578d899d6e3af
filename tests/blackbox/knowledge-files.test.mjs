// Knowledge bases with real files and long ingestions (issue 12): a PDF and a DOCX written by the
// test itself (a PDF assembled object by object, a DOCX as a real ZIP archive) uploaded as
// multipart files, parsed by the service (pdftotext in a separate process; libzip + libxml2),
// searched with the page and heading path of each passage, and cited by a chat; a long ingestion
// SIGKILLed in the middle of its job and finished by the next process on the same database, its
// document searchable exactly once; and a long ingestion cancelled in the middle, which stops and
// leaves nothing searchable while the worker goes on to the next document.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertOk, assertSchema } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';
import { waitFor } from './lib/sse.mjs';

const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

// A PDF whose pages hold the given lines (Helvetica 12 pt, a wide gap between lines), as a PDF
// writer lays one out: catalog, page tree, font, info, then a page and its content stream per page,
// the cross-reference table with each object's byte offset, and the trailer.
function makePdf(pages, title) {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pages.map((_, i) => `${5 + 2 * i} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Title (${title}) >>`,
  ];
  pages.forEach((lines, i) => {
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${6 + 2 * i} 0 R >>`);
    const stream = `BT /F1 12 Tf 72 720 Td${lines.map((l, j) => `${j ? ' 0 -48 Td' : ''} (${l}) Tj`).join('')} ET`;
    objects.push(`<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`);
  });
  let pdf = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(Buffer.byteLength(pdf, 'latin1'));
    pdf += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(pdf, 'latin1');
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) pdf += `${String(off).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 4 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A ZIP archive (stored entries: local headers, data, central directory, end record) as the
// DOCX container; the service's reader (libzip) takes it as Word writes it.
function makeZip(entries) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, text] of Object.entries(entries)) {
    const data = Buffer.from(text, 'utf8');
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    locals.push(local, fileName, data);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(data.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(fileName.length, 28);
    dir.writeUInt32LE(offset, 42);
    central.push(dir, fileName);
    offset += local.length + fileName.length + data.length;
  }
  const dirBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dirBytes, end]);
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
const para = (text, style) => `<w:p>${style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : ''}<w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`;

function makeDocx(body, title) {
  return makeZip({
    '[Content_Types].xml': '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      + '<Default Extension="xml" ContentType="application/xml"/>'
      + '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    'word/document.xml': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${W}><w:body>${body}</w:body></w:document>`,
    'word/styles.xml': `<?xml version="1.0" encoding="UTF-8"?><w:styles ${W}>`
      + '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>'
      + '<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style></w:styles>',
    'docProps/core.xml': '<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
      + `xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>${title}</dc:title></cp:coreProperties>`,
  });
}

function multipart(files) {
  const boundary = `----aas${Math.random().toString(16).slice(2)}`;
  const chunks = [];
  for (const f of files) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    chunks.push(f.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

async function createBase(svc, token, name) {
  return assertOk(await svc.post('/api/ai/knowledge', { token, json: { name } }), 201);
}

const getDocument = async (svc, token, kb, doc) => assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/documents/${doc.id}`, { token }));

async function settled(svc, token, kb, doc, timeoutMs = 60000) {
  return waitFor(async () => {
    const d = await getDocument(svc, token, kb, doc);
    return ['indexed', 'failed', 'cancelled'].includes(d.status) ? d : undefined;
  }, timeoutMs, `document ${doc.title} to finish ingesting`);
}

// Polls the document (as a client would) until its job is in the middle of its work.
async function midway(svc, token, kb, doc) {
  return waitFor(async () => {
    const d = await getDocument(svc, token, kb, doc);
    assert.ok(!['indexed', 'failed', 'cancelled'].includes(d.status), `the job ended (${d.status}) before it was seen running`);
    return ['parsing', 'chunking'].includes(d.status) ? d : undefined;
  }, 60000, `document ${doc.title} to be parsed or chunked`);
}

const search = async (svc, token, kb, q) => assertOk(await svc.get(`/api/ai/knowledge/${kb.id}/search?q=${encodeURIComponent(q)}&k=50`, { token })).items;

// A long document: ~2.4 MB of varied prose (over a thousand chunks), one marker word in one place only.
function longText(seed, marker) {
  const words = ['membrane', 'protein', 'signal', 'cortex', 'enzyme', 'receptor', 'pathway', 'mutation', 'tissue', 'neuron',
    'glacier', 'estuary', 'basalt', 'monsoon', 'lattice', 'vector', 'theorem', 'harbor', 'orchard', 'quarry'];
  const paragraphs = [];
  let x = seed;
  for (let p = 0; p < 3000; p++) {
    const sentence = [];
    for (let w = 0; w < 100; w++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      sentence.push(`${words[x % words.length]}${x % 97}`);
    }
    if (p === 1500) sentence.push(marker);
    paragraphs.push(`${sentence.join(' ')}.`);
  }
  return paragraphs.join('\n\n');
}

describe('knowledge bases with PDF and DOCX files', () => {
  let svc;
  // Small chunks, so each PDF page starts a chunk of its own.
  before(async () => { svc = await startService({ env: { CHUNK_TOKENS: '32', CHUNK_OVERLAP: '0' } }); });
  after(async () => { await svc?.stop(); });

  it('parses uploaded PDF and DOCX files, finds their passages with page and headings, and cites them in a chat', async () => {
    const token = svc.token('kb-real-files');
    const kb = await createBase(svc, token, 'manuals');
    const pdf = makePdf([
      ['Boiler manual.', 'Bleed the radiators before the heating season starts,', 'and check the pressure gauge reads between one and two bar.'],
      ['Troubleshooting.', 'A flickering pilot flame means the thermocouple is worn', 'and should be replaced by a registered engineer soon.'],
    ], 'Boiler manual');
    const docx = makeDocx(
      para('Garden guide', 'Heading1') + para('Roses', 'Heading2')
        + para('Prune roses in late winter, just above an outward facing bud.')
        + para('Compost', 'Heading2') + para('Turn the compost heap every fortnight to keep it aerobic.'),
      'Garden guide');
    const { body, headers } = multipart([{ name: 'boiler.pdf', body: pdf }, { name: 'garden.docx', body: docx }]);
    const up = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, body, headers }), 202);
    assertSchema({ success: true, data: up }, 'KnowledgeUploadEnvelope');
    const [pdfDoc, docxDoc] = up.documents;
    const p = await settled(svc, token, kb, pdfDoc);
    assert.equal(p.status, 'indexed', p.error);
    assert.equal(p.mediaType, 'application/pdf');
    const d = await settled(svc, token, kb, docxDoc);
    assert.equal(d.status, 'indexed', d.error);
    assert.equal(d.mediaType, DOCX_TYPE);

    // Text from the PDF's second page, with that page number.
    const [thermo] = await search(svc, token, kb, 'thermocouple pilot flame');
    assertSchema(thermo, 'KnowledgePassage');
    assert.equal(thermo.documentId, pdfDoc.id);
    assert.equal(thermo.page, 2);
    assert.match(thermo.text, /thermocouple is worn/);
    // Text from the DOCX under its headings.
    const [roses] = await search(svc, token, kb, 'prune roses');
    assert.equal(roses.documentId, docxDoc.id);
    assert.equal(roses.page, null);
    assert.deepEqual(roses.headingPath, ['Garden guide', 'Roses']);
    assert.match(roses.text, /outward facing bud/);
    // The offsets are character offsets into the document text the passage came from.
    assert.ok(roses.end > roses.start);

    const turn = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'Why does the pilot flame flicker? Is the thermocouple worn?', knowledgeBaseIds: [kb.id] } }));
    assert.ok(turn.citations.length >= 1);
    for (const c of turn.citations) assertSchema(c, 'Citation');
    assert.equal(turn.citations[0].documentId, pdfDoc.id);
    assert.equal(turn.citations[0].page, 2);
    assert.match(turn.citations[0].snippet, /thermocouple/);
    const compost = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'How often should I turn the compost heap?', knowledgeBaseIds: [kb.id] } }));
    assert.equal(compost.citations[0].documentId, docxDoc.id);
    assert.match(compost.citations[0].snippet, /fortnight/);
  });
});

describe('long knowledge ingestions', () => {
  // One worker, so a second document waits for the first job to be dropped; a short lease, so the
  // next process takes over a killed job soon.
  // No overlap, so the marker word is in exactly one chunk.
  const env = { CHUNK_OVERLAP: '0', KB_INGEST_WORKERS: '1', KB_JOB_LEASE_MS: '1000', MAX_UPLOAD_BYTES: String(16 << 20), MAX_BODY_BYTES: String(32 << 20) };

  it('finish after a SIGKILL in the middle of the job, the document searchable exactly once', async () => {
    let svc = await startService({ env });
    try {
      const token = svc.token('kb-resume');
      const kb = await createBase(svc, token, 'long');
      const text = longText(7, 'zanzibarmarker');
      const doc = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: 'Long', text } }), 202).documents[0];
      const seen = await midway(svc, token, kb, doc);
      assert.equal(seen.job.attempts, 1);
      await svc.kill();

      svc = await startService({ dir: svc.dir, secret: svc.secret, env });
      const done = await settled(svc, token, kb, doc, 300000);
      assert.equal(done.status, 'indexed', done.error);
      assert.equal(done.job.attempts, 2, 'the second process took the job over');
      assert.ok(done.chunkCount > 100, `a long document makes many chunks (${done.chunkCount})`);
      assert.equal(done.job.chunksDone, done.chunkCount);
      // Exactly once: the marker is in one chunk, and the base counts the document's chunks once.
      const hits = await search(svc, token, kb, 'zanzibarmarker');
      assert.equal(hits.length, 1);
      assert.equal(hits[0].documentId, doc.id);
      assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token })).chunkCount, done.chunkCount);
    } finally {
      await svc.stop();
    }
  });

  it('stop when cancelled in the middle, leave nothing searchable, and go on to the next document', async () => {
    const svc = await startService({ env });
    try {
      const token = svc.token('kb-cancel-long');
      const kb = await createBase(svc, token, 'long');
      const long = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: 'Long', text: longText(11, 'quokkamarker') } }), 202).documents[0];
      await midway(svc, token, kb, long);
      const cancelled = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents/${long.id}/cancel`, { token }));
      assert.equal(cancelled.status, 'cancelled');

      // The only worker drops the cancelled job at its next step and takes the next document.
      const next = assertOk(await svc.post(`/api/ai/knowledge/${kb.id}/documents`, { token, json: { title: 'Short', text: 'Wombats dig burrows.' } }), 202).documents[0];
      assert.equal((await settled(svc, token, kb, next, 300000)).status, 'indexed');

      const after = await getDocument(svc, token, kb, long);
      assert.equal(after.status, 'cancelled');
      assert.equal(after.chunkCount, 0);
      assert.equal((await search(svc, token, kb, 'quokkamarker')).length, 0);
      assert.equal((await search(svc, token, kb, 'wombats'))[0].documentId, next.id);
      assert.equal(assertOk(await svc.get(`/api/ai/knowledge/${kb.id}`, { token })).chunkCount, 1);
    } finally {
      await svc.stop();
    }
  });
});
