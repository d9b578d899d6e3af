// Bearer JWT verification as seen from outside: every bad token is a 401 envelope with
// WWW-Authenticate, and the user is taken from `sub`, then `id`, then `userId`.
import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { assertError, assertOk } from './lib/assert.mjs';
import { runCli, startService } from './lib/service.mjs';
import { decodeJwt, encodeJwt, makeToken, nowSeconds, randomSecret, tamperPayload } from './lib/jwt.mjs';

let svc;
before(async () => { svc = await startService(); });
after(async () => { await svc?.stop(); });

async function expect401(headers, what) {
  const res = await svc.get('/api/ai/conversations', { headers });
  assertError(res, 401, 'unauthorized');
  assert.match(String(res.headers['www-authenticate']), /^Bearer\b/, `WWW-Authenticate for ${what}`);
  return res;
}
const bearer = (t) => ({ authorization: `Bearer ${t}` });

describe('rejected tokens', () => {
  it('no Authorization header', async () => { await expect401({}, 'missing'); });

  it('malformed Authorization headers', async () => {
    const good = svc.token('alice');
    for (const h of ['Bearer', 'Bearer ', 'Bearer not-a-jwt', 'Bearer a.b.c', 'Bearer ...', `Basic ${Buffer.from('alice:pw').toString('base64')}`,
      `Token ${good}`, good, `Bearer ${good}.extra`, `Bearer ${good.split('.').slice(0, 2).join('.')}`]) {
      await expect401({ authorization: h }, h);
    }
  });

  it('expired beyond the leeway', async () => {
    const t = makeToken(svc.secret, { sub: 'alice' }, { now: nowSeconds() - 7200, ttl: 3600 });
    await expect401(bearer(t), 'expired');
  });

  it('not valid before a future nbf', async () => {
    const t = makeToken(svc.secret, { sub: 'alice', nbf: nowSeconds() + 3600 });
    await expect401(bearer(t), 'nbf');
  });

  it('tampered payload (signature of another payload)', async () => {
    const t = tamperPayload(svc.token('alice'), { sub: 'mallory' });
    await expect401(bearer(t), 'tampered');
    const admin = tamperPayload(svc.token('alice'), { role: 'admin' });
    const res = await svc.get('/api/ai/admin/health', { token: admin });
    assertError(res, 401, 'unauthorized');
  });

  it('tampered signature', async () => {
    const t = svc.token('alice');
    const sig = t.split('.')[2];
    const flipped = `${t.slice(0, t.length - sig.length)}${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    await expect401(bearer(flipped), 'bad signature');
  });

  it('signed with another secret', async () => {
    await expect401(bearer(makeToken(randomSecret(), { sub: 'alice' })), 'wrong secret');
  });

  it('alg none, with and without a signature', async () => {
    const payload = { sub: 'alice', iat: nowSeconds(), exp: nowSeconds() + 3600 };
    await expect401(bearer(encodeJwt({ alg: 'none', typ: 'JWT' }, payload, null)), 'alg none');
    await expect401(bearer(encodeJwt({ alg: 'None', typ: 'JWT' }, payload, null)), 'alg None');
    // header says none but a valid-looking HS256 signature is attached
    await expect401(bearer(encodeJwt({ alg: 'none', typ: 'JWT' }, payload, svc.secret)), 'alg none signed');
  });

  it('a token without any user claim', async () => {
    await expect401(bearer(makeToken(svc.secret, { name: 'alice' })), 'no sub/id/userId');
  });

  it('a numeric sub (RFC 7519: sub is a string), with a message saying so', async () => {
    const res = await expect401(bearer(makeToken(svc.secret, { sub: 12345 })), 'numeric sub');
    assert.match(res.body.error.message, /sub.*string/);
  });

  it('exp, nbf or iat that is not a plausible NumericDate (1e308, negative, beyond year 9999)', async () => {
    const now = nowSeconds();
    for (const claims of [{ exp: 1e308 }, { exp: -1 }, { exp: 253402300800 }, { exp: now + 60, nbf: -1e308 }, { exp: now + 60, iat: 1e300 }]) {
      await expect401(bearer(encodeJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'dates', ...claims }, svc.secret)), JSON.stringify(claims));
    }
  });
});

describe('accepted tokens', () => {
  it('a fractional NumericDate and a numeric id claim (integer ids of a monolith)', async () => {
    const t = encodeJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'frac', iat: nowSeconds() - 0.5, exp: nowSeconds() + 60.25 }, svc.secret);
    assertOk(await svc.get('/api/ai/conversations', { token: t }));
    assertOk(await svc.get('/api/ai/conversations', { token: makeToken(svc.secret, { id: 4242 }) }));
  });

  it('expired within JWT_LEEWAY_SECONDS (30) is still accepted', async () => {
    const t = makeToken(svc.secret, { sub: 'leeway-user' }, { now: nowSeconds() - 3605, ttl: 3600 });
    assertOk(await svc.get('/api/ai/conversations', { token: t }));
  });

  it('takes the user from sub, then id, then userId', async () => {
    const user = `owner-${Date.now()}`;
    const created = assertOk(await svc.post('/api/ai/conversations', { token: svc.token(user), json: { title: 'mine' } }), 201);
    const sees = async (claims) => {
      const data = assertOk(await svc.get('/api/ai/conversations', { token: makeToken(svc.secret, claims) }));
      return data.items.some((c) => c.id === created.id);
    };
    assert.equal(await sees({ sub: user }), true, 'sub');
    assert.equal(await sees({ id: user }), true, 'id alone');
    assert.equal(await sees({ userId: user }), true, 'userId alone');
    assert.equal(await sees({ sub: user, id: 'someone-else', userId: 'someone-else' }), true, 'sub wins over id and userId');
    assert.equal(await sees({ sub: 'someone-else', id: user }), false, 'sub wins over id');
    assert.equal(await sees({ id: user, userId: 'someone-else' }), true, 'id wins over userId');
    assert.equal(await sees({ id: 'someone-else', userId: user }), false, 'id wins over userId');
  });

  it('takes the admin role from role or roles', async () => {
    const url = '/api/ai/admin/health';
    assertOk(await svc.get(url, { token: makeToken(svc.secret, { sub: 'a1', role: 'admin' }) }));
    assertOk(await svc.get(url, { token: makeToken(svc.secret, { sub: 'a2', roles: ['user', 'admin'] }) }));
    assertError(await svc.get(url, { token: makeToken(svc.secret, { sub: 'a3', role: 'user' }) }), 403, 'forbidden');
    assertError(await svc.get(url, { token: makeToken(svc.secret, { sub: 'a4', roles: ['user'] }) }), 403, 'forbidden');
  });
});

describe('JWT_ISSUER, JWT_AUDIENCE and JWT_LEEWAY_SECONDS', () => {
  let strict;
  before(async () => {
    strict = await startService({ env: { JWT_ISSUER: 'monolith', JWT_AUDIENCE: 'ai-service', JWT_LEEWAY_SECONDS: '0' } });
  });
  after(async () => { await strict?.stop(); });
  const status = async (claims, opts) => (await strict.get('/api/ai/conversations', { token: makeToken(strict.secret, claims, opts) })).status;

  it('accepts the configured issuer and audience (string or array)', async () => {
    assert.equal(await status({ sub: 'i1', iss: 'monolith', aud: 'ai-service' }), 200);
    assert.equal(await status({ sub: 'i1', iss: 'monolith', aud: ['web', 'ai-service'] }), 200);
  });

  it('rejects a missing or different issuer or audience', async () => {
    for (const claims of [
      { sub: 'i1', aud: 'ai-service' },
      { sub: 'i1', iss: 'elsewhere', aud: 'ai-service' },
      { sub: 'i1', iss: 'monolith' },
      { sub: 'i1', iss: 'monolith', aud: 'web' },
      { sub: 'i1', iss: 'monolith', aud: ['web', 'api'] },
    ]) {
      assert.equal(await status(claims), 401, JSON.stringify(claims));
    }
  });

  it('with no leeway rejects a token that expired seconds ago', async () => {
    assert.equal(await status({ sub: 'i1', iss: 'monolith', aud: 'ai-service' }, { now: nowSeconds() - 3605, ttl: 3600 }), 401);
  });

  it('the token subcommand puts the configured issuer and audience in its tokens', async () => {
    const r = runCli(['token', '--user', 'i2'], { env: { JWT_SECRET: strict.secret, JWT_ISSUER: 'monolith', JWT_AUDIENCE: 'ai-service' } });
    assert.equal(r.status, 0, r.stderr);
    const t = r.stdout.trim();
    const { payload } = decodeJwt(t);
    assert.equal(payload.iss, 'monolith');
    assert.ok(payload.aud === 'ai-service' || (Array.isArray(payload.aud) && payload.aud.includes('ai-service')), JSON.stringify(payload.aud));
    assertOk(await strict.get('/api/ai/conversations', { token: t }));
  });
});

describe('a public key and JWT_SECRET together', () => {
  let both;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rs256 = (payload) => {
    const input = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
  };
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  after(async () => { await both?.stop(); });

  it('accepts RS256 but not HS256 unless JWT_ALGORITHMS names it (README: RS256,ES256 with a key)', async () => {
    both = await startService({ env: { JWT_PUBLIC_KEY: pem } });
    const claims = { sub: 'keyed', iat: nowSeconds(), exp: nowSeconds() + 600 };
    assertOk(await both.get('/api/ai/conversations', { token: rs256(claims) }));
    assertError(await both.get('/api/ai/conversations', { token: makeToken(both.secret, claims) }), 401, 'unauthorized');
    await both.stop();
    both = await startService({ env: { JWT_PUBLIC_KEY: pem, JWT_ALGORITHMS: 'RS256,HS256' } });
    assertOk(await both.get('/api/ai/conversations', { token: rs256(claims) }));
    assertOk(await both.get('/api/ai/conversations', { token: makeToken(both.secret, claims) }), 200);
  });
});
