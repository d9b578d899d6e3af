// Shared by soak.mjs and fairness.mjs: the two binaries named on the command line, and the helpers
// of tests/blackbox/lib that start them (mock-llm and the service on loopback, each in a temp dir).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const blackbox = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'blackbox');

export async function harness(script) {
  const [serviceBin, mockBin] = process.argv.slice(2);
  if (!serviceBin || !mockBin) {
    console.error(`usage: node bench/soak/${script} SERVICE_BIN MOCK_LLM_BIN`);
    process.exit(2);
  }
  // Read by tests/blackbox/lib when it is first imported.
  process.env.AAS_BIN = path.resolve(serviceBin);
  process.env.MOCK_LLM_BIN = path.resolve(mockBin);
  const { startMockLlm } = await import(path.join(blackbox, 'lib', 'mock-llm.mjs'));
  const { startService } = await import(path.join(blackbox, 'lib', 'service.mjs'));
  // mock-llm, then the service on the models `modelsFor(mockUrl)` writes (YAML of AI_CONFIG), with
  // the per-user limits and the per-address connection cap off (one loopback client plays every
  // user) and `env` on top.
  async function start(modelsFor, env = {}) {
    const mock = await startMockLlm({ args: ['--threads', '1'] });
    const modelsFile = path.join(fs.mkdtempSync('/tmp/aas-bench-'), 'models.yaml');
    fs.writeFileSync(modelsFile, modelsFor(mock.url));
    const svc = await startService({
      env: { AI_CONFIG: modelsFile, LIMIT_RPM: '0', LIMIT_TPM: '0', LIMIT_CONCURRENT_STREAMS: '0', MAX_CONNECTIONS_PER_IP: '0', ...env },
    });
    return { mock, svc };
  }
  return { serviceBin, start };
}
