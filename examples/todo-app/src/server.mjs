// Entry point: node src/server.mjs (environment in README.md). SIGTERM/SIGINT close it gracefully.
import { ConfigError, loadConfig } from './config.mjs';

// Log lines: text on stderr; never a token or a password (requests are logged by path, no query).
const log = {
  info: (m) => console.error(`todo-app: ${m}`),
  warn: (m) => console.error(`todo-app: warning: ${m}`),
  error: (m) => console.error(`todo-app: error: ${m}`),
  access: (method, path, status) => console.log(JSON.stringify({ method, path, status })),
};

let config;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  log.error(`configuration: ${e.message}`);
  process.exit(2);
}
for (const w of config.warnings) log.warn(w);

const { createApp } = await import('./app.mjs');
let app;
try {
  app = await createApp(config, log);
} catch (e) {
  log.error(e instanceof ConfigError ? `configuration: ${e.message}` : `start-up: ${e.message}`);
  process.exit(2);
}
const address = await app.listen(config.port, config.host);
const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
log.info(`store: ${app.storeKind}; socket.io adapter: ${config.redisUrl ? `redis (key "${config.socketIoRedisKey}")` : 'in-process'}`);
log.info(`listening on http://${shownHost}:${address.port}`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log.info(`${signal}: closing`);
  const force = setTimeout(() => {
    log.warn(`still busy after ${config.shutdownGraceMs} ms: exiting`);
    process.exit(1);
  }, config.shutdownGraceMs);
  force.unref();
  await app.close();
  log.info('closed');
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
