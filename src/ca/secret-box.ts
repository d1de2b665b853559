/**
 * Secrets at rest that Anvil must read back (EAB HMAC keys): AES-256-GCM under a key derived
 * from the key passphrase with scrypt and a per-secret salt. Layout: 1-byte version, 16-byte
 * salt, 12-byte IV, 16-byte tag, ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const VERSION = 1;

function keyFor(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, { N: 16384, r: 8, p: 1 });
}

export function seal(plaintext: Uint8Array, passphrase: string): Uint8Array {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(passphrase, salt), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([Buffer.from([VERSION]), salt, iv, cipher.getAuthTag(), ciphertext]));
}

export function open(sealed: Uint8Array, passphrase: string): Uint8Array {
  const b = Buffer.from(sealed);
  if (b[0] !== VERSION || b.length < 1 + 16 + 12 + 16) throw new Error('sealed secret has an unknown format');
  const salt = b.subarray(1, 17);
  const iv = b.subarray(17, 29);
  const tag = b.subarray(29, 45);
  const decipher = createDecipheriv('aes-256-gcm', keyFor(passphrase, salt), iv);
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(b.subarray(45)), decipher.final()]));
  } catch {
    throw new Error('sealed secret cannot be opened: wrong key passphrase or tampered data');
  }
}
