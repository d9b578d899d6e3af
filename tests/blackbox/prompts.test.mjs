// The system-prompt library: own and global prompts with their access rules, variables filled in
// per turn, a conversation that uses a prompt (or its own system prompt, never both), and a
// deleted prompt falling back to the default. The mock model's answer reports the system prompt
// it was given, so the tests see exactly what the model saw.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk, assertSchema } from './lib/assert.mjs';
import { makeToken } from './lib/jwt.mjs';
import { startService } from './lib/service.mjs';

describe('prompt library', () => {
  let svc;
  before(async () => { svc = await startService(); });
  after(async () => { await svc?.stop(); });

  it('keeps own prompts private, global ones readable by all and changed by admins only', async () => {
    const alice = svc.token('pr-alice');
    const bob = svc.token('pr-bob');
    const admin = svc.token('pr-root', { admin: true });
    const mine = assertOk(await svc.post('/api/ai/prompts', { token: alice, json: { name: 'Pirate', content: 'Talk like a pirate.' } }), 201);
    assertSchema(mine, 'Prompt');
    assert.equal(mine.global, false);
    assertError(await svc.post('/api/ai/prompts', { token: alice, json: { name: 'G', content: 'x', global: true } }), 403, 'forbidden');
    const global = assertOk(await svc.post('/api/ai/prompts', { token: admin, json: { name: 'Brief', content: 'Be brief.', global: true } }), 201);
    assert.equal(global.global, true);

    const aliceSees = assertOk(await svc.get('/api/ai/prompts', { token: alice })).items.map((p) => p.id).sort();
    assert.deepEqual(aliceSees, [mine.id, global.id].sort());
    const bobSees = assertOk(await svc.get('/api/ai/prompts', { token: bob })).items.map((p) => p.id);
    assert.deepEqual(bobSees, [global.id]);
    assertError(await svc.get(`/api/ai/prompts/${mine.id}`, { token: bob }), 404, 'not_found');
    assertError(await svc.patch(`/api/ai/prompts/${mine.id}`, { token: bob, json: { name: 'x' } }), 404, 'not_found');
    assertError(await svc.patch(`/api/ai/prompts/${global.id}`, { token: alice, json: { name: 'x' } }), 403, 'forbidden');
    assertError(await svc.delete(`/api/ai/prompts/${global.id}`, { token: alice }), 403, 'forbidden');
    assert.equal(assertOk(await svc.patch(`/api/ai/prompts/${global.id}`, { token: admin, json: { content: 'Be very brief.' } })).content, 'Be very brief.');
    assert.equal(assertOk(await svc.patch(`/api/ai/prompts/${mine.id}`, { token: alice, json: { name: 'Pirate 2' } })).name, 'Pirate 2');
    assertError(await svc.post('/api/ai/prompts', { token: alice, json: { name: '', content: 'x' } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/prompts', { token: alice, json: { name: 'n' } }), 400, 'invalid_request');
    assertError(await svc.patch(`/api/ai/prompts/${mine.id}`, { token: alice, json: {} }), 400, 'invalid_request');
  });

  it('fills the variables in for each turn and lets a conversation use a prompt or its own, not both', async () => {
    const token = makeToken(svc.secret, { sub: 'pr-carol', name: 'Carol' });
    const p = assertOk(await svc.post('/api/ai/prompts', {
      token, json: { name: 'Greeter', content: 'Greet {{user.name}} ({{user.id}}) on {{date}}. {{unknown}} stays.' },
    }), 201);
    const turn = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'hi', promptId: p.id } }));
    const today = new Date().toISOString().slice(0, 10);
    const conv = assertOk(await svc.get(`/api/ai/conversations/${turn.conversationId}`, { token })).conversation;
    assert.equal(conv.promptId, p.id);
    assert.equal(conv.systemPrompt, null);
    // The mock model quotes the start of its system prompt.
    assert.ok(turn.message.includes(`Greet Carol (pr-carol) on ${today}. {{unknown}} stays.`), turn.message);

    assertError(await svc.post('/api/ai/chat', { token, json: { message: 'x', promptId: p.id, systemPrompt: 'own' } }), 400, 'invalid_request');
    assertError(await svc.post('/api/ai/chat', { token, json: { message: 'x', promptId: '01234567-89ab-7cde-8f01-23456789abcd' } }), 404, 'not_found');
    // Switching to an own system prompt drops the reference, and back.
    const own = assertOk(await svc.patch(`/api/ai/conversations/${conv.id}`, { token, json: { systemPrompt: 'Own prompt.' } }));
    assert.equal(own.promptId, null);
    const back = assertOk(await svc.patch(`/api/ai/conversations/${conv.id}`, { token, json: { promptId: p.id } }));
    assert.equal(back.systemPrompt, null);
    assert.equal(back.promptId, p.id);

    // A deleted prompt leaves the conversation on the default prompt.
    assertOk(await svc.delete(`/api/ai/prompts/${p.id}`, { token }));
    assert.equal(assertOk(await svc.get(`/api/ai/conversations/${conv.id}`, { token })).conversation.promptId, null);
    const later = assertOk(await svc.post('/api/ai/chat', { token, json: { message: 'again', conversationId: conv.id } }));
    assert.ok(later.message.includes('You are a helpful AI assistant'), later.message);
  });

  it('refuses another user\'s prompt for a conversation', async () => {
    const other = assertOk(await svc.post('/api/ai/prompts', { token: svc.token('pr-dave'), json: { name: 'Mine', content: 'private' } }), 201);
    const token = svc.token('pr-erin');
    assertError(await svc.post('/api/ai/conversations', { token, json: { promptId: other.id } }), 404, 'not_found');
    assertError(await svc.post('/api/ai/chat', { token, json: { message: 'x', promptId: other.id } }), 404, 'not_found');
  });

  it('names what is wrong with a prompt\'s name or content, and answers an id that cannot exist as not found', async () => {
    const token = svc.token('pr-frank');
    for (const [json, message] of [
      [{ name: '  ', content: 'x' }, 'name must be 1 to 100 characters'],
      [{ name: 'n'.repeat(101), content: 'x' }, 'name must be 1 to 100 characters'],
      [{ name: 'ok', content: '\n\t ' }, 'content must be 1 to 32000 characters'],
      [{ name: 'ok', content: 'c'.repeat(32001) }, 'content must be 1 to 32000 characters'],
    ]) {
      const res = await svc.post('/api/ai/prompts', { token, json });
      assertError(res, 400, 'invalid_request');
      assert.equal(res.body.error.message, message);
    }
    const created = assertOk(await svc.post('/api/ai/prompts', { token, json: { name: 'n'.repeat(100), content: 'c' } }), 201);
    const patched = await svc.patch(`/api/ai/prompts/${created.id}`, { token, json: { content: ' ' } });
    assertError(patched, 400, 'invalid_request');
    assert.equal(patched.body.error.message, 'content must be 1 to 32000 characters');
    for (const method of ['get', 'patch', 'delete']) {
      const res = await svc[method]('/api/ai/prompts/not-a-uuid', { token, json: method === 'patch' ? { name: 'x' } : undefined });
      assertError(res, 404, 'not_found');
      assert.equal(res.body.error.message, 'prompt not found');
    }
  });
});
