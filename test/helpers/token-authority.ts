/**
 * A workload-identity token authority for tkauth-01 tests: it holds an ES256 and an RS256
 * signing key, serves their public halves as a JWKS over loopback HTTP (as a CI platform or a
 * Kubernetes API server serves its OIDC keys), signs tokens with jose's SignJWT, and mints tokens
 * on request for `anvil token-cert --token-command` (GET /mint/<minter>?thumbprint=…&fingerprint=…).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type SigningAlg = 'ES256' | 'RS256' | 'ES384';

interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Builds claims for a minted token from the query of the /mint request. */
export type Minter = (query: URLSearchParams) => { claims: JWTPayload; alg?: SigningAlg };

export interface TokenAuthority {
  /** `http://127.0.0.1:<port>/jwks.json`. */
  jwksUrl: string;
  /** `http://127.0.0.1:<port>`. */
  baseUrl: string;
  /** How often the JWKS was fetched. */
  jwksFetches(): number;
  /** Signs `claims` with this authority's key of `alg` (kid in the header). */
  sign(claims: JWTPayload, alg?: SigningAlg): Promise<string>;
  /** Signs with a key the JWKS does not hold, under a kid the JWKS does hold (a forged token). */
  forge(claims: JWTPayload): Promise<string>;
  /** An unsecured JWT (`alg: none`, empty signature; RFC 7519 §6). */
  unsigned(claims: JWTPayload): string;
  /** Registers GET /mint/<name>. */
  minter(name: string, build: Minter): void;
  /** Tokens minted through /mint so far. */
  minted: { name: string; claims: JWTPayload }[];
  close(): Promise<void>;
}

/** Seconds since the epoch. */
export const nowS = (): number => Math.floor(Date.now() / 1000);

/** Standard claims for a token valid from now for `lifetimeS`, with a fresh jti. */
export function timeClaims(lifetimeS = 300): { iat: number; nbf: number; exp: number; jti: string } {
  const now = nowS();
  return { iat: now, nbf: now, exp: now + lifetimeS, jti: randomUUID() };
}

/** RFC 9447-style fingerprint of an RFC 7638 thumbprint: "SHA256 " + colon-separated upper-case hex. */
export function fingerprintOf(thumbprintB64url: string): string {
  return `SHA256 ${Buffer.from(thumbprintB64url, 'base64url').toString('hex').toUpperCase().match(/../g)!.join(':')}`;
}

export async function thumbprintOf(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

async function signingKey(kid: string, alg: SigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export async function startTokenAuthority(): Promise<TokenAuthority> {
  const keys = new Map<SigningAlg, SigningKey>();
  for (const [kid, alg] of [['es-1', 'ES256'], ['rs-1', 'RS256'], ['es384-1', 'ES384']] as const) keys.set(alg, await signingKey(kid, alg));
  const impostor = await signingKey('es-1', 'ES256');
  const minters = new Map<string, Minter>();
  const minted: TokenAuthority['minted'] = [];
  let fetches = 0;

  const sign = async (claims: JWTPayload, alg: SigningAlg = 'ES256', key = keys.get(alg)!): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/jwks.json') {
      fetches++;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [...keys.values()].map((k) => k.publicJwk) }));
      return;
    }
    const m = /^\/mint\/([\w-]+)$/.exec(url.pathname);
    const build = m ? minters.get(m[1]!) : undefined;
    if (!build) {
      res.statusCode = 404;
      res.end('no such minter');
      return;
    }
    const { claims, alg } = build(url.searchParams);
    minted.push({ name: m![1]!, claims });
    sign(claims, alg ?? 'ES256').then(
      (token) => res.end(token),
      (e: Error) => {
        res.statusCode = 500;
        res.end(e.message);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    jwksUrl: `${baseUrl}/jwks.json`,
    baseUrl,
    jwksFetches: () => fetches,
    sign: (claims, alg) => sign(claims, alg),
    forge: (claims) => sign(claims, 'ES256', impostor),
    unsigned: (claims) => new UnsecuredJWT(claims).encode(),
    minter: (name, build) => void minters.set(name, build),
    minted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
