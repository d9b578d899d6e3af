// Where todos live: in memory (the default), in a JSON file (DATA_FILE: one process; written whole,
// atomically, after every change), or in Redis (REDIS_URL without DATA_FILE: shared by replicas, one
// hash per user). All three keep a user's todos apart from everybody else's.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

class MemoryStore {
  constructor() { this.users = new Map(); }

  mine(userId) {
    if (!this.users.has(userId)) this.users.set(userId, new Map());
    return this.users.get(userId);
  }

  async list(userId) { return [...this.mine(userId).values()]; }
  async get(userId, id) { return this.mine(userId).get(id) ?? null; }
  async put(userId, todo) { this.mine(userId).set(todo.id, todo); }
  async remove(userId, id) { return this.mine(userId).delete(id); }
  async close() {}
}

class FileStore extends MemoryStore {
  constructor(file) {
    super();
    this.file = file;
    let saved = { users: {} };
    try {
      saved = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      if (e.code !== 'ENOENT') throw new Error(`DATA_FILE ${file}: ${e.message}`);
    }
    for (const [userId, todos] of Object.entries(saved.users ?? {})) {
      this.users.set(userId, new Map(todos.map((t) => [t.id, t])));
    }
  }

  save() {
    const users = Object.fromEntries([...this.users].map(([u, todos]) => [u, [...todos.values()]]));
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ users }, null, 1)}\n`);
    renameSync(tmp, this.file);
  }

  async put(userId, todo) { await super.put(userId, todo); this.save(); }
  async remove(userId, id) {
    const removed = await super.remove(userId, id);
    if (removed) this.save();
    return removed;
  }
}

class RedisStore {
  constructor(client, prefix) {
    this.client = client;
    this.prefix = prefix;
  }

  key(userId) { return `${this.prefix}todos:${userId}`; }
  async list(userId) { return Object.values(await this.client.hGetAll(this.key(userId))).map((j) => JSON.parse(j)); }
  async get(userId, id) {
    const j = await this.client.hGet(this.key(userId), id);
    return j ? JSON.parse(j) : null;
  }

  async put(userId, todo) { await this.client.hSet(this.key(userId), todo.id, JSON.stringify(todo)); }
  async remove(userId, id) { return (await this.client.hDel(this.key(userId), id)) > 0; }
  async close() {}
}

export function createStore({ dataFile, redis, prefix }) {
  if (dataFile) return { kind: 'file', store: new FileStore(dataFile) };
  if (redis) return { kind: 'redis', store: new RedisStore(redis, prefix) };
  return { kind: 'memory', store: new MemoryStore() };
}
