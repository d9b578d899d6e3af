// The agent end to end (issue 15): the stand-in todo app (examples/todo-app) as the monolith, its
// tool configuration (examples/todo-app/ai-tools.yaml), Caddy (deploy/Caddyfile) in front of both,
// and tools/mock-llm calling tools by its deterministic rule ("call <tool> {json}"). The users log
// in at the monolith and chat with its JWTs; every tool call carries the user's own token, so the
// monolith decides what each user can see and change.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { io } from 'socket.io-client';

import { ALICE, BOB, login, SERVER as TODO_SERVER } from '../../examples/todo-app/test/lib/app.mjs';
import { assertError, assertOk } from './lib/assert.mjs';
import { startCaddy } from './lib/caddy.mjs';
import { client } from './lib/http.mjs';
import { randomSecret } from './lib/jwt.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { baseEnv, launch, makeTempDir, startService } from './lib/service.mjs';
import { connected, SOCKETIO_PATH } from './lib/socketio.mjs';
import { collect, sseEvents, waitFor } from './lib/sse.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TODO_TOOLS = readFileSync(path.resolve(here, '..', '..', 'examples', 'todo-app', 'ai-tools.yaml'), 'utf8');
const TIMEOUT = { timeout: 60000 };
// Starting node, Express and the service takes long on a machine busy with compilers.
const START_MS = 60000;
const startTodoApp = ({ secret }) => launch(process.execPath, [TODO_SERVER],
  baseEnv({ PORT: '0', HOST: '127.0.0.1', JWT_SECRET: secret }), { dir: makeTempDir(), secret, startTimeoutMs: START_MS });
const MAX_STEPS = 3;

const models = (mockUrl) => `models:
  - name: agent-model
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: "${mockUrl}/v1"
        api_key: sk-test
  - name: claude-agent
    deployments:
      - provider: anthropic
        model: claude-3-5-haiku-latest
        base_url: "${mockUrl}/v1"
        api_key: sk-test
`;

// A streamed chat through `base` (Caddy): the response's events as they arrive.
function openStream(base, token, body) {
  const url = new URL('/api/ai/chat', base);
  const payload = JSON.stringify({ ...body, stream: true });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(payload) };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => resolve({ res, events: sseEvents(res) }));
    req.on('error', reject);
    req.end(payload);
  });
}

// Reads events up to (and including) the first one named `name`; returns all read so far.
async function readUntil(events, name, seen = []) {
  for (;;) {
    const { value, done } = await events.next();
    assert.ok(!done, `the stream ended before a ${name} event: ${JSON.stringify(seen.map((e) => e.event))}`);
    seen.push(value);
    if (value.event === name) return seen;
  }
}

const ask = (via, token, message, extra = {}) =>
  via.post('/api/ai/chat', { token, json: { message, model: 'agent-model', ...extra } });

describe('the agent with the todo app, Caddy and mock-llm', { timeout: 600000 }, () => {
  let mock;
  let todo;
  let svc;
  let caddy;
  let via;
  let alice;
  let bob;

  before(async () => {
    const secret = randomSecret();
    mock = await startMockLlm({ startTimeoutMs: START_MS });
    todo = await startTodoApp({ secret });
    const dir = makeTempDir();
    const config = path.join(dir, 'agent.yaml');
    writeFileSync(config, `${models(mock.url)}\n${TODO_TOOLS}`);
    svc = await startService({
      secret,
      dir,
      startTimeoutMs: START_MS,
      env: {
        AI_CONFIG: config,
        MAIN_BACKEND_URL: todo.url,
        AGENT_MAX_STEPS: String(MAX_STEPS),
        // Long enough for a busy machine to answer; the expiry test waits this long.
        TOOL_CONFIRM_TIMEOUT_MS: '8000',
      },
    });
    caddy = await startCaddy({ ai: [`127.0.0.1:${svc.port}`], backends: [`127.0.0.1:${todo.port}`] });
    via = client(caddy.url);
    alice = await login(via, ALICE);
    bob = await login(via, BOB);
    // A token's first use is verified (then remembered): done here, so that no test's timing
    // (an approval racing its expiry) includes it.
    for (const token of [alice, bob]) assertOk(await via.get('/api/ai/conversations', { token }));
  });

  after(async () => {
    await caddy?.stop();
    await svc?.stop();
    await todo?.stop();
    await mock?.stop();
  });

  const todosOf = async (token) => {
    const res = await via.get('/api/todos', { token });
    assert.equal(res.status, 200, res.text);
    return res.body.items;
  };
  const messagesOf = async (token, id) => assertOk(await via.get(`/api/ai/conversations/${id}`, { token })).messages.items;

  it('"call create_todo" creates the todo for alice through the monolith, stored as steps of the conversation', TIMEOUT, async () => {
    const before = (await todosOf(alice)).length;
    const d = assertOk(await ask(via, alice, 'add it: call create_todo {"title": "buy milk", "due": "2026-12-11"}'));
    const mine = await todosOf(alice);
    assert.equal(mine.length, before + 1);
    const created = mine.find((t) => t.title === 'buy milk');
    assert.ok(created, 'the todo is in the monolith under alice');
    assert.equal(created.due, '2026-12-11');
    assert.ok(!(await todosOf(bob)).some((t) => t.title === 'buy milk'), 'and not under bob');
    // The model was given the monolith's answer (the created todo) and answered with it.
    assert.match(d.message, /^Mock answer with tool result: \{.*"title":"buy milk"/);
    assert.ok(d.message.includes(created.id));

    const items = await messagesOf(alice, d.conversationId);
    assert.deepEqual(items.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    const [, step, result, answer] = items;
    assert.equal(step.toolCalls.length, 1);
    assert.equal(step.toolCalls[0].function.name, 'create_todo');
    assert.deepEqual(JSON.parse(step.toolCalls[0].function.arguments), { title: 'buy milk', due: '2026-12-11' });
    assert.equal(result.toolCallId, step.toolCalls[0].id);
    assert.equal(JSON.parse(result.content).id, created.id);
    assert.equal(answer.id, d.messageId);
    assert.equal(answer.status, 'complete');

    // Export carries the steps: JSON as stored, Markdown with the call and its result.
    const exported = await via.get(`/api/ai/conversations/${d.conversationId}/export`, { token: alice });
    assert.equal(exported.status, 200);
    assert.deepEqual(exported.body.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    assert.equal(exported.body.messages[1].toolCalls[0].function.name, 'create_todo');
    const md = await via.get(`/api/ai/conversations/${d.conversationId}/export?format=markdown`, { token: alice });
    assert.ok(md.text.includes(`- calls \`create_todo\` (${step.toolCalls[0].id})`), md.text);
    assert.ok(md.text.includes(`## Tool result (call ${step.toolCalls[0].id})`), md.text);
  });

  it('runs the same loop through the Anthropic wire format (tool_use, tool_result), streamed and not', TIMEOUT, async () => {
    const d = assertOk(await ask(via, alice, 'call create_todo {"title": "from claude"}', { model: 'claude-agent' }));
    const created = (await todosOf(alice)).find((t) => t.title === 'from claude');
    assert.ok(created);
    assert.match(d.message, /^Mock answer with tool result: \{.*"title":"from claude"/);
    const { events } = await openStream(caddy.url, alice, { model: 'claude-agent', message: `call complete_todo {"id": "${created.id}"}` });
    const all = await collect(events);
    assert.equal(all.at(-1).event, 'done');
    assert.equal(all.find((e) => e.event === 'tool_result').data.isError, false);
    assert.equal((await todosOf(alice)).find((t) => t.id === created.id).done, true, 'completed through fixed: {done: true}');
  });

  it("bob gets the monolith's refusal as a tool error for alice's todo, and nothing of hers", TIMEOUT, async () => {
    assertOk(await ask(via, alice, 'call create_todo {"title": "alice private"}'));
    const hers = (await todosOf(alice)).find((t) => t.title === 'alice private');
    for (const tool of ['update_todo', 'complete_todo']) {
      const args = tool === 'update_todo' ? { id: hers.id, title: 'stolen' } : { id: hers.id };
      const d = assertOk(await ask(via, bob, `call ${tool} ${JSON.stringify(args)}`));
      assert.equal(d.message, 'Mock answer with tool result: Error: the app refused the request (HTTP 404): {"error":{"code":"not_found","message":"no such todo"}}');
      assert.ok(!d.message.includes('alice private'));
      const items = await messagesOf(bob, d.conversationId);
      assert.deepEqual(items.find((m) => m.role === 'tool').metadata, { tool, isError: true });
    }
    const still = (await todosOf(alice)).find((t) => t.id === hers.id);
    assert.equal(still.title, 'alice private');
    assert.equal(still.done, false);
  });

  it('arguments that fail the schema are a tool error and never reach the monolith', TIMEOUT, async () => {
    const before = (await todosOf(alice)).length;
    const d = assertOk(await ask(via, alice, 'call create_todo {"title": 5, "owner": "bob"}'));
    assert.equal(d.message, 'Mock answer with tool result: Error: invalid arguments: title: must be of type "string"');
    assert.equal((await todosOf(alice)).length, before);
  });

  it('runs parallel calls of one step and streams tool_call and tool_result events', TIMEOUT, async () => {
    const { res, events } = await openStream(caddy.url, alice,
      { model: 'agent-model', message: 'call create_todo {"title": "bread"} and call list_todos {"done": false}' });
    assert.equal(res.statusCode, 200);
    const all = await collect(events);
    const names = all.map((e) => e.event);
    assert.deepEqual(names.filter((n) => n === 'tool_call').length, 2);
    assert.deepEqual(names.filter((n) => n === 'tool_result').length, 2);
    assert.ok(names.indexOf('tool_call') < names.indexOf('tool_result'));
    assert.equal(names.at(-1), 'done');
    const calls = all.filter((e) => e.event === 'tool_call').map((e) => e.data);
    // mock-llm calls them in the order of the request's tools (the configuration's).
    assert.deepEqual(calls.map((c) => c.name), ['list_todos', 'create_todo']);
    assert.deepEqual(calls[1].arguments, { title: 'bread' });
    const results = all.filter((e) => e.event === 'tool_result').map((e) => e.data);
    for (const r of results) assert.equal(r.isError, false, r.result);
    const done = all.at(-1).data;
    assert.equal(done.finishReason, 'stop');
    const start = all.find((e) => e.event === 'start').data;
    const items = await messagesOf(alice, start.conversationId);
    assert.deepEqual(items.map((m) => m.role), ['user', 'assistant', 'tool', 'tool', 'assistant']);
    assert.equal(items.at(-1).id, done.messageId);
    assert.match(items.at(-1).content, /"title":"bread"/);
  });

  it('tells Socket.IO clients the same tool events (ai:tool_call, ai:tool_result) over ai:chat', TIMEOUT, async () => {
    const socket = io(caddy.url, { path: SOCKETIO_PATH, auth: { token: alice }, forceNew: true, reconnection: false, transports: ['websocket'] });
    try {
      await connected(socket);
      const seen = [];
      socket.onAny((event, data) => seen.push({ event, data }));
      const done = new Promise((resolve) => socket.on('ai:done', resolve));
      const ack = new Promise((resolve) => socket.emit('ai:chat', { message: 'call create_todo {"title": "via socket"}', model: 'agent-model' }, resolve));
      const end = await done;
      // The answer streams after the tool step, into its own message: its deltas name that one,
      // not the first step's placeholder (the ack's).
      const deltas = seen.filter((e) => e.event === 'ai:delta');
      assert.ok(deltas.length > 0);
      assert.notEqual((await ack).messageId, end.messageId);
      for (const d of deltas) assert.equal(d.data.messageId, end.messageId);
      const names = seen.map((e) => e.event);
      assert.ok(names.includes('ai:tool_call') && names.includes('ai:tool_result'), names.join(' '));
      const result = seen.find((e) => e.event === 'ai:tool_result').data;
      assert.equal(result.name, 'create_todo');
      assert.equal(result.isError, false);
      assert.equal(typeof result.conversationId, 'string');
      assert.equal(end.finishReason, 'stop');
      assert.ok((await todosOf(alice)).some((t) => t.title === 'via socket'), 'created with the socket\'s token');
    } finally {
      socket.close();
    }
  });

  // A delete asks for approval: the stream pauses at tool_confirmation until the user decides.
  async function deleteWith(decide) {
    assertOk(await ask(via, alice, 'call create_todo {"title": "to delete"}'));
    const target = (await todosOf(alice)).filter((t) => t.title === 'to delete').at(-1);
    const { events } = await openStream(caddy.url, alice, { model: 'agent-model', message: `call delete_todo {"id": "${target.id}"}` });
    const seen = await readUntil(events, 'tool_confirmation');
    const start = seen.find((e) => e.event === 'start').data;
    const confirmation = seen.at(-1).data;
    assert.equal(confirmation.name, 'delete_todo');
    assert.deepEqual(confirmation.arguments, { id: target.id });
    assert.ok(Date.parse(confirmation.expiresAt) > Date.now() - 1000);
    // Not yet deleted while it waits.
    assert.ok((await todosOf(alice)).some((t) => t.id === target.id));
    await decide(start.conversationId, confirmation.callId);
    const rest = await collect(events);
    const result = rest.find((e) => e.event === 'tool_result').data;
    assert.equal(result.callId, confirmation.callId);
    assert.equal(rest.at(-1).event, 'done');
    return { target, result, conversationId: start.conversationId, callId: confirmation.callId };
  }

  it('a delete waits for approval and runs after approve; another user cannot approve it', TIMEOUT, async () => {
    const { target, result, conversationId, callId } = await deleteWith(async (conversationId, callId) => {
      // Bob cannot see, let alone approve, alice's call: 404 as for anything of another user's.
      assertError(await via.post(`/api/ai/conversations/${conversationId}/tool-calls/${callId}/approve`, { token: bob }), 404, 'not_found');
      const ok = assertOk(await via.post(`/api/ai/conversations/${conversationId}/tool-calls/${callId}/approve`, { token: alice }), 202);
      assert.equal(ok.decision, 'approved');
    });
    assert.equal(result.isError, false, result.result);
    assert.ok(!(await todosOf(alice)).some((t) => t.id === target.id), 'deleted');
    // Decided once: a second answer is a conflict; an unknown call is 404.
    assertError(await via.post(`/api/ai/conversations/${conversationId}/tool-calls/${callId}/reject`, { token: alice }), 409, 'conflict');
    assertError(await via.post(`/api/ai/conversations/${conversationId}/tool-calls/call_nope/approve`, { token: alice }), 404, 'not_found');
  });

  it('a rejected delete does nothing, and the model is told', TIMEOUT, async () => {
    const { target, result } = await deleteWith(async (conversationId, callId) => {
      assertOk(await via.post(`/api/ai/conversations/${conversationId}/tool-calls/${callId}/reject`, { token: alice }), 202);
    });
    assert.equal(result.isError, true);
    assert.equal(result.result, 'the user rejected this call: it was not made');
    assert.ok((await todosOf(alice)).some((t) => t.id === target.id), 'still there');
  });

  it('an unanswered confirmation expires: nothing is deleted and the model is told', TIMEOUT, async () => {
    const { target, result } = await deleteWith(async () => {});
    assert.equal(result.isError, true);
    assert.equal(result.result, 'the user did not approve this call in time: it was not made');
    assert.ok((await todosOf(alice)).some((t) => t.id === target.id), 'still there');
  });

  it('a non-streamed turn that needs approval answers 202 with the call; approving it finishes the turn in the background', TIMEOUT, async () => {
    assertOk(await ask(via, alice, 'call create_todo {"title": "json delete"}'));
    const target = (await todosOf(alice)).filter((t) => t.title === 'json delete').at(-1);
    const d = assertOk(await ask(via, alice, `call delete_todo {"id": "${target.id}"}`), 202);
    assert.equal(d.status, 'awaiting_confirmation');
    assert.equal(d.toolCall.name, 'delete_todo');
    assert.deepEqual(d.toolCall.arguments, { id: target.id });
    assert.ok(Date.parse(d.toolCall.expiresAt) > Date.now() - 1000);
    assert.ok((await todosOf(alice)).some((t) => t.id === target.id), 'not deleted while it waits');
    assertOk(await via.post(`/api/ai/conversations/${d.conversationId}/tool-calls/${d.toolCall.callId}/approve`, { token: alice }), 202);
    // The answer is stored when the turn ends (and announced as ai-message).
    const answer = await waitFor(async () => {
      const last = (await messagesOf(alice, d.conversationId)).at(-1);
      // The step with the call is stored complete first: the answer is the message after its result.
      return last.role === 'assistant' && last.status === 'complete' && !last.toolCalls?.length ? last : undefined;
    }, 30000, 'the answer after the approval');
    assert.match(answer.content, /^Mock answer with tool result: /);
    assert.ok(!(await todosOf(alice)).some((t) => t.id === target.id), 'deleted after the approval');
  });

  // Stop while a call waits for approval (issue 15): the wait ends at once, the call is stored as
  // not made, the turn ends `stopped`, and only the step's model call is billed.
  async function stopDuringApproval(token, title) {
    assertOk(await ask(via, token, `call create_todo {"title": "${title}"}`));
    const target = (await todosOf(token)).filter((t) => t.title === title).at(-1);
    const before = assertOk(await via.get('/api/ai/usage/me', { token })).totals;
    return { target, before };
  }

  async function assertStoppedTurn(token, { target, before }, conversationId, callId) {
    assert.ok((await todosOf(token)).some((t) => t.id === target.id), 'not deleted');
    // Nothing waits any more: a late approval is refused.
    assertError(await via.post(`/api/ai/conversations/${conversationId}/tool-calls/${callId}/approve`, { token }), 409, 'conflict');
    const items = await messagesOf(token, conversationId);
    assert.deepEqual(items.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    const [, step, result, answer] = items;
    assert.equal(step.toolCalls[0].id, callId);
    assert.equal(step.status, 'complete');
    assert.equal(result.toolCallId, callId);
    assert.equal(result.content, 'Error: the turn was stopped before this call was approved: it was not made');
    assert.equal(answer.status, 'interrupted');
    assert.equal(answer.metadata.finishReason, 'stopped');
    // Billed for what was used: the step's model call; the answer that was never asked costs nothing.
    const after = assertOk(await via.get('/api/ai/usage/me', { token })).totals;
    assert.equal(after.inputTokens - before.inputTokens, step.usage.inputTokens);
    assert.equal(after.outputTokens - before.outputTokens, step.usage.outputTokens);
    assert.ok(step.usage.inputTokens > 0);
    assert.equal(answer.usage.inputTokens, 0);
    assert.equal(answer.usage.outputTokens, 0);
  }

  it('Stop (POST .../stop) during an approval wait ends the wait: the call is not made, the turn ends stopped', TIMEOUT, async () => {
    const token = svc.token('stop-sse-user');
    const state = await stopDuringApproval(token, 'stop me');
    const { events } = await openStream(caddy.url, token, { model: 'agent-model', message: `call delete_todo {"id": "${state.target.id}"}` });
    const seen = await readUntil(events, 'tool_confirmation');
    const { conversationId } = seen.find((e) => e.event === 'start').data;
    const { callId } = seen.at(-1).data;
    assertOk(await via.post(`/api/ai/conversations/${conversationId}/stop`, { token }), 202);
    // Long before TOOL_CONFIRM_TIMEOUT_MS: the stream ends on the stop, not on the expiry.
    const rest = await collect(events);
    const result = rest.find((e) => e.event === 'tool_result').data;
    assert.equal(result.callId, callId);
    assert.equal(result.isError, true);
    assert.equal(result.result, 'the turn was stopped before this call was approved: it was not made');
    const done = rest.at(-1);
    assert.equal(done.event, 'done');
    assert.equal(done.data.finishReason, 'stopped');
    await assertStoppedTurn(token, state, conversationId, callId);
  });

  it('Stop (Socket.IO ai:stop) during an approval wait ends the wait the same way', TIMEOUT, async () => {
    const token = svc.token('stop-socket-user');
    const state = await stopDuringApproval(token, 'stop me too');
    const socket = io(caddy.url, { path: SOCKETIO_PATH, auth: { token }, forceNew: true, reconnection: false, transports: ['websocket'] });
    try {
      await connected(socket);
      const seen = [];
      socket.onAny((event, data) => seen.push({ event, data }));
      const done = new Promise((resolve) => socket.on('ai:done', resolve));
      const asking = new Promise((resolve) => socket.on('ai:tool_confirmation', resolve));
      socket.emit('ai:chat', { message: `call delete_todo {"id": "${state.target.id}"}`, model: 'agent-model' });
      const confirmation = await asking;
      const { conversationId, callId } = confirmation;
      const ack = await new Promise((resolve) => socket.emit('ai:stop', { conversationId }, resolve));
      assert.equal(ack.stopping, true);
      const end = await done;
      assert.equal(end.finishReason, 'stopped');
      const result = seen.find((e) => e.event === 'ai:tool_result').data;
      assert.equal(result.callId, callId);
      assert.equal(result.isError, true);
      await assertStoppedTurn(token, state, conversationId, callId);
    } finally {
      socket.close();
    }
  });

  it('a runaway loop stops at AGENT_MAX_STEPS with finish reason max_steps; every step is in the ledger and usage/me', TIMEOUT, async () => {
    const token = svc.token('runaway-user');  // a fresh user (the monolith accepts the shared secret's tokens)
    const before = assertOk(await via.get('/api/ai/usage/me', { token })).totals.requests;
    assert.equal(before, 0, 'a fresh user');
    const { events } = await openStream(caddy.url, token, { model: 'agent-model', message: 'keep calling list_todos {}' });
    const all = await collect(events);
    const done = all.at(-1);
    assert.equal(done.event, 'done');
    assert.equal(done.data.finishReason, 'max_steps');
    assert.equal(all.filter((e) => e.event === 'tool_call').length, MAX_STEPS - 1);
    for (const r of all.filter((e) => e.event === 'tool_result')) assert.equal(r.data.result, '{"items":[]}');
    const me = assertOk(await via.get('/api/ai/usage/me', { token }));
    assert.equal(me.totals.requests - before, MAX_STEPS, 'one ledger row per model call');
    const conversationId = all.find((e) => e.event === 'start').data.conversationId;
    const items = await messagesOf(token, conversationId);
    const answers = items.filter((m) => m.role === 'assistant');
    assert.equal(answers.length, MAX_STEPS);
    assert.ok(answers.every((m) => m.status === 'complete'));
    assert.equal(answers.at(-1).metadata.finishReason, 'max_steps');
    assert.deepEqual(answers.slice(0, -1).map((m) => m.metadata.finishReason), Array(MAX_STEPS - 1).fill('tool_calls'));
    // Every step billed with the upstream's figures: the ledger's tokens are the steps' tokens.
    const sum = (key) => answers.reduce((n, m) => n + m.usage[key], 0);
    assert.equal(me.totals.inputTokens, sum('inputTokens'));
    assert.equal(me.totals.outputTokens, sum('outputTokens'));
  });
});

// A monolith that misbehaves: a stub on loopback whose routes hang, answer huge, binary or plain
// text, and finally one that is down.
describe('the agent with a misbehaving monolith', () => {
  let mock;
  let svc;
  let stub;
  let stubUrl;
  const TOOL_TIMEOUT_MS = 400;

  before(async () => {
    stub = http.createServer((req, res) => {
      if (req.url.startsWith('/hang')) return;  // never answers
      if (req.url.startsWith('/huge')) {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ items: Array.from({ length: 5000 }, (_, i) => `item number ${i}`) }));
      }
      if (req.url.startsWith('/binary')) {
        res.setHeader('content-type', 'image/png');
        return res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]));
      }
      res.setHeader('content-type', 'text/plain');
      res.end('plain words');
    });
    await new Promise((resolve) => stub.listen(0, '127.0.0.1', resolve));
    stubUrl = `http://127.0.0.1:${stub.address().port}`;
    mock = await startMockLlm({ startTimeoutMs: START_MS });
    const dir = makeTempDir();
    const config = path.join(dir, 'agent.yaml');
    const tool = (name, p) => `  - {name: ${name}, method: GET, path: ${p}, parameters: {type: object, properties: {}}}\n`;
    writeFileSync(config, `${models(mock.url)}tools:\n${tool('hang', '/hang')}${tool('huge', '/huge')}${tool('binary', '/binary')}${tool('text', '/text')}`);
    svc = await startService({
      dir,
      startTimeoutMs: START_MS,
      env: { AI_CONFIG: config, MAIN_BACKEND_URL: stubUrl, TOOL_TIMEOUT_MS: String(TOOL_TIMEOUT_MS), TOOL_RESULT_MAX_TOKENS: '50' },
    });
  });

  after(async () => {
    await svc?.stop();
    await mock?.stop();
    stub?.closeAllConnections();
    await new Promise((resolve) => stub?.close(resolve) ?? resolve());
  });

  const chat = (message) => svc.post('/api/ai/chat', { token: svc.token('edge-user'), json: { message, model: 'agent-model' } });

  it('a tool that hangs is cut at its timeout: a tool error, the turn still answers', TIMEOUT, async () => {
    const d = assertOk(await chat('call hang'));
    assert.equal(d.message, `Mock answer with tool result: Error: the tool did not answer within ${TOOL_TIMEOUT_MS} ms`);
  });

  it('a huge result is cut with a marker, binary is described, text passes as text', TIMEOUT, async () => {
    const huge = assertOk(await chat('call huge'));
    assert.match(huge.message, /^Mock answer with tool result: \{"items":\["item number 0"/);
    assert.match(huge.message, /\[truncated: the result was longer than 50 tokens\]$/);
    assert.ok(huge.message.length < 400);
    const binary = assertOk(await chat('call binary'));
    assert.equal(binary.message, 'Mock answer with tool result: [binary response: 8 bytes of image/png]');
    const text = assertOk(await chat('call text'));
    assert.equal(text.message, 'Mock answer with tool result: plain words');
  });

  it('a monolith that is down: the model is told, the turn ends cleanly', TIMEOUT, async () => {
    stub.closeAllConnections();
    await new Promise((resolve) => stub.close(resolve));
    const d = assertOk(await chat('call text'));
    assert.equal(d.message, 'Mock answer with tool result: Error: the app could not be reached');
  });
});

describe('tool configuration checked at start', () => {
  it('refuses to start with a tool outside MAIN_BACKEND_URL or an invalid schema, naming the tool', TIMEOUT, async () => {
    const dir = makeTempDir();
    const cases = [
      ['tools:\n  - {name: exfiltrate, method: GET, path: "http://evil.example/x"}\n', 'tools[exfiltrate].path: outside MAIN_BACKEND_URL'],
      ['tools:\n  - {name: bad_schema, method: GET, path: /x, parameters: {type: object, properties: {a: {type: date}}}}\n',
        'tools[bad_schema].parameters: properties.a.type: unknown type "date"'],
    ];
    for (const [yaml, expected] of cases) {
      const file = path.join(dir, `tools-${expected.length}.yaml`);
      writeFileSync(file, yaml);
      await assert.rejects(startService({ env: { AI_CONFIG: file, MAIN_BACKEND_URL: 'http://127.0.0.1:9' } }),
        (e) => e.message.includes(expected) || assert.fail(`expected "${expected}" in:\n${e.message}`));
    }
  });
});
