// The app: Express routes, the static page and Socket.IO on one HTTP server. With REDIS_URL, the
// Socket.IO Redis adapter (so an event emitted by any replica, or published into Redis in the
// adapter's format by another service, reaches the sockets of every replica), the todos and the
// sessions are in Redis too; without it, everything is in-process.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createAdapter } from '@socket.io/redis-adapter';
import express from 'express';
import { createClient } from 'redis';
import { Server } from 'socket.io';

import { bearerOf, createAuth } from './auth.mjs';
import { ConfigError } from './config.mjs';
import { badRequest, HttpError, notFound, sendError, unauthorized } from './http.mjs';
import { createStore } from './store.mjs';
import { todosRouter } from './todos.mjs';
import { loadUsers } from './users.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PUBLIC_DIR = path.resolve(here, '..', 'public');
const REDIS_PREFIX = 'todo-app:';
const REDIS_START_TIMEOUT_MS = 10000;

export const userRoom = (userId) => `user:${userId}`;

export async function createApp(config, log) {
  const users = loadUsers(config.usersFile);

  let pub;
  let sub;
  if (config.redisUrl) {
    pub = createClient({ url: config.redisUrl });
    sub = pub.duplicate();
    // node-redis reconnects by itself; without a listener an error event would end the process.
    for (const [name, c] of [['pub', pub], ['sub', sub]]) c.on('error', (e) => log.warn(`redis (${name}): ${e.message}`));
    // node-redis retries for ever; at start-up a Redis that does not answer is a configuration
    // problem, reported as one instead of an app that never listens.
    let timer;
    const giveUp = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ConfigError(`REDIS_URL: Redis did not answer within ${REDIS_START_TIMEOUT_MS / 1000} s`)), REDIS_START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all([pub.connect(), sub.connect()]), giveUp]);
    } finally {
      clearTimeout(timer);
    }
  }
  const { kind, store } = createStore({ dataFile: config.dataFile, redis: pub, prefix: REDIS_PREFIX });
  const auth = createAuth({ secret: config.jwtSecret, ttlSeconds: config.jwtTtlSeconds, redis: pub, prefix: REDIS_PREFIX });

  const app = express();
  app.disable('x-powered-by');
  const server = http.createServer(app);
  const io = new Server(server, pub ? { adapter: createAdapter(pub, sub, { key: config.socketIoRedisKey }) } : {});
  const emit = (userId, event, payload) => io.to(userRoom(userId)).emit(event, payload);

  app.use((req, res, next) => {
    res.on('finish', () => log.access(req.method, req.originalUrl.split('?')[0], res.statusCode));
    next();
  });
  app.use(express.json({ limit: '64kb' }));

  // 503 while Redis is configured but not connected: requests would wait for it, so Caddy's
  // health checks should send them to another backend.
  app.get('/health', (req, res) => {
    const down = pub && !(pub.isReady && sub.isReady);
    res.status(down ? 503 : 200).json({ status: down ? 'redis unavailable' : 'ok', store: kind, redis: pub ? !down : undefined });
  });

  const authenticate = async (req, res, next) => {
    req.user = await auth.userOf(bearerOf(req));
    if (!req.user) throw unauthorized();
    next();
  };

  app.post('/api/auth/login', async (req, res) => {
    const { username, password, tokenType = 'jwt' } = req.body ?? {};
    if (typeof username !== 'string' || !username || typeof password !== 'string' || !password) {
      throw badRequest('"username" and "password" are required strings');
    }
    if (tokenType !== 'jwt' && tokenType !== 'opaque') throw badRequest('"tokenType" must be "jwt" or "opaque"');
    const user = await users.login(username, password);
    if (!user) throw new HttpError(401, 'unauthorized', 'wrong username or password');
    const token = tokenType === 'jwt' ? auth.issueJwt(user) : await auth.issueSession(user);
    res.json({ token, tokenType, expiresIn: auth.ttlSeconds, user });
  });

  // What the AI service's MAIN_BACKEND_URL check reads (src/auth/backend.cpp): {user: {id, name,
  // roles}} for a good token, 401 otherwise.
  app.get('/api/auth/verify', authenticate, (req, res) => {
    res.json({ user: { id: req.user.id, name: req.user.name, roles: req.user.roles } });
  });

  app.use('/api/todos', authenticate, todosRouter({ store, emit }));
  app.use('/api', () => { throw notFound('no such route'); });
  app.use(express.static(PUBLIC_DIR, { index: 'index.html' }));

  // Express 5 hands rejected promises of async handlers here as well.
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => {
    if (err instanceof HttpError) return sendError(res, err);
    if (err.type === 'entity.parse.failed') return sendError(res, badRequest('the body is not valid JSON'));
    if (err.type === 'entity.too.large') return sendError(res, new HttpError(413, 'payload_too_large', 'the body is too large'));
    log.error(`${req.method} ${req.path}: ${err.stack ?? err}`);
    return sendError(res, new HttpError(500, 'internal', 'internal error'));
  });

  // Socket.IO: the handshake's auth.token (a JWT or a session token) names the user, whose room
  // the socket joins; a socket without a valid token is refused ("unauthorized").
  io.use(async (socket, next) => {
    try {
      const user = await auth.userOf(socket.handshake.auth?.token);
      if (!user) return next(new Error('unauthorized'));
      socket.data.user = user;
      return next();
    } catch (e) {
      log.warn(`socket handshake: ${e.message}`);
      return next(new Error('unavailable'));
    }
  });
  io.on('connection', (socket) => { socket.join(userRoom(socket.data.user.id)); });

  return {
    server,
    io,
    storeKind: kind,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve(server.address()));
      });
    },
    // Stops taking connections, closes every Socket.IO client (they reconnect to another
    // replica), lets requests in flight finish, then drops the Redis connections. Not io.close():
    // it first has the Redis adapter unsubscribe, which waits for ever while Redis is unreachable;
    // dropping the connection ends the subscriptions anyway, and every request's own Redis command
    // has been answered by then.
    async close() {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      io.engine.close();
      server.closeIdleConnections();
      await closed;
      await store.close();
      await Promise.allSettled([sub, pub].filter((c) => c?.isOpen).map((c) => c.disconnect()));
    },
  };
}
