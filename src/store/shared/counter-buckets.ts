/**
 * The rules of the event counters every SQL backend keeps at write time: which scopes exist, the
 * bucket widths each is recorded at, which buckets a window sums, how exact edges are counted for
 * expiry gauges, and which buckets retention may drop. The backends only run the statements.
 */
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

/** One counted event (or an undone one, delta -1). */
export interface CounterEvent {
  scope: CounterScope;
  key: string;
  at: number;
  delta?: number;
}

/** The counters an issued certificate moves: issuance (anomaly baselines) and expiry (gauges). */
export function issuedEvents(c: { accountId: string; profile: string; issuerId: string; issuedAt: number; notAfter: number }): CounterEvent[] {
  return [
    { scope: 'issued:account', key: c.accountId, at: c.issuedAt },
    { scope: 'issued:profile', key: c.profile, at: c.issuedAt },
    { scope: 'expires', key: c.issuerId, at: c.notAfter },
    { scope: 'expires:live', key: c.issuerId, at: c.notAfter },
  ];
}

/** One bucket row to add to. */
export interface BucketDelta {
  scope: CounterScope;
  key: string;
  width: number;
  bucket: number;
  n: number;
}

/** A window is summed over buckets of the widest width that still gives this many buckets. */
const WINDOW_BUCKETS = 60;

/** The width a window of `span` ms of this scope is summed at. */
export function widthFor(scope: CounterScope, span: number): number {
  const widths = SCOPE_WIDTHS[scope];
  let chosen: number = widths[0];
  for (const w of widths) if (span / w >= WINDOW_BUCKETS) chosen = w;
  return chosen;
}

/** The bucket rows some events add to, one per (scope, key, width, bucket), in a stable order (so writers lock rows alike). */
export function bucketDeltas(events: CounterEvent[]): BucketDelta[] {
  const merged = new Map<string, BucketDelta>();
  for (const e of events) {
    for (const width of SCOPE_WIDTHS[e.scope]) {
      const bucket = Math.floor(e.at / width);
      const id = JSON.stringify([e.scope, e.key, width, bucket]);
      const row = merged.get(id);
      if (row) row.n += e.delta ?? 1;
      else merged.set(id, { scope: e.scope, key: e.key, width, bucket, n: e.delta ?? 1 });
    }
  }
  return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

/** The buckets a window [from, to) sums: those that start inside it. */
export interface BucketRange {
  width: number;
  first: number;
  last: number;
}

/**
 * Events of one key in [from, to) are the buckets that start inside the window. Events in the
 * bucket cut by the window's start do not count, so a window forgets at most one bucket (about
 * a sixtieth of it) early.
 */
export function windowRange(scope: CounterScope, from: number, to: number): BucketRange {
  const width = widthFor(scope, to - from);
  return { width, first: Math.ceil(from / width), last: Math.floor((to - 1) / width) };
}

/**
 * `oldest` is the start of the oldest counted bucket: once `oldest + (to - from)` has passed it
 * no longer counts, so a caller told to wait until then (never longer than the window) sees the
 * count drop.
 */
export function windowCount(width: number, n: number | null, firstBucket: number | null): WindowCount {
  return { count: n ?? 0, oldest: firstBucket === null ? null : new Date(firstBucket * width) };
}

/** How a count of certificates by notAfter is split: exact ranges (not_after in (from, until]) and whole hour buckets. */
export interface ExpiryPlan {
  exact: [number, number][];
  /** Whole hour buckets [first, last] of the expiry counters, or null when none. */
  hours: [number, number] | null;
}

/**
 * Unrevoked certificates with notAfter in (from, until]: whole hours from the expiry counters,
 * the partial hours at both ends counted exactly (an index range of at most an hour each).
 */
export function expiringPlan(from: number, until: number): ExpiryPlan {
  const firstWhole = Math.floor(from / HOUR) + 1;
  const lastWhole = Math.floor(until / HOUR); // bucket starting at until's hour is partial
  if (lastWhole - firstWhole < 1) return { exact: [[from, until]], hours: null };
  return {
    exact: [
      [from, firstWhole * HOUR - 1],
      [lastWhole * HOUR - 1, until],
    ],
    hours: [firstWhole, lastWhole - 1],
  };
}

/** An issuer's unexpired certificates at `now` given its last notAfter: the rest of this hour exactly, then whole hours. */
export function unexpiredPlan(now: number, lastNotAfter: number | null): ExpiryPlan {
  const nextHour = Math.floor(now / HOUR) + 1;
  const lastHour = lastNotAfter === null ? nextHour - 1 : Math.floor(lastNotAfter / HOUR);
  return { exact: [[now, nextHour * HOUR - 1]], hours: lastHour >= nextHour ? [nextHour, lastHour] : null };
}

/** The first bucket of a scope and width that retention keeps; older ones may be purged. */
export function firstKeptBucket(scope: CounterScope, width: number, before: number, now: number): number {
  // Expiry buckets count the future: only the hours already past go. Sub-minute buckets serve
  // only short rate-limit windows: tenths for ten minutes, seconds for an hour.
  const horizon = scope.startsWith('expires') ? now - HOUR : width < MINUTE ? now - (width < SECOND ? 10 * MINUTE : HOUR) : before;
  return Math.floor(horizon / width);
}

/** Every (scope, width) pair the counters are recorded at. */
export function scopeWidths(): [CounterScope, number][] {
  return (Object.entries(SCOPE_WIDTHS) as [CounterScope, readonly number[]][]).flatMap(([scope, widths]) => widths.map((w) => [scope, w] as [CounterScope, number]));
}
