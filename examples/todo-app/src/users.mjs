// The users who can log in: a JSON file (USERS_FILE; the shipped users.json holds the demo users of
// README.md) of {id, username, name, roles, passwordHash}, read once at start and checked there.
import { readFileSync } from 'node:fs';

import { ConfigError } from './config.mjs';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.mjs';

// Compared against when the username is unknown, so a login takes as long either way.
const DUMMY_HASH = await hashPassword('no such user');

export function loadUsers(file) {
  let list;
  try {
    list = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`USERS_FILE ${file}: ${e.message}`);
  }
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError(`USERS_FILE ${file}: expected a non-empty array of users`);
  const byName = new Map();
  const ids = new Set();
  for (const [i, u] of list.entries()) {
    const where = `USERS_FILE ${file}, user ${i}`;
    for (const k of ['id', 'username', 'name']) {
      if (typeof u?.[k] !== 'string' || !u[k]) throw new ConfigError(`${where}: "${k}" must be a non-empty string`);
    }
    if (!Array.isArray(u.roles) || u.roles.some((r) => typeof r !== 'string')) throw new ConfigError(`${where}: "roles" must be an array of strings`);
    if (!isPasswordHash(u.passwordHash)) throw new ConfigError(`${where}: "passwordHash" must be a scrypt hash (node src/hash-password.mjs)`);
    if (byName.has(u.username) || ids.has(u.id)) throw new ConfigError(`${where}: duplicate username or id`);
    byName.set(u.username, u);
    ids.add(u.id);
  }
  return {
    // The public view of the user whose password this is, or null.
    async login(username, password) {
      const u = byName.get(username);
      const ok = await verifyPassword(password, u ? u.passwordHash : DUMMY_HASH);
      return ok && u ? publicUser(u) : null;
    },
  };
}

export const publicUser = (u) => ({ id: u.id, name: u.name, roles: [...u.roles] });
