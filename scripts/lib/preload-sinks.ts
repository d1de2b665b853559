/**
 * Where preload.ts writes: a SQLite file (prepared statements in one transaction per batch) or a
 * PostgreSQL database (one `INSERT … SELECT FROM unnest(…)` per table per batch, so a batch of
 * ten thousand certificates is a dozen round trips). The tables and their columns are listed once;
 * a SQLite table without one of them (challenges keep their order by rowid there) simply omits it.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Batch } from './preload.js';

export type PreloadTarget = { kind: 'sqlite'; dbPath: string } | { kind: 'postgres'; url: string };
export type Row = unknown[];
type Seed = Record<string, unknown>;
export interface SeedRows {
  account: Seed;
  order: Seed;
  cert: Seed;
  challenges: Seed[];
  ocsp: Seed | undefined;
}

export interface PreloadSink {
  seed(): Promise<SeedRows>;
  write(batch: Batch): Promise<void>;
  finish(): Promise<void>;
  close(): Promise<void>;
}

type BatchTable = Exclude<keyof Batch, 'counters'>;
/** Each table's columns with their PostgreSQL array type, in the order preload.ts builds rows. */
const TABLES: Array<{ key: BatchTable; table: string; columns: Array<[string, string]> }> = [
  { key: 'accounts', table: 'accounts', columns: [['id', 'text'], ['status', 'text'], ['jwk', 'text'], ['thumbprint', 'text'], ['contact', 'text'], ['tos_agreed', 'boolean'], ['created_at', 'bigint']] },
  { key: 'orders', table: 'orders', columns: [['id', 'text'], ['account_id', 'text'], ['status', 'text'], ['identifiers', 'text'], ['profile', 'text'], ['expires_at', 'bigint'], ['created_at', 'bigint'], ['certificate_id', 'text']] },
  { key: 'authzs', table: 'authzs', columns: [['id', 'text'], ['account_id', 'text'], ['identifier_type', 'text'], ['identifier_value', 'text'], ['wildcard', 'boolean'], ['status', 'text'], ['expires_at', 'bigint'], ['created_at', 'bigint'], ['validated_at', 'bigint']] },
  { key: 'challenges', table: 'challenges', columns: [['id', 'text'], ['authz_id', 'text'], ['position', 'integer'], ['type', 'text'], ['token', 'text'], ['status', 'text'], ['validated_at', 'bigint'], ['validation_record', 'text'], ['validation_record_packed', 'bytea'], ['finished_at', 'bigint']] },
  { key: 'orderAuthzs', table: 'order_authzs', columns: [['order_id', 'text'], ['position', 'integer'], ['authz_id', 'text']] },
  { key: 'serials', table: 'serials', columns: [['serial', 'text'], ['issuer_id', 'text'], ['order_id', 'text'], ['reserved_at', 'bigint']] },
  {
    key: 'certificates',
    table: 'certificates',
    columns: [
      ['id', 'text'], ['serial', 'text'], ['issuer_id', 'text'], ['account_id', 'text'], ['order_id', 'text'], ['profile', 'text'], ['identifiers', 'text'],
      ['not_before', 'bigint'], ['not_after', 'bigint'], ['der', 'bytea'], ['chain_pem', 'text'], ['chain_id', 'bigint'], ['spki_sha256', 'text'], ['issued_at', 'bigint'],
      ['crl_shard', 'integer'], ['profile_hash', 'text'], ['renewal_start', 'bigint'], ['renewal_end', 'bigint'], ['predecessor_id', 'text'], ['successor_id', 'text'],
    ],
  },
  { key: 'names', table: 'certificate_names', columns: [['name', 'text'], ['issued_at', 'bigint'], ['certificate_id', 'text']] },
  { key: 'ocsp', table: 'ocsp_responses', columns: [['certificate_id', 'text'], ['der', 'bytea'], ['this_update', 'bigint'], ['next_update', 'bigint'], ['revoked', 'boolean'], ['refresh_at', 'bigint']] },
];

const SEED = {
  cert: 'SELECT * FROM certificates WHERE chain_id IS NOT NULL AND revoked_at IS NULL ORDER BY issued_at DESC LIMIT 1',
  account: 'SELECT * FROM accounts WHERE id = $1',
  order: 'SELECT * FROM orders WHERE id = $1',
  authz: 'SELECT a.* FROM authzs a JOIN order_authzs oa ON oa.authz_id = a.id WHERE oa.order_id = $1 LIMIT 1',
  challenges: "SELECT * FROM challenges WHERE authz_id = $1 AND status = 'valid'",
  ocsp: 'SELECT * FROM ocsp_responses WHERE certificate_id = $1',
};
const NO_SEED = 'preload: the store has no issued certificate to clone (issue one first)';

async function readSeed(one: (sql: string, arg?: unknown) => Promise<Seed | undefined>, all: (sql: string, arg: unknown) => Promise<Seed[]>): Promise<SeedRows> {
  const cert = await one(SEED.cert);
  if (!cert) throw new Error(NO_SEED);
  const order = (await one(SEED.order, cert.order_id))!;
  const authz = (await one(SEED.authz, order.id))!;
  return { cert, order, account: (await one(SEED.account, cert.account_id))!, challenges: await all(SEED.challenges, authz.id), ocsp: await one(SEED.ocsp, cert.id) };
}

const counterRows = (counters: Map<string, number>): Row[] =>
  [...counters].map(([k, n]) => {
    const [scope, key, width, bucket] = k.split('|');
    return [scope, key, Number(width), Number(bucket), n];
  });

export async function openSink(target: PreloadTarget): Promise<PreloadSink> {
  return target.kind === 'sqlite' ? sqliteSink(target.dbPath) : postgresSink(target.url);
}

function sqliteSink(dbPath: string): PreloadSink {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = OFF');
  db.pragma('cache_size = -1000000');
  const statements = TABLES.map(({ key, table, columns }) => {
    const present = new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
    const kept = columns.map(([name], i) => (present.has(name) ? i : -1)).filter((i) => i >= 0);
    const stmt = db.prepare(`INSERT INTO ${table} (${kept.map((i) => columns[i]![0]).join(', ')}) VALUES (${kept.map(() => '?').join(', ')})`);
    return { key, run: (row: Row) => stmt.run(kept.map((i) => (typeof row[i] === 'boolean' ? Number(row[i]) : row[i]))) };
  });
  const counter = db.prepare('INSERT INTO counters (scope, key, width, bucket, n) VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, key, width, bucket) DO UPDATE SET n = n + excluded.n');
  const write = db.transaction((b: Batch) => {
    for (const s of statements) for (const row of b[s.key]) s.run(row);
    for (const row of counterRows(b.counters)) counter.run(row);
  });
  return {
    seed: async () =>
      readSeed(
        async (sql, arg) => db.prepare(sql.replace('$1', '?')).get(...(arg === undefined ? [] : [arg])) as Seed | undefined,
        async (sql, arg) => db.prepare(sql.replace('$1', '?')).all(arg) as Seed[],
      ),
    write: async (b) => void write(b),
    finish: async () => void db.pragma('wal_checkpoint(TRUNCATE)'),
    close: async () => void db.close(),
  };
}

async function postgresSink(url: string): Promise<PreloadSink> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // A bulk load, not a served write: the commit need not wait for the WAL flush.
  await client.query('SET synchronous_commit = off');
  const insert = (table: string, columns: Array<[string, string]>, rows: Row[], suffix = '') =>
    client.query(
      `INSERT INTO ${table} (${columns.map(([c]) => c).join(', ')}) SELECT * FROM unnest(${columns.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')}) ${suffix}`,
      columns.map((_, i) => rows.map((r) => r[i])),
    );
  return {
    seed: async () => {
      const s = await readSeed(
        async (sql, arg) => (await client.query(sql, arg === undefined ? [] : [arg])).rows[0] as Seed | undefined,
        async (sql, arg) => (await client.query(sql, [arg])).rows as Seed[],
      );
      return s;
    },
    write: async (b) => {
      await client.query('BEGIN');
      try {
        // PostgreSQL releases a serial's reservation once its certificate is recorded (migration 5).
        for (const { key, table, columns } of TABLES) if (b[key].length && key !== 'serials') await insert(table, columns, b[key]);
        await insert('counters', [['scope', 'text'], ['key', 'text'], ['width', 'bigint'], ['bucket', 'bigint'], ['n', 'bigint']], counterRows(b.counters), 'ON CONFLICT (scope, key, width, bucket, shard) DO UPDATE SET n = counters.n + excluded.n');
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
      // The dashboard's and the rate limits' aggregate rows were each updated many times in that
      // one transaction. A live server updates them once per issuance, each in its own
      // transaction, and pruning and autovacuum reuse the dead versions as it goes; without this
      // they would pile up across batches and be counted as bytes per certificate.
      await client.query('VACUUM dash_hourly, dash_expiry, dash_ocsp, counters');
    },
    finish: async () => void (await client.query('VACUUM ANALYZE')),
    close: () => client.end(),
  };
}
