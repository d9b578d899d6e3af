// Assertions shared by the suites: the error envelope, id and time formats, and response bodies
// checked against the schemas of docs/openapi.yaml (so the spec and the binary stay in step).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SPEC_PATH = path.resolve(here, '..', '..', '..', 'docs', 'openapi.yaml');

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const RFC3339_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let cached;
export function loadSpec() {
  if (!cached) {
    const spec = YAML.parse(readFileSync(SPEC_PATH, 'utf8'));
    // Only the schemas are compiled; refs inside them (#/components/schemas/X) resolve against this root.
    // Strict: an unknown keyword (a typo, or a description with an unquoted comma that YAML turned
    // into a key of its own) fails the compile; formats (date-time, uuid, uri...) are checked.
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: true, validateFormats: true });
    addFormats(ajv);
    // The OpenAPI 3.1 keywords beside JSON Schema 2020-12 (annotations only).
    ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
    // The wrapper below holds the schemas where their $refs (#/components/schemas/X) point.
    ajv.addKeyword('components');
    ajv.addSchema({ $id: 'aas-openapi', components: { schemas: spec.components.schemas } });
    // Compile every schema now, so a strict-mode error names the document, not a later test.
    for (const name of Object.keys(spec.components.schemas)) ajv.getSchema(`aas-openapi#/components/schemas/${name}`);
    cached = { spec, ajv };
  }
  return cached;
}

// Asserts that value matches components.schemas[name] of docs/openapi.yaml.
export function assertSchema(value, name) {
  const { ajv } = loadSpec();
  const validate = ajv.getSchema(`aas-openapi#/components/schemas/${name}`);
  assert.ok(validate, `schema ${name} missing from openapi.yaml`);
  const ok = validate(value);
  assert.ok(ok, `body does not match schema ${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
}

// Asserts an error response: status, envelope shape, code, requestId == X-Request-Id, JSON type.
export function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'error content-type');
  assert.ok(res.body && typeof res.body === 'object', `error body is not JSON: ${res.text}`);
  assert.equal(res.body.success, false);
  assert.equal(res.body.error?.code, code, `error code: ${res.text}`);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0, 'error message is empty');
  assert.equal(typeof res.body.requestId, 'string');
  assert.equal(res.body.requestId, res.headers['x-request-id'], 'requestId must equal the X-Request-Id header');
  assertSchema(res.body, 'Error');
}

// Asserts an error of the OpenAI-compatible gateway (/api/ai/v1/*): OpenAI's shape,
// {"error": {message, type, param, code}}, code being the service's own (`code`), the request id in
// X-Request-Id only, as OpenAI sends it.
export function assertGatewayError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'error content-type');
  assert.ok(res.body && typeof res.body === 'object', `error body is not JSON: ${res.text}`);
  assert.deepEqual(Object.keys(res.body), ['error'], res.text);
  assert.equal(res.body.error.code, code, `error code: ${res.text}`);
  assert.equal(typeof res.body.error.type, 'string');
  assert.ok('param' in res.body.error);
  assert.ok(res.body.error.message.length > 0, 'error message is empty');
  assert.ok(res.headers['x-request-id']);
  assertSchema(res.body, 'OpenAIError');
}

// Asserts an error of Anthropic's Messages API (/api/ai/v1/messages): Anthropic's shape,
// {"type": "error", "error": {type, message}, "request_id"}, the id also in request-id. `code` is
// the service's code, checked through the error type Anthropic uses for it.
const ANTHROPIC_TYPES = {
  invalid_request: 'invalid_request_error', method_not_allowed: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error', unauthorized: 'authentication_error',
  forbidden: 'permission_error', not_found: 'not_found_error', payload_too_large: 'request_too_large',
  rate_limited: 'rate_limit_error', budget_exceeded: 'rate_limit_error', internal: 'api_error',
  upstream_error: 'api_error', unavailable: 'overloaded_error', upstream_timeout: 'timeout_error',
};
export function assertAnthropicError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'error content-type');
  assert.equal(res.body?.type, 'error', res.text);
  assert.equal(res.body.error.type, ANTHROPIC_TYPES[code], res.text);
  assert.ok(res.body.error.message.length > 0, 'error message is empty');
  assert.equal(res.body.request_id, res.headers['x-request-id']);
  assert.equal(res.headers['request-id'], res.headers['x-request-id']);
  assertSchema(res.body, 'AnthropicError');
}

// Asserts a success envelope with the given status and returns its data.
export function assertOk(res, status = 200) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'content-type');
  assert.equal(res.body?.success, true, `not a success envelope: ${res.text}`);
  assert.ok('data' in res.body, 'envelope without data');
  assert.ok(res.headers['x-request-id'], 'X-Request-Id missing');
  return res.body.data;
}

export function assertConversation(c) {
  assertSchema(c, 'Conversation');
  assert.match(c.id, UUID_V7);
  assert.match(c.createdAt, RFC3339_MS_UTC);
  assert.match(c.updatedAt, RFC3339_MS_UTC);
  assert.ok(c.updatedAt >= c.createdAt, 'updatedAt before createdAt');
}
