/**
 * DNS resolution for validators through the configured resolvers (--dns-resolvers), using node's
 * c-ares resolver with a per-query timeout. Errors become `dns` problems naming the name.
 */
import { lookup, Resolver } from 'node:dns/promises';
import { AcmeProblem, problems } from '../acme/problem.js';

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

/**
 * Addresses from the operating system's name service (getaddrinfo: /etc/hosts, then DNS or
 * whatever nsswitch.conf lists), as every other program on the machine resolves names. The
 * default when no --dns-resolvers are given, so a CA on a developer's machine validates
 * `localhost` and names in /etc/hosts. getaddrinfo has no timeout of its own: this one bounds it.
 */
export class SystemNameService implements AddressLookup {
  constructor(private readonly timeoutMs = 3000) {}

  async addresses(name: string): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), this.timeoutMs);
    });
    try {
      const found = await Promise.race([lookup(name, { all: true, verbatim: true }), timeout]);
      const unique = [...new Set(found.map((a) => a.address))];
      // IPv6 first, then IPv4, as with DNS answers (http-01 falls back to the next address).
      const all = [...unique.filter((a) => a.includes(':')), ...unique.filter((a) => !a.includes(':'))];
      if (all.length === 0) throw problems.dns(`no addresses found for ${name} (system name service)`);
      return all;
    } catch (e) {
      if (e instanceof AcmeProblem) throw e;
      const code = (e as { code?: string }).code ?? 'error';
      throw problems.dns(NO_DATA.has(code) || code === 'EAI_NODATA' ? `no addresses found for ${name} (system name service: /etc/hosts and DNS)` : `lookup of ${name} failed: ${code}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** How validators find a name's addresses: the system name service, or DNS queries only. */
export type AddressLookupMode = 'auto' | 'system' | 'dns';

/** `auto` is the system name service unless DNS servers are configured. */
export function addressLookupFor(mode: AddressLookupMode, dnsServers: string[], dns: DnsResolver): AddressLookup {
  const system = mode === 'system' || (mode === 'auto' && dnsServers.length === 0);
  return system ? new SystemNameService() : dns;
}

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
