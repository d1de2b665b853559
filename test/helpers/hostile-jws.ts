/**
 * Hand-made JWS objects for hostile-input tests: any header, any payload bytes, any signing
 * function, including ones jose refuses to produce (alg "none", HS256, an alg that does not fit
 * the key, RSA keys below 2048 bits).
 */
import { createHmac, sign, type KeyObject } from 'node:crypto';

export type Signer = (signingInput: Buffer) => Buffer;

export const b64u = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');

/** A flattened JWS (RFC 7515 §7.2.2) over `payload` (a string is taken as its UTF-8 bytes). */
export function rawJws(header: Record<string, unknown>, payload: string | Uint8Array, signer: Signer): { protected: string; payload: string; signature: string } {
  const protectedB64 = b64u(JSON.stringify(header));
  const payloadB64 = b64u(payload);
  const signature = signer(Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'));
  return { protected: protectedB64, payload: payloadB64, signature: b64u(signature) };
}

/** ECDSA with the given hash, in the JWS (IEEE P1363, r||s) encoding. */
export const ecdsaSigner =
  (key: KeyObject, hash: 'sha256' | 'sha384' | 'sha512'): Signer =>
  (input) =>
    sign(hash, input, { key, dsaEncoding: 'ieee-p1363' });

/** RSASSA-PKCS1-v1_5 with SHA-256 (RS256), with no minimum key size. */
export const rs256Signer =
  (key: KeyObject): Signer =>
  (input) =>
    sign('sha256', input, key);

export const hs256Signer =
  (secret: Buffer): Signer =>
  (input) =>
    createHmac('sha256', secret).update(input).digest();

/** alg "none": an empty signature. */
export const noSignature: Signer = () => Buffer.alloc(0);
