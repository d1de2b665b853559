/**
 * Private keys at rest: PKCS#8 encrypted with a passphrase (PBES2, AES-256-CBC), never plaintext.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { KeyType } from './algorithms.js';

export function generateKey(keyType: KeyType): KeyObject {
  switch (keyType) {
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'ecdsa-p521':
      return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey;
    default: {
      const bits = Number(keyType.slice(3));
      if (!Number.isInteger(bits) || bits < 2048 || bits > 8192) throw new Error(`unsupported key type ${keyType}`);
      return generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
    }
  }
}

/** Writes the key as an encrypted PKCS#8 PEM, readable only by the owner. */
export function writeEncryptedKey(path: string, key: KeyObject, passphrase: string): void {
  if (!passphrase) throw new Error('refusing to write a private key without a passphrase');
  const pem = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
  writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
}

/** Reads an encrypted PKCS#8 PEM; the error never includes key material or the passphrase. */
export function readEncryptedKey(path: string, passphrase: string): KeyObject {
  const pem = readFileSync(path, 'utf8');
  if (!pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new Error(`${path} is not an encrypted PKCS#8 key; Anvil keeps private keys encrypted at rest`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch {
    throw new Error(`cannot decrypt ${path}: wrong key passphrase?`);
  }
}

/** The DER SubjectPublicKeyInfo of a (private or public) key. */
export function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
}
