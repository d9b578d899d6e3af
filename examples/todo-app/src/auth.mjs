// Tokens: HS256 JWTs signed with JWT_SECRET (claims sub = user id, name, roles, iat, exp), which
// the AI service verifies itself with the same secret; and opaque session tokens, which only this
// app knows and which the AI service checks through GET /api/auth/verify (its MAIN_BACKEND_URL).
// Sessions live in memory, or in Redis when there is one (so every replica knows them), under the
// token's SHA-256: the stored keys are not usable tokens.
import { createHash, randomBytes } from 'node:crypto';

import jwt from 'jsonwebtoken';

const digest = (token) => createHash('sha256').update(token).digest('hex');

class MemorySessions {
  constructor() { this.map = new Map(); }
  async put(key, user, ttlSeconds) { this.map.set(key, { user, expires: Date.now() + ttlSeconds * 1000 }); }
  async get(key) {
    const s = this.map.get(key);
    if (!s) return null;
    if (s.expires <= Date.now()) { this.map.delete(key); return null; }
    return s.user;
  }
}

class RedisSessions {
  constructor(client, prefix) { this.client = client; this.prefix = prefix; }
  async put(key, user, ttlSeconds) { await this.client.set(`${this.prefix}session:${key}`, JSON.stringify(user), { EX: ttlSeconds }); }
  async get(key) {
    const j = await this.client.get(`${this.prefix}session:${key}`);
    return j ? JSON.parse(j) : null;
  }
}

export function createAuth({ secret, ttlSeconds, redis, prefix }) {
  const sessions = redis ? new RedisSessions(redis, prefix) : new MemorySessions();
  return {
    ttlSeconds,
    issueJwt(user) {
      return jwt.sign({ name: user.name, roles: user.roles }, secret,
        { algorithm: 'HS256', subject: user.id, expiresIn: ttlSeconds });
    },
    async issueSession(user) {
      const token = `tds_${randomBytes(32).toString('base64url')}`;
      await sessions.put(digest(token), user, ttlSeconds);
      return token;
    },
    // The user a token names ({id, name, roles}), or null when it is not valid.
    async userOf(token) {
      if (typeof token !== 'string' || !token) return null;
      if (token.startsWith('tds_')) return sessions.get(digest(token));
      try {
        const claims = jwt.verify(token, secret, { algorithms: ['HS256'] });
        if (typeof claims.sub !== 'string' || !claims.sub) return null;
        return { id: claims.sub, name: typeof claims.name === 'string' ? claims.name : claims.sub, roles: Array.isArray(claims.roles) ? claims.roles : [] };
      } catch {
        return null;
      }
    },
  };
}

export function bearerOf(req) {
  const h = req.headers.authorization ?? '';
  return /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : '';
}
