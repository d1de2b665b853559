/**
 * DNS resolution for validators through the configured resolvers (--dns-resolvers), using node's
 * c-ares resolver with a per-query timeout. Errors become `dns` problems naming the name.
 */
import { Resolver } from 'node:dns/promises';
import { problems } from '../acme/problem.js';

export interface AddressLookup {
  /** IPv6 then IPv4 addresses of the name; throws a `dns` problem when there are none. */
  addresses(name: string): Promise<string[]>;
  txt(name: string): Promise<string[][]>;
}

const NO_DATA = new Set(['ENODATA', 'ENOTFOUND', 'NOTFOUND', 'ENONAME']);

export class DnsResolver implements AddressLookup {
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

  async txt(name: string): Promise<string[][]> {
    const r = await this.query(() => this.resolver.resolveTxt(name));
    if (r.error) throw problems.dns(`DNS TXT lookup of ${name} failed: ${r.error}`);
    return r.values;
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
