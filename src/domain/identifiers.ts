/**
 * Identifier checks for newOrder: `dns` names (RFC 8555 §7.1.3, wildcards §7.1.3) and `ip`
 * addresses (RFC 8738). Each refused identifier becomes a subproblem naming it.
 */
import { isIP } from 'node:net';
import { combineIdentifierProblems, problems, type AcmeErrorType, type Identifier, type Subproblem } from '../acme/problem.js';

export interface RequestedIdentifier {
  /** For a wildcard, the base name without `*.` (as the authorization shows it, §7.1.4). */
  identifier: Identifier;
  wildcard: boolean;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Canonical text of an IP address (IPv6 compressed, lowercase), or undefined if it is none. */
export function canonicalIp(value: string): string | undefined {
  const family = isIP(value);
  // Zone ids (fe80::1%eth0) name an interface of the client, not an address anyone can hold.
  if (family === 0 || value.includes('%')) return undefined;
  // The WHATWG URL parser canonicalises both families; it is the platform's own IP parser.
  try {
    const host = new URL(family === 6 ? `http://[${value}]/` : `http://${value}/`).hostname;
    return family === 6 ? host.slice(1, -1) : host;
  } catch {
    return undefined;
  }
}

/** Why a DNS name is not acceptable, or undefined when it is. */
export function dnsNameFault(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  if (name.endsWith('.')) return 'must not end with a dot';
  if (isIP(name) !== 0) return 'is an IP address; use an "ip" identifier';
  const labels = name.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) return `has an invalid label ${JSON.stringify(label)} (letters, digits and inner hyphens, 1–63 characters)`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'has an all-numeric top-level label';
  return undefined;
}

function refuse(type: AcmeErrorType, identifier: Identifier, detail: string): Subproblem {
  return { type, identifier, detail };
}

/**
 * Parses the `identifiers` member of a newOrder payload into canonical identifiers (lower-case
 * DNS names, canonical IPs), de-duplicated. Throws malformed for a bad shape and
 * rejectedIdentifier / unsupportedIdentifier with subproblems for refused values.
 */
export function parseOrderIdentifiers(raw: unknown, maxIdentifiers: number): RequestedIdentifier[] {
  if (!Array.isArray(raw) || raw.length === 0) throw problems.malformed('newOrder "identifiers" must be a non-empty array');
  if (raw.length > maxIdentifiers) {
    throw problems.rejectedIdentifier(`an order may hold at most ${maxIdentifiers} identifiers (got ${raw.length})`);
  }
  const out: RequestedIdentifier[] = [];
  const seen = new Set<string>();
  const refused: Subproblem[] = [];
  for (const entry of raw) {
    if (typeof entry !== 'object' || entry === null || typeof entry.type !== 'string' || typeof entry.value !== 'string') {
      throw problems.malformed('each identifier must be an object with string "type" and "value"');
    }
    const given: Identifier = { type: entry.type, value: entry.value };
    let parsed: RequestedIdentifier | undefined;
    if (given.type === 'dns') {
      const lower = given.value.toLowerCase();
      const wildcard = lower.startsWith('*.');
      const base = wildcard ? lower.slice(2) : lower;
      const fault = base.includes('*') ? 'may contain "*" only as the whole leftmost label' : dnsNameFault(base);
      if (fault) refused.push(refuse('rejectedIdentifier', given, `DNS name ${JSON.stringify(given.value)} ${fault}`));
      else if (wildcard && !base.includes('.')) refused.push(refuse('rejectedIdentifier', given, 'a wildcard needs at least two labels below "*"'));
      else parsed = { identifier: { type: 'dns', value: base }, wildcard };
    } else if (given.type === 'ip') {
      const ip = canonicalIp(given.value);
      if (!ip) refused.push(refuse('rejectedIdentifier', given, `${JSON.stringify(given.value)} is not an IPv4 or IPv6 address`));
      else parsed = { identifier: { type: 'ip', value: ip }, wildcard: false };
    } else {
      refused.push(refuse('unsupportedIdentifier', given, `identifier type ${JSON.stringify(given.type)} is not supported (use "dns" or "ip")`));
    }
    if (!parsed) continue;
    const key = identifierKey(parsed);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(parsed);
  }
  if (refused.length > 0) throw combineIdentifierProblems('the order contains identifiers this CA will not issue for', refused);
  return out;
}

/** A stable key for comparing identifiers: `dns:*.example.test`, `ip:10.0.0.1`. */
export function identifierKey(r: RequestedIdentifier): string {
  return `${r.identifier.type}:${r.wildcard ? '*.' : ''}${r.identifier.value}`;
}

/** The identifier as it appears in an order and a certificate (wildcards with their `*.`). */
export function orderIdentifier(r: RequestedIdentifier): Identifier {
  return { type: r.identifier.type, value: r.wildcard ? `*.${r.identifier.value}` : r.identifier.value };
}
