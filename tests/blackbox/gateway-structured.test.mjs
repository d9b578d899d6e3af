// Structured requests through the OpenAI-compatible gateway, with the official `openai` SDK as the
// client and tools/mock-llm as the upstream, over OpenAI's and Anthropic's wire formats: tool
// round trips (streamed and not), parallel tool calls, JSON mode, image parts, sampling
// parameters, embeddings; and the refusals — each a 400 naming the field, decided before the call
// is admitted, so that nothing is billed. docs/compatibility.md lists what each test backs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';

import { assertOk } from './lib/assert.mjs';
import { bothWireModels, startWithMockLlm } from './lib/upstream.mjs';

const MAX_IMAGE_BYTES = 4096;

// The first bytes of a PNG file, then padding: enough for the magic-byte check.
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(16)]);
const dataUrl = (bytes, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const TIME = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

const ANSWER_SCHEMA = {
  type: 'object',
  properties: { capital: { type: 'string' }, population: { type: 'integer' }, kind: { enum: ['city', 'town'] } },
  required: ['capital', 'population', 'kind'],
};

// Collects a raw SDK stream: text, the tool-call deltas, the finish reason, the first delta.
async function collect(stream) {
  let text = '';
  const toolDeltas = [];
  let finish;
  let first;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    first ??= choice.delta;
    text += choice.delta?.content ?? '';
    toolDeltas.push(...(choice.delta?.tool_calls ?? []));
    finish = choice.finish_reason ?? finish;
  }
  return { text, toolDeltas, finish, first };
}

let mock;
let svc;
before(async () => {
  ({ mock, svc } = await startWithMockLlm((url) => `models:
${bothWireModels(url)}  - name: embedder
    price: {input: 0.5, output: 0}
    deployments:
      - {provider: openai, model: text-embedding-3-small, base_url: "${url}/v1", api_key: sk}
`, { env: { EMBEDDING_MODEL: 'embedder', MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES) } }));
});
after(async () => {
  await svc?.stop();
  await mock?.stop();
});

const client = (user) => new OpenAI({ baseURL: `${svc.url}/api/ai/v1`, apiKey: svc.token(user), maxRetries: 0 });
const usageOf = async (user) => assertOk(await svc.get('/api/ai/usage/me', { token: svc.token(user) })).totals;

// Every feature that works through both kinds of upstream is tested through both.
for (const model of ['gpt', 'claude']) {
  describe(`structured chat completions through ${model}`, { timeout: 60000 }, () => {
    const openai = () => client(`structured-${model}`);

    it('makes a tool round trip, not streamed: the call, then the answer to its result', async () => {
      const ask = { model, tools: [WEATHER], messages: [{ role: 'user', content: 'call get_weather {"city": "Paris"}' }] };
      const r = await openai().chat.completions.create(ask);
      assert.equal(r.choices[0].finish_reason, 'tool_calls');
      const { message } = r.choices[0];
      assert.equal(message.content, null, 'only tool calls: no content');
      assert.equal(message.tool_calls.length, 1);
      assert.equal(message.tool_calls[0].type, 'function');
      assert.equal(message.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(message.tool_calls[0].function.arguments), { city: 'Paris' });
      assert.ok(message.tool_calls[0].id);
      assert.ok(r.usage.completion_tokens > 0);

      const next = await openai().chat.completions.create({
        ...ask,
        messages: [...ask.messages, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: 'sunny, 21 degrees' }],
      });
      assert.equal(next.choices[0].finish_reason, 'stop');
      assert.equal(next.choices[0].message.content, 'Mock answer with tool result: sunny, 21 degrees');
    });

    it('makes a tool round trip, streamed: delta.tool_calls as OpenAI sends them', async () => {
      const ask = { model, tools: [WEATHER], messages: [{ role: 'user', content: 'call get_weather {"city": "Oslo"}' }] };
      const raw = await collect(await openai().chat.completions.create({ ...ask, stream: true }));
      assert.equal(raw.finish, 'tool_calls');
      assert.equal(raw.text, '');
      assert.deepEqual(raw.first, { role: 'assistant', content: null }, 'the role chunk of a tool-call answer');
      const [head, ...rest] = raw.toolDeltas;
      assert.equal(head.index, 0);
      assert.ok(head.id);
      assert.equal(head.type, 'function');
      assert.equal(head.function.name, 'get_weather');
      assert.equal(head.function.arguments, '', 'the first chunk of a call has empty arguments');
      assert.ok(rest.length >= 1 && rest.every((d) => d.index === 0 && d.id === undefined));
      assert.deepEqual(JSON.parse(rest.map((d) => d.function.arguments).join('')), { city: 'Oslo' });

      // The SDK's helper assembles the call; the result goes back streamed too.
      const final = await openai().chat.completions.stream(ask).finalChatCompletion();
      const call = final.choices[0].message.tool_calls[0];
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Oslo' });
      const next = await collect(await openai().chat.completions.create({
        ...ask,
        stream: true,
        messages: [...ask.messages, final.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'rain' }],
      }));
      assert.equal(next.text, 'Mock answer with tool result: rain');
      assert.equal(next.finish, 'stop');
    });

    it('returns parallel tool calls, streamed and not', async () => {
      const ask = {
        model,
        tools: [WEATHER, TIME],
        parallel_tool_calls: true,
        messages: [{ role: 'user', content: 'call get_weather {"city":"Rome"} and call get_time {"city":"Rome"}' }],
      };
      const r = await openai().chat.completions.create(ask);
      const names = r.choices[0].message.tool_calls.map((c) => c.function.name);
      assert.deepEqual(names, ['get_weather', 'get_time']);
      assert.notEqual(r.choices[0].message.tool_calls[0].id, r.choices[0].message.tool_calls[1].id);
      const final = await openai().chat.completions.stream(ask).finalChatCompletion();
      assert.deepEqual(final.choices[0].message.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
        [['get_weather', { city: 'Rome' }], ['get_time', { city: 'Rome' }]]);
    });

    it('obeys a named tool_choice', async () => {
      const r = await openai().chat.completions.create({
        model, tools: [WEATHER, TIME], tool_choice: { type: 'function', function: { name: 'get_weather' } },
        messages: [{ role: 'user', content: 'what is the weather' }],
      });
      assert.equal(r.choices[0].message.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { city: 'mock' });
    });

    it('answers JSON that fits a json_schema, streamed and not', async () => {
      const ask = {
        model,
        messages: [{ role: 'user', content: 'capital of France?' }],
        response_format: { type: 'json_schema', json_schema: { name: 'capital_answer', schema: ANSWER_SCHEMA } },
      };
      const r = await openai().chat.completions.create(ask);
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.equal(r.choices[0].message.tool_calls, undefined);
      assert.deepEqual(JSON.parse(r.choices[0].message.content), { capital: 'mock', population: 0, kind: 'city' });
      const streamed = await collect(await openai().chat.completions.create({ ...ask, stream: true }));
      assert.equal(streamed.finish, 'stop');
      assert.deepEqual(JSON.parse(streamed.text), { capital: 'mock', population: 0, kind: 'city' });
    });

    it('answers valid JSON for json_object', async () => {
      const r = await openai().chat.completions.create({
        model, response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'answer in JSON' }],
      });
      assert.equal(typeof JSON.parse(r.choices[0].message.content), 'object');
    });

    it('takes image parts (a data URL and an https URL) and counts them as prompt tokens', async () => {
      const r = await openai().chat.completions.create({
        model,
        messages: [{ role: 'user', content: [
          { type: 'text', text: 'what is this' },
          { type: 'image_url', image_url: { url: dataUrl(PNG), detail: 'auto' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
      });
      assert.equal(r.choices[0].message.content, 'Mock answer to: what is this');
      assert.equal(r.usage.prompt_tokens, 3 + 2 * 765, "mock-llm's words plus its 765 per image");
    });

    it('answers a tool_choice of none or auto with text', async () => {
      for (const tool_choice of ['none', 'auto']) {
        const r = await openai().chat.completions.create({ model, tools: [WEATHER], tool_choice, messages: [{ role: 'user', content: 'hello' }] });
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.equal(r.choices[0].message.content, 'Mock answer to: hello');
      }
    });

    it('passes top_p, stop and user', async () => {
      const r = await openai().chat.completions.create({
        model, top_p: 0.5, stop: ['never'], user: 'end-user-1', messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(r.choices[0].message.content, 'Mock answer to: hi');
    });
  });
}

describe('parameters only an OpenAI-compatible upstream honours', { timeout: 60000 }, () => {
  const params = { seed: 7, presence_penalty: 0.5, frequency_penalty: 0.5 };

  it('passes seed and the penalties to an OpenAI-compatible upstream', async () => {
    const r = await client('params-gpt').chat.completions.create({ model: 'gpt', ...params, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, 'Mock answer to: hi');
  });

  for (const [key, value] of Object.entries(params)) {
    it(`refuses ${key} for an Anthropic model with a 400 naming it`, async () => {
      await assert.rejects(
        client('params-claude').chat.completions.create({ model: 'claude', [key]: value, messages: [{ role: 'user', content: 'hi' }] }),
        (e) => e instanceof OpenAI.BadRequestError && e.message.includes(`'${key}'`) && e.message.includes('Anthropic'));
    });
  }

  it('passes a message name and image detail to an OpenAI-compatible upstream, refuses them for Anthropic', async () => {
    const named = { messages: [{ role: 'user', name: 'alice', content: 'hi' }] };
    const detailed = { messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: dataUrl(PNG), detail: 'low' } }] }] };
    for (const [body, field] of [[named, "'messages[0].name'"], [detailed, "'messages[0].content[1].image_url.detail'"]]) {
      const ok = await client('params-gpt').chat.completions.create({ model: 'gpt', ...body });
      assert.equal(ok.choices[0].finish_reason, 'stop');
      await assert.rejects(client('params-claude').chat.completions.create({ model: 'claude', ...body }),
        (e) => e instanceof OpenAI.BadRequestError && e.message.includes(field));
    }
  });

  it("billed nothing for the provider's refusals: they come before admission", async () => {
    const before = await usageOf('params-claude');
    await assert.rejects(client('params-claude').chat.completions.create({ model: 'claude', seed: 1, messages: [{ role: 'user', content: 'hi' }] }),
      OpenAI.BadRequestError);
    assert.deepEqual(await usageOf('params-claude'), before);
    assert.equal(before.requests, 0);
  });

  it('refuses strict tools for an Anthropic model', async () => {
    const strict = { type: 'function', function: { ...WEATHER.function, strict: true } };
    await assert.rejects(
      client('params-claude').chat.completions.create({ model: 'claude', tools: [strict], messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof OpenAI.BadRequestError && e.message.includes("'tools[0].function.strict'"));
  });
});

describe('refused requests: a 400 naming the field, and nothing billed', { timeout: 60000 }, () => {
  const user = 'refused-user';
  const ask = (body) => client(user).chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'hi' }], ...body });
  const image = (url) => ({ messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url } }] }] });

  const cases = [
    ['n over 8', { n: 9 }, "'n' must be an integer from 1 to 8"],
    ['top_logprobs without logprobs', { top_logprobs: 2 }, "'top_logprobs' requires 'logprobs' to be true"],
    ['logit_bias', { logit_bias: { 50256: -100 } }, "'logit_bias' is not supported"],
    ['functions', { functions: [{ name: 'f', parameters: {} }] }, "'functions' is not supported: use 'tools'"],
    ['an input_audio part', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] },
      "'messages[0].content[0].type' input_audio is not supported"],
    ['tool parameters that are not an object', { tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] },
      "'tools[0].function.parameters' must be a JSON object"],
    ['a tool name with spaces', { tools: [{ type: 'function', function: { name: 'get weather' } }] }, "'tools[0].function.name'"],
    ['a tool_choice naming no given tool', { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } }, "'tool_choice'"],
    ['a tool result that answers no call', {
      messages: [{ role: 'user', content: 'hi' }, { role: 'tool', tool_call_id: 'call_unknown', content: 'x' }],
    }, "'messages[1].tool_call_id' does not answer a tool call"],
    ['a json_schema without a schema object', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: 'no' } } },
      "'response_format.json_schema.schema'"],
    ['an image that is not an image', image(dataUrl(Buffer.from('just some text, no image'))),
      "'messages[0].content[1].image_url' is not a png image"],
    ['base64 garbage', image('data:image/png;base64,@@not*base64@@'), "'messages[0].content[1].image_url' is not valid base64"],
    ['a data URL of another media type', image(dataUrl(PNG, 'text/plain')), "'messages[0].content[1].image_url' must be an image/png"],
    ['an image over MAX_IMAGE_BYTES', image(dataUrl(Buffer.concat([PNG, Buffer.alloc(MAX_IMAGE_BYTES)]))),
      `'messages[0].content[1].image_url' is larger than ${MAX_IMAGE_BYTES} bytes`],
    ['an image in an assistant message', {
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'image_url', image_url: { url: dataUrl(PNG) } }] }, { role: 'user', content: 'x' }],
    }, "'messages[1].content[0].image_url' is only allowed in user messages"],
  ];
  for (const [what, body, message] of cases) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(ask(body), (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, e.message);
        assert.ok(e.message.includes(message), `${e.message} should include ${message}`);
        return true;
      });
    });
  }

  it('billed none of them: usage/me shows no request', async () => {
    const before = await usageOf(user);
    await assert.rejects(ask({ n: 9 }), OpenAI.BadRequestError);
    await assert.rejects(ask(image('data:image/png;base64,!!!!')), OpenAI.BadRequestError);
    const now = await usageOf(user);
    assert.equal(now.requests, 0);
    assert.deepEqual(now, before);
  });
});


describe('embeddings through the openai SDK', { timeout: 60000 }, () => {
  const openai = () => client('embed-user');
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));

  it('embeds one text (the SDK asks for base64 and decodes it) into a unit vector', async () => {
    const r = await openai().embeddings.create({ model: 'embedder', input: 'the quick brown fox' });
    assert.equal(r.object, 'list');
    assert.equal(r.model, 'embedder');
    assert.equal(r.data.length, 1);
    assert.equal(r.data[0].embedding.length, 1536);
    assert.ok(Math.abs(norm(r.data[0].embedding) - 1) < 1e-5);
    assert.equal(r.usage.prompt_tokens, 4);
  });

  it('embeds a batch in input order, with lexical similarity', async () => {
    const input = ['the cat sat on the mat', 'a cat sat on a mat', 'quarterly revenue grew'];
    const r = await openai().embeddings.create({ model: 'embedder', input, encoding_format: 'float' });
    assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
    const [a, b, c] = r.data.map((d) => d.embedding);
    assert.ok(cosine(a, b) > cosine(a, c), 'texts sharing words are closer');
    const single = await openai().embeddings.create({ model: 'embedder', input: input[2], encoding_format: 'float' });
    assert.deepEqual(single.data[0].embedding, c, 'the same text, the same vector');
  });

  it('honours dimensions, and base64 carries the same float32 values as float', async () => {
    const ask = { model: 'embedder', input: 'hello world', dimensions: 8 };
    const floats = await openai().embeddings.create({ ...ask, encoding_format: 'float' });
    assert.equal(floats.data[0].embedding.length, 8);
    const raw = await svc.post('/api/ai/v1/embeddings', { token: svc.token('embed-user'), json: { ...ask, encoding_format: 'base64' } });
    assert.equal(raw.status, 200, raw.text);
    const bytes = Buffer.from(raw.body.data[0].embedding, 'base64');
    assert.equal(bytes.length, 8 * 4);
    const decoded = Array.from({ length: 8 }, (_, i) => bytes.readFloatLE(i * 4));
    assert.deepEqual(decoded, floats.data[0].embedding);
  });

  it('uses EMBEDDING_MODEL when the request names none', async () => {
    const r = await svc.post('/api/ai/v1/embeddings', { token: svc.token('embed-user'), json: { input: 'x' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.model, 'embedder');
  });

  it('refuses a model that cannot embed, token arrays and empty input with a 400', async () => {
    await assert.rejects(openai().embeddings.create({ model: 'claude', input: 'x' }),
      (e) => e instanceof OpenAI.BadRequestError && e.message.includes('model claude cannot embed'));
    // A chat model is not an embedding model, even behind an upstream that has embeddings; and
    // the other way round.
    await assert.rejects(openai().embeddings.create({ model: 'gpt', input: 'x' }),
      (e) => e instanceof OpenAI.BadRequestError && e.message.includes('model gpt cannot embed'));
    await assert.rejects(openai().chat.completions.create({ model: 'embedder', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof OpenAI.BadRequestError && e.message.includes('model embedder is an embedding model'));
    await assert.rejects(openai().embeddings.create({ model: 'embedder', input: [[1, 2, 3]] }),
      (e) => e instanceof OpenAI.BadRequestError && e.message.includes('token arrays are not supported'));
    await assert.rejects(openai().embeddings.create({ model: 'embedder', input: [] }), OpenAI.BadRequestError);
    await assert.rejects(openai().embeddings.create({ model: 'embedder', input: 'x', encoding_format: 'int8' }), OpenAI.BadRequestError);
  });

  // A ledger row of kind 'embedding' (store migration 7).
  it('bills an embedding call at the input price, under the limits', async () => {
    const user = 'embed-billed';
    const before = await usageOf(user);
    await client(user).embeddings.create({ model: 'embedder', input: 'one two three four' });
    const now = await usageOf(user);
    assert.equal(now.requests, before.requests + 1);
    assert.equal(now.inputTokens, before.inputTokens + 4);
    assert.equal(now.outputTokens, before.outputTokens);
    assert.ok(now.cost > before.cost);
  });
});
