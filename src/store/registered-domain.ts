import type { Identifier } from '../acme/problem.js';

/**
 * The "registered domain" per-domain rate limits group by: the last two labels of a DNS name
 * (internal fleets have no public suffix list to consult), or the address of an IP identifier.
 */
export function registeredDomain(identifier: Identifier): string {
  if (identifier.type !== 'dns') return identifier.value;
  return identifier.value.replace(/^\*\./, '').split('.').slice(-2).join('.');
}
