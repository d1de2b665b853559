/**
 * Rate limits, counted from the store (so every instance sharing it enforces the same limits):
 * new orders per account, per registered domain and per profile; failed validations per account;
 * new accounts per client address. Each is `<count>/<window>` (e.g. `300/1h`) or `off`; a refusal
 * is `rateLimited` with Retry-After set to when the oldest counted event leaves the window.
 */
import { problems, type Identifier } from '../acme/problem.js';
import { parseDuration } from '../config/settings.js';
import { metrics } from '../ops/metrics.js';
import type { Store, WindowCount } from '../store/store.js';
import { registeredDomain } from '../store/registered-domain.js';
import type { AccountRecord } from '../store/types.js';

export interface Limit {
  count: number;
  windowMs: number;
}

/** Parses `300/1h` (or `off` → undefined); throws with the expected form. */
export function parseLimit(text: string): Limit | undefined {
  if (text === 'off') return undefined;
  const m = /^(\d+)\/(.+)$/.exec(text.trim());
  const windowMs = m ? parseDuration(m[2]!) : undefined;
  if (!m || !windowMs || Number(m[1]) < 1) throw new Error('expected <count>/<window> such as 300/1h, or off');
  return { count: Number(m[1]), windowMs };
}

export interface RateLimitSettings {
  ordersPerAccount?: Limit;
  ordersPerDomain?: Limit;
  ordersPerProfile?: Limit;
  failedValidationsPerAccount?: Limit;
  accountsPerIp?: Limit;
}

export class RateLimiter {
  constructor(
    private readonly store: Store,
    private readonly limits: RateLimitSettings,
  ) {}

  /** Checks every order limit for a new order by this account for these identifiers and profile. */
  async checkNewOrder(account: AccountRecord, identifiers: Identifier[], profile: string): Promise<void> {
    const now = Date.now();
    const { ordersPerAccount, ordersPerDomain, ordersPerProfile, failedValidationsPerAccount } = this.limits;
    if (ordersPerAccount) {
      this.enforce('ordersPerAccount', ordersPerAccount, await this.store.countOrders({ accountId: account.id }, since(ordersPerAccount, now)), now, 'new orders for this account');
    }
    if (failedValidationsPerAccount) {
      this.enforce(
        'failedValidationsPerAccount',
        failedValidationsPerAccount,
        await this.store.countFailedValidations(account.id, since(failedValidationsPerAccount, now)),
        now,
        'failed validations for this account',
      );
    }
    if (ordersPerDomain) {
      for (const domain of new Set(identifiers.map(registeredDomain))) {
        this.enforce('ordersPerDomain', ordersPerDomain, await this.store.countOrders({ registeredDomain: domain }, since(ordersPerDomain, now)), now, `new orders for names under ${domain}`);
      }
    }
    if (ordersPerProfile) {
      this.enforce('ordersPerProfile', ordersPerProfile, await this.store.countOrders({ profile }, since(ordersPerProfile, now)), now, `new orders under profile ${profile}`);
    }
  }

  async checkNewAccount(ip: string | undefined): Promise<void> {
    const limit = this.limits.accountsPerIp;
    if (!limit || !ip) return;
    const now = Date.now();
    this.enforce('accountsPerIp', limit, await this.store.countAccountsFromIp(ip, since(limit, now)), now, `new accounts from ${ip}`);
  }

  private enforce(name: string, limit: Limit, seen: WindowCount, now: number, what: string): void {
    if (seen.count < limit.count) return;
    metrics.rateLimited.inc({ limit: name });
    const freeAt = (seen.oldest?.getTime() ?? now) + limit.windowMs;
    throw problems.rateLimited(`too many ${what}: ${limit.count} per ${Math.round(limit.windowMs / 1000)}s (limit ${name})`, (freeAt - now) / 1000);
  }
}

const since = (limit: Limit, now: number) => new Date(now - limit.windowMs);
