// A database of its own on the PostgreSQL server of the run (AAS_TEST_POSTGRES_URL, from
// scripts/with-postgres.sh), for suites whose replicas share one: created by psql, dropped by drop().
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function createDatabase(prefix) {
  const server = process.env.AAS_TEST_POSTGRES_URL;
  if (!server) throw new Error(`${prefix}: needs a PostgreSQL server: run it through scripts/with-postgres.sh (AAS_TEST_POSTGRES_URL)`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const r = spawnSync('psql', [server, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql CREATE DATABASE: ${r.error ?? r.stderr}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => spawnSync('psql', [server, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]),
  };
}
