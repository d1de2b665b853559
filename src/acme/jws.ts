/**
 * Request authentication (RFC 8555 §6.2–6.5): the JWS rules, checked once before any handler runs.
 * Parsing and signature verification are jose's; this module enforces ACME's profile of JWS:
 * flattened serialization, protected header only, allowed algorithms, exactly one of jwk/kid,
 * url equal to the request URL, single-use nonce, valid account.
 */
import { constants, createPublicKey, verify as cryptoVerify, type KeyObject, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK, type ProtectedHeaderParameters } from 'jose';
import type { AccountRecord, JsonWebKeyPublic } from '../store/types.js';
import { metrics } from '../ops/metrics.js';
import { problems } from './problem.js';

/** The signature algorithms ACME clients may use (RFC 8555 §6.2 requires ES256 and EdDSA support). */
export const SUPPORTED_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'EdDSA'] as const;
type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** How a request must identify its key: newAccount uses jwk, revokeCert either, the rest kid. */
export type KeyMode = 'jwk' | 'kid' | 'either';

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface VerifiedRequest {
  header: ProtectedHeaderParameters & { alg: Algorithm; url: string; nonce: string };
  /** Parsed JSON payload; undefined for POST-as-GET (empty payload, §6.3). */
  payload: unknown;
  /** The account named by `kid`, when the request used one. */
  account?: AccountRecord;
  /** The embedded key, when the request used `jwk`. */
  jwk?: JsonWebKeyPublic;
  /** Thumbprint of the key that signed the request. */
  thumbprint: string;
}

export interface JwsDependencies {
  consumeNonce(nonce: string): boolean | Promise<boolean>;
  /** Resolves a kid URL to an account, or undefined when it is none of ours / unknown. */
  findAccountByKid(kid: string): Promise<AccountRecord | undefined>;
}

/** Parses the body as a flattened JWS JSON serialization (RFC 7515 §7.2.2) and nothing else. */
export function parseFlattenedJws(body: Buffer | string): FlattenedJws {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw problems.malformed('request body is not a JSON object (a flattened JWS is required)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw problems.malformed('request body must be a flattened JWS JSON object');
  }
  const jws = parsed as Record<string, unknown>;
  if ('signatures' in jws) throw problems.malformed('JWS general serialization is not allowed; use the flattened serialization');
  if ('header' in jws) throw problems.malformed('JWS unprotected header is not allowed (RFC 8555 §6.2)');
  for (const member of ['protected', 'payload', 'signature'] as const) {
    if (typeof jws[member] !== 'string') throw problems.malformed(`JWS member "${member}" is missing or not a string`);
  }
  return { protected: jws.protected as string, payload: jws.payload as string, signature: jws.signature as string };
}

/** Decodes the protected header and applies the rules every ACME JWS shares (alg, b64, crit). */
function decodeHeader(jws: FlattenedJws): ProtectedHeaderParameters & { alg: Algorithm } {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw problems.malformed('JWS protected header is not base64url-encoded JSON');
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || alg === '') throw problems.malformed('JWS protected header has no "alg"');
  if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw problems.badSignatureAlgorithm(`JWS algorithm ${alg} is not supported`, [...SUPPORTED_ALGORITHMS]);
  }
  if (header.b64 !== undefined || header.crit !== undefined) {
    throw problems.malformed('JWS "b64" and "crit" header parameters are not supported');
  }
  return header as ProtectedHeaderParameters & { alg: Algorithm };
}

/** Checks the protected header's ACME rules and returns it; throws the matching problem. */
export function checkProtectedHeader(jws: FlattenedJws, requestUrl: string, mode: KeyMode): VerifiedRequest['header'] {
  const header = decodeHeader(jws);
  const hasJwk = header.jwk !== undefined;
  const hasKid = header.kid !== undefined;
  if (hasJwk === hasKid) throw problems.malformed('JWS protected header must contain exactly one of "jwk" and "kid"');
  if (hasJwk && mode === 'kid') throw problems.malformed('this resource requires "kid" (an account URL), not "jwk"');
  if (hasKid && mode === 'jwk') throw problems.malformed('this resource requires "jwk" (newAccount), not "kid"');
  if (hasKid && typeof header.kid !== 'string') throw problems.malformed('JWS "kid" must be a string');
  if (header.nonce === undefined) {
    metrics.nonceRejections.inc({ reason: 'missing' });
    throw problems.badNonce('JWS protected header has no "nonce"');
  }
  if (typeof header.nonce !== 'string' || !/^[A-Za-z0-9_-]+$/.test(header.nonce)) {
    metrics.nonceRejections.inc({ reason: 'malformed' });
    throw problems.badNonce('JWS "nonce" is not a base64url string');
  }
  if (header.url === undefined) throw problems.malformed('JWS protected header has no "url"');
  if (header.url !== requestUrl) {
    throw problems.unauthorized(`JWS "url" ${JSON.stringify(header.url)} does not match the request URL ${requestUrl}`);
  }
  return header as VerifiedRequest['header'];
}

/** The inner JWS of keyChange (§7.3.5): jwk (the new key), same url as the outer JWS, no nonce. */
export function checkProtectedHeaderForKeyChange(jws: FlattenedJws, outerUrl: string): ProtectedHeaderParameters & { alg: Algorithm } {
  const header = decodeHeader(jws);
  if (header.jwk === undefined || header.kid !== undefined) throw problems.malformed('keyChange inner JWS must carry "jwk" and no "kid"');
  if (header.nonce !== undefined) throw problems.malformed('keyChange inner JWS must not carry a "nonce"');
  if (header.url !== outerUrl) throw problems.malformed('keyChange inner JWS "url" must equal the outer JWS "url"');
  return header;
}

/** Refuses JWK shapes and private members before any key is built from them. */
function checkJwkShape(jwk: unknown): Record<string, unknown> {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk) || typeof (jwk as JWK).kty !== 'string') {
    throw problems.malformed('JWS "jwk" must be a JSON Web Key object');
  }
  const members = jwk as Record<string, unknown>;
  if (PRIVATE_JWK_MEMBERS.some((m) => m in members)) throw problems.badPublicKey('JWS "jwk" must be a public key');
  return members;
}

/** Checks that the key fits the algorithm and is strong enough; throws badSignatureAlgorithm/badPublicKey. */
function checkKeyFitsAlgorithm(key: KeyObject, alg: Algorithm): void {
  const d = key.asymmetricKeyDetails;
  const fits: Record<Algorithm, boolean> = {
    ES256: key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1',
    ES384: key.asymmetricKeyType === 'ec' && d?.namedCurve === 'secp384r1',
    ES512: key.asymmetricKeyType === 'ec' && d?.namedCurve === 'secp521r1',
    RS256: key.asymmetricKeyType === 'rsa',
    PS256: key.asymmetricKeyType === 'rsa',
    EdDSA: key.asymmetricKeyType === 'ed25519',
  };
  if (!fits[alg]) {
    throw problems.badSignatureAlgorithm(`JWS algorithm ${alg} does not match the key type`, [...SUPPORTED_ALGORITHMS]);
  }
  if (key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) < 2048) {
    throw problems.badPublicKey('RSA account keys must be at least 2048 bits');
  }
  if (key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) > 8192) {
    throw problems.badPublicKey('RSA account keys must be at most 8192 bits');
  }
}

/** Imports a public JWK and checks it fits the algorithm; throws badPublicKey/badSignatureAlgorithm. */
export function importAccountKey(jwk: unknown, alg: Algorithm): { key: KeyObject; jwk: JsonWebKeyPublic } {
  const members = checkJwkShape(jwk);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: members as JsonWebKey, format: 'jwk' });
  } catch {
    throw problems.badPublicKey('JWS "jwk" is not a valid public key');
  }
  checkKeyFitsAlgorithm(key, alg);
  return { key, jwk: publicJwkOf(key) };
}

/**
 * Parsed account keys by thumbprint. Building a KeyObject from a JWK validates the curve point,
 * which costs more than the signature check itself, so a known account's key is built once.
 */
class AccountKeyCache {
  private readonly keys = new Map<string, KeyObject>();
  constructor(private readonly capacity = 10_000) {}

  get(account: AccountRecord): KeyObject {
    let key = this.keys.get(account.thumbprint);
    if (key) return key;
    try {
      key = createPublicKey({ key: account.jwk as JsonWebKey, format: 'jwk' });
    } catch {
      throw problems.badPublicKey('the stored account key cannot be used');
    }
    if (this.keys.size >= this.capacity) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(account.thumbprint, key);
    return key;
  }
}

const accountKeys = new AccountKeyCache();

/** The canonical public JWK of a key (only the required public members). */
export function publicJwkOf(key: KeyObject): JsonWebKeyPublic {
  const full = key.export({ format: 'jwk' }) as Record<string, unknown>;
  const required: Record<string, string[]> = { EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'], OKP: ['crv', 'kty', 'x'] };
  const out: JsonWebKeyPublic = { kty: String(full.kty) };
  for (const m of required[String(full.kty)] ?? []) out[m] = full[m];
  return out;
}

export const thumbprintOf = (jwk: JsonWebKeyPublic): Promise<string> => calculateJwkThumbprint(jwk as JWK, 'sha256');

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * RFC 7518 §3: how each JWS algorithm verifies, with node's synchronous crypto (the signature
 * check is the costliest step of every request; the async WebCrypto path costs twice as much).
 * ECDSA signatures are the fixed-size R||S of §3.4, hence the length checks.
 */
const VERIFIERS: Record<Algorithm, (key: KeyObject, input: Buffer, sig: Buffer) => boolean> = {
  ES256: (key, input, sig) => sig.length === 64 && cryptoVerify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, sig),
  ES384: (key, input, sig) => sig.length === 96 && cryptoVerify('sha384', input, { key, dsaEncoding: 'ieee-p1363' }, sig),
  ES512: (key, input, sig) => sig.length === 132 && cryptoVerify('sha512', input, { key, dsaEncoding: 'ieee-p1363' }, sig),
  RS256: (key, input, sig) => cryptoVerify('sha256', input, { key, padding: constants.RSA_PKCS1_PADDING }, sig),
  PS256: (key, input, sig) =>
    cryptoVerify('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig),
  EdDSA: (key, input, sig) => cryptoVerify(null, input, key, sig),
};

/** Verifies the JWS signature (RFC 7515 §5.2) and decodes the payload; a bad signature is `malformed`. */
export function verifySignature(jws: FlattenedJws, key: KeyObject, alg: Algorithm): unknown {
  if (!B64URL.test(jws.protected) || !B64URL.test(jws.payload) || !B64URL.test(jws.signature)) throw problems.malformed('JWS members must be base64url without padding');
  const signingInput = Buffer.from(`${jws.protected}.${jws.payload}`, 'ascii');
  let ok = false;
  try {
    ok = VERIFIERS[alg](key, signingInput, Buffer.from(jws.signature, 'base64url'));
  } catch {
    ok = false;
  }
  if (!ok) throw problems.malformed('JWS signature verification failed');
  if (jws.payload === '') return undefined;
  try {
    return JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
  } catch {
    throw problems.malformed('JWS payload is not JSON');
  }
}

/** The key object of a known account (cached), e.g. to compare it with a CSR's key. */
export function accountKeyObject(account: AccountRecord): KeyObject {
  return accountKeys.get(account);
}

/** The whole §6 check for one request. */
export async function verifyRequest(
  body: Buffer,
  requestUrl: string,
  mode: KeyMode,
  deps: JwsDependencies,
): Promise<VerifiedRequest> {
  const jws = parseFlattenedJws(body);
  const header = checkProtectedHeader(jws, requestUrl, mode);
  let key: KeyObject;
  let account: AccountRecord | undefined;
  let jwk: JsonWebKeyPublic | undefined;
  let thumbprint: string;
  if (header.kid !== undefined) {
    account = await deps.findAccountByKid(header.kid);
    if (!account) throw problems.accountDoesNotExist(`no account at ${header.kid}`);
    if (account.status !== 'valid') throw problems.unauthorized(`account is ${account.status}`);
    key = accountKeys.get(account);
    checkKeyFitsAlgorithm(key, header.alg);
    thumbprint = account.thumbprint;
  } else {
    ({ key, jwk } = importAccountKey(header.jwk, header.alg));
    thumbprint = await thumbprintOf(jwk);
  }
  const payload = verifySignature(jws, key, header.alg);
  // The nonce is spent only by a correctly signed request, so nobody can burn another's nonces.
  if (!(await deps.consumeNonce(header.nonce))) {
    metrics.nonceRejections.inc({ reason: 'unknown-or-used' });
    throw problems.badNonce('JWS nonce is unknown, expired or already used');
  }
  const verified: VerifiedRequest = { header, payload, thumbprint };
  if (account) verified.account = account;
  if (jwk) verified.jwk = jwk;
  return verified;
}
