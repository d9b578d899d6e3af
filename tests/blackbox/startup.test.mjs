// What the start-up says and does about settings an operator gets subtly wrong: the proxy for
// https upstreams announced, a JWT_SECRET that the configured algorithms leave unused (warned, and
// its tokens refused), a configuration file or public key the start refuses with the key named, and
// a model without a price.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { assertError } from './lib/assert.mjs';
import { makeTempDir, runCli, startService } from './lib/service.mjs';

describe('start-up', { timeout: 120000 }, () => {
  it('announces the https proxy and how many NO_PROXY hosts go direct', async () => {
    const svc = await startService({ env: { HTTPS_PROXY: 'http://proxy.invalid:3128', NO_PROXY: 'localhost,127.0.0.1' } });
    try {
      assert.match(svc.stderr, /https upstreams go through the proxy of HTTPS_PROXY \(2 host\(s\) in NO_PROXY go direct\)/);
      assert.doesNotMatch(svc.stderr, /proxy\.invalid/, 'the proxy URL (it may hold a password) is not logged');
    } finally {
      await svc.stop();
    }
  });

  it('warns that a JWT_SECRET beside a public key is unused, and refuses tokens signed with it', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const svc = await startService({ env: { JWT_PUBLIC_KEY: pem } });  // startService sets JWT_SECRET too
    try {
      assert.match(svc.stderr, /JWT_SECRET is set but HS256 is not in JWT_ALGORITHMS: tokens signed with it are refused/);
      assertError(await svc.get('/api/ai/usage/me', { token: svc.token('alice') }), 401, 'unauthorized');
    } finally {
      await svc.stop();
    }
  });

  it('refuses a JWT_PUBLIC_KEY that is not a key, naming the setting', () => {
    const dir = makeTempDir();
    const r = runCli(['serve'], { env: { JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n',
                                        PORT: '0', DATABASE_URL: `sqlite:${path.join(dir, 'ai.db')}` } });
    assert.equal(r.status, 2, `the start went on: ${r.stderr}`);
    assert.match(r.stderr, /^configuration error: JWT_PUBLIC_KEY: /m);
  });

  it('warns once per model that has no price, whose cost is then null', async () => {
    const svc = await startService({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', OPENAI_MODELS: 'house-model-x' } });
    try {
      assert.match(svc.stderr, /model house-model-x has no price \(not in the price table, no price: in AI_CONFIG\): its cost is reported as null/);
      assert.equal(svc.stderr.match(/model house-model-x has no price/g).length, 1, svc.stderr);
    } finally {
      await svc.stop();
    }
  });

  it('refuses to start on a deployment whose weight is not a number, naming the models section', () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'ai.yaml');
    writeFileSync(file, 'models:\n  - name: fast\n    deployments:\n      - {provider: mock, weight: heavy}\n');
    const r = runCli(['serve'], { env: { AI_CONFIG: file, PORT: '0', DATABASE_URL: `sqlite:${path.join(dir, 'ai.db')}`, JWT_SECRET: 'x'.repeat(32) } });
    assert.notEqual(r.status, 0, `the start went on: ${r.stderr}`);
    assert.match(r.stderr, /models: .*bad conversion/);
  });
});
