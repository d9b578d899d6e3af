// Structured messages through the native chat API (issue 11): a message with image parts is
// stored with its parts, shown by the conversation, exported and imported back with them; images
// that are not images, base64 garbage and unknown part types are refused with a 400 naming the
// field, and nothing is stored or billed for them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { startService } from './lib/service.mjs';

// A 1×1 PNG.
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const withImage = (url, text = 'What is in this picture?') => [
  { type: 'text', text },
  { type: 'image_url', image_url: { url, detail: 'low' } },
];

describe('structured messages in the chat API', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  it('stores a message with an image, shows it, exports and imports it with its parts', async () => {
    const token = svc.token('img-alice');
    const answer = assertOk(await svc.post('/api/ai/chat', { token, json: { message: withImage(PNG) } }));
    const shown = assertOk(await svc.get(`/api/ai/conversations/${answer.conversationId}`, { token }));
    const [question, reply] = shown.messages.items;
    assert.equal(question.role, 'user');
    assert.equal(question.content, 'What is in this picture?');
    assert.deepEqual(question.parts, withImage(PNG));
    assert.equal(reply.role, 'assistant');
    assert.equal(reply.parts, undefined, 'a plain text answer has no parts');
    assert.equal(shown.conversation.title, 'What is in this picture?');

    const exported = (await svc.get(`/api/ai/conversations/${answer.conversationId}/export`, { token })).body;
    assert.deepEqual(exported.messages[0].parts, withImage(PNG));
    const imported = assertOk(await svc.post('/api/ai/conversations/import', { token, json: exported }), 201);
    const back = assertOk(await svc.get(`/api/ai/conversations/${imported.id}`, { token }));
    assert.deepEqual(back.messages.items[0].parts, withImage(PNG));
    assert.equal(back.messages.items[0].content, 'What is in this picture?');
  });

  it('takes an image with no text, and streams its answer', async () => {
    const token = svc.token('img-bob');
    const res = await svc.post('/api/ai/chat', {
      token, json: { message: [{ type: 'image_url', image_url: { url: PNG } }], stream: true },
    });
    assert.equal(res.status, 200, res.text);
    assert.match(res.text, /event: done/);
    const list = assertOk(await svc.get('/api/ai/conversations', { token }));
    assert.equal(list.items.length, 1);
    assert.equal(list.items[0].title, 'Image');
  });

  it('imports tool calls and tool results and keeps them', async () => {
    const token = svc.token('tools-carol');
    const imported = assertOk(await svc.post('/api/ai/conversations/import', {
      token,
      json: {
        conversation: { title: 'Todos' },
        messages: [
          { role: 'user', content: 'add buy milk' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'create_todo', arguments: '{"title":"buy milk"}' } }] },
          { role: 'tool', content: '{"id":7}', toolCallId: 'call_1' },
          { role: 'assistant', content: 'Added.' },
        ],
      },
    }), 201);
    const back = assertOk(await svc.get(`/api/ai/conversations/${imported.id}`, { token }));
    const [, call, result] = back.messages.items;
    assert.deepEqual(call.toolCalls, [{ id: 'call_1', type: 'function', function: { name: 'create_todo', arguments: '{"title":"buy milk"}' } }]);
    assert.equal(result.role, 'tool');
    assert.equal(result.toolCallId, 'call_1');
  });

  for (const [what, message, field] of [
    ['base64 garbage', withImage('data:image/png;base64,@@@not base64@@@'), 'message[1].image_url'],
    ['bytes that are not an image', withImage(`data:image/png;base64,${Buffer.from('just some text, no png').toString('base64')}`), 'message[1].image_url'],
    ['a media type that is not an image', withImage(`data:text/html;base64,${Buffer.from('<b>x</b>').toString('base64')}`), 'message[1].image_url'],
    ['an unknown part type', [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }], "'message[0].type'"],
    ['a part without its text', [{ type: 'text' }], "'message[0].text'"],
    ['a message that is neither text nor parts', { text: 'hi' }, "'message'"],
  ]) {
    it(`refuses ${what} with a 400 naming the field, storing and billing nothing`, async () => {
      const token = svc.token(`bad-${what.replaceAll(' ', '-')}`);
      const res = await svc.post('/api/ai/chat', { token, json: { message } });
      assertError(res, 400, 'invalid_request');
      const err = res.body.error;
      assert.ok(err.message.includes(field), `${err.message} should name ${field}`);
      const list = assertOk(await svc.get('/api/ai/conversations', { token }));
      assert.equal(list.items.length, 0, 'nothing stored');
      const me = assertOk(await svc.get('/api/ai/usage/me', { token }));
      assert.equal(me.totals.requests, 0, 'nothing billed');
    });
  }

  it('refuses an image over MAX_IMAGE_BYTES', async () => {
    const small = await startService({ env: { MAX_IMAGE_BYTES: '1024' } });
    try {
      const token = small.token('img-big');
      const big = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(4096)]);
      const res = await small.post('/api/ai/chat', {
        token, json: { message: withImage(`data:image/png;base64,${big.toString('base64')}`) },
      });
      assertError(res, 400, 'invalid_request');
      const err = res.body.error;
      assert.ok(err.message.includes('message[1].image_url'), err.message);
    } finally {
      await small.stop();
    }
  });
});
