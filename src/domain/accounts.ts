/**
 * Accounts (RFC 8555 §7.3): registration, lookup by key, contact update, deactivation and key
 * rollover. Request authentication has already happened; these functions enforce the rules of
 * the account resource itself.
 */
import { AcmeProblem, problems } from '../acme/problem.js';
import {
  checkProtectedHeaderForKeyChange,
  importAccountKey,
  parseFlattenedJws,
  thumbprintOf,
  verifySignature,
} from '../acme/jws.js';
import { ConflictError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import type { AccountRecord, JsonWebKeyPublic } from '../store/types.js';
import { checkContacts } from './contacts.js';
import { checkPayload } from '../acme/payloads.js';

export interface AccountPolicy {
  termsOfService: string | undefined;
  externalAccountRequired: boolean;
  /** The newAccount URL, which an externalAccountBinding must name. */
  newAccountUrl: string;
}

/** Checks an externalAccountBinding and returns its key id (see external-accounts.ts). */
export interface BindingVerifier {
  verifyBinding(binding: unknown, accountJwk: JsonWebKeyPublic, newAccountUrl: string): Promise<string>;
}

function asObject(payload: unknown, what: string): Record<string, unknown> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw problems.malformed(`${what} payload must be a JSON object`);
  }
  return payload as Record<string, unknown>;
}

export class AccountService {
  constructor(
    private readonly store: Store,
    private readonly policy: AccountPolicy,
    private readonly bindings: BindingVerifier,
    private readonly limits: { checkNewAccount(ip: string | undefined): Promise<void> },
  ) {}

  /** newAccount (§7.3): returns the existing account for a known key, or creates one. */
  async register(jwk: JsonWebKeyPublic, thumbprint: string, payload: unknown, clientIp?: string): Promise<{ account: AccountRecord; created: boolean }> {
    const body = checkPayload('newAccount', payload);
    const existing = await this.store.findAccountByThumbprint(thumbprint);
    if (existing) {
      if (existing.status !== 'valid') throw problems.unauthorized(`the account for this key is ${existing.status}`);
      return { account: existing, created: false };
    }
    if (body.onlyReturnExisting === true) throw problems.accountDoesNotExist('no account exists for this key');
    if (this.policy.externalAccountRequired && body.externalAccountBinding === undefined) {
      throw problems.externalAccountRequired('this CA requires an external account binding to create an account');
    }
    const externalAccountId =
      body.externalAccountBinding === undefined ? null : await this.bindings.verifyBinding(body.externalAccountBinding, jwk, this.policy.newAccountUrl);
    if (body.termsOfServiceAgreed !== undefined && typeof body.termsOfServiceAgreed !== 'boolean') {
      throw problems.malformed('"termsOfServiceAgreed" must be a boolean');
    }
    const agreed = body.termsOfServiceAgreed === true;
    if (this.policy.termsOfService && !agreed) {
      throw problems.userActionRequired('you must agree to the terms of service (termsOfServiceAgreed: true)', [
        `<${this.policy.termsOfService}>;rel="terms-of-service"`,
      ]);
    }
    const contact = checkContacts(body.contact);
    await this.limits.checkNewAccount(clientIp);
    try {
      return { account: await this.store.createAccount({ jwk, thumbprint, contact, termsOfServiceAgreed: agreed, externalAccountId, createdFromIp: clientIp ?? null }), created: true };
    } catch (e) {
      // A concurrent newAccount with the same key won the race: answer as for an existing account.
      if (e instanceof ConflictError && e.existingId) {
        const account = await this.store.getAccount(e.existingId);
        if (account) return { account, created: false };
      }
      throw e;
    }
  }

  /** Account update (§7.3.2) and deactivation (§7.3.6); POST-as-GET returns the account. */
  async update(account: AccountRecord, payload: unknown): Promise<AccountRecord> {
    if (payload === undefined) return account;
    const body = checkPayload('accountUpdate', payload);
    // §7.3.2: clients (certbot update_account among them) post the account object back whole,
    // with its unchanged "status"; only a change of status to anything but "deactivated" is refused.
    if (body.status !== undefined && body.status !== account.status) {
      if (body.status !== 'deactivated') throw problems.malformed(`an account's status can only be changed to "deactivated", not ${JSON.stringify(body.status)}`);
      const deactivated = await this.store.deactivateAccount(account.id);
      if (!deactivated) throw problems.unauthorized('account is not valid');
      return deactivated;
    }
    if (body.contact !== undefined) {
      const updated = await this.store.updateAccountContact(account.id, checkContacts(body.contact));
      if (!updated) throw problems.unauthorized('account is not valid');
      return updated;
    }
    return account;
  }

  /**
   * keyChange (§7.3.5): the payload is a JWS signed by the new key over {account, oldKey}. A new
   * key held by another account is a 409 with that account's Location.
   */
  async changeKey(account: AccountRecord, accountUrl: string, requestUrl: string, payload: unknown): Promise<AccountRecord> {
    const inner = parseFlattenedJws(JSON.stringify(asObject(payload, 'keyChange')));
    const header = checkProtectedHeaderForKeyChange(inner, requestUrl);
    const { key, jwk: newJwk } = importAccountKey(header.jwk, header.alg);
    const innerPayload = checkPayload('keyChangeInner', verifySignature(inner, key, header.alg));
    if (innerPayload.account !== accountUrl) {
      throw problems.unauthorized('keyChange inner payload "account" does not match the requesting account');
    }
    let oldThumbprint: string;
    try {
      oldThumbprint = await thumbprintOf(importAccountKey(innerPayload.oldKey, algForKey(innerPayload.oldKey)).jwk);
    } catch (e) {
      if (e instanceof AcmeProblem) throw problems.malformed('keyChange inner payload "oldKey" is not a valid public JWK');
      throw e;
    }
    if (oldThumbprint !== account.thumbprint) throw problems.unauthorized('keyChange "oldKey" is not the account\'s current key');
    const newThumbprint = await thumbprintOf(newJwk);
    if (newThumbprint === account.thumbprint) throw problems.malformed('the new key is the account\'s current key');
    try {
      const changed = await this.store.changeAccountKey(account.id, oldThumbprint, newJwk, newThumbprint);
      if (!changed) throw problems.unauthorized('the account key changed concurrently; retry');
      return changed;
    } catch (e) {
      if (e instanceof ConflictError) {
        throw new AcmeProblem('malformed', 'the new key is already in use by another account', {
          status: 409,
          headers: e.existingId ? { Location: accountUrl.replace(/[^/]+$/, e.existingId) } : {},
        });
      }
      throw e;
    }
  }
}

/** An algorithm that fits a JWK, only to reuse importAccountKey's checks for `oldKey`. */
function algForKey(jwk: unknown): 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'EdDSA' {
  const k = (typeof jwk === 'object' && jwk !== null ? jwk : {}) as Record<string, unknown>;
  if (k.kty === 'RSA') return 'RS256';
  if (k.kty === 'OKP') return 'EdDSA';
  if (k.crv === 'P-384') return 'ES384';
  if (k.crv === 'P-521') return 'ES512';
  return 'ES256';
}
