/**
 * Trusted token issuers for the workload-identity challenge: each with its JWKS (a file, re-read
 * when it changes, or an HTTPS URL, cached and refreshed, re-fetched early when a token names an
 * unknown key), allowed algorithms, audience and account-binding rule.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BodyTooLargeError, readBounded } from '../http/read-bounded.js';
import { readFileSync, statSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export type AccountBinding =
  /** RFC 9447 §4: `atc.fingerprint` = "SHA256 " + colon hex of the account key's JWK thumbprint. */
  | { kind: 'fingerprint' }
  /** A claim whose value is the base64url JWK thumbprint (RFC 7638) of the account key. */
  | { kind: 'claim'; claim: string }
  /** `aud` is `<audience>:<thumbprint>`, for platforms where a job can only choose the audience. */
  | { kind: 'audience' };

export interface TokenAuthorityConfig {
  name: string;
  issuer: string;
  audience: string;
  algorithms: string[];
  binding: AccountBinding;
  jwks: { file: string } | { url: string; ca?: string; refreshMs: number };
  /** Tokens valid for longer than this (exp − iat or exp − now) are refused. */
  maxLifetimeMs: number;
}

const JWKS_FETCH_TIMEOUT_MS = 5_000;
const JWKS_MIN_REFETCH_MS = 30_000;
const JWKS_MAX_BYTES = 256 * 1024;

export class TokenAuthority {
  private keys: JWTVerifyGetKey | undefined;
  private loadedAt = 0;
  private fileMtime = 0;

  constructor(readonly config: TokenAuthorityConfig) {}

  /** The key set to verify with, reloaded when stale (or, with `unknownKid`, when a key is missing). */
  async keySet(unknownKid = false): Promise<JWTVerifyGetKey> {
    const j = this.config.jwks;
    const now = Date.now();
    if ('file' in j) {
      const mtime = statSync(j.file).mtimeMs;
      if (!this.keys || mtime !== this.fileMtime) {
        this.keys = createLocalJWKSet(JSON.parse(readFileSync(j.file, 'utf8')) as JSONWebKeySet);
        this.fileMtime = mtime;
      }
      return this.keys;
    }
    const stale = now - this.loadedAt > j.refreshMs || (unknownKid && now - this.loadedAt > JWKS_MIN_REFETCH_MS);
    if (!this.keys || stale) {
      try {
        this.keys = createLocalJWKSet(await fetchJwks(j.url, j.ca));
        this.loadedAt = now;
      } catch (e) {
        if (!this.keys) throw e; // keep serving the last good set when a refresh fails
      }
    }
    return this.keys!;
  }
}

function fetchJwks(url: string, ca?: string): Promise<JSONWebKeySet> {
  return new Promise((resolve, reject) => {
    // https in production; plain http is accepted for loopback test authorities.
    const request = new URL(url).protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { ca, rejectUnauthorized: true, signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS), agent: false }, (res) => {
      readBounded(res, JWKS_MAX_BYTES).then((body) => {
        if (res.statusCode !== 200) return reject(new Error(`JWKS fetch answered HTTP ${res.statusCode}`));
        try {
          const set = JSON.parse(body.toString('utf8')) as JSONWebKeySet;
          if (!Array.isArray(set.keys)) throw new Error('no keys array');
          resolve(set);
        } catch (e) {
          reject(new Error(`JWKS is not a JSON Web Key Set: ${(e as Error).message}`));
        }
      }, (e: Error) => reject(e instanceof BodyTooLargeError ? new Error('JWKS too large') : e));
    });
    req.on('error', reject);
    req.end();
  });
}
