// The binary's subcommands: --version, migrate, token (and serve, explicitly named), and the
// first-use settings a new user meets (the development secret, ANTHROPIC_BASE_URL).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { decodeJwt, nowSeconds, randomSecret, verifyHs256 } from './lib/jwt.mjs';
import { startMockLlm } from './lib/mock-llm.mjs';
import { makeTempDir, runCli, startService } from './lib/service.mjs';

const running = new Set();
after(async () => { for (const s of running) await s.kill(); });
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function token(args, secret) {
  const r = runCli(['token', ...args], { env: { JWT_SECRET: secret } });
  assert.equal(r.status, 0, `token ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const t = r.stdout.trim();
  assert.match(t, JWT, `stdout is not a single JWT: ${JSON.stringify(r.stdout)}`);
  return t;
}

describe('--version', () => {
  it('prints a version and exits 0', () => {
    const r = runCli(['--version']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
  });
});

describe('migrate', () => {
  it('creates and migrates a fresh database, idempotently, and the service then is ready', async () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'fresh.db');
    assert.equal(existsSync(file), false);
    const env = { DATABASE_URL: `sqlite:${file}`, JWT_SECRET: randomSecret() };
    const r1 = runCli(['migrate'], { env });
    assert.equal(r1.status, 0, `migrate exited ${r1.status}: ${r1.stderr}`);
    assert.ok(existsSync(file), 'migrate created the database file');
    const r2 = runCli(['migrate'], { env });
    assert.equal(r2.status, 0, `second migrate exited ${r2.status}: ${r2.stderr}`);

    const svc = await startService({ dir, secret: env.JWT_SECRET, env: { DATABASE_URL: env.DATABASE_URL }, args: ['serve'] });
    running.add(svc);
    const ready = await svc.get('/ready');
    assert.equal(ready.status, 200, ready.text);
    const h = assertOk(await svc.get('/api/ai/admin/health', { token: svc.token('ops', { admin: true }) }));
    assert.equal(h.database.schemaVersion, h.database.latestSchemaVersion);
    assert.deepEqual(await svc.stop(), { code: 0, signal: null });
    running.delete(svc);
  });
});

describe('token', () => {
  it('prints an HS256 JWT for the user, signed with JWT_SECRET, valid for an hour by default', () => {
    const secret = randomSecret();
    const t = token(['--user', 'alice'], secret);
    const { header, payload } = decodeJwt(t);
    assert.equal(header.alg, 'HS256');
    assert.ok(verifyHs256(t, secret), 'signature verifies with JWT_SECRET');
    assert.ok(!verifyHs256(t, randomSecret()));
    assert.equal(payload.sub ?? payload.id ?? payload.userId, 'alice');
    assert.ok(Math.abs(payload.exp - (nowSeconds() + 3600)) <= 60, `exp ${payload.exp} is not about an hour from now`);
  });

  it('honours --ttl', () => {
    const { payload } = decodeJwt(token(['--user', 'bob', '--ttl', '2h'], randomSecret()));
    assert.ok(Math.abs(payload.exp - (nowSeconds() + 7200)) <= 60, `exp ${payload.exp} is not about 2h from now`);
  });

  it('reads --ttl as seconds, minutes, hours or days, and refuses anything else with exit 2', () => {
    const secret = randomSecret();
    for (const [ttl, seconds] of [['90', 90], ['90s', 90], ['30m', 1800], ['7d', 604800]]) {
      const { payload } = decodeJwt(token(['--user', 'u', '--ttl', ttl], secret));
      assert.equal(payload.exp - payload.iat, seconds, `--ttl ${ttl}`);
    }
    for (const ttl of ['0', '5w', 'soon', '']) {
      const r = runCli(['token', '--user', 'u', '--ttl', ttl], { env: { JWT_SECRET: secret } });
      assert.equal(r.status, 2, `--ttl '${ttl}': ${r.stderr}`);
      assert.match(r.stderr, /--ttl: expected a duration such as 3600, 30m, 1h or 7d/);
      assert.equal(r.stdout, '');
    }
  });

  it('stops with exit 2 naming a bad setting, and with exit 1 on a fatal error, the password left out', () => {
    const bad = runCli(['token', '--user', 'u'], { env: { JWT_SECRET: randomSecret(), PORT: 'many' } });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /^configuration error: PORT: must be an integer from 0 to 65535, got 'many'$/m);
    const fatal = runCli(['migrate'], {
      env: { JWT_SECRET: randomSecret(), DATABASE_URL: 'postgresql://app:s3cret@127.0.0.1:1/aas?connect_timeout=2' },
    });
    assert.equal(fatal.status, 1, fatal.stderr);
    assert.match(fatal.stderr, /^fatal: .*app:\*\*\*@127\.0\.0\.1:1/m);
    assert.doesNotMatch(fatal.stderr, /s3cret/);
  });

  it('fails without --user', () => {
    const r = runCli(['token'], { env: { JWT_SECRET: randomSecret() } });
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout.trim(), JWT);
  });

  it('issues tokens the service accepts: user, admin, and not one from another secret', async () => {
    const svc = await startService();
    running.add(svc);
    const user = token(['--user', 'cli-user'], svc.secret);
    const admin = token(['--user', 'cli-admin', '--admin'], svc.secret);
    const foreign = token(['--user', 'cli-user'], randomSecret());

    const created = assertOk(await svc.post('/api/ai/conversations', { token: user, json: { title: 'from cli token' } }), 201);
    const mine = assertOk(await svc.get('/api/ai/conversations', { token: svc.token('cli-user') }));
    assert.deepEqual(mine.items.map((c) => c.id), [created.id], 'the CLI token names the same user as sub=cli-user');
    assertError(await svc.get('/api/ai/admin/health', { token: user }), 403, 'forbidden');
    assertOk(await svc.get('/api/ai/admin/health', { token: admin }));
    assertError(await svc.get('/api/ai/conversations', { token: foreign }), 401, 'unauthorized');
    assert.deepEqual(await svc.stop(), { code: 0, signal: null });
    running.delete(svc);
  });
});

describe('token without JWT_SECRET (the development secret)', () => {
  it('says where the secret it signed with is, and that it created one when there was none', () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'data', 'dev-jwt-secret');
    const first = runCli(['token', '--user', 'dev'], { cwd: dir });
    assert.equal(first.status, 0, first.stderr);
    assert.ok(first.stderr.includes(`created a new development secret at ${file}`), first.stderr);
    assert.match(first.stderr, /will refuse this token/);
    const second = runCli(['token', '--user', 'dev'], { cwd: dir });
    assert.equal(second.status, 0, second.stderr);
    assert.ok(second.stderr.includes(`signed with the development secret at ${file}`), second.stderr);
    assert.doesNotMatch(second.stderr, /created/);
    const secret = readFileSync(file, 'utf8').trim();
    assert.ok(verifyHs256(first.stdout.trim(), secret) && verifyHs256(second.stdout.trim(), secret), 'both signed with that file\'s secret');
  });
});

describe('ANTHROPIC_BASE_URL', () => {
  it('sends the Anthropic models to that upstream with ANTHROPIC_API_KEY (it was ignored, the key went to the vendor)', async () => {
    const mock = await startMockLlm({ args: ['--require-key', 'sk-local'] });
    try {
      const svc = await startService({ env: { ANTHROPIC_BASE_URL: `${mock.url}/v1`, ANTHROPIC_API_KEY: 'sk-local', ANTHROPIC_MODELS: 'claude-3-5-haiku-latest' } });
      running.add(svc);
      const before = (await mock.stats()).requests.by_path['/v1/messages'] ?? 0;
      const res = await fetch(`${svc.url}/api/ai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc.token('u')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'Hi there' }] }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).choices[0].message.content, 'Mock answer to: Hi there');
      assert.equal((await mock.stats()).requests.by_path['/v1/messages'], before + 1);
      await svc.stop();
      running.delete(svc);
    } finally {
      await mock.stop();
    }
  });
});

describe('configuration', () => {
  it('fails fast naming the key on an invalid setting', () => {
    const dir = makeTempDir();
    const r = runCli([], { env: { PORT: '0', DATABASE_URL: `sqlite:${path.join(dir, 'x.db')}`, JWT_SECRET: randomSecret(), MAX_BODY_BYTES: 'lots' }, timeoutMs: 10000 });
    assert.notEqual(r.status, 0, 'started despite MAX_BODY_BYTES=lots');
    assert.equal(r.signal, null, 'it exited by itself (not killed by the timeout)');
    assert.match(r.stderr, /MAX_BODY_BYTES/);
  });
});
