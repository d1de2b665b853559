/**
 * The rules of a certificate's place in its names' history, shared by every SQL backend: which
 * earlier certificate it renews, and how early it was issued relative to that one's ARI window.
 */
import type { Identifier } from '../../acme/problem.js';

export interface LineageInput {
  id: string;
  identifiers: Identifier[];
  issuedAt: number;
  /** The certificate an order's `replaces` named, if any (RFC 9773 §5). */
  replaces: string | null;
}

export interface Lineage {
  predecessorId: string | null;
  /**
   * How far before its predecessor's renewal window this certificate was issued, as a fraction
   * of the predecessor's time from notBefore to the window start; null unless positive.
   */
  renewalLead: number | null;
}

/** The distinct names a certificate is recorded under. */
export function lineageNames(identifiers: Identifier[]): string[] {
  return [...new Set(identifiers.map((i) => i.value))];
}

/** The predecessor: the certificate `replaces` names, else the newest earlier one sharing a name. */
export function choosePredecessor(replaces: string | null, newestEarlier: string | null): string | null {
  return replaces ?? newestEarlier;
}

/** The lead of a renewal issued at `issuedAt` over its predecessor's window (null unless positive). */
export function renewalLead(predecessor: { not_before: number; renewal_start: number } | undefined, issuedAt: number): number | null {
  if (!predecessor || predecessor.renewal_start <= predecessor.not_before) return null;
  const lead = (predecessor.renewal_start - issuedAt) / (predecessor.renewal_start - predecessor.not_before);
  return lead > 0 ? lead : null;
}

/**
 * When a legacy certificate's stored OCSP answer is next due: at half its life, or never when it
 * lasts to the certificate's notAfter.
 */
export function legacyRefreshAt(thisUpdate: number, nextUpdate: number, notAfter: number): number | null {
  return nextUpdate >= notAfter ? null : thisUpdate + (nextUpdate - thisUpdate) / 2;
}
