/** Small display helpers. */
export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const d = new Date(iso).getTime() - now;
  const a = Math.abs(d);
  const text = a < 90_000 ? `${Math.round(a / 1000)} s` : a < 5_400_000 ? `${Math.round(a / 60_000)} min` : a < 172_800_000 ? `${Math.round(a / 3_600_000)} h` : `${Math.round(a / 86_400_000)} d`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

export const REASONS: [number, string][] = [
  [0, 'unspecified'],
  [1, 'keyCompromise'],
  [3, 'affiliationChanged'],
  [4, 'superseded'],
  [5, 'cessationOfOperation'],
  [9, 'privilegeWithdrawn'],
];

export const reasonName = (code: number | null) => (code === null ? '' : (REASONS.find(([c]) => c === code)?.[1] ?? String(code)));
