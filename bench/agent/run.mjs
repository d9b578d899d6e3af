#!/usr/bin/env node
// The agent's own cost (issue 15): what a two-step agent turn (model -> one tool call into the
// monolith -> model) adds beyond the model calls and the tool call themselves.
//
//   AAS_BIN=build/test/ai-agent-service MOCK_LLM_BIN=build/test/mock-llm node bench/agent/run.mjs [TURNS]
//   BENCH_THREADS=1 ...   runs the service with that many I/O threads (THREADS) instead of one per core
//
// Starts tools/mock-llm, the stand-in todo app (examples/todo-app) and the service with the todo
// app's tools, then, one at a time (no concurrency: the figure is latency, not throughput):
//   - TURNS agent turns `call list_todos {}` (two model calls, one tool call), non-streamed, then
//     TURNS one-step turns (`hello`: the model answers at once) for scale;
//   - TURNS direct model calls to mock-llm shaped like each of the two steps, and TURNS direct
//     `GET /api/todos` to the todo app with the same token — what the model and the tool cost
//     from outside the service.
// overhead = turn - (first call + second call + tool call), each at its median; p50 and p90 of
// the turns minus that sum. Prints one JSON line.
// overheadStreamedMs: the same with the model calls measured as the service makes them in an
// agent turn — streamed (`stream: true` with usage) on a kept-alive connection (since session 11
// our HTTP server, and so mock-llm, keeps the connection after a streamed answer; before, every
// streamed model call paid a new connection, and these calls were timed on fresh ones).
// overheadMs (non-streamed) is kept for comparison with earlier figures. The same loopback and process set serve both
// measurements, so the machine's noise is in both.
// Also the service's own CPU time per turn (user + system from /proc/<pid>/stat over all the
// measured turns): what the service spends, model and tool calls' own work excluded (they run in
// mock-llm and the todo app), and far less sensitive to a loaded machine than wall time.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ALICE, login, SERVER as TODO_SERVER } from '../../examples/todo-app/test/lib/app.mjs';
import http from 'node:http';
import { randomSecret } from '../../tests/blackbox/lib/jwt.mjs';
import { startMockLlm } from '../../tests/blackbox/lib/mock-llm.mjs';
import { baseEnv, launch, makeTempDir, startService } from '../../tests/blackbox/lib/service.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TURNS = Number(process.argv[2] ?? 200);
const WARMUP = 20;

// Keep-alive connections everywhere, as the service keeps its own to mock-llm and the todo app:
// no connect in any measured request.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function request(base, method, p, { token, json } = {}) {
  const body = json === undefined ? undefined : JSON.stringify(json);
  const headers = {};
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(p, base), { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; }).on('end', () => {
        let parsed;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, text, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const ms = () => Number(process.hrtime.bigint()) / 1e6;

// CPU seconds (user + system) the process has used so far.
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime, stime in clock ticks (USER_HZ 100)
}

// Context switches (voluntary + involuntary) of all the process's threads so far: each hop of a
// turn between threads (an I/O thread handing work to the blocking pool and back, a pool thread
// waking a writer) is a thread going to sleep and another waking, so this counts the hand-offs.
function contextSwitches(pid) {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
    } catch { /* the thread ended meanwhile */ }
  }
  return n;
}

// `pid`: whose CPU time and context switches over the measured requests are reported in
// out.cpuMsPerRequest and out.switchesPerRequest.
async function timed(fn, n, pid) {
  const out = [];
  let cpu0 = 0;
  let switches0 = 0;
  for (let i = 0; i < n + WARMUP; ++i) {
    if (i === WARMUP && pid) {
      cpu0 = cpuSeconds(pid);
      switches0 = contextSwitches(pid);
    }
    const t = ms();
    const r = await fn(i);
    if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${r.text}`);
    if (i >= WARMUP) out.push(ms() - t);
  }
  if (pid) {
    out.cpuMsPerRequest = ((cpuSeconds(pid) - cpu0) * 1000) / n;
    out.switchesPerRequest = (contextSwitches(pid) - switches0) / n;
  }
  return out;
}

// Start-up is slow on a machine busy with compilers: generous limits.
const START_MS = 120000;
const secret = randomSecret();
const mock = await startMockLlm({ startTimeoutMs: START_MS });
const todo = await launch(process.execPath, [TODO_SERVER], baseEnv({ PORT: '0', HOST: '127.0.0.1', JWT_SECRET: secret }),
  { dir: makeTempDir(), secret, startTimeoutMs: START_MS });
const dir = makeTempDir();
const config = path.join(dir, 'agent.yaml');
writeFileSync(config, `models:
  - name: agent-model
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mock.url}/v1", api_key: sk-bench}
${readFileSync(path.resolve(here, '..', '..', 'examples', 'todo-app', 'ai-tools.yaml'), 'utf8')}`);
const svc = await startService({ secret, dir, startTimeoutMs: START_MS, env: { AI_CONFIG: config, MAIN_BACKEND_URL: todo.url, LIMIT_RPM: '0', LIMIT_TPM: '0', ...(process.env.BENCH_THREADS ? { THREADS: process.env.BENCH_THREADS } : {}) } });
try {
  const token = await login({ post: (p, o) => request(todo.url, 'POST', p, o) }, ALICE);
  const message = 'call list_todos {}';
  const turns = await timed(() => request(svc.url, 'POST', '/api/ai/chat', { token, json: { message, model: 'agent-model' } }), TURNS, svc.pid);
  // For scale: a one-step turn (the model answers at once) on the same service, same moment.
  const plain = await timed(() => request(svc.url, 'POST', '/api/ai/chat', { token, json: { message: 'hello', model: 'agent-model' } }), TURNS, svc.pid);

  // The two model calls as the service makes them (the tools, then the step and its result).
  const first = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful AI assistant for the Todo app.' }, { role: 'user', content: message }],
    tools: [{ type: 'function', function: { name: 'list_todos', parameters: { type: 'object', properties: {} } } }], max_tokens: 4096 };
  const step = (await request(mock.url, 'POST', '/v1/chat/completions', { json: first, token: 'sk-bench' })).body.choices[0].message;
  const second = { ...first, messages: [...first.messages, step, { role: 'tool', tool_call_id: step.tool_calls[0].id, content: '{"items":[]}' }] };
  const call1 = await timed(() => request(mock.url, 'POST', '/v1/chat/completions', { json: first, token: 'sk-bench' }), TURNS);
  const call2 = await timed(() => request(mock.url, 'POST', '/v1/chat/completions', { json: second, token: 'sk-bench' }), TURNS);
  const tool = await timed(() => request(todo.url, 'GET', '/api/todos', { token }), TURNS);
  // The same two calls as the service makes them: streamed with usage.
  const streamed = (body) => ({ ...body, stream: true, stream_options: { include_usage: true } });
  const call1s = await timed(() => request(mock.url, 'POST', '/v1/chat/completions', { json: streamed(first), token: 'sk-bench' }), TURNS);
  const call2s = await timed(() => request(mock.url, 'POST', '/v1/chat/completions', { json: streamed(second), token: 'sk-bench' }), TURNS);

  const parts = quantile(call1, 0.5) + quantile(call2, 0.5) + quantile(tool, 0.5);
  const partsStreamed = quantile(call1s, 0.5) + quantile(call2s, 0.5) + quantile(tool, 0.5);
  const round = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({
    turns: TURNS,
    turnMs: { p50: round(quantile(turns, 0.5)), p90: round(quantile(turns, 0.9)) },
    modelCall1Ms: round(quantile(call1, 0.5)),
    modelCall2Ms: round(quantile(call2, 0.5)),
    toolCallMs: round(quantile(tool, 0.5)),
    overheadMs: { p50: round(quantile(turns, 0.5) - parts), p90: round(quantile(turns, 0.9) - parts) },
    streamedModelCallsMs: [round(quantile(call1s, 0.5)), round(quantile(call2s, 0.5))],
    overheadStreamedMs: { p50: round(quantile(turns, 0.5) - partsStreamed), p90: round(quantile(turns, 0.9) - partsStreamed) },
    oneStepTurnOverheadMs: { p50: round(quantile(plain, 0.5) - quantile(call1, 0.5)),
      streamed: round(quantile(plain, 0.5) - quantile(call1s, 0.5)) },
    serviceCpuMsPerTurn: { twoStep: round(turns.cpuMsPerRequest), oneStep: round(plain.cpuMsPerRequest) },
    serviceContextSwitchesPerTurn: { twoStep: round(turns.switchesPerRequest), oneStep: round(plain.switchesPerRequest) },
  }));
} finally {
  await svc.stop();
  await todo.stop();
  await mock.stop();
}
