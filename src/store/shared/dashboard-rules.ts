/**
 * The dashboard's rules that do not depend on the SQL dialect: hour buckets, keyset cursors,
 * page bounds, and how counts from the hourly buckets and the exact partial hours at a window's
 * edges combine. Each backend supplies only its statements.
 */
import type { HourlyActivity } from '../dashboard-store.js';

export const HOUR = 3_600_000;
export const hourOf = (d: Date): number => Math.floor(d.getTime() / HOUR);

/** A page size the caller asked for, held to 1..max. */
export const pageSize = (limit: number, max = 200): number => Math.min(Math.max(Math.trunc(limit), 1), max);

/** A keyset cursor: the last row's sort key, as opaque base64url JSON. */
export function encodeCursor(a: number, b: string): string {
  return Buffer.from(JSON.stringify([a, b])).toString('base64url');
}

export function decodeCursor(cursor: string): [number, string] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new RangeError('malformed cursor');
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string') throw new RangeError('malformed cursor');
  return [v[0] as number, v[1] as string];
}

/** The hourly bucket rows (`issued`, `failed`, `revoked`) as one activity entry per hour, oldest first. */
export function foldHourly(rows: { metric: string; hour: number; n: number }[]): HourlyActivity[] {
  const byHour = new Map<number, HourlyActivity>();
  for (const r of rows) {
    const h = byHour.get(r.hour) ?? { hour: new Date(r.hour * HOUR), issued: 0, failedValidations: 0, revoked: 0 };
    if (r.metric === 'issued') h.issued = r.n;
    else if (r.metric === 'failed') h.failedValidations = r.n;
    else h.revoked = r.n;
    byHour.set(r.hour, h);
  }
  return [...byHour.values()].sort((a, b) => a.hour.getTime() - b.hour.getTime());
}

export type LiveRow = { profile: string; issuer_id: string; live: number };

/** Live certificates per (profile, issuer), summed over the row sets given (buckets and edge hour). */
export function sumLive(...sets: LiveRow[][]): { profile: string; issuerId: string; live: number }[] {
  const counts = new Map<string, { profile: string; issuerId: string; live: number }>();
  for (const r of sets.flat()) {
    const k = `${r.profile}\u0000${r.issuer_id}`;
    const c = counts.get(k) ?? { profile: r.profile, issuerId: r.issuer_id, live: 0 };
    c.live += Number(r.live);
    counts.set(k, c);
  }
  return [...counts.values()].filter((c) => c.live > 0).sort((a, b) => b.live - a.live);
}

/** The exact edge of a live count: certificates expiring after `now` within its hour. */
export const liveEdge = (now: Date): [number, number] => [now.getTime(), (hourOf(now) + 1) * HOUR - 1];

type Counted = { live: number; renewed: number };

/**
 * Certificates expiring in (now, until], and how many have a successor: whole hours strictly
 * inside the window from the buckets, the two partial hours counted exactly by `range`.
 */
export async function expiringSummary(
  now: Date,
  until: Date,
  range: (from: number, to: number) => Counted | Promise<Counted>,
  buckets: (firstHour: number, endHour: number) => { live: number | null; renewed: number | null } | Promise<{ live: number | null; renewed: number | null }>,
): Promise<{ total: number; withSuccessor: number; withoutSuccessor: number }> {
  const firstWhole = hourOf(now) + 1;
  const lastWhole = hourOf(until);
  const parts: Counted[] = [];
  if (lastWhole < firstWhole) {
    parts.push(await range(now.getTime(), until.getTime()));
  } else {
    parts.push(await range(now.getTime(), firstWhole * HOUR - 1));
    const b = await buckets(firstWhole, lastWhole);
    parts.push({ live: b.live ?? 0, renewed: b.renewed ?? 0 });
    parts.push(await range(lastWhole * HOUR - 1, until.getTime()));
  }
  const live = parts.reduce((n, p) => n + Number(p.live), 0);
  const renewed = parts.reduce((n, p) => n + Number(p.renewed), 0);
  return { total: live, withSuccessor: renewed, withoutSuccessor: live - renewed };
}

/** A linked certificate as the dashboard shows it. */
export const certificateRef = (r: { id: string; serial: string; not_after: number; revoked_at: number | null }) => ({
  id: r.id,
  serial: r.serial,
  notAfter: new Date(r.not_after),
  revoked: r.revoked_at !== null,
});

export const toCrlState = (r: { issuer_id: string; shard: number; number: number; this_update: number; next_update: number }) => ({
  issuerId: r.issuer_id,
  shard: r.shard,
  number: r.number,
  thisUpdate: new Date(r.this_update),
  nextUpdate: new Date(r.next_update),
});

export const toOcspFreshness = (r: { issuer_id: string; overdue: number | null; earliest: number | null }) => ({
  issuerId: r.issuer_id,
  overdue: r.overdue ?? 0,
  earliestNextUpdate: r.earliest === null ? null : new Date(r.earliest * HOUR),
});
