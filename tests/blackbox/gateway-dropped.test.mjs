// An upstream that drops its stream after the first words, seen through each streamed gateway
// endpoint (the OpenAI Responses API and Anthropic Messages, each over both upstream wires): the
// client got the words already sent, then an `error` event in the endpoint's own shape, never a
// silent end that looks complete.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { sseEvents } from './lib/sse.mjs';
import { startWithMockLlm } from './lib/upstream.mjs';

const models = (url) => `models:
  - name: gpt-drop
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk, headers: {x-mock-drop-after: "3", x-mock-key: drop-openai}}
  - name: claude-drop
    deployments:
      - {provider: anthropic, model: claude-3-5-haiku-latest, base_url: "${url}/v1", api_key: sk, headers: {x-mock-drop-after: "3", x-mock-key: drop-anthropic}}
`;

// The events of one streamed POST to the gateway, in order.
async function streamed(svc, path, token, body) {
  const payload = JSON.stringify(body);
  const res = await new Promise((resolve, reject) => {
    const req = http.request(new URL(path, svc.url), {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(payload) },
    }, resolve);
    req.on('error', reject);
    req.end(payload);
  });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'], /^text\/event-stream/);
  const events = [];
  for await (const e of sseEvents(res)) events.push(e);
  return events;
}

describe('an upstream stream dropped part-way, through the gateway', { timeout: 60000 }, () => {
  let mock;
  let svc;
  before(async () => { ({ mock, svc } = await startWithMockLlm(models)); });
  after(async () => {
    await svc?.stop();
    await mock?.stop();
  });

  for (const model of ['gpt-drop', 'claude-drop']) {
    it(`Responses (${model}): the text sent, then an error event instead of response.completed`, async () => {
      const events = await streamed(svc, '/api/ai/v1/responses', svc.token(`drop-resp-${model}`),
        { model, input: 'Tell me a story', stream: true });
      const types = events.map((e) => e.event);
      assert.equal(types[0], 'response.created');
      assert.ok(types.includes('response.output_text.delta'), types.join());
      assert.equal(types.at(-1), 'error', types.join());
      assert.ok(!types.includes('response.completed'), types.join());
      const error = events.at(-1).data;
      assert.equal(typeof error.message, 'string');
      assert.ok(error.message.length > 0);
      assert.equal(error.error?.message, error.message);
    });

    it(`Anthropic Messages (${model}): the text sent, then an error event instead of message_stop`, async () => {
      const events = await streamed(svc, '/api/ai/v1/messages', svc.token(`drop-msg-${model}`),
        { model, max_tokens: 100, messages: [{ role: 'user', content: 'Tell me a story' }], stream: true });
      const types = events.map((e) => e.event);
      assert.equal(types[0], 'message_start');
      assert.ok(types.includes('content_block_delta'), types.join());
      assert.equal(types.at(-1), 'error', types.join());
      assert.ok(!types.includes('message_stop'), types.join());
      assert.equal(events.at(-1).data.type, 'error');
      assert.equal(typeof events.at(-1).data.error?.message, 'string');
    });
  }
});
