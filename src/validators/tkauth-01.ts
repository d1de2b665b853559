/**
 * Workload-identity token challenge, shaped after RFC 9447 `tkauth-01` (tkauth-type `atc`): the
 * client posts `{"tkauth": "<JWT>"}` to the challenge; Anvil verifies the JWT with jose against the
 * trusted issuer it names (signature with an allowed algorithm, `iss`, `aud`, `exp`/`nbf` with a
 * small skew, a bounded lifetime, single use by `jti`), checks that it binds the ACME account key,
 * and authorizes the identifier only if a declarative rule maps the token's claims to it.
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import type { TokenAuthority } from './token-authority.js';
import { ValidationFailure, type ValidationRecord, type ValidationRequest, type Validator } from './validator.js';

/** A rule: tokens of `authority` whose claims match `match` may authorize `identifiers`. */
export interface TokenRule {
  authority: string;
  /** Claim path (dots for nesting) → required value; `*` in a value matches any run of characters. */
  match: Record<string, string | string[]>;
  /** Identifier templates: `${claim.path}` is replaced by that claim (which must be DNS-safe). */
  identifiers: string[];
}

export interface TokenReplayGuard {
  /** Records the jti; false when it was seen before (a replay). */
  useOnce(issuer: string, jti: string, expiresAt: Date): Promise<boolean>;
}

const CLOCK_SKEW_S = 30;
const MAX_TOKEN_BYTES = 16_384;
const SAFE_CLAIM_VALUE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class TokenChallengeValidator implements Validator {
  readonly type = 'tkauth-01';

  constructor(
    private readonly authorities: TokenAuthority[],
    private readonly rules: TokenRule[],
    private readonly replay: TokenReplayGuard,
  ) {}

  supports(identifier: Identifier): boolean {
    return identifier.type === 'dns' || identifier.type === 'ip';
  }

  describe(): Record<string, unknown> {
    return {
      'tkauth-type': 'atc',
      'token-authority': this.authorities[0]?.config.issuer,
      'token-authorities': this.authorities.map((a) => a.config.issuer),
    };
  }

  acceptResponse(payload: Record<string, unknown>): unknown {
    const token = payload.tkauth;
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_BYTES || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
      throw problems.malformed('tkauth-01 response must be {"tkauth": "<compact JWT>"}');
    }
    return token;
  }

  async validate(req: ValidationRequest): Promise<ValidationRecord[]> {
    const record: ValidationRecord = {};
    try {
      const token = req.response;
      if (typeof token !== 'string') throw problems.unauthorized('no token was posted to this challenge (post {"tkauth": "<JWT>"} again)');
      const claims = await this.verify(token, req, record);
      const rule = this.rules.findIndex((r) => r.authority === record.authority && ruleAllows(r, claims, req.identifier, req.wildcard));
      if (rule < 0) {
        throw problems.rejectedIdentifier(`the token's claims authorize no rule for ${req.wildcard ? '*.' : ''}${req.identifier.value}`);
      }
      record.rule = rule;
      const jti = String(claims.jti);
      if (!(await this.replay.useOnce(String(claims.iss), jti, new Date((claims.exp ?? 0) * 1000)))) {
        throw problems.unauthorized('this token was already used (jti replay)');
      }
      return [record];
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, [record]);
      throw new ValidationFailure(problems.unauthorized('the token cannot be verified'), [record]);
    }
  }

  private async verify(token: string, req: ValidationRequest, record: ValidationRecord): Promise<JWTPayload> {
    let alg: string | undefined;
    let unverified: JWTPayload;
    try {
      alg = decodeProtectedHeader(token).alg;
      unverified = decodeJwt(token);
    } catch {
      throw problems.unauthorized('the token is not a JWT');
    }
    const authority = this.authorities.find((a) => a.config.issuer === unverified.iss);
    if (!authority) throw problems.unauthorized(`token issuer ${JSON.stringify(unverified.iss ?? null)} is not trusted`);
    const c = authority.config;
    record.authority = c.name;
    record.issuer = c.issuer;
    if (!alg || !c.algorithms.includes(alg)) throw problems.unauthorized(`token algorithm ${alg ?? 'none'} is not allowed for ${c.name}`);
    const thumbprint = req.accountThumbprint;
    const audience = c.binding.kind === 'audience' ? `${c.audience}:${thumbprint}` : c.audience;
    let payload: JWTPayload;
    try {
      payload = await this.verifyWithRefetch(token, authority, { issuer: c.issuer, audience, algorithms: c.algorithms });
    } catch (e) {
      throw problems.unauthorized(`token refused: ${describeJoseError(e)}`);
    }
    record.subject = payload.sub;
    record.jti = payload.jti;
    if (typeof payload.jti !== 'string' || payload.jti === '') throw problems.unauthorized('token has no jti');
    if (typeof payload.exp !== 'number') throw problems.unauthorized('token has no exp');
    const now = Date.now();
    if (typeof payload.iat === 'number' && payload.iat * 1000 > now + CLOCK_SKEW_S * 1000) throw problems.unauthorized('token iat is in the future');
    // Measured from whichever is earlier, issuance or now, so a future iat cannot stretch it.
    const start = Math.min(typeof payload.iat === 'number' ? payload.iat * 1000 : now, now);
    if (payload.exp * 1000 - start > c.maxLifetimeMs) throw problems.unauthorized('token lifetime is longer than this authority allows');
    if (!bindsAccount(payload, c.binding, thumbprint)) throw problems.unauthorized('the token does not bind this ACME account key');
    return payload;
  }

  private async verifyWithRefetch(
    token: string,
    authority: TokenAuthority,
    options: { issuer: string; audience: string; algorithms: string[] },
  ): Promise<JWTPayload> {
    const verify = async (keys: Awaited<ReturnType<TokenAuthority['keySet']>>) =>
      (await jwtVerify(token, keys, { ...options, clockTolerance: CLOCK_SKEW_S, requiredClaims: ['exp', 'jti'] })).payload;
    try {
      return await verify(await authority.keySet());
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw e;
      return verify(await authority.keySet(true));
    }
  }
}

/** RFC 9447 §4 fingerprint form of a thumbprint: "SHA256 AB:CD:…". */
export function atcFingerprint(thumbprintB64url: string): string {
  const hex = Buffer.from(thumbprintB64url, 'base64url').toString('hex').toUpperCase();
  return `SHA256 ${hex.match(/../g)!.join(':')}`;
}

function bindsAccount(payload: JWTPayload, binding: TokenAuthorityBinding, thumbprint: string): boolean {
  switch (binding.kind) {
    case 'fingerprint': {
      const atc = payload.atc as { fingerprint?: unknown } | undefined;
      return typeof atc?.fingerprint === 'string' && atc.fingerprint.replace(/\s+/g, ' ').toUpperCase() === atcFingerprint(thumbprint).toUpperCase();
    }
    case 'claim':
      return payload[binding.claim] === thumbprint;
    case 'audience':
      return true; // enforced by the audience check itself
  }
}

type TokenAuthorityBinding = TokenAuthority['config']['binding'];

function claimAt(claims: JWTPayload, path: string): unknown {
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    // A claim name may itself contain dots (e.g. "kubernetes.io"): prefer the longest key match.
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Resolves `a.b.c` first as nested objects, then with dotted keys such as `kubernetes.io`. */
function claim(claims: JWTPayload, path: string): unknown {
  const direct = claimAt(claims, path);
  if (direct !== undefined) return direct;
  const parts = path.split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const head = claims[parts.slice(0, i + 1).join('.')];
    if (head !== undefined) return i === parts.length - 1 ? head : claimAt(head as JWTPayload, parts.slice(i + 1).join('.'));
  }
  return undefined;
}

function globMatches(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

function ruleAllows(rule: TokenRule, claims: JWTPayload, identifier: Identifier, wildcard: boolean): boolean {
  for (const [path, wanted] of Object.entries(rule.match)) {
    const value = claim(claims, path);
    const values = Array.isArray(value) ? value.map(String) : value === undefined || value === null ? [] : [String(value)];
    const patterns = Array.isArray(wanted) ? wanted : [wanted];
    if (!values.some((v) => patterns.some((p) => globMatches(p, v)))) return false;
  }
  const requested = wildcard ? `*.${identifier.value}` : identifier.value;
  return rule.identifiers.some((template) => {
    let safe = true;
    const rendered = template.replace(/\$\{([^}]+)\}/g, (_m, path: string) => {
      const v = String(claim(claims, path) ?? '').toLowerCase();
      if (!SAFE_CLAIM_VALUE.test(v)) safe = false;
      return v;
    });
    return safe && rendered.toLowerCase() === requested;
  });
}

function describeJoseError(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `claim ${e.claim} is not acceptable (${e.reason})`;
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'the algorithm is not allowed';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return "no key in the authority's JWKS matches";
  if (e instanceof joseErrors.JOSEError) return e.code;
  return 'the authority keys cannot be loaded';
}
