/**
 * Revocation timing against certificate lifetimes. A relying party may cache an OCSP answer or a
 * CRL until its nextUpdate; when that is as long as the certificate's whole life, a revocation is
 * never seen before the certificate expires anyway. So a profile that carries an OCSP or CRL
 * pointer should live at least twice the OCSP response lifetime / CRL lifetime: then a revocation
 * reaches every relying party within the first half of the certificate's life at the latest.
 */
import type { Profile } from '../profiles/profile.js';

export interface RevocationLifetimes {
  ocspResponseLifetimeMs: number;
  crlLifetimeMs: number;
}

const hours = (ms: number) => `${+(ms / 3_600_000).toFixed(2)}h`;

/** What is inconsistent about a profile's validity and the revocation lifetimes; empty when nothing. */
export function revocationTimingProblems(p: Pick<Profile, 'name' | 'validityMs' | 'revocationInfo'>, t: RevocationLifetimes): string[] {
  const out: string[] = [];
  if (p.revocationInfo.ocsp && p.validityMs < 2 * t.ocspResponseLifetimeMs) {
    out.push(
      `profile ${p.name} (validity ${hours(p.validityMs)}) carries an OCSP pointer, but OCSP answers are valid for ${hours(t.ocspResponseLifetimeMs)} ` +
        `(ocspResponseLifetime): a cached answer may hide a revocation until the certificate expires; set ocspResponseLifetime to at most ${hours(p.validityMs / 2)} or drop revocationInfo.ocsp`,
    );
  }
  if (p.revocationInfo.crl && p.validityMs < 2 * t.crlLifetimeMs) {
    out.push(
      `profile ${p.name} (validity ${hours(p.validityMs)}) carries a CRL pointer, but CRLs are valid for ${hours(t.crlLifetimeMs)} ` +
        `(crlLifetime): a cached CRL may hide a revocation until the certificate expires; set crlLifetime to at most ${hours(p.validityMs / 2)} or drop revocationInfo.crl`,
    );
  }
  return out;
}
