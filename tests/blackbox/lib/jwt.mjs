// HS256 JSON Web Tokens made with node:crypto, so the suites can craft every kind of bad token
// (expired, tampered, wrong secret, alg none) as well as good ones, independently of the binary.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const b64url = (data) => Buffer.from(data).toString('base64url');

export function randomSecret() {
  return randomBytes(32).toString('hex');
}

// Signs header.payload with HMAC-SHA256; secret === null leaves the signature empty (alg none).
export function encodeJwt(header, payload, secret) {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = secret === null ? '' : createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// A valid HS256 token with iat/exp (ttl seconds from now) and the given claims (which may override them).
export function makeToken(secret, claims = {}, { ttl = 3600, now = nowSeconds(), header = {} } = {}) {
  return encodeJwt({ alg: 'HS256', typ: 'JWT', ...header }, { iat: now, exp: now + ttl, ...claims }, secret);
}

// A user token (`sub`), with the admin role when asked.
export function userToken(secret, userId, { admin = false, ...opts } = {}) {
  return makeToken(secret, admin ? { sub: userId, role: 'admin' } : { sub: userId }, opts);
}

export function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a JWT: ${token}`);
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    signature: parts[2],
  };
}

export function verifyHs256(token, secret) {
  const [h, p, s] = token.split('.');
  const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(s ?? '', 'base64url');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

// Same signature, different payload: what an attacker editing the claims would send.
export function tamperPayload(token, changes) {
  const { header, payload, signature } = decodeJwt(token);
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify({ ...payload, ...changes }))}.${signature}`;
}
