/**
 * A profile's identifier policy applied to an order: allowed DNS suffixes and patterns, wildcards,
 * IP identifiers and ranges. Each refusal is a rejectedIdentifier subproblem naming the rule.
 */
import type { Subproblem } from '../acme/problem.js';
import type { Profile } from '../profiles/profile.js';
import { orderIdentifier, type RequestedIdentifier } from './identifiers.js';

export function identifierPolicyRefusals(requested: RequestedIdentifier[], profile: Profile): Subproblem[] {
  const policy = profile.identifiers;
  const refusals: Subproblem[] = [];
  const refuse = (r: RequestedIdentifier, detail: string) =>
    refusals.push({ type: 'rejectedIdentifier', identifier: orderIdentifier(r), detail: `profile ${profile.name}: ${detail}` });
  for (const r of requested) {
    const value = r.identifier.value;
    if (r.identifier.type === 'ip') {
      if (!policy.allowIp) refuse(r, 'IP address identifiers are not allowed');
      else if (policy.ipBlockList && !policy.ipBlockList.check(value, value.includes(':') ? 'ipv6' : 'ipv4')) {
        refuse(r, `${value} is outside the allowed ranges (${policy.ipRanges.join(', ')})`);
      }
      continue;
    }
    if (r.wildcard && !policy.wildcards) {
      refuse(r, 'wildcard names are not allowed');
      continue;
    }
    if (policy.dnsSuffixes.length > 0 && !policy.dnsSuffixes.some((s) => value.endsWith(s) && value.length > s.length)) {
      refuse(r, `${value} is not under an allowed suffix (${policy.dnsSuffixes.join(', ')})`);
      continue;
    }
    const asRequested = r.wildcard ? `*.${value}` : value;
    if (policy.dnsPatterns.length > 0 && !policy.dnsPatterns.some((p) => p.test(asRequested))) {
      refuse(r, `${asRequested} matches none of the allowed name patterns`);
    }
  }
  return refusals;
}
