/**
 * The operator's fallback credential (an intent's `fallback`), read and checked before it may be
 * installed: the files parse, the key matches the certificate, and the certificate is unexpired.
 * Errors name the files, never their contents (a parser's message could quote key material).
 */
import { readFileSync } from 'node:fs';
import { keyMatches, leafInfo, splitPem } from './cert-info.js';
import type { CertificateIntent } from './config.js';

export type FallbackSettings = NonNullable<CertificateIntent['fallback']>;

export interface FallbackCredential {
  leaf: string;
  chain: string[];
  keyPem: string;
  serial: string;
  notAfter: number;
}

/** Reads the fallback files; throws an Error saying why they cannot be installed at `now`. */
export function loadFallbackCredential(f: FallbackSettings, now: number): FallbackCredential {
  const blocks = splitPem(readFileSync(f.cert, 'utf8'));
  const leaf = blocks[0];
  if (!leaf) throw new Error(`fallback.cert ${f.cert} holds no certificate`);
  const chain = [...blocks.slice(1), ...(f.chain ? splitPem(readFileSync(f.chain, 'utf8')) : [])];
  const keyPem = readFileSync(f.key, 'utf8');
  let matches: boolean;
  try {
    matches = keyMatches(keyPem, leaf);
  } catch {
    throw new Error(`fallback.key ${f.key} is not a readable private key`);
  }
  if (!matches) throw new Error(`fallback.key ${f.key} does not match fallback.cert ${f.cert}; not installed`);
  const info = leafInfo(leaf);
  if (info.notAfter <= now) throw new Error(`fallback.cert ${f.cert} expired at ${new Date(info.notAfter).toISOString()}; not installed`);
  return { leaf, chain, keyPem, serial: info.serial, notAfter: info.notAfter };
}
