/**
 * newOrder (RFC 8555 §7.4): identifiers checked against the profile and the validators that can
 * prove them, valid authorizations reused within the configured window, new authorizations with
 * one challenge per usable type, all created in one store transaction.
 */
import { checkPayload } from '../acme/payloads.js';
import { randomBytes } from 'node:crypto';
import { combineIdentifierProblems, problems, type Identifier, type Subproblem } from '../acme/problem.js';
import type { Profile } from '../profiles/profile.js';
import type { Store } from '../store/store.js';
import type { AccountRecord, EabPolicy, NewAuthz, OrderRecord } from '../store/types.js';
import { metrics } from '../ops/metrics.js';
import { eabPolicyRefusals, inPolicy } from './external-accounts.js';
import type { ValidatorRegistry } from '../validators/validator.js';
import { identifierPolicyRefusals } from './identifier-policy.js';
import { identifierKey, orderIdentifier, parseOrderIdentifiers, type RequestedIdentifier } from './identifiers.js';

export interface OrderPolicy {
  orderLifetimeMs: number;
  pendingAuthzLifetimeMs: number;
  authzReuseWindowMs: number;
}

export interface OrderDependencies {
  store: Store;
  /** Checks newOrder's `replaces` (RFC 9773 §5) and returns the replaced certificate's id. */
  checkReplaces(account: AccountRecord, identifiers: Identifier[], replaces: unknown): Promise<{ certificateId: string; certId: string }>;
  validators: ValidatorRegistry;
  policy: OrderPolicy;
  /** The profile an order names, or the default when it names none; throws invalidProfile. */
  resolveProfile(name: unknown, account: AccountRecord): Profile;
  /** The name policy of the account's external account binding, if it has one. */
  eabPolicy(account: AccountRecord): Promise<EabPolicy | null>;
  limits: { checkNewOrder(account: AccountRecord, identifiers: Identifier[], profile: string): Promise<void> };
  validAuthzLifetimeMs: number;
}

/** How long before its expiry a valid authorization is no longer handed to a new order. */
const REUSE_MARGIN_MS = 3_600_000;

export class OrderService {
  constructor(private readonly deps: OrderDependencies) {}

  async create(account: AccountRecord, payload: unknown): Promise<OrderRecord> {
    const body = checkPayload('newOrder', payload);
    const profile = this.deps.resolveProfile(body.profile, account);
    const eab = await this.deps.eabPolicy(account);
    if (eab && eab.profiles.length > 0 && !eab.profiles.includes(profile.name)) {
      throw problems.invalidProfile(`profile ${profile.name} is not allowed by this account's external account binding (allowed: ${eab.profiles.join(', ')})`);
    }
    const requested = parseOrderIdentifiers(body.identifiers, profile.identifiers.maxPerOrder);
    const refusals = [...identifierPolicyRefusals(requested, profile), ...(eab ? eabPolicyRefusals(eab, requested) : [])];
    if (refusals.length > 0) throw combineIdentifierProblems(`the order contains identifiers this account may not have`, refusals);
    // Names inside an EAB policy that pre-authorizes need no challenge (RFC 8555 §7.1.4 allows valid authorizations).
    const preauthorized = (r: RequestedIdentifier) => eab !== null && eab.preauthorize && inPolicy(eab, r) && (eab.dnsSuffixes.length > 0 || eab.ipRanges.length > 0);
    const challengeTypes = this.challengeTypesFor(requested.filter((r) => !preauthorized(r)), profile);
    const now = Date.now();
    const { notBefore, notAfter } = validityWindow(body, profile, now);
    const identifiers = requested.map(orderIdentifier);
    await this.deps.limits.checkNewOrder(account, identifiers, profile.name);
    const replaces = body.replaces === undefined ? null : await this.deps.checkReplaces(account, identifiers, body.replaces);

    const { policy, store } = this.deps;
    // A profile can demand a fresh validation for every order (ci-ephemeral: a fresh token each time).
    const reused =
      policy.authzReuseWindowMs > 0 && profile.authzReuse
        ? await store.findReusableAuthzs(account.id, requested, new Date(now - policy.authzReuseWindowMs), new Date(now + REUSE_MARGIN_MS))
        : [];
    const reusedKeys = new Set(reused.map((a) => identifierKey({ identifier: a.identifier, wildcard: a.wildcard })));
    const newAuthzs: NewAuthz[] = requested
      .filter((r) => !reusedKeys.has(identifierKey(r)))
      .map((r) =>
        preauthorized(r)
          ? { identifier: r.identifier, wildcard: r.wildcard, status: 'valid', expiresAt: new Date(now + this.deps.validAuthzLifetimeMs), challenges: [] }
          : {
              identifier: r.identifier,
              wildcard: r.wildcard,
              status: 'pending',
              expiresAt: new Date(now + policy.pendingAuthzLifetimeMs),
              challenges: challengeTypes.get(identifierKey(r))!.map((type) => ({ type, token: randomBytes(32).toString('base64url') })),
            },
      );

    metrics.ordersCreated.inc({ profile: profile.name });
    return store.createOrder({
      accountId: account.id,
      identifiers,
      profile: profile.name,
      replaces,
      notBefore,
      notAfter,
      expiresAt: new Date(now + policy.orderLifetimeMs),
      reusedAuthzIds: reused.map((a) => a.id),
      newAuthzs,
    });
  }

  /** Challenge types per identifier; an identifier no allowed validator can prove is refused. */
  private challengeTypesFor(requested: RequestedIdentifier[], profile: Profile): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const refused: Subproblem[] = [];
    for (const r of requested) {
      const types = this.deps.validators.typesFor(r.identifier, r.wildcard, profile.challenges);
      if (types.length === 0) {
        refused.push({
          type: 'rejectedIdentifier',
          identifier: orderIdentifier(r),
          detail: r.wildcard
            ? `wildcard names need a challenge that can prove them (dns-01); profile ${profile.name} offers ${profile.challenges.join(', ')}`
            : `no challenge type allowed by profile ${profile.name} can validate this identifier`,
        });
      }
      out.set(identifierKey(r), types);
    }
    if (refused.length > 0) throw combineIdentifierProblems('the order contains identifiers this CA cannot validate', refused);
    return out;
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function parseTime(value: unknown, field: string): Date | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw problems.malformed(`"${field}" must be an RFC 3339 date-time`);
  }
  return new Date(value);
}

/** An order may ask for a validity window (§7.4) inside what its profile allows. */
function validityWindow(body: Record<string, unknown>, profile: Profile, now: number): { notBefore: Date | null; notAfter: Date | null } {
  let notBefore = parseTime(body.notBefore, 'notBefore');
  let notAfter = parseTime(body.notAfter, 'notAfter');
  if (!notBefore && !notAfter) return { notBefore: null, notAfter: null };
  notBefore ??= new Date(now - profile.backdateMs);
  notAfter ??= new Date(notBefore.getTime() + profile.validityMs);
  if (notAfter <= notBefore) throw problems.malformed('"notAfter" must be later than "notBefore"');
  if (notAfter.getTime() <= now) throw problems.malformed('"notAfter" is in the past');
  if (notBefore.getTime() < now - profile.backdateMs - 60_000) throw problems.malformed('"notBefore" is too far in the past');
  if (notAfter.getTime() - notBefore.getTime() > profile.validityMs + profile.backdateMs) {
    throw problems.malformed(`the requested validity exceeds profile ${profile.name}'s maximum of ${profile.validityMs / 1000}s`);
  }
  return { notBefore, notAfter };
}
