/**
 * Event counters in fixed-size time buckets, kept at write time inside the transaction of the
 * event they count. A window is then a sum over a bounded number of buckets (at most about
 * sixty of the chosen width), whatever the number of events in it: rate limits, issuance
 * baselines and expiry gauges cost the same on a store of any size.
 */
import type { Database } from 'better-sqlite3';
import type { WindowCount } from '../store.js';
import { SCOPE_WIDTHS, windowCount, windowRange, type CounterScope } from '../shared/counter-buckets.js';

export { HOUR, MINUTE, SECOND, SCOPE_WIDTHS, TENTH, type CounterScope } from '../shared/counter-buckets.js';

export class Counters {
  private readonly upsert;
  private readonly sumKey;
  private readonly groups;

  constructor(db: Database) {
    this.upsert = db.prepare<[string, string, number, number, number]>(
      'INSERT INTO counters (scope, key, width, bucket, n) VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, key, width, bucket) DO UPDATE SET n = n + excluded.n',
    );
    this.sumKey = db.prepare<[string, string, number, number, number], { n: number | null; first: number | null }>(
      'SELECT SUM(n) AS n, MIN(CASE WHEN n > 0 THEN bucket END) AS first FROM counters WHERE scope = ? AND key = ? AND width = ? AND bucket >= ? AND bucket <= ?',
    );
    this.groups = db.prepare<[string, number, number, number, number], { key: string; n: number }>(
      'SELECT key, SUM(n) AS n FROM counters WHERE scope = ? AND width = ? AND bucket >= ? AND bucket <= ? GROUP BY key HAVING SUM(n) >= ?',
    );
  }

  /** Counts one event (or undoes one, with delta -1) at `at`, at every width of its scope. */
  add(scope: CounterScope, key: string, at: number, delta = 1): void {
    for (const width of SCOPE_WIDTHS[scope]) this.upsert.run(scope, key, width, Math.floor(at / width), delta);
  }

  /** Events of one key in [from, to) (see windowRange and windowCount for the rules). */
  window(scope: CounterScope, key: string, from: number, to: number): WindowCount {
    const { width, first, last } = windowRange(scope, from, to);
    const row = this.sumKey.get(scope, key, width, first, last);
    return windowCount(width, row?.n ?? null, row?.first ?? null);
  }

  /** Per-key totals in [from, to) of every key with at least `minimum` events. */
  keysAtLeast(scope: CounterScope, from: number, to: number, minimum = 1): { key: string; count: number }[] {
    const { width, first, last } = windowRange(scope, from, to);
    return this.groups.all(scope, width, first, last, minimum).map((r) => ({ key: r.key, count: r.n }));
  }

  /** Total of one key over whole buckets [fromBucket, toBucket] of one width (exact-edge callers). */
  sumBuckets(scope: CounterScope, key: string, width: number, fromBucket: number, toBucket: number): number {
    if (toBucket < fromBucket) return 0;
    return this.sumKey.get(scope, key, width, fromBucket, toBucket)?.n ?? 0;
  }
}
