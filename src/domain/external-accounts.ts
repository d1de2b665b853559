/**
 * External Account Binding (RFC 8555 §7.3.4): operators create credentials (a key id and an HMAC
 * key shown once; the key is kept sealed with the key passphrase, never plain), newAccount proves
 * possession with an HMAC JWS over the account key, and the credential's name policy then governs
 * what the account may order — names inside it are pre-authorized, names outside it refused.
 */
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { decodeProtectedHeader, flattenedVerify } from 'jose';
import { parseFlattenedJws, thumbprintOf } from '../acme/jws.js';
import { problems, type Subproblem } from '../acme/problem.js';
import { open, seal } from '../ca/secret-box.js';
import type { Store } from '../store/store.js';
import type { AccountRecord, EabCredential, EabPolicy, JsonWebKeyPublic } from '../store/types.js';
import { orderIdentifier, type RequestedIdentifier } from './identifiers.js';

const MAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

export interface NewEab {
  kid: string;
  /** base64url HMAC key: shown once, to be handed to the client (certbot --eab-hmac-key, lego --hmac). */
  hmacKey: string;
  credential: EabCredential;
}

export class ExternalAccounts {
  constructor(
    private readonly store: Store,
    private readonly passphrase: string,
  ) {}

  async create(policy: EabPolicy, note: string, actor: string): Promise<NewEab> {
    const kid = optionSafe(12).toString('base64url');
    const key = optionSafe(32);
    const credential = await this.store.createEab({ kid, hmacKeySealed: seal(key, this.passphrase), policy, note }, actor);
    return { kid, hmacKey: key.toString('base64url'), credential };
  }

  /** Checks newAccount's externalAccountBinding and returns its key id. */
  async verifyBinding(binding: unknown, accountJwk: JsonWebKeyPublic, newAccountUrl: string): Promise<string> {
    if (typeof binding !== 'object' || binding === null || Array.isArray(binding)) {
      throw problems.malformed('"externalAccountBinding" must be a flattened JWS object');
    }
    const jws = parseFlattenedJws(JSON.stringify(binding));
    let header;
    try {
      header = decodeProtectedHeader(jws);
    } catch {
      throw problems.malformed('externalAccountBinding protected header is not base64url JSON');
    }
    if (typeof header.alg !== 'string' || !MAC_ALGORITHMS.includes(header.alg)) {
      throw problems.malformed(`externalAccountBinding must use a MAC algorithm (${MAC_ALGORITHMS.join(', ')})`);
    }
    if (typeof header.kid !== 'string' || header.kid === '') throw problems.malformed('externalAccountBinding needs a "kid"');
    if (header.nonce !== undefined) throw problems.malformed('externalAccountBinding must not carry a "nonce"');
    if (header.url !== newAccountUrl) throw problems.malformed('externalAccountBinding "url" must be the newAccount URL');
    let payloadKey: JsonWebKeyPublic;
    try {
      payloadKey = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as JsonWebKeyPublic;
    } catch {
      throw problems.malformed('externalAccountBinding payload must be the account JWK');
    }
    let same = false;
    try {
      same = (await thumbprintOf(payloadKey)) === (await thumbprintOf(accountJwk));
    } catch {
      same = false;
    }
    if (!same) throw problems.malformed('externalAccountBinding payload is not the account key of this request');
    const credential = await this.store.getEab(header.kid);
    if (!credential || credential.revokedAt) throw problems.unauthorized('unknown or revoked external account key id');
    try {
      await flattenedVerify(jws, open(credential.hmacKeySealed, this.passphrase), { algorithms: [header.alg] });
    } catch {
      throw problems.unauthorized('externalAccountBinding MAC does not verify with this key id');
    }
    return credential.kid;
  }

  /** The policy of the credential an account was bound with (none for unbound accounts). */
  async policyFor(account: AccountRecord): Promise<EabPolicy | null> {
    if (!account.externalAccountId) return null;
    const credential = await this.store.getEab(account.externalAccountId);
    if (!credential || credential.revokedAt) throw problems.unauthorized('the external account binding of this account was revoked');
    return credential.policy;
  }
}

/**
 * Random bytes whose base64url form does not start with "-": kids and keys are passed as
 * command-line arguments (certbot --eab-kid, lego --hmac), where a leading dash reads as an option.
 */
function optionSafe(size: number): Buffer {
  for (;;) {
    const bytes = randomBytes(size);
    if (!bytes.toString('base64url').startsWith('-')) return bytes;
  }
}

/** Identifiers outside an EAB name policy, as rejectedIdentifier subproblems. */
export function eabPolicyRefusals(policy: EabPolicy, requested: RequestedIdentifier[]): Subproblem[] {
  if (policy.dnsSuffixes.length === 0 && policy.ipRanges.length === 0) return [];
  const refusals: Subproblem[] = [];
  for (const r of requested) {
    if (!inPolicy(policy, r)) {
      refusals.push({ type: 'rejectedIdentifier', identifier: orderIdentifier(r), detail: 'outside the name policy of this account\'s external account binding' });
    }
  }
  return refusals;
}

export function inPolicy(policy: EabPolicy, r: RequestedIdentifier): boolean {
  if (policy.dnsSuffixes.length === 0 && policy.ipRanges.length === 0) return true;
  const value = r.identifier.value;
  if (r.identifier.type === 'ip') {
    const list = new BlockList();
    for (const range of policy.ipRanges) {
      const [address, bits] = range.split('/') as [string, string];
      list.addSubnet(address, Number(bits), isIP(address) === 4 ? 'ipv4' : 'ipv6');
    }
    return policy.ipRanges.length > 0 && list.check(value, isIP(value) === 4 ? 'ipv4' : 'ipv6');
  }
  return policy.dnsSuffixes.some((s) => {
    const suffix = s.startsWith('.') ? s : `.${s}`;
    // *.team.test names only subdomains of team.test, so it lies inside the suffix .team.test.
    if (r.wildcard && value === suffix.slice(1)) return true;
    return value.endsWith(suffix) && value.length > suffix.length;
  });
}
