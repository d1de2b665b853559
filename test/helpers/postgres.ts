/**
 * A throwaway PostgreSQL cluster for tests (/work/shared/INTEROP.md "PostgreSQL, a throwaway
 * cluster per test run"): initdb into a temp dir, the server on a random loopback port with its
 * socket in that dir, databases created on demand, and stop/start of the same cluster to
 * simulate an outage. Run as root, initdb and the server run as the `postgres` user.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/** The server binaries: ANVIL_PG_BIN, else the newest /usr/lib/postgresql/<major>/bin (Debian's `postgresql`). */
export function postgresBinDir(): string | null {
  const fromEnv = process.env.ANVIL_PG_BIN;
  if (fromEnv) return existsSync(path.join(fromEnv, 'initdb')) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
  for (const m of majors) if (existsSync(path.join(root, m, 'bin', 'initdb'))) return path.join(root, m, 'bin');
  return null;
}

/**
 * Why PostgreSQL tests cannot run here, or null when they can. With CI=true a missing server is a
 * failure, not a skip: this throws.
 */
export function postgresUnavailable(): string | null {
  if (postgresBinDir()) return null;
  const why = 'PostgreSQL server binaries not found (apt-get install postgresql, or set ANVIL_PG_BIN)';
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true makes this a failure`);
  return why;
}

export interface PostgresCluster {
  port: number;
  /** The URL of a database on this cluster (default `postgres`). */
  url(database?: string): string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server: `fast` (clean) or `immediate` (as after a crash). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts the same cluster again on the same port. */
  start(): Promise<void>;
  /** Stops the server and removes the cluster's files. */
  destroy(): Promise<void>;
}

const USER = 'anvil';
let databases = 0;

/**
 * pg_ctl starts the server detached: a test process that dies before destroy() would leave it
 * running. Whatever is still up when this process exits is stopped (immediate) and removed.
 */
const leftovers = new Map<string, () => void>();
process.on('exit', () => {
  for (const cleanUp of leftovers.values()) cleanUp();
});

/** Initialises and starts a cluster; throws if it cannot (callers check postgresUnavailable first). */
/**
 * Tests run the cluster without fsync: they judge behaviour, and a crash of the machine is not
 * among their faults. A benchmark asks for `durable`, so that PostgreSQL's commits cost what an
 * operator's would, as SQLite's do (an acknowledged write is on disk there).
 */
export async function startPostgresCluster(options: { durable?: boolean } = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(postgresUnavailable() ?? 'PostgreSQL server binaries not found');
  const dir = mkdtempSync(path.join(tmpdir(), 'anvil-pg-'));
  chmodSync(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'sock');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(socketDir);
  // initdb refuses to run as root: the cluster belongs to the postgres user.
  const owner = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) } : null;
  if (owner) for (const d of [dataDir, socketDir]) chownSync(d, owner.uid, owner.gid);
  const pgRun = (tool: string, args: string[]) => exec(path.join(bin, tool), args, owner);
  await pgRun('initdb', ['-D', dataDir, '-A', 'trust', '-U', USER, '--no-sync', '-E', 'UTF8', '--no-instructions']);

  let port = 0;
  const start = async () => {
    await pgRun('pg_ctl', [
      '-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-w', '-t', '60',
      '-o', `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 ${options.durable ? '-c shared_buffers=512MB' : '-c fsync=off -c full_page_writes=off'} -c max_connections=200`,
      'start',
    ]);
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (e) {
      // Someone took the port between the probe and the start: try another.
      if (attempt >= 3) throw e;
    }
  }
  leftovers.set(dir, () => {
    spawnSync(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop'], { stdio: 'ignore', ...(owner ?? {}) });
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (database = 'postgres') => `postgres://${USER}@127.0.0.1:${port}/${database}`;
  let running = true;
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    await pgRun('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    running = false;
  };
  return {
    port,
    url,
    async createDatabase(name = `anvil_${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    async start() {
      if (running) return;
      await start();
      running = true;
    },
    async destroy() {
      try {
        await stop('immediate');
      } finally {
        leftovers.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function exec(file: string, args: string[], owner: { uid: number; gid: number } | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
