// MCP servers' tools in the agent (issue 15): two servers written with the official
// @modelcontextprotocol/sdk (tests/blackbox/lib/mcp-server.mjs), one answering JSON-RPC with SSE
// streams and one with application/json, both with sessions (Mcp-Session-Id); mock-llm calls their
// tools by its rule ("call <server>__<tool> {json}"). Tools off the allowlist, or whose schema the
// service's subset refuses, are never offered; a server down at start is skipped with a warning;
// one that goes down later is a tool error the model sees, and the turn ends cleanly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startAgentService } from './lib/agent.mjs';
import { assertOk } from './lib/assert.mjs';
import { portForLater } from './lib/http.mjs';
import { startMcpServer, TOOLS } from './lib/mcp-server.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { collect, openStream, waitFor } from './lib/sse.mjs';

const START_MS = 60000;
const TIMEOUT = { timeout: 60000 };
const API_KEY = 'mcp-key-7f3a9c1e5b';

describe('the agent with MCP servers', { timeout: 300000 }, () => {
  let mock;
  let notes;  // SSE responses, needs an API key
  let calc;   // JSON responses
  let svc;
  let token;

  before(async () => {
    mock = await startMockLlm({ startTimeoutMs: START_MS });
    notes = await startMcpServer({ apiKey: API_KEY });
    calc = await startMcpServer({ json: true });
    svc = await startAgentService(mock.url, `mcp:
  - name: notes
    url: "${notes.url}"
    allow: [echo, fail]
    headers: {x-api-key: "${API_KEY}"}
  - name: calc
    url: "${calc.url}"
    allow: [add, fancy, missing]
  - name: ghost
    url: "http://127.0.0.1:9/mcp"
    allow: [anything]
`, { startTimeoutMs: START_MS, env: { MCP_START_TIMEOUT_MS: '300' } });
    token = svc.token('mcp-user');
  });

  after(async () => {
    await svc?.stop();
    await notes?.stop();
    await calc?.stop();
    await mock?.stop();
  });

  const chat = (message) => svc.post('/api/ai/chat', { token, json: { message, model: 'agent-model' } });

  it('the model calls an MCP tool (JSON responses) and the answer has its result', TIMEOUT, async () => {
    const d = assertOk(await chat('call calc__add {"a": 2, "b": 40}'));
    assert.equal(d.message, 'Mock answer with tool result: 42');
    assert.deepEqual(calc.calls.at(-1), { name: 'add', args: { a: 2, b: 40 } });
    const items = assertOk(await svc.get(`/api/ai/conversations/${d.conversationId}`, { token })).messages.items;
    assert.deepEqual(items.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    assert.equal(items[1].toolCalls[0].function.name, 'calc__add');
  });

  it('works over SSE responses with the session and the configured header, streamed', TIMEOUT, async () => {
    const { res, events } = await openStream(svc, token, { message: 'call notes__echo {"text": "hello mcp"}', model: 'agent-model', stream: true });
    assert.equal(res.statusCode, 200);
    const all = await collect(events);
    const result = all.find((e) => e.event === 'tool_result').data;
    assert.equal(result.name, 'notes__echo');
    assert.equal(result.result, 'echo: hello mcp');
    assert.equal(result.isError, false);
    assert.equal(all.at(-1).event, 'done');
    assert.ok(notes.seen.sessionHeaders > 0, 'later requests carried Mcp-Session-Id');
  });

  it('an isError result is a tool error the model sees', TIMEOUT, async () => {
    const d = assertOk(await chat('call notes__fail'));
    assert.equal(d.message, 'Mock answer with tool result: Error: disk full');
  });

  it('never offers a tool outside the allowlist, nor one whose schema the subset refuses', TIMEOUT, async () => {
    for (const name of ['calc__admin_reset', 'notes__admin_reset', 'calc__fancy', 'ghost__anything']) {
      const d = assertOk(await chat(`call ${name}`));
      assert.equal(d.message, `Mock answer to: call ${name}`, `${name} was not offered, so the model could not call it`);
    }
    assert.ok(!calc.calls.some((c) => c.name === 'admin_reset') && !notes.calls.some((c) => c.name === 'admin_reset'));
    // Told at start, naming them; the API key never appears in the log.
    assert.match(svc.stderr, /mcp\[calc\]: tool 'fancy' skipped: its input schema is outside the supported subset/);
    assert.match(svc.stderr, /mcp\[calc\]: allowed tool 'missing' is not one the server lists/);
    assert.match(svc.stderr, /mcp\[ghost\]: its tools could not be listed/);
    assert.ok(!svc.stderr.includes(API_KEY), 'the configured header is never logged');
  });

  it('a server that forgot the session is opened again', TIMEOUT, async () => {
    calc.forgetSessions();
    const d = assertOk(await chat('call calc__add {"a": 1, "b": 1}'));
    assert.equal(d.message, 'Mock answer with tool result: 2');
  });

  it('a server that is down: a tool error, the turn ends cleanly', TIMEOUT, async () => {
    await notes.stop();
    notes = undefined;
    const d = assertOk(await chat('call notes__echo {"text": "anyone?"}'));
    assert.equal(d.message, 'Mock answer with tool result: Error: the MCP server notes could not be reached');
    const items = assertOk(await svc.get(`/api/ai/conversations/${d.conversationId}`, { token })).messages.items;
    assert.equal(items.at(-1).status, 'complete');
  });
});

// Listed again while the service runs (MCP_REFRESH_MS): a tool the server adds is offered, one it
// drops is not any more, and a server that was down at start is reached once it is up.
describe('MCP servers listed again while the service runs', { timeout: 300000 }, () => {
  const REFRESH_MS = 300;
  let mock;
  let live;
  let late;
  let latePort;
  let svc;
  let token;

  before(async () => {
    mock = await startMockLlm({ startTimeoutMs: START_MS });
    live = await startMcpServer({ json: true, tools: TOOLS.filter((t) => t.name === 'add') });
    // A port nobody listens on yet: the server behind it starts after the service (outside the
    // ephemeral range, which an outgoing connection could take meanwhile: EADDRINUSE in run 38).
    latePort = await portForLater();
    svc = await startAgentService(mock.url, `mcp:
  - name: live
    url: "${live.url}"
    allow: [add, echo]
  - name: late
    url: "http://127.0.0.1:${latePort}/mcp"
    allow: [echo]
`, { startTimeoutMs: START_MS, env: { MCP_START_TIMEOUT_MS: '200', MCP_REFRESH_MS: String(REFRESH_MS) } });
    token = svc.token('mcp-relist-user');
  });

  after(async () => {
    await svc?.stop();
    await live?.stop();
    await late?.stop();
    await mock?.stop();
  });

  const chat = async (message) => assertOk(await svc.post('/api/ai/chat', { token, json: { message, model: 'agent-model' } })).message;
  // Asks until the answer is `expected` (the model is offered the new tool list from the next turn
  // after a listing): each ask is a whole turn, so this polls the service, not the clock.
  const answerBecomes = (message, expected, what) =>
    waitFor(async () => ((await chat(message)) === expected ? true : undefined), 20000, what);

  it('offers a tool the server adds, and stops offering one it drops', { timeout: 60000 }, async () => {
    assert.equal(await chat('call live__echo {"text": "hi"}'), 'Mock answer to: call live__echo {"text": "hi"}', 'not listed yet');
    assert.equal(await chat('call live__add {"a": 1, "b": 2}'), 'Mock answer with tool result: 3');
    live.tools.push(TOOLS.find((t) => t.name === 'echo'));
    await answerBecomes('call live__echo {"text": "hi"}', 'Mock answer with tool result: echo: hi', 'echo offered after a listing');
    live.tools.splice(live.tools.findIndex((t) => t.name === 'add'), 1);
    await answerBecomes('call live__add {"a": 1, "b": 2}', 'Mock answer to: call live__add {"a": 1, "b": 2}', 'add no longer offered');
    assert.match(svc.stderr, /mcp\[live\]: tools listed again: 1 offered of 1 listed/);
  });

  it('reaches a server that was down at start once it is up', { timeout: 60000 }, async () => {
    assert.match(svc.stderr, /mcp\[late\]: its tools could not be listed/);
    assert.equal(await chat('call late__echo {"text": "there"}'), 'Mock answer to: call late__echo {"text": "there"}');
    late = await startMcpServer({ port: latePort });
    await answerBecomes('call late__echo {"text": "there"}', 'Mock answer with tool result: echo: there', 'the late server\'s tool offered');
    assert.deepEqual(late.calls.at(-1), { name: 'echo', args: { text: 'there' } });
  });
});
