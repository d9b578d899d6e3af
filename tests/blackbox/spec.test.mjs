// docs/openapi.yaml is well formed, and the binary serves exactly its paths and methods: each
// documented operation exists (an unknown path would answer 404), each other method answers 405
// with an Allow header naming the documented methods. Its schemas compile in Ajv's strict mode,
// and Redocly's linter (a standard OpenAPI validator, run offline) finds no error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SPEC_PATH, assertAnthropicError, assertError, assertGatewayError, loadSpec } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const EXPECTED_PATHS = {
  '/': ['GET'],
  '/health': ['GET'],
  '/ready': ['GET'],
  '/metrics': ['GET'],
  '/api/ai/admin/costs': ['GET'],
  '/api/ai/admin/health': ['GET'],
  '/api/ai/admin/keys': ['GET', 'POST'],
  '/api/ai/admin/keys/{id}': ['DELETE', 'GET'],
  '/api/ai/admin/keys/{id}/rotate': ['POST'],
  '/api/ai/admin/limits/{userId}': ['DELETE', 'GET', 'PUT'],
  '/api/ai/admin/usage': ['GET'],
  '/api/ai/admin/webhooks': ['GET', 'POST'],
  '/api/ai/admin/webhooks/deliveries': ['GET'],
  '/api/ai/admin/webhooks/{id}': ['DELETE', 'GET'],
  '/api/ai/admin/webhooks/{id}/rotate-secret': ['POST'],
  '/api/ai/chat': ['POST'],
  '/api/ai/dev/token': ['POST'],
  '/api/ai/conversations': ['GET', 'POST'],
  '/api/ai/conversations/export': ['GET'],
  '/api/ai/conversations/import': ['POST'],
  '/api/ai/conversations/{id}': ['DELETE', 'GET', 'PATCH'],
  '/api/ai/conversations/{id}/export': ['GET'],
  '/api/ai/conversations/{id}/summarize': ['POST'],
  '/api/ai/conversations/{id}/tool-calls/pending': ['GET'],
  '/api/ai/conversations/{id}/tool-calls/{callId}/approve': ['POST'],
  '/api/ai/conversations/{id}/tool-calls/{callId}/reject': ['POST'],
  '/api/ai/conversations/{id}/stop': ['POST'],
  '/api/ai/conversations/{id}/messages/{messageId}/regenerate': ['POST'],
  '/api/ai/conversations/{id}/messages/{messageId}/edit': ['POST'],
  '/api/ai/conversations/{id}/messages/{messageId}/versions': ['GET'],
  '/api/ai/knowledge': ['GET', 'POST'],
  '/api/ai/knowledge/{id}': ['DELETE', 'GET', 'PATCH'],
  '/api/ai/knowledge/{id}/documents': ['GET', 'POST'],
  '/api/ai/knowledge/{id}/documents/{docId}': ['DELETE', 'GET'],
  '/api/ai/knowledge/{id}/documents/{docId}/cancel': ['POST'],
  '/api/ai/knowledge/{id}/reindex': ['POST'],
  '/api/ai/knowledge/{id}/search': ['GET'],
  '/api/ai/prompts': ['GET', 'POST'],
  '/api/ai/prompts/{id}': ['DELETE', 'GET', 'PATCH'],
  '/api/ai/socket.io/': ['GET', 'POST'],
  '/api/ai/ui/config': ['GET'],
  '/api/ai/ui/{file}': ['GET'],
  '/api/ai/usage/me': ['GET'],
  '/api/ai/v1/chat/completions': ['POST'],
  '/api/ai/v1/completions': ['POST'],
  '/api/ai/v1/embeddings': ['POST'],
  '/api/ai/v1/messages': ['POST'],
  '/api/ai/v1/models': ['GET'],
  '/api/ai/v1/models/{id}': ['GET'],
  '/api/ai/v1/responses': ['POST'],
};

// Each API answers errors in its own shape: the gateway's routes in their vendor's.
const errorCheck = (p) => {
  if (p === '/api/ai/v1/messages') return assertAnthropicError;
  return p.startsWith('/api/ai/v1/') ? assertGatewayError : assertError;
};

function specOperations(spec) {
  const ops = {};
  for (const [p, item] of Object.entries(spec.paths)) {
    ops[p] = Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => m.toUpperCase()).sort();
  }
  return ops;
}

function resolvePointer(doc, ref) {
  assert.ok(ref.startsWith('#/'), `external $ref not allowed: ${ref}`);
  return ref.slice(2).split('/').reduce((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
}

describe('openapi.yaml', () => {
  const { spec } = loadSpec();

  it('compiles every schema in Ajv strict mode, formats included (loadSpec)', () => {
    const { ajv } = loadSpec();
    for (const name of Object.keys(spec.components.schemas)) {
      assert.equal(typeof ajv.getSchema(`aas-openapi#/components/schemas/${name}`), 'function', name);
    }
  });

  it('passes `redocly lint` (the recommended rules, tests/blackbox/redocly.yaml) with no error', () => {
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    const config = path.join(path.dirname(fileURLToPath(import.meta.url)), 'redocly.yaml');
    const r = spawnSync(process.execPath, [cli, 'lint', '--format=stylish', `--config=${config}`, SPEC_PATH], {
      encoding: 'utf8',
      timeout: 120000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    });
    assert.equal(r.status, 0, `redocly lint failed:\n${r.stdout}\n${r.stderr}`);
  });

  it('is OpenAPI 3.1 with the routes of the contract, no more and no fewer', () => {
    assert.match(spec.openapi, /^3\.1\./);
    assert.deepEqual(specOperations(spec), EXPECTED_PATHS);
  });

  it('resolves every $ref', () => {
    const refs = [];
    (function walk(node) {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) (k === '$ref' ? refs.push(v) : walk(v));
      }
    })(spec);
    assert.ok(refs.length > 20, 'suspiciously few $refs');
    for (const r of refs) assert.ok(resolvePointer(spec, r) !== undefined, `unresolved $ref ${r}`);
  });

  it('declares bearer JWT security, open health probes and the named schemas', () => {
    assert.deepEqual(spec.components.securitySchemes.bearerAuth, {
      ...spec.components.securitySchemes.bearerAuth, type: 'http', scheme: 'bearer', bearerFormat: 'JWT',
    });
    assert.deepEqual(spec.security, [{ bearerAuth: [] }]);
    assert.deepEqual(spec.paths['/health'].get.security, []);
    assert.deepEqual(spec.paths['/ready'].get.security, []);
    for (const name of ['Conversation', 'Message', 'ConversationPage', 'MessagePage', 'ChatRequest', 'ChatResponse', 'Error', 'AdminHealth']) {
      assert.ok(spec.components.schemas[name], `schema ${name}`);
    }
  });

  it('documents 401 on every protected operation and an X-Request-Id header on every response', () => {
    for (const [p, item] of Object.entries(spec.paths)) {
      for (const m of Object.keys(item).filter((k) => METHODS.includes(k))) {
        const op = item[m];
        const open = Array.isArray(op.security) && op.security.length === 0;
        if (!open) assert.ok(op.responses['401'], `${m} ${p} lacks 401`);
        for (const [status, resp] of Object.entries(op.responses)) {
          const r = resp.$ref ? resolvePointer(spec, resp.$ref) : resp;
          assert.ok(r.headers?.['X-Request-Id'], `${m} ${p} ${status} lacks X-Request-Id`);
        }
      }
    }
  });
});

describe('router matches openapi.yaml', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  const sample = (p) => p.replace('{id}', '0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69').replace('{file}', 'ai-chat.js');
  // The development sign-in exists only without a real secret; these services have one.
  const DEV_ONLY = '/api/ai/dev/token';

  it('serves every documented operation (open ones 200, protected ones 401 without a token)', async () => {
    const { spec } = loadSpec();
    for (const [p, methods] of Object.entries(specOperations(spec))) {
      for (const m of methods) {
        const op = spec.paths[p][m.toLowerCase()];
        const open = Array.isArray(op.security) && op.security.length === 0;
        const res = await svc.request(m, sample(p), m === 'POST' || m === 'PATCH' ? { json: {} } : {});
        // Engine.IO's path is open but wants its query (EIO, transport): 400 with its {code, message}.
        if (p === '/api/ai/socket.io/') assert.equal(res.status, 400, `${m} ${p}: ${res.text}`);
        else if (p === DEV_ONLY) assertError(res, 404, 'not_found');
        else if (open) assert.equal(res.status, 200, `${m} ${p}: ${res.text}`);
        else errorCheck(p)(res, 401, 'unauthorized');
      }
    }
  });

  it('answers 405 with Allow for every undocumented method of a documented path', async () => {
    const { spec } = loadSpec();
    const token = svc.token('spec-user', { admin: true });
    for (const [p, methods] of Object.entries(specOperations(spec))) {
      if (p === DEV_ONLY) continue;
      for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((x) => !methods.includes(x))) {
        const res = await svc.request(m, sample(p), { token });
        errorCheck(p)(res, 405, 'method_not_allowed');
        const allow = String(res.headers.allow ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'HEAD' && s !== 'OPTIONS').sort();
        assert.deepEqual(allow, methods, `Allow of ${m} ${p}: ${res.headers.allow}`);
      }
    }
  });
});
