// deploy/Caddyfile itself, run by a real caddy (CADDY_BIN, Debian's) in front of local services:
// adapted with the test's upstreams through the environment placeholders the file reads, then only
// its listen address narrowed to loopback (the file binds every interface, as a container should).
// Also: which replica of a cluster served a request, from the replicas' access logs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, request } from './http.mjs';
import { makeTempDir } from './service.mjs';
import { waitFor } from './sse.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CADDYFILE = path.resolve(here, '..', '..', '..', 'deploy', 'Caddyfile');
const CADDY = process.env.CADDY_BIN ?? 'caddy';

// Starts caddy with `ai` (the AI replicas) and `backends` (the monolith's) as "host:port" lists;
// resolves { port, url, log(), stop() } once it answers /health itself.
export async function startCaddy({ ai, backends }) {
  const port = await freePort();
  const dir = makeTempDir();
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: dir,
    XDG_DATA_HOME: dir,
    CADDY_ADMIN: 'off',
    CADDY_ADDRESS: `:${port}`,
    AI_UPSTREAMS: ai.join(' '),
    BACKEND_UPSTREAMS: backends.join(' '),
  };
  const adapted = spawnSync(CADDY, ['adapt', '--config', CADDYFILE, '--adapter', 'caddyfile'], { env, encoding: 'utf8' });
  assert.equal(adapted.status, 0, `caddy adapt failed: ${adapted.error ?? adapted.stderr}`);
  const json = JSON.parse(adapted.stdout);
  const servers = Object.values(json.apps.http.servers);
  assert.equal(servers.length, 1);
  assert.deepEqual(servers[0].listen, [`:${port}`]);
  servers[0].listen = [`127.0.0.1:${port}`];
  const jsonFile = path.join(dir, 'caddy.json');
  writeFileSync(jsonFile, JSON.stringify(json));

  let log = '';
  const child = spawn(CADDY, ['run', '--config', jsonFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.setEncoding('utf8').on('data', (d) => { log += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { log += d; });
  process.on('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`caddy exited (${child.exitCode}):\n${log}`);
    try { return (await request(url, 'GET', '/health')).status === 200; } catch { return false; }
  }, 10000, `caddy on port ${port}`);
  return {
    port,
    url,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// The index of the replica whose access log has the request id (it must be in exactly one).
export async function replicaOf(replicas, requestId) {
  const found = await waitFor(async () => {
    const where = [];
    for (let i = 0; i < replicas.length; ++i) {
      if (replicas[i].stdoutJsonLines().some((l) => l.requestId === requestId)) where.push(i);
    }
    return where.length ? where : undefined;
  }, 5000, `request ${requestId} in a replica's access log`);
  assert.equal(found.length, 1, `request ${requestId} logged by replicas ${found}`);
  return found[0];
}
