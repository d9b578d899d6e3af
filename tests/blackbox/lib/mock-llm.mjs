// Starts and stops the built mock-llm binary (tools/mock-llm): a fake OpenAI + Anthropic upstream
// on a free loopback port, killed whatever happens to the test.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// ctest sets MOCK_LLM_BIN; by hand the default is <repo>/build/mock-llm.
export const MOCK_LLM_BIN = process.env.MOCK_LLM_BIN
  ? path.resolve(process.env.MOCK_LLM_BIN)
  : path.resolve(here, '..', '..', '..', 'build', 'mock-llm');

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

const LISTENING = /mock-llm listening on http:\/\/([^\s:/]+):(\d+)/;

export class MockLlm {
  constructor(child) {
    this.child = child;
    this.stderr = '';
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { this.stderr += d; });
    child.stdout.resume();
  }

  // GET /mock/stats: { requests: { total, by_path, by_key }, streams: { open, completed,
  // cancelled, dropped, by_key } }.
  async stats() {
    const res = await fetch(`${this.url}/mock/stats`);
    if (res.status !== 200) throw new Error(`GET /mock/stats: ${res.status}`);
    return res.json();
  }

  // The stream counters of one x-mock-key (zeros when it opened none).
  async streamsOf(key) {
    const s = await this.stats();
    return s.streams.by_key[key] ?? { open: 0, completed: 0, cancelled: 0, dropped: 0 };
  }

  async stop(sig = 'SIGTERM', timeoutMs = 10000) {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const r = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exit;
      throw new Error(`mock-llm pid ${this.child.pid} did not exit within ${timeoutMs} ms of ${sig}`);
    }
    return r;
  }
}

// Starts `mock-llm --port 0 [args]` and resolves once it printed its port.
export async function startMockLlm({ args = [], startTimeoutMs = 10000 } = {}) {
  if (!existsSync(MOCK_LLM_BIN)) {
    throw new Error(`mock-llm binary not found at ${MOCK_LLM_BIN}; build it or set MOCK_LLM_BIN`);
  }
  const child = spawn(MOCK_LLM_BIN, ['--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  live.add(child);
  const mock = new MockLlm(child);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mock-llm printed no "listening on" line within ${startTimeoutMs} ms; stderr:\n${mock.stderr}`));
    }, startTimeoutMs);
    const onData = () => {
      const m = LISTENING.exec(mock.stderr);
      if (!m) return;
      clearTimeout(timer);
      child.stderr.off('data', onData);
      mock.port = Number(m[2]);
      mock.url = `http://${m[1]}:${mock.port}`;
      resolve();
    };
    child.stderr.on('data', onData);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`mock-llm exited before listening (code ${code}, signal ${signal}); stderr:\n${mock.stderr}`));
    });
  });
  return mock;
}
