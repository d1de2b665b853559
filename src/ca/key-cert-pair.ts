/**
 * A key and its certificate kept as two files that several processes on one data directory
 * (`--workers`, `--extra-instance`) may re-issue at the same moment. Each file is replaced by an
 * atomic rename of a per-process temporary, so no reader sees a half-written file; two writers
 * can still leave one's key beside the other's certificate, so a reader takes the pair only when
 * the key belongs to the certificate, and otherwise re-issues.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeAtomic } from './atomic-file.js';
import { readEncryptedKey } from './key-files.js';

export interface StoredPair {
  cert: X509Certificate;
  certPem: string;
  key: KeyObject;
  keyPem: string;
}

/** The pair on disk, or undefined when a file is missing, unreadable, or the key is not the certificate's. */
export function readPair(certPath: string, keyPath: string, passphrase: string): StoredPair | undefined {
  if (!existsSync(certPath) || !existsSync(keyPath)) return undefined;
  try {
    const certPem = readFileSync(certPath, 'utf8');
    const keyPem = readFileSync(keyPath, 'utf8');
    const cert = new X509Certificate(certPem);
    const key = readEncryptedKey(keyPath, passphrase);
    if (!cert.checkPrivateKey(key)) return undefined;
    return { cert, certPem, key, keyPem };
  } catch {
    return undefined;
  }
}

/** Writes the encrypted key and then the certificate, each by rename, readable only by the owner. */
export function writePair(certPath: string, keyPath: string, certPem: string, key: KeyObject, passphrase: string): string {
  if (!passphrase) throw new Error('refusing to write a private key without a passphrase');
  const keyPem = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
  writeAtomic(keyPath, keyPem, 0o600);
  writeAtomic(certPath, certPem, 0o644);
  return keyPem;
}
