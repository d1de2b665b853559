/**
 * The JSON objects of RFC 8555 §7.1 as served: account, order, authorization, challenge.
 * Derived statuses come from domain/status, URLs from Links.
 */
import { authzStatus, orderStatus } from '../domain/status.js';
import type { AccountRecord, AuthzRecord, ChallengeRecord, OrderRecord } from '../store/types.js';
import type { Links } from './links.js';

export function accountJson(a: AccountRecord, links: Links): Record<string, unknown> {
  return {
    status: a.status,
    contact: a.contact,
    termsOfServiceAgreed: a.termsOfServiceAgreed,
    orders: links.accountOrders(a.id),
    createdAt: a.createdAt.toISOString(),
  };
}

export function orderJson(o: OrderRecord, links: Links, now = Date.now()): Record<string, unknown> {
  const body: Record<string, unknown> = {
    status: orderStatus(o, now),
    expires: o.expiresAt.toISOString(),
    identifiers: o.identifiers,
    profile: o.profile,
    authorizations: o.authorizations.map((a) => links.authz(a.id)),
    finalize: links.finalize(o.id),
  };
  if (o.notBefore) body.notBefore = o.notBefore.toISOString();
  if (o.notAfter) body.notAfter = o.notAfter.toISOString();
  if (o.error) body.error = o.error;
  if (o.certificateId) body.certificate = links.certificate(o.certificateId);
  if (o.replacesCertId) body.replaces = o.replacesCertId;
  return body;
}

/** Type-specific additions to a challenge object (from its validator). */
export type ChallengeDescriber = (c: ChallengeRecord) => { fields?: Record<string, unknown>; tokenless?: boolean };

const plain: ChallengeDescriber = () => ({});

export function challengeJson(c: ChallengeRecord, links: Links, describe: ChallengeDescriber = plain): Record<string, unknown> {
  const extra = describe(c);
  const body: Record<string, unknown> = { type: c.type, url: links.challenge(c.id), status: c.status };
  if (!extra.tokenless) body.token = c.token;
  Object.assign(body, extra.fields);
  if (c.validatedAt) body.validated = c.validatedAt.toISOString();
  if (c.error) body.error = c.error;
  if (c.validationRecord) body.validationRecord = c.validationRecord;
  return body;
}

export function authzJson(a: AuthzRecord, links: Links, describe: ChallengeDescriber = plain, now = Date.now()): Record<string, unknown> {
  const status = authzStatus(a, now);
  // §7.1.4: a pending authorization lists what the client can still do; a final one lists
  // the challenge(s) that were attempted.
  const shown = status === 'pending' ? a.challenges : a.challenges.filter((c) => c.status !== 'pending');
  const body: Record<string, unknown> = {
    identifier: a.identifier,
    status,
    expires: a.expiresAt.toISOString(),
    challenges: (shown.length > 0 ? shown : a.challenges).map((c) => challengeJson(c, links, describe)),
  };
  if (a.wildcard) body.wildcard = true;
  return body;
}
