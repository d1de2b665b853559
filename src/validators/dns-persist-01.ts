/**
 * dns-persist-01 (draft-ietf-acme-dns-persist-02, September 2026): a long-lived TXT record at
 * `_validation-persist.<name>` in RFC 8659 issue-value syntax, e.g.
 *   "anvil.internal; accounturi=<accountHashPrefix>sha-256/<hash>; policy=wildcard; persistUntil=1767225600"
 * authorizes that account for the name, with no DNS change per issuance. The account URI is
 * hashed (§4.1 item 3) over the record's domain (or `*`), the account key thumbprint and the
 * account URL, so records do not reveal which domains share an account. `policy=wildcard` also
 * covers wildcards and every subdomain, so a record at a parent name authorizes its subdomains.
 * The -01 form (the plain account URL) is accepted only when configured for compatibility.
 */
import { createHash } from 'node:crypto';
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import type { TxtLookup } from './resolver.js';
import {
  AUTHZ_EXPIRES_BY,
  ValidationFailure,
  type ChallengeContext,
  type ValidationRecord,
  type ValidationRequest,
  type Validator,
} from './validator.js';

const LABEL = '_validation-persist';

interface Accepted {
  until?: Date;
}
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
  /** The directory's `accountHashPrefix` (§4.1): hashed account URIs start with it. */
  accountHashPrefix: string;
  /** Also accept the draft-01 record form, whose accounturi is the plain account URL. */
  acceptAccountUrl: boolean;
}

/** §4.1 item 3: <prefix>sha-256/base64url(SHA-256(len(domain) ‖ domain ‖ thumbprint ‖ account URL)). */
export function hashedAccountUri(prefix: string, domain: string, thumbprint: string, accountUrl: string): string {
  const d = Buffer.from(domain, 'ascii');
  const digest = createHash('sha256')
    .update(Buffer.concat([Buffer.from([d.length]), d, Buffer.from(thumbprint, 'ascii'), Buffer.from(accountUrl, 'ascii')]))
    .digest('base64url');
  return `${prefix}sha-256/${digest}`;
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
    const fields: Record<string, unknown> = { issuerDomainNames: this.o.issuerDomainNames };
    // The draft-01 spelling, for clients written against it, when that form is accepted.
    if (this.o.acceptAccountUrl) Object.assign(fields, { accounturi: context.accountUrl, 'issuer-domain-names': this.o.issuerDomainNames });
    return fields;
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
        const verdicts = values.map((chunks) => this.judge(chunks.join(''), at, req, needWildcard));
        const accepted = verdicts.find((v): v is Accepted => typeof v === 'object' && v !== null);
        records.push({ hostname, records: values.length, accepted: accepted !== undefined });
        if (accepted) {
          // §4.1 item 5: an authorization from a record with persistUntil expires no later than it.
          if (accepted.until) records[records.length - 1]![AUTHZ_EXPIRES_BY] = accepted.until.toISOString();
          return records;
        }
        reasons.push(...verdicts.filter((v): v is string => typeof v === 'string').map((r) => `${hostname}: ${r}`));
      }
      const why = reasons.length > 0 ? reasons.slice(0, 3).join('; ') : `no ${LABEL} TXT record found`;
      throw problems.unauthorized(`no dns-persist-01 record authorizes this account for ${req.wildcard ? '*.' : ''}${name} (${why})`);
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, records);
      throw new ValidationFailure(problems.dns(`DNS lookup for dns-persist-01 of ${name} failed`), records);
    }
  }

  /** Accepted (with its persistUntil), a reason when the record is ours but does not authorize, null when not ours. */
  private judge(text: string, domain: string, req: ValidationRequest, needWildcard: boolean): Accepted | string | null {
    const record = parseIssueValue(text);
    if (!record || !this.o.issuerDomainNames.includes(record.issuerDomainName)) return null;
    const account = record.params.get('accounturi');
    // Simple String Comparison (RFC 3986 §6.2.1), no normalisation.
    const expected = [
      hashedAccountUri(this.o.accountHashPrefix, domain, req.accountThumbprint, req.accountUrl),
      hashedAccountUri(this.o.accountHashPrefix, '*', req.accountThumbprint, req.accountUrl),
      ...(this.o.acceptAccountUrl ? [req.accountUrl] : []),
    ];
    if (account === undefined || !expected.includes(account)) return 'accounturi does not identify this account (key) for this domain';
    const untilText = record.params.get('persistUntil');
    let until: Date | undefined;
    if (untilText !== undefined) {
      if (!/^\d+$/.test(untilText)) return 'persistUntil is not a base-10 integer';
      until = new Date(Number(untilText) * 1000);
      if (until.getTime() < Date.now()) return 'persistUntil has passed';
    }
    if (needWildcard && record.params.get('policy')?.toLowerCase() !== 'wildcard') return 'policy=wildcard is needed for wildcards and subdomains';
    return until ? { until } : {};
  }
}
