/**
 * Event counters in PostgreSQL: the bucket rules are shared (../shared/counter-buckets.ts); here
 * are the statements. A state change adds all its events in one upsert whose rows come in a
 * stable order, so concurrent writers lock counter rows alike and do not deadlock on them; each
 * transaction writes to one of SHARDS rows per bucket, so writers of a hot bucket (one profile,
 * one issuer) rarely wait for each other. Every read sums over the shards.
 */
import type { WindowCount } from '../store.js';
import { bucketDeltas, windowCount, windowRange, type CounterEvent, type CounterScope } from '../shared/counter-buckets.js';
import type { Sql } from './sql.js';

const SHARDS = 8;

export class Counters {
  /** Counts events (delta -1 undoes one) at every width of their scope, in one statement. */
  async add(tx: Sql, events: CounterEvent[]): Promise<void> {
    const rows = bucketDeltas(events);
    if (rows.length === 0) return;
    await tx.run(
      `INSERT INTO counters (scope, key, width, bucket, n, shard)
       SELECT *, $6::smallint FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
       ON CONFLICT (scope, key, width, bucket, shard) DO UPDATE SET n = counters.n + excluded.n`,
      [rows.map((r) => r.scope), rows.map((r) => r.key), rows.map((r) => r.width), rows.map((r) => r.bucket), rows.map((r) => r.n), Math.floor(Math.random() * SHARDS)],
    );
  }

  /** Events of one key in [from, to) (see windowRange and windowCount for the rules). */
  async window(sql: Sql, scope: CounterScope, key: string, from: number, to: number): Promise<WindowCount> {
    const { width, first, last } = windowRange(scope, from, to);
    const row = await sql.row<{ n: number | null; first: number | null }>(
      'SELECT SUM(n) AS n, MIN(CASE WHEN n > 0 THEN bucket END) AS first FROM counters WHERE scope = $1 AND key = $2 AND width = $3 AND bucket >= $4 AND bucket <= $5',
      [scope, key, width, first, last],
    );
    return windowCount(width, row?.n ?? null, row?.first ?? null);
  }

  /** Per-key totals in [from, to) of every key with at least `minimum` events. */
  async keysAtLeast(sql: Sql, scope: CounterScope, from: number, to: number, minimum = 1): Promise<{ key: string; count: number }[]> {
    const { width, first, last } = windowRange(scope, from, to);
    const rows = await sql.rows<{ key: string; n: number }>(
      'SELECT key, SUM(n) AS n FROM counters WHERE scope = $1 AND width = $2 AND bucket >= $3 AND bucket <= $4 GROUP BY key HAVING SUM(n) >= $5',
      [scope, width, first, last, minimum],
    );
    return rows.map((r) => ({ key: r.key, count: r.n }));
  }

  /** Total of one key (or of every key, with null) over whole buckets [fromBucket, toBucket] of one width. */
  async sumBuckets(sql: Sql, scope: CounterScope, key: string | null, width: number, fromBucket: number, toBucket: number): Promise<number> {
    if (toBucket < fromBucket) return 0;
    const row = await sql.row<{ n: number | null }>(
      'SELECT SUM(n) AS n FROM counters WHERE scope = $1 AND ($2::text IS NULL OR key = $2) AND width = $3 AND bucket >= $4 AND bucket <= $5',
      [scope, key, width, fromBucket, toBucket],
    );
    return row?.n ?? 0;
  }
}
