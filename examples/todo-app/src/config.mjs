// Configuration from the environment, checked at start: a bad value stops the start with a message
// naming the variable.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_USERS_FILE = path.resolve(here, '..', 'users.json');

// Used only with NODE_ENV=development and no JWT_SECRET: every developer's app and AI service then
// agree on it (give the AI service the same JWT_SECRET), and start-up says so loudly.
export const DEV_JWT_SECRET = 'todo-app-development-secret-do-not-use-in-production';

export class ConfigError extends Error {}

function integer(env, key, fallback, { min, max }) {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${key} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

export function loadConfig(env = process.env) {
  const development = env.NODE_ENV === 'development';
  let jwtSecret = env.JWT_SECRET ?? '';
  const warnings = [];
  if (!jwtSecret) {
    if (!development) throw new ConfigError('JWT_SECRET is required (or NODE_ENV=development for a fixed development secret)');
    jwtSecret = DEV_JWT_SECRET;
    warnings.push('!!! JWT_SECRET is not set: using the FIXED DEVELOPMENT SECRET. Anyone can forge tokens. Never run this way in production. !!!');
  }
  if (jwtSecret.length < 16) throw new ConfigError('JWT_SECRET must be at least 16 characters (the AI service refuses shorter ones)');
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError(`REDIS_URL must start with redis:// or rediss://`);
  return {
    port: integer(env, 'PORT', 4000, { min: 0, max: 65535 }),
    host: env.HOST || '0.0.0.0',
    jwtSecret,
    jwtTtlSeconds: integer(env, 'JWT_TTL_SECONDS', 3600, { min: 1, max: 30 * 24 * 3600 }),
    redisUrl,
    socketIoRedisKey: env.SOCKETIO_REDIS_KEY || 'socket.io',
    dataFile: env.DATA_FILE || undefined,
    usersFile: env.USERS_FILE || DEFAULT_USERS_FILE,
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10000, { min: 0, max: 600000 }),
    warnings,
  };
}
