/**
 * When to renew, as pure functions of the certificate, the ARI answer, the failure count and a
 * random source, so the timing rules are tested without a clock:
 * - ARI (RFC 9773 §4.3.3): a uniform random point inside the suggested window; a window already
 *   past means renew now; the next ARI check follows Retry-After, clamped to [1 min, 1 day].
 * - Without ARI: ⅔ of the lifetime minus a random jitter of up to 1/20 of the lifetime.
 * - Errors: exponential backoff with full jitter from 30 s; the cap comes from the remaining
 *   lifetime (a tenth of it), so a short-lived certificate still gets several tries before expiry.
 */

/** A random number in [0, 1). */
export type RandomSource = () => number;

/** An ARI suggested window. */
export interface Window {
  start: number;
  end: number;
}

/** RFC 9773 §4.3.3: a uniform random time in the window; `now` when the window has passed. */
export function pickInWindow(window: Window, now: number, random: RandomSource): number {
  if (window.end <= now) return now;
  const start = Math.max(window.start, now);
  return start + Math.floor(random() * (window.end - start));
}

/**
 * Whether a point picked earlier still stands for a (possibly moved) window: the same window
 * keeps its point, so re-checking ARI at Retry-After does not re-roll the dice each time.
 */
export function keepPick(previous: { window: Window; at: number } | undefined, window: Window): boolean {
  return previous !== undefined && previous.window.start === window.start && previous.window.end === window.end;
}

/** Retry-After in seconds (RFC 9110 §10.2.3, delay-seconds or HTTP-date) as milliseconds, clamped. */
export function clampRetryAfter(header: string | undefined, now: number, minMs: number, maxMs: number): number {
  let ms = minMs;
  if (header !== undefined && header.trim() !== '') {
    const text = header.trim();
    if (/^\d+$/.test(text)) ms = Number(text) * 1000;
    else {
      const date = Date.parse(text);
      if (!Number.isNaN(date)) ms = date - now;
    }
  }
  return Math.min(maxMs, Math.max(minMs, ms));
}

/** Without ARI: ⅔ of the lifetime minus up to 1/20 of it at random. */
export function fallbackRenewalTime(notBefore: number, notAfter: number, random: RandomSource): number {
  const lifetime = notAfter - notBefore;
  return notBefore + Math.round((lifetime * 2) / 3 - random() * (lifetime / 20));
}

/** The backoff cap for a certificate with `remainingMs` left: a tenth of it, at least the initial step. */
export function backoffCap(initialMs: number, remainingMs: number): number {
  return Math.max(initialMs, Math.floor(remainingMs / 10));
}

/**
 * Delay before retry number `failures` (1 = the first retry): initial·2^(n-1), capped, with
 * jitter in [½, 1] of it so a fleet that failed together does not retry together.
 */
export function backoffDelay(failures: number, initialMs: number, remainingMs: number, random: RandomSource): number {
  const cap = backoffCap(initialMs, remainingMs);
  const step = Math.min(cap, initialMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Longest setTimeout Node accepts; longer waits are split. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
