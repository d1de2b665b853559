/**
 * Event counters in fixed-size time buckets, kept at write time inside the transaction of the
 * event they count. A window is then a sum over a bounded number of buckets (at most about
 * WINDOW_BUCKETS of the chosen width), whatever the number of events in it: rate limits, issuance
 * baselines and expiry gauges cost the same on a store of any size.
 */
import type { Database } from 'better-sqlite3';
import type { WindowCount } from '../store.js';

export const TENTH = 100;
export const SECOND = 1_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;

/** Which bucket widths each counter scope is recorded at (finer ones serve short windows). */
export const SCOPE_WIDTHS = {
  /** Rate limits: windows from seconds (tests) to hours. */
  'orders:account': [TENTH, SECOND, MINUTE],
  'orders:domain': [TENTH, SECOND, MINUTE],
  'orders:profile': [TENTH, SECOND, MINUTE],
  'failed:account': [TENTH, SECOND, MINUTE],
  'accounts:ip': [TENTH, SECOND, MINUTE],
  /** Anomaly detection: a recent window (minutes) against a baseline (days). */
  'issued:account': [MINUTE, HOUR],
  'issued:profile': [MINUTE, HOUR],
  revoked: [MINUTE, HOUR],
  /** Certificates by issuer and the hour of their notAfter: all, and those not revoked. */
  expires: [HOUR],
  'expires:live': [HOUR],
} as const satisfies Record<string, readonly number[]>;

export type CounterScope = keyof typeof SCOPE_WIDTHS;

/** A window is summed over buckets of the widest width that still gives this many buckets. */
const WINDOW_BUCKETS = 60;

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

  /**
   * Events of one key in [from, to): the buckets that start inside the window. Events in the
   * bucket cut by the window's start do not count, so a window forgets at most one bucket (about
   * a sixtieth of it) early. `oldest` is the start of the oldest counted bucket: once
   * `oldest + (to - from)` has passed it no longer counts, so a caller told to wait until then
   * (never longer than the window) sees the count drop.
   */
  window(scope: CounterScope, key: string, from: number, to: number): WindowCount {
    const width = widthFor(scope, to - from);
    const row = this.sumKey.get(scope, key, width, Math.ceil(from / width), Math.floor((to - 1) / width));
    const first = row?.first ?? null;
    return { count: row?.n ?? 0, oldest: first === null ? null : new Date(first * width) };
  }

  /** Per-key totals in [from, to) of every key with at least `minimum` events. */
  keysAtLeast(scope: CounterScope, from: number, to: number, minimum = 1): { key: string; count: number }[] {
    const width = widthFor(scope, to - from);
    return this.groups.all(scope, width, Math.ceil(from / width), Math.floor((to - 1) / width), minimum).map((r) => ({ key: r.key, count: r.n }));
  }

  /** Total of one key over whole buckets [fromBucket, toBucket] of one width (exact-edge callers). */
  sumBuckets(scope: CounterScope, key: string, width: number, fromBucket: number, toBucket: number): number {
    if (toBucket < fromBucket) return 0;
    return this.sumKey.get(scope, key, width, fromBucket, toBucket)?.n ?? 0;
  }
}

function widthFor(scope: CounterScope, span: number): number {
  const widths = SCOPE_WIDTHS[scope];
  let chosen: number = widths[0];
  for (const w of widths) if (span / w >= WINDOW_BUCKETS) chosen = w;
  return chosen;
}
