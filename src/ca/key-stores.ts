/**
 * Where CA private keys live, behind one interface: encrypted PKCS#8 files in the data directory,
 * or a PKCS#11 token. Each kind registers its load/generate/destroy; a cloud KMS would be one more
 * entry (load returns a Signer whose sign() calls the KMS; generate creates the key there).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey, readEncryptedKey, spkiOf, writeEncryptedKey } from './key-files.js';
import type { KeyType } from './algorithms.js';
import { Pkcs11Token, type Pkcs11Settings } from './pkcs11-key-store.js';
import { KeyObjectSigner, type Signer } from './signer.js';

export type KeyRef = { kind: 'file'; file: string } | { kind: 'pkcs11'; label: string; id: string };
export type KeyStoreKind = KeyRef['kind'];

export interface KeyStoreSettings {
  /** Directory holding file keys (`<data>/ca`). */
  caDir: string;
  passphrase: string;
  pkcs11?: Pkcs11Settings;
}

export interface LoadedKey {
  signer: Signer;
  spkiDer: Uint8Array;
}

interface KindHandler {
  load(ref: KeyRef, keyType: KeyType): LoadedKey;
  generate(keyType: KeyType, label: string): LoadedKey & { ref: KeyRef };
  destroy(ref: KeyRef): void;
}

export class KeyStores {
  private token: Pkcs11Token | undefined;
  private readonly kinds: Record<KeyStoreKind, KindHandler>;

  constructor(private readonly settings: KeyStoreSettings) {
    this.kinds = {
      file: {
        load: (ref) => {
          const key = readEncryptedKey(join(settings.caDir, (ref as { file: string }).file), settings.passphrase);
          return { signer: new KeyObjectSigner(key), spkiDer: spkiOf(key) };
        },
        generate: (keyType, label) => {
          const key = generateKey(keyType);
          const file = `${label}.key.pem`;
          writeEncryptedKey(join(settings.caDir, file), key, settings.passphrase);
          return { ref: { kind: 'file', file }, signer: new KeyObjectSigner(key), spkiDer: spkiOf(key) };
        },
        destroy: (ref) => shredFile(join(settings.caDir, (ref as { file: string }).file)),
      },
      pkcs11: {
        load: (ref, keyType) => this.pkcs11().signer(ref as { label: string; id: string }, keyType),
        generate: (keyType, label) => {
          const token = this.pkcs11();
          const { ref } = token.generate(keyType, label);
          return { ref: { kind: 'pkcs11', ...ref }, ...token.signer(ref, keyType) };
        },
        destroy: (ref) => this.pkcs11().destroy(ref as { label: string; id: string }),
      },
    };
  }

  load(ref: KeyRef, keyType: KeyType): LoadedKey {
    return this.kinds[ref.kind].load(ref, keyType);
  }

  generate(kind: KeyStoreKind, keyType: KeyType, label: string): LoadedKey & { ref: KeyRef } {
    return this.kinds[kind].generate(keyType, label);
  }

  /** Destroys a file key (overwritten, then removed) or deletes the key object on the token. */
  destroy(ref: KeyRef): void {
    this.kinds[ref.kind].destroy(ref);
  }

  close(): void {
    this.token?.close();
  }

  private pkcs11(): Pkcs11Token {
    if (!this.settings.pkcs11) throw new Error('a PKCS#11 key is configured but no PKCS#11 module/token/PIN is set (--pkcs11-module, --pkcs11-token, ANVIL_PKCS11_PIN)');
    this.token ??= new Pkcs11Token(this.settings.pkcs11);
    return this.token;
  }
}

/** Overwrites a key file with random bytes before unlinking it. */
export function shredFile(path: string): void {
  if (!existsSync(path)) return;
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, randomBytes(size), 0, size, 0);
  } finally {
    closeSync(fd);
  }
  rmSync(path);
}
