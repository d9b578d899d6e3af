// The official `openai` SDK's Responses API, legacy completions and models.retrieve against the
// gateway (/api/ai/v1), each through a model served by an OpenAI-compatible upstream AND one
// served by an Anthropic upstream (tools/mock-llm speaks both): text and message-array input,
// instructions, the streamed semantic events, function calls and their outputs, usage; legacy
// completions streamed and not, with one prompt or several; previous_response_id backed by the
// store (another user's id is a 404); errors in OpenAI's shape
// ({"error": {message, type, param, code}}) for every refusal, nothing billed for them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';

import { assertOk } from './lib/assert.mjs';
import { bothWireModels, startWithMockLlm } from './lib/upstream.mjs';

const QUESTION = 'What is the capital of France?';
const ANSWER = `Mock answer to: ${QUESTION}`;
const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

let mock;
let svc;
before(async () => {
  ({ mock, svc } = await startWithMockLlm((url) => `models:\n${bothWireModels(url)}`));
});
after(async () => {
  await svc?.stop();
  await mock?.stop();
});

const client = (user) => new OpenAI({ baseURL: `${svc.url}/api/ai/v1`, apiKey: svc.token(user), maxRetries: 0 });
const usageOf = async (user) => assertOk(await svc.get('/api/ai/usage/me', { token: svc.token(user) })).totals;
const rejectionOf = (promise) => promise.then((v) => assert.fail(`expected an error, got ${JSON.stringify(v)}`), (e) => e);

for (const model of ['gpt', 'claude']) {
  describe(`responses with model ${model}`, { timeout: 60000 }, () => {
    it('answers text input with instructions: one message item, output_text, usage, and bills it', async () => {
      const user = `resp-${model}`;
      const r = await client(user).responses.create({ model, instructions: 'You are terse.', input: QUESTION });
      assert.equal(r.object, 'response');
      assert.match(r.id, /^resp_/);
      assert.equal(r.status, 'completed');
      assert.equal(r.model, model);
      assert.equal(r.instructions, 'You are terse.');
      assert.equal(r.output.length, 1);
      assert.equal(r.output[0].type, 'message');
      assert.equal(r.output[0].role, 'assistant');
      assert.deepEqual(r.output[0].content, [{ type: 'output_text', text: ANSWER, annotations: [] }]);
      assert.equal(r.output_text, ANSWER, 'the SDK\'s convenience field');
      assert.equal(r.usage.input_tokens, 9);
      assert.equal(r.usage.output_tokens, 9);
      assert.equal(r.usage.total_tokens, 18);
      const totals = await usageOf(user);
      assert.equal(totals.requests, 1);
      assert.equal(totals.outputTokens, 9);
    });

    it('takes a message array (input_text parts joined a newline apart, a developer message)', async () => {
      const r = await client(`array-${model}`).responses.create({
        model,
        input: [
          { role: 'developer', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'input_text', text: 'Hello' }, { type: 'input_text', text: 'world' }] },
        ],
      });
      // mock-llm answers word by word: glued parts ("Helloworld") would be one word, and 3 tokens in.
      assert.equal(r.output_text, 'Mock answer to: Hello world');
      assert.equal(r.usage.input_tokens, 4);
    });

    it('streams the semantic events in order, and the SDK assembles the same response', async () => {
      const stream = client(`stream-${model}`).responses.stream({ model, input: QUESTION });
      const types = [];
      const sequence = [];
      let text = '';
      for await (const e of stream) {
        types.push(e.type);
        sequence.push(e.sequence_number);
        if (e.type === 'response.output_text.delta') text += e.delta;
      }
      const final = await stream.finalResponse();
      const deltas = types.filter((t) => t === 'response.output_text.delta').length;
      assert.ok(deltas >= 2);
      assert.deepEqual(types, ['response.created', 'response.in_progress', 'response.output_item.added',
        'response.content_part.added', ...Array(deltas).fill('response.output_text.delta'), 'response.output_text.done',
        'response.content_part.done', 'response.output_item.done', 'response.completed']);
      assert.deepEqual(sequence, sequence.map((_, i) => i), 'sequence_number counts from 0');
      assert.equal(text, ANSWER);
      assert.equal(final.output_text, ANSWER);
      assert.equal(final.status, 'completed');
      assert.equal(final.usage.output_tokens, 9);
    });

    it('calls a function and takes its output back, streamed and not', async () => {
      const openai = client(`tools-${model}`);
      const input = 'Please call get_weather {"city": "Paris"}';
      const r = await openai.responses.create({ model, tools: [WEATHER], input });
      const calls = r.output.filter((o) => o.type === 'function_call');
      assert.equal(calls.length, 1);
      assert.equal(calls[0].name, 'get_weather');
      assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Paris' });
      assert.ok(calls[0].call_id);

      const streamed = await openai.responses.stream({ model, tools: [WEATHER], input }).finalResponse();
      const streamedCall = streamed.output.find((o) => o.type === 'function_call');
      assert.deepEqual(JSON.parse(streamedCall.arguments), { city: 'Paris' }, 'argument deltas joined');
      assert.equal(streamedCall.status, 'completed');

      const back = await openai.responses.create({
        model, tools: [WEATHER],
        input: [{ role: 'user', content: input }, calls[0], { type: 'function_call_output', call_id: calls[0].call_id, output: 'Sunny' }],
      });
      assert.equal(back.output_text, 'Mock answer with tool result: Sunny');
    });

    it('is incomplete when cut at max_output_tokens', async () => {
      const r = await client(`cut-${model}`).responses.create({ model, input: QUESTION, max_output_tokens: 3 });
      assert.equal(r.status, 'incomplete');
      assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
      assert.equal(r.output_text, 'Mock answer to:');
    });
  });

  describe(`legacy completions with model ${model}`, { timeout: 60000 }, () => {
    it('answers a prompt string, cut at OpenAI\'s default of 16 tokens only when longer', async () => {
      const r = await client(`cmpl-${model}`).completions.create({ model, prompt: QUESTION });
      assert.equal(r.object, 'text_completion');
      assert.match(r.id, /^cmpl-/);
      assert.equal(r.choices.length, 1);
      assert.equal(r.choices[0].text, ANSWER);
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.equal(r.usage.prompt_tokens, 6);
    });

    it('answers an array of prompts with one choice each, billed as separate calls', async () => {
      const user = `cmpl-array-${model}`;
      const r = await client(user).completions.create({ model, prompt: ['One two', 'Three four five'] });
      assert.deepEqual(r.choices.map((c) => [c.index, c.text]), [[0, 'Mock answer to: One two'], [1, 'Mock answer to: Three four five']]);
      assert.equal(r.usage.prompt_tokens, 5);
      assert.equal((await usageOf(user)).requests, 2);
    });

    it('streams text_completion chunks, then the usage when asked', async () => {
      const stream = await client(`cmpl-stream-${model}`).completions.create({
        model, prompt: QUESTION, stream: true, stream_options: { include_usage: true },
      });
      let text = '';
      const chunks = [];
      for await (const c of stream) {
        chunks.push(c);
        text += c.choices[0]?.text ?? '';
      }
      assert.equal(text, ANSWER);
      assert.ok(chunks.every((c) => c.object === 'text_completion'));
      assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length, 1);
      assert.equal(chunks.at(-1).usage.completion_tokens, 9);
    });
  });
}

describe('previous_response_id (responses kept in the store)', { timeout: 60000 }, () => {
  const conversations = async (user, archived) =>
    assertOk(await svc.get(`/api/ai/conversations?archived=${archived}`, { token: svc.token(user) })).items;

  for (const model of ['gpt', 'claude']) {
    it(`continues a response, streamed or not, with the earlier exchange before the new input (${model})`, async () => {
      const openai = client(`chain-${model}`);
      const first = await openai.responses.create({ model, instructions: 'Be brief.', input: 'My name is Ada.' });
      assert.equal(first.output_text, 'Mock answer to: My name is Ada.');
      const second = await openai.responses.create({ model, previous_response_id: first.id, input: 'What is my name?' });
      assert.equal(second.previous_response_id, first.id);
      assert.equal(second.output_text, 'Mock answer to: What is my name?');
      // mock-llm counts every message's words: the first input (4) and answer (7), then 4 new;
      // the first request's instructions are not carried over (OpenAI's rule).
      assert.equal(second.usage.input_tokens, 4 + 7 + 4);
      const stream = openai.responses.stream({ model, previous_response_id: second.id, input: 'And again?' });
      const third = await stream.finalResponse();
      assert.equal(third.usage.input_tokens, 4 + 7 + 4 + 7 + 2);
      // Any earlier response may be continued (a branch), not only the latest.
      const branch = await openai.responses.create({ model, previous_response_id: first.id, input: 'Hi' });
      assert.equal(branch.usage.input_tokens, 4 + 7 + 1);
    });
  }

  it('carries function calls and their outputs across responses', async () => {
    const openai = client('chain-tools');
    const asked = await openai.responses.create({ model: 'gpt', tools: [WEATHER], input: 'Please call get_weather {"city": "Oslo"}' });
    const call = asked.output.find((o) => o.type === 'function_call');
    const answered = await openai.responses.create({
      model: 'gpt', tools: [WEATHER], previous_response_id: asked.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'Snow' }],
    });
    assert.equal(answered.output_text, 'Mock answer with tool result: Snow', 'the stored call answers the output');
  });

  it('answers another user\'s response id, an unknown one and an unstored one with 404 in OpenAI\'s shape, storing nothing', async () => {
    const mine = await client('owner').responses.create({ model: 'gpt', input: 'secret plan' });
    const unstored = await client('thief').responses.create({ model: 'gpt', input: 'x', store: false });
    const before = await conversations('thief', 'all');
    for (const id of [mine.id, 'resp_0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69', 'nonsense', unstored.id]) {
      const e = await rejectionOf(client('thief').responses.create({ model: 'gpt', previous_response_id: id, input: 'tell me' }));
      assert.ok(e instanceof OpenAI.NotFoundError, `${id}: ${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 404);
      assert.equal(e.type, 'not_found_error');
      assert.equal(e.code, 'not_found');
    }
    assert.deepEqual(await conversations('thief', 'all'), before, 'nothing stored for the refusals');
    assert.equal((await usageOf('thief')).requests, 1, 'only the unstored response was billed');
  });

  it('keeps stored responses out of the user\'s chat list (archived conversations)', async () => {
    await client('lister').responses.create({ model: 'gpt', input: 'one' });
    assert.deepEqual(await conversations('lister', 'false'), []);
    const all = await conversations('lister', 'all');
    assert.equal(all.length, 1);
    assert.equal(all[0].metadata.source, 'responses-api');
  });
});

describe('text parts of one message', { timeout: 30000 }, () => {
  it('are joined a newline apart, not glued, in a message\'s text (chat API and gateway alike)', async () => {
    const parts = [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'world' }];
    // The offline mock model repeats the message's text: the joined text, as stored and sent.
    const chat = assertOk(await svc.post('/api/ai/chat', { token: svc.token('parts'), json: { message: parts, model: 'mock' } }));
    assert.match(chat.message, /You said: "Hello\nworld"/);
    const r = await client('parts').chat.completions.create({ model: 'mock', messages: [{ role: 'user', content: parts }] });
    assert.match(r.choices[0].message.content, /You said: "Hello\nworld"/);
  });
});

describe('models.retrieve', { timeout: 30000 }, () => {
  it('returns a configured model, and a NotFoundError in OpenAI\'s shape for another', async () => {
    const m = await client('models').models.retrieve('claude');
    assert.deepEqual(m, { id: 'claude', object: 'model', created: 0, owned_by: 'ai-agent-service' });
    const e = await rejectionOf(client('models').models.retrieve('nope'));
    assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name} ${e.message}`);
    assert.equal(e.status, 404);
    // As OpenAI answers an unknown model.
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'model_not_found');
  });
});

describe('errors on the new routes, in OpenAI\'s shape, nothing billed', { timeout: 60000 }, () => {
  const cases = [
    ['responses without input', (c) => c.responses.create({ model: 'gpt' }), /'input'/, 'input'],
    ['responses with a built-in tool', (c) => c.responses.create({ model: 'gpt', input: 'hi', tools: [{ type: 'web_search' }] }), /built-in tools/, 'tools[0].type'],
    ['responses with reasoning', (c) => c.responses.create({ model: 'gpt', input: 'hi', reasoning: { effort: 'high' } }), /'reasoning' is not supported/, 'reasoning'],
    ['a function_call_output answering no call', (c) => c.responses.create({ model: 'gpt', input: [{ type: 'function_call_output', call_id: 'x', output: 'y' }] }), /tool_call_id/, undefined],
    ['completions without a prompt', (c) => c.completions.create({ model: 'gpt' }), /'prompt'/, 'prompt'],
    ['completions with n 9', (c) => c.completions.create({ model: 'gpt', prompt: 'hi', n: 9 }), /'n' must be an integer from 1 to 8/, 'n'],
    ['completions with echo', (c) => c.completions.create({ model: 'gpt', prompt: 'hi', echo: true }), /'echo'/, 'echo'],
    ['completions streaming two prompts', (c) => c.completions.create({ model: 'gpt', prompt: ['a', 'b'], stream: true }), /one string when streaming/, 'prompt'],
  ];
  for (const [what, call, message, param] of cases) {
    it(`${what} is a BadRequestError (400 invalid_request_error)`, async () => {
      const e = await rejectionOf(call(client('refused')));
      assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name} ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.code, 'invalid_request');
      assert.match(e.message, message);
      if (param !== undefined) assert.equal(e.param, param);
    });
  }

  it('a malformed body answers OpenAI\'s shape exactly; nothing was billed for any refusal', async () => {
    for (const route of ['responses', 'completions', 'chat/completions', 'embeddings']) {
      const res = await fetch(`${svc.url}/api/ai/v1/${route}`, {
        method: 'POST', headers: { authorization: `Bearer ${svc.token('refused')}`, 'content-type': 'application/json' }, body: '[1',
      });
      assert.equal(res.status, 400, route);
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ['error'], route);
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], route);
      assert.equal(body.error.type, 'invalid_request_error');
      assert.ok(res.headers.get('x-request-id'));
    }
    assert.equal((await usageOf('refused')).requests, 0);
  });

  it('an unknown /v1 route is a 404 in OpenAI\'s shape, and the service\'s own routes keep theirs', async () => {
    const res = await fetch(`${svc.url}/api/ai/v1/assistants`, { headers: { authorization: `Bearer ${svc.token('x')}` } });
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.type, 'not_found_error');
    const own = await fetch(`${svc.url}/api/ai/nope`);
    assert.equal((await own.json()).success, false);
  });

});
