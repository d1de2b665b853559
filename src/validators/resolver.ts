/**
 * DNS resolution for validators through the configured resolvers (--dns-resolvers), using node's
 * c-ares resolver with a per-query timeout. Errors become `dns` problems naming the name.
 */
import { Resolver } from 'node:dns/promises';
import { problems } from '../acme/problem.js';

export interface AddressLookup {
  /** IPv6 then IPv4 addresses of the name; throws a `dns` problem when there are none. */
  addresses(name: string): Promise<string[]>;
}

export interface TxtLookup {
  /**
   * TXT records of a name (each as its character-strings), following CNAMEs by hand when the
   * resolver returns the alias without its target's records; `queried` lists the names asked.
   */
  txtFollowingCnames(name: string): Promise<{ values: string[][]; queried: string[] }>;
}

/** Longest CNAME chain followed (RFC 1034 has no limit; resolvers commonly stop near 8–16). */
const MAX_CNAME_HOPS = 8;

const NO_DATA = new Set(['ENODATA', 'ENOTFOUND', 'NOTFOUND', 'ENONAME']);

export class DnsResolver implements AddressLookup, TxtLookup {
  private readonly resolver: Resolver;

  constructor(servers: string[], timeoutMs = 3000, tries = 2) {
    this.resolver = new Resolver({ timeout: timeoutMs, tries });
    if (servers.length > 0) this.resolver.setServers(servers);
  }

  async addresses(name: string): Promise<string[]> {
    const [v6, v4] = await Promise.all([this.query(() => this.resolver.resolve6(name)), this.query(() => this.resolver.resolve4(name))]);
    if (v6.error && v4.error) throw problems.dns(`DNS lookup of ${name} failed: ${v4.error}`);
    const all = [...v6.values, ...v4.values];
    if (all.length === 0) throw problems.dns(`no A or AAAA records found for ${name}`);
    return all;
  }

  async txtFollowingCnames(name: string): Promise<{ values: string[][]; queried: string[] }> {
    const queried: string[] = [];
    let current = name;
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      queried.push(current);
      const txt = await this.query(() => this.resolver.resolveTxt(current));
      if (txt.error) throw problems.dns(`DNS TXT lookup of ${current} failed: ${txt.error}`);
      if (txt.values.length > 0) return { values: txt.values, queried };
      const alias = await this.query(() => this.resolver.resolveCname(current));
      if (alias.error) throw problems.dns(`DNS CNAME lookup of ${current} failed: ${alias.error}`);
      const target = alias.values[0];
      if (!target) return { values: [], queried };
      current = target.replace(/\.$/, '');
    }
    throw problems.dns(`more than ${MAX_CNAME_HOPS} CNAMEs from ${name}`);
  }

  private async query<T>(fn: () => Promise<T[]>): Promise<{ values: T[]; error?: string }> {
    try {
      return { values: await fn() };
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'error';
      return NO_DATA.has(code) ? { values: [] } : { values: [], error: code };
    }
  }
}
