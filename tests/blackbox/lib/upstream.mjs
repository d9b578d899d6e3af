// A service whose models are served by a real tools/mock-llm: starts the mock, writes the
// AI_CONFIG file that `models(mockUrl)` returns (YAML), and starts the service on it.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { startMockLlm } from './mock-llm.mjs';
import { makeTempDir, startService } from './service.mjs';

export async function startWithMockLlm(models, { env = {}, mockArgs = [] } = {}) {
  const mock = await startMockLlm({ args: mockArgs });
  const dir = makeTempDir();
  const file = path.join(dir, 'models.yaml');
  writeFileSync(file, models(mock.url));
  try {
    const svc = await startService({ dir, env: { AI_CONFIG: file, ...env } });
    return { mock, svc };
  } catch (e) {
    await mock.stop();
    throw e;
  }
}

// One model, `paced`, whose answers mock-llm drips at 20 words a second, PACED_ANSWER_TOKENS
// words: ten seconds unless stopped (the stop suites).
export const PACED_ANSWER_TOKENS = 200;
export const pacedModels = (url) => `models:
  - name: paced
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: "${url}/v1"
        api_key: sk-test
        headers: {x-mock-tokens-per-second: "20", x-mock-answer-tokens: "${PACED_ANSWER_TOKENS}", x-mock-key: "paced"}
`;

// The two models every gateway suite routes to mock-llm, one per wire format, priced alike:
// `gpt` (OpenAI-compatible) and `claude` (Anthropic), as YAML entries of `models:`.
export const bothWireModels = (url) => `  - name: gpt
    price: {input: 1, output: 2}
    deployments:
      - {provider: openai, model: gpt-4o-mini, base_url: "${url}/v1", api_key: sk}
  - name: claude
    price: {input: 1, output: 2}
    deployments:
      - {provider: anthropic, model: claude-3-5-haiku-latest, base_url: "${url}/v1", api_key: sk}
`;
