/**
 * dns-persist-01 (draft-ietf-acme-dns-persist-02): a long-lived TXT record at
 * `_validation-persist.<name>` in RFC 8659 issue-value syntax, e.g.
 *   "anvil.internal; accounturi=https://ca/acct/123; policy=wildcard; persistUntil=1767225600"
 * authorizes that account for the name, with no DNS change per issuance. `policy=wildcard` also
 * covers wildcards and every subdomain, so a record at a parent name authorizes its subdomains.
 */
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import type { TxtLookup } from './resolver.js';
import {
  ValidationFailure,
  type ChallengeContext,
  type ValidationRecord,
  type ValidationRequest,
  type Validator,
} from './validator.js';

const LABEL = '_validation-persist';
/** Parent names tried for a subdomain (stopping before a single-label name). */
const MAX_PARENT_LEVELS = 10;

export interface PersistRecord {
  issuerDomainName: string;
  params: Map<string, string>;
}

/**
 * RFC 8659 §4.2 issue-value: `issuer-domain-name *WSP [";" *WSP tag "=" value ...]`, where the
 * TXT character-strings of one record are concatenated first. Returns null for a malformed value.
 */
export function parseIssueValue(text: string): PersistRecord | null {
  const parts = text.split(';').map((p) => p.trim());
  const issuer = parts.shift()?.toLowerCase().replace(/\.$/, '');
  if (!issuer || !/^[a-z0-9.-]+$/.test(issuer)) return null;
  const params = new Map<string, string>();
  for (const part of parts) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    const tag = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!/^[A-Za-z0-9]+$/.test(tag) || /\s/.test(value)) return null;
    params.set(tag, value);
  }
  return { issuerDomainName: issuer, params };
}

export interface DnsPersist01Options {
  resolver: TxtLookup;
  /** The CA's issuer domain names (lower-case A-labels, no trailing dot), at most 10. */
  issuerDomainNames: string[];
}

export class DnsPersist01Validator implements Validator {
  readonly type = 'dns-persist-01';
  readonly tokenless = true;

  constructor(private readonly o: DnsPersist01Options) {
    if (o.issuerDomainNames.length === 0 || o.issuerDomainNames.length > 10) {
      throw new Error('dns-persist-01 needs 1 to 10 issuer domain names');
    }
  }

  supports(identifier: Identifier): boolean {
    return identifier.type === 'dns';
  }

  describe(context: ChallengeContext): Record<string, unknown> {
    return { accounturi: context.accountUrl, 'issuer-domain-names': this.o.issuerDomainNames };
  }

  async validate(req: ValidationRequest): Promise<ValidationRecord[]> {
    const records: ValidationRecord[] = [];
    const name = req.identifier.value;
    const labels = name.split('.');
    // The name itself (exact match unless a wildcard is asked for), then parents with policy=wildcard.
    const candidates = [{ at: name, needWildcard: req.wildcard }];
    for (let i = 1; i < labels.length - 1 && i <= MAX_PARENT_LEVELS; i++) {
      candidates.push({ at: labels.slice(i).join('.'), needWildcard: true });
    }
    try {
      const reasons: string[] = [];
      for (const { at, needWildcard } of candidates) {
        const hostname = `${LABEL}.${at}`;
        const { values } = await this.o.resolver.txtFollowingCnames(hostname);
        const verdicts = values.map((chunks) => this.judge(chunks.join(''), req.accountUrl, needWildcard));
        records.push({ hostname, records: values.length, accepted: verdicts.some((v) => v === true) });
        if (verdicts.includes(true)) return records;
        reasons.push(...verdicts.filter((v): v is string => typeof v === 'string').map((r) => `${hostname}: ${r}`));
      }
      const why = reasons.length > 0 ? reasons.slice(0, 3).join('; ') : `no ${LABEL} TXT record found`;
      throw problems.unauthorized(`no dns-persist-01 record authorizes this account for ${req.wildcard ? '*.' : ''}${name} (${why})`);
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, records);
      throw new ValidationFailure(problems.dns(`DNS lookup for dns-persist-01 of ${name} failed`), records);
    }
  }

  /** True when the record authorizes; a reason string when it is ours but does not; null when not ours. */
  private judge(text: string, accountUrl: string, needWildcard: boolean): true | string | null {
    const record = parseIssueValue(text);
    if (!record || !this.o.issuerDomainNames.includes(record.issuerDomainName)) return null;
    const account = record.params.get('accounturi');
    // Simple String Comparison (RFC 3986 §6.2.1), no normalisation.
    if (account !== accountUrl) return 'accounturi names another account';
    const until = record.params.get('persistUntil');
    if (until !== undefined) {
      if (!/^\d+$/.test(until)) return 'persistUntil is not a base-10 integer';
      if (Number(until) * 1000 < Date.now()) return 'persistUntil has passed';
    }
    if (needWildcard && record.params.get('policy')?.toLowerCase() !== 'wildcard') return 'policy=wildcard is needed for wildcards and subdomains';
    return true;
  }
}
