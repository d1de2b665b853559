/**
 * Where the key-encryption passphrase comes from: ANVIL_KEY_PASSPHRASE, else the file named by
 * --key-passphrase-file, else (development only) a generated file beside the data.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PassphraseSource {
  passphrase: string;
  /** Set when the development fallback was used; the caller warns loudly. */
  devFile?: string;
}

/**
 * `createDevFile: false` is for commands on an existing data directory: generating a fresh
 * development passphrase there would only produce a secret that opens nothing.
 */
export function resolvePassphrase(env: NodeJS.ProcessEnv, passphraseFile: string | undefined, dataDir: string, createDevFile = true): PassphraseSource {
  const fromEnv = env.ANVIL_KEY_PASSPHRASE;
  if (fromEnv) return { passphrase: fromEnv };
  if (passphraseFile) {
    const text = readFileSync(passphraseFile, 'utf8').replace(/\r?\n$/, '');
    if (!text) throw new Error(`key passphrase file ${passphraseFile} is empty`);
    return { passphrase: text };
  }
  const devFile = join(dataDir, 'dev-passphrase');
  if (!existsSync(devFile)) {
    if (!createDevFile) throw new Error(`no key passphrase: set ANVIL_KEY_PASSPHRASE or --key-passphrase-file (the server's), or use a data directory with a dev-passphrase`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(devFile, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  }
  return { passphrase: readFileSync(devFile, 'utf8').trim(), devFile };
}
