// Shared by the agent's suites and bench/agent: the service started with an AI_CONFIG file of one
// OpenAI-shaped model on mock-llm (`agent-model`) followed by `rest` (tools:, mcp: ...).
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { makeTempDir, startService } from './service.mjs';

export const agentModelYaml = (mockUrl) => `models:
  - name: agent-model
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${mockUrl}/v1", api_key: sk-test}
`;

export function startAgentService(mockUrl, rest, { env = {}, ...opts } = {}) {
  const dir = opts.dir ?? makeTempDir();
  const config = path.join(dir, 'agent.yaml');
  writeFileSync(config, `${agentModelYaml(mockUrl)}${rest}`);
  return startService({ ...opts, dir, env: { AI_CONFIG: config, ...env } });
}
