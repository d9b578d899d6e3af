// Structural checks of deploy/ (run by tests/deploy/check.sh, which first has Caddy validate the
// Caddyfile and adapt it to JSON). Docker cannot run in the test environment, so the Dockerfile and
// the compose file are checked as documents: what they must contain for the deployment the docs
// describe to work. Every check names the file and what is wrong.
//
//   node check.mjs CADDY_JSON
//
// Environment: AAS_NEEDED_PACKAGES (optional) — the Debian packages that own the shared libraries
// the built binary needs (check.sh finds them with readelf + dpkg); each must be installed by the
// Dockerfile's runtime stage or come with its base image.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const deploy = path.join(root, 'deploy');
// The `yaml` package pinned for the black-box suites (also what reads docs/openapi.yaml there).
const YAML = createRequire(path.join(root, 'tests', 'blackbox', 'package.json'))('yaml');

const failures = [];
function check(what, fn) {
  try {
    fn();
    console.log(`ok    ${what}`);
  } catch (e) {
    failures.push(what);
    console.log(`FAIL  ${what}\n      ${String(e.message).split('\n').join('\n      ')}`);
  }
}
const read = (p) => readFileSync(path.join(root, p), 'utf8');

const AI = ['ai-service-1:4002', 'ai-service-2:4002', 'ai-service-3:4002'];
const BACKENDS = ['backend-1:4000', 'backend-2:4000', 'backend-3:4000'];
const STICKY = ['cookie', 'ip_hash', 'client_ip_hash', 'header'];

// ---------------------------------------------------------------------------------------- Caddy
const caddy = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const servers = Object.values(caddy.apps?.http?.servers ?? {});

// Caddy's path matcher: exact, or with `*` as a wildcard (here only prefix/suffix forms are used).
function pathMatches(pattern, p) {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(p);
}
function routeMatches(route, p) {
  if (!route.match) return true;
  return route.match.some((m) => Object.keys(m).every((k) => k === 'path' && m.path.some((pat) => pathMatches(pat, p))));
}
// The terminal handler a request path reaches: the first matching route at each level (the `handle`
// blocks of a Caddyfile are mutually exclusive and adapt to routes in the order Caddy tries them).
function handlerFor(routes, p) {
  for (const route of routes) {
    if (!routeMatches(route, p)) continue;
    for (const h of route.handle ?? []) {
      if (h.handler === 'subroute') {
        const inner = handlerFor(h.routes ?? [], p);
        if (inner) return inner;
      } else {
        return h;
      }
    }
    if (route.terminal) return undefined;
  }
  return undefined;
}
const upstreamsOf = (h) => (h.upstreams ?? []).map((u) => u.dial).sort();
const policyOf = (h) => h.load_balancing?.selection_policy?.policy ?? 'random';

check('Caddyfile: one server, listening on :8080 as in the plan', () => {
  assert.equal(servers.length, 1);
  assert.deepEqual(servers[0].listen, [':8080']);
});
const routes = servers[0]?.routes ?? [];
const via = (p) => {
  const h = handlerFor(routes, p);
  assert.ok(h, `no handler for ${p}`);
  return h;
};

check('Caddyfile: /health is answered by Caddy itself (200)', () => {
  const h = via('/health');
  assert.equal(h.handler, 'static_response');
  assert.equal(h.status_code, 200);
});

for (const p of ['/api/ai/chat', '/api/ai/v1/chat/completions', '/api/ai/conversations/0191-x', '/api/ai/admin/health', '/api/ai/ui/ai-chat.js']) {
  check(`Caddyfile: ${p} goes to the three AI replicas, round robin, unbuffered (flush_interval -1), health-checked on /health`, () => {
    const h = via(p);
    assert.equal(h.handler, 'reverse_proxy');
    assert.deepEqual(upstreamsOf(h), AI);
    assert.equal(policyOf(h), 'round_robin');
    assert.equal(h.flush_interval, -1);
    assert.equal(h.health_checks?.active?.uri, '/health');
  });
}

check('Caddyfile: the AI service\'s realtime path (/api/ai/socket.io/) goes to the AI replicas, sticky', () => {
  const h = via('/api/ai/socket.io/');
  assert.deepEqual(upstreamsOf(h), AI);
  assert.ok(STICKY.includes(policyOf(h)), `policy ${policyOf(h)} is not sticky`);
});

check('Caddyfile: /socket.io/ (and its client script) goes to the monolith\'s backends only (not the AI service), sticky', () => {
  assert.equal(via('/socket.io/socket.io.js'), via('/socket.io/'));
  const h = via('/socket.io/');
  assert.equal(h.handler, 'reverse_proxy');
  assert.deepEqual(upstreamsOf(h), BACKENDS);
  assert.ok(STICKY.includes(policyOf(h)), `policy ${policyOf(h)} is not sticky: round robin breaks Socket.IO's polling sessions`);
});

// The monolith's (examples/todo-app's) API, page and assets; /socket.io/socket.io.js is its bundled
// client script, which lives under the sticky route.
for (const p of ['/api/todos', '/api/todos/0191-x', '/api/auth/login', '/api/auth/verify', '/', '/index.html', '/app.js', '/api/aix']) {
  check(`Caddyfile: ${p} goes to the monolith's backends, round robin`, () => {
    const h = via(p);
    assert.deepEqual(upstreamsOf(h), BACKENDS);
    assert.equal(policyOf(h), 'round_robin');
  });
}

check('Caddyfile: no response compression on the AI routes (it would buffer Server-Sent Events)', () => {
  const text = read('deploy/Caddyfile').replace(/#.*$/gm, '');
  assert.doesNotMatch(text, /^\s*encode\b/m);
});

// ----------------------------------------------------------------------------------- Dockerfile
// A Dockerfile's instructions (continuation lines joined, comments dropped) and its stages.
function parseDockerfile(file) {
  const instructions = read(file).replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages = [];
  for (const line of instructions) {
    const [word] = line.split(/\s+/);
    if (word.toUpperCase() === 'FROM') stages.push({ from: line, lines: [] });
    else if (stages.length) stages.at(-1).lines.push(line);
  }
  return { instructions, stages, finalStage: stages.at(-1) };
}
const { instructions, stages, finalStage } = parseDockerfile('deploy/Dockerfile');
const aptPackages = (stage) => stage.lines.filter((l) => /apt-get install/.test(l))
  .flatMap((l) => l.slice(l.indexOf('apt-get install')).split('&&')[0].split(/\s+/).slice(2))
  .filter((w) => w && !w.startsWith('-'));

check('Dockerfile: multi-stage on Debian bookworm (build stage, slim runtime stage)', () => {
  assert.ok(stages.length >= 2, `${stages.length} stage(s)`);
  assert.match(stages[0].from, /^FROM\s+debian:bookworm\s+AS\s+build$/i);
  assert.match(finalStage.from, /^FROM\s+debian:bookworm-slim\b/i);
  assert.ok(finalStage.lines.some((l) => /^COPY\s+--from=build\s/i.test(l)), 'the runtime stage copies nothing from the build stage');
});

check('Dockerfile: the runtime stage runs as a non-root user', () => {
  const users = finalStage.lines.filter((l) => /^USER\s/i.test(l));
  assert.ok(users.length, 'no USER in the runtime stage');
  const user = users.at(-1).split(/\s+/)[1].split(':')[0];
  assert.ok(!['root', '0'].includes(user), `USER ${user}`);
});

check('Dockerfile: HEALTHCHECK, EXPOSE 4002, VOLUME /data, ENTRYPOINT the service', () => {
  const hc = finalStage.lines.find((l) => /^HEALTHCHECK\s/i.test(l));
  assert.ok(hc, 'no HEALTHCHECK');
  assert.match(hc, /\bCMD\b/);
  assert.ok(finalStage.lines.some((l) => /^EXPOSE\s+4002\b/i.test(l)), 'no EXPOSE 4002');
  assert.ok(finalStage.lines.some((l) => /^VOLUME\s.*["\s]\/data["\s\]]/i.test(`${l} `)), 'no VOLUME /data');
  assert.ok(finalStage.lines.some((l) => /^ENTRYPOINT\s.*ai-agent-service/i.test(l)), 'no ENTRYPOINT running ai-agent-service');
});

check('Dockerfile: the health check command is the script copied into the image (deploy/healthcheck.sh)', () => {
  const hc = finalStage.lines.find((l) => /^HEALTHCHECK\s/i.test(l));
  const target = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim())[0];
  assert.ok(finalStage.lines.some((l) => l === `COPY deploy/healthcheck.sh ${target}`), `nothing copies deploy/healthcheck.sh to ${target}`);
});

// Every COPY source of a build (context: a folder relative to the repository) exists there and is
// not excluded by the context's .dockerignore.
function assertCopySources(lines, context) {
  const ignored = read(path.join(context, '.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines.filter((l) => /^COPY\s/i.test(l) && !/--from=/i.test(l))) {
    const sources = line.split(/\s+/).slice(1, -1);
    for (const src of sources) {
      assert.ok(existsSync(path.join(root, context, src)), `${line}: ${src} does not exist`);
      const hit = ignored.find((pat) => src === pat.replace(/\/$/, '') || src.startsWith(pat.replace(/\/$/, '') + '/'));
      assert.ok(!hit, `${line}: ${src} is excluded by .dockerignore (${hit})`);
    }
  }
}
check('Dockerfile: every COPY source exists and is not excluded by .dockerignore', () => assertCopySources(instructions, '.'));

// The build stage must install every build dependency scripts/install-deps.sh installs; the ones
// only tests, benchmarks or development use are listed here by name.
const TEST_ONLY = new Set(['ccache', 'git', 'libgtest-dev', 'libgmock-dev', 'libbenchmark-dev', 'postgresql-15',
  'prometheus', 'wrk', 'curl', 'procps', 'caddy', 'jq', 'redis-server', 'chromium', 'sqlite3', 'python3-yaml',
  'valgrind']);
// Programs the service runs at run time rather than links (poppler-utils: pdftotext for PDFs, GPL and
// so a separate process): the runtime stage installs them, the build stage need not.
const RUNTIME_ONLY = new Set(['poppler-utils']);
check('Dockerfile: the build stage installs every build dependency of scripts/install-deps.sh', () => {
  const script = read('scripts/install-deps.sh');
  const list = /packages=\(([\s\S]*?)\)/.exec(script)[1].replace(/#.*$/gm, '').split(/\s+/).filter(Boolean);
  const build = new Set(aptPackages(stages[0]));
  const missing = list.filter((p) => !TEST_ONLY.has(p) && !RUNTIME_ONLY.has(p) && !build.has(p));
  assert.deepEqual(missing, [], `install-deps.sh installs ${missing.join(', ')} but the build stage does not ` +
    '(add it to deploy/Dockerfile, or to TEST_ONLY in tests/deploy/check.mjs if only tests use it)');
  const runtime = new Set(aptPackages(finalStage));
  const notRun = [...RUNTIME_ONLY].filter((p) => list.includes(p) && !runtime.has(p));
  assert.deepEqual(notRun, [], `the service runs programs of ${notRun.join(', ')}, which the runtime stage does not install`);
  for (const p of ['nodejs', 'npm']) assert.ok(build.has(p), `${p} (the tokenizer tables are generated at build time)`);
});

// Packages every debian:bookworm-slim image has.
const BASE = new Set(['libc6', 'libstdc++6', 'libgcc-s1', 'zlib1g', 'libzstd1', 'liblzma5', 'libbz2-1.0', 'libselinux1', 'libpcre2-8-0', 'libcrypt1']);
check('Dockerfile: the runtime stage installs the package of every shared library the binary links', () => {
  const needed = (process.env.AAS_NEEDED_PACKAGES ?? '').split(/\s+/).filter(Boolean);
  assert.ok(needed.length, 'AAS_NEEDED_PACKAGES is empty: check.sh found no binary or no dpkg');
  const runtime = new Set(aptPackages(finalStage));
  const missing = needed.filter((p) => !BASE.has(p) && !runtime.has(p));
  assert.deepEqual(missing, [], `the binary needs ${missing.join(', ')}, which the runtime stage does not install`);
  assert.ok(runtime.has('ca-certificates'), 'ca-certificates (TLS to the LLM providers verifies certificates)');
  const dev = [...runtime].filter((p) => p.endsWith('-dev'));
  assert.deepEqual(dev, [], 'the runtime stage installs -dev packages');
});

// ------------------------------------------------------------------------------------ .env.example
const envExample = read('deploy/.env.example');
const envSet = new Map();       // NAME -> value, for the lines that set a variable
const envMentioned = new Set(); // NAME, set or commented out (`# NAME=...`)
for (const line of envExample.split('\n')) {
  const set = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
  if (set) { envSet.set(set[1], set[2]); envMentioned.add(set[1]); continue; }
  const commented = /^#\s*([A-Z][A-Z0-9_]*)=/.exec(line);
  if (commented) envMentioned.add(commented[1]);
}
// Every key the service reads: the string literals of src/app/config.cpp that look like one.
const serviceKeys = new Set([...read('src/app/config.cpp').matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)].map((m) => m[1]));
const COMPOSE_ONLY = new Set(['POSTGRES_USER', 'POSTGRES_PASSWORD']);

check('.env.example: sets the variables production needs', () => {
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'POSTGRES_PASSWORD', 'MAIN_BACKEND_URL', 'OPENAI_API_KEY',
    'ANTHROPIC_API_KEY', 'METRICS_TOKEN', 'LIMIT_RPM', 'LIMIT_TPM', 'LIMIT_CONCURRENT_STREAMS', 'BUDGET_DAILY_USD',
    'BUDGET_MONTHLY_USD']) {
    assert.ok(envSet.has(k), `${k} is not set`);
  }
  assert.ok(envMentioned.has('AI_CONFIG'), 'AI_CONFIG is not mentioned');
  assert.match(envSet.get('DATABASE_URL'), /^postgresql:\/\/[^@]+@postgres-ai:5432\/ai_db$/);
  assert.match(envSet.get('REDIS_URL'), /^redis:\/\/redis:6379/);
});

check('.env.example: every variable is one the service reads (or the PostgreSQL container\'s)', () => {
  assert.ok(serviceKeys.has('DATABASE_URL') && serviceKeys.has('LIMIT_RPM'), 'could not read the keys of src/app/config.cpp');
  const unknown = [...envMentioned].filter((k) => !serviceKeys.has(k) && !COMPOSE_ONLY.has(k));
  assert.deepEqual(unknown, [], 'misspelt or removed keys');
});

// ------------------------------------------------------------------------------- docker-compose
const composeText = read('deploy/docker-compose.yml');
const compose = YAML.parse(composeText, { merge: true });
const services = compose.services ?? {};
const aiNames = ['ai-service-1', 'ai-service-2', 'ai-service-3'];

check('docker-compose.yml: services ai-service-1..3, postgres-ai, redis, caddy', () => {
  for (const s of [...aiNames, 'postgres-ai', 'redis', 'caddy']) assert.ok(services[s], `no service ${s}`);
});

check('docker-compose.yml: every service has a health check', () => {
  for (const [name, s] of Object.entries(services)) {
    assert.ok(Array.isArray(s.healthcheck?.test) && s.healthcheck.test.length > 1, `${name}: no healthcheck.test`);
  }
});

for (const name of aiNames) {
  check(`docker-compose.yml: ${name} is built from deploy/Dockerfile, reads .env, waits for healthy postgres-ai and redis`, () => {
    const s = services[name];
    assert.equal(path.resolve(deploy, s.build.context, s.build.dockerfile), path.join(deploy, 'Dockerfile'));
    assert.equal(path.resolve(deploy, s.build.context), root);
    assert.deepEqual([s.env_file].flat(), ['.env']);
    assert.equal(s.depends_on?.['postgres-ai']?.condition, 'service_healthy');
    assert.equal(s.depends_on?.redis?.condition, 'service_healthy');
    assert.equal(s.environment?.PORT, '4002');
    assert.deepEqual(s.healthcheck.test, ['CMD', '/usr/local/bin/ai-agent-healthcheck']);
    assert.ok(s.networks?.includes('caddy-network'));
  });
}

check('docker-compose.yml: postgres-ai publishes 5433, database ai_db, data on a named volume', () => {
  const s = services['postgres-ai'];
  assert.ok(s.ports.map(String).some((p) => /(^|:)5433:5432$/.test(p)), `ports ${s.ports}`);
  assert.equal(s.environment.POSTGRES_DB, 'ai_db');
  const data = s.volumes.find((v) => String(v).endsWith(':/var/lib/postgresql/data'));
  assert.ok(data, 'no volume at /var/lib/postgresql/data');
  assert.ok(Object.hasOwn(compose.volumes ?? {}, data.split(':')[0]), `volume ${data.split(':')[0]} is not declared`);
  assert.match(s.healthcheck.test.join(' '), /pg_isready/);
});

check('docker-compose.yml: caddy publishes 8080 and mounts deploy/Caddyfile', () => {
  const s = services.caddy;
  assert.ok(s.ports.map(String).includes('8080:8080'));
  assert.ok(s.volumes.includes('./Caddyfile:/etc/caddy/Caddyfile:ro'));
  for (const n of aiNames) assert.ok(s.depends_on?.[n], `caddy does not depend on ${n}`);
});

check('docker-compose.yml: named volumes are declared, bind mounts exist', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const src = String(v).split(':')[0];
      if (src.startsWith('.') || src.startsWith('/')) assert.ok(existsSync(path.resolve(deploy, src)), `${name}: ${src} does not exist`);
      else assert.ok(Object.hasOwn(compose.volumes ?? {}, src), `${name}: volume ${src} is not declared`);
    }
  }
});

check('docker-compose.yml: every ${VAR} it interpolates is in .env.example', () => {
  const vars = [...composeText.replace(/#.*$/gm, '').matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]);
  assert.ok(vars.length);
  const missing = vars.filter((v) => !envMentioned.has(v));
  assert.deepEqual(missing, []);
});

// The stand-in monolith (examples/todo-app) as backend-1..3: the names deploy/Caddyfile routes to.
const backendNames = BACKENDS.map((b) => b.split(':')[0]);
const todoDockerfile = parseDockerfile('examples/todo-app/Dockerfile');
for (const name of backendNames) {
  check(`docker-compose.yml: ${name} is examples/todo-app on port 4000, with the AI service's JWT_SECRET and its Redis`, () => {
    const s = services[name];
    assert.ok(s, `no service ${name}`);
    assert.equal(path.resolve(deploy, s.build.context, s.build.dockerfile), path.join(root, 'examples', 'todo-app', 'Dockerfile'));
    assert.equal(s.environment?.PORT, '4000');
    assert.equal(s.environment?.JWT_SECRET, services['ai-service-1'].environment.JWT_SECRET, 'one secret: the AI service verifies the monolith\'s tokens');
    assert.equal(s.environment?.REDIS_URL, envSet.get('REDIS_URL'), 'the Socket.IO adapter must share the AI service\'s Redis');
    assert.equal(s.depends_on?.redis?.condition, 'service_healthy');
    assert.ok(s.networks?.includes('caddy-network'));
  });
}
check('docker-compose.yml: caddy starts after the backends', () => {
  for (const n of backendNames) assert.ok(services.caddy.depends_on?.[n], `caddy does not depend on ${n}`);
});
check('.env.example: MAIN_BACKEND_URL names a backend of the compose file', () => {
  assert.ok(backendNames.some((n) => envSet.get('MAIN_BACKEND_URL') === `http://${n}:4000`), envSet.get('MAIN_BACKEND_URL'));
});
check('examples/todo-app/Dockerfile: Node 20, production dependencies from the lockfile, non-root, EXPOSE 4000, HEALTHCHECK', () => {
  const { instructions: lines, finalStage: stage } = todoDockerfile;
  assert.match(stage.from, /^FROM\s+node:20[-\w.]*$/i);
  assert.ok(lines.some((l) => /^RUN\s+npm ci\b.*--omit=dev/.test(l)), 'no `npm ci --omit=dev`');
  const user = stage.lines.filter((l) => /^USER\s/i.test(l)).at(-1)?.split(/\s+/)[1];
  assert.ok(user && !['root', '0'].includes(user), `USER ${user}`);
  assert.ok(stage.lines.some((l) => /^EXPOSE\s+4000\b/i.test(l)), 'no EXPOSE 4000');
  assert.ok(stage.lines.some((l) => /^HEALTHCHECK\s.*\/health/i.test(l)), 'no HEALTHCHECK on /health');
  assertCopySources(lines, 'examples/todo-app');
});

check('prometheus.yml: scrapes each AI replica of the compose file', () => {
  const prom = YAML.parse(read('deploy/prometheus/prometheus.yml'));
  const targets = prom.scrape_configs.find((c) => c.job_name === 'ai-agent-service').static_configs.flatMap((c) => c.targets).sort();
  assert.deepEqual(targets, AI);
});

if (failures.length) {
  console.log(`\n${failures.length} deploy check(s) failed`);
  process.exit(1);
}
console.log('\nall deploy checks passed');
