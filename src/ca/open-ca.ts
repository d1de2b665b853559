/**
 * Opening the CA from configuration: the key passphrase, the key stores (files, PKCS#11), the
 * signer guard, and the hierarchy. Shared by `serve` and every operator command.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { openCa, type CaMaterial, type HierarchyOptions } from './ca-directory.js';
import type { SignerGuardOptions } from './guarded-signer.js';
import { KeyStores } from './key-stores.js';
import { resolvePassphrase } from './passphrase.js';

export interface OpenedCa {
  ca: CaMaterial;
  keys: KeyStores;
  passphrase: string;
  guard: SignerGuardOptions;
  /** Set when the development passphrase file was used. */
  devPassphraseFile: string | undefined;
}

export function keyStoresFor(config: Config, env: NodeJS.ProcessEnv, passphrase: string): KeyStores {
  let pin = env.ANVIL_PKCS11_PIN;
  if (!pin && config.pkcs11PinFile) pin = readFileSync(config.pkcs11PinFile, 'utf8').trim();
  return new KeyStores({
    caDir: join(config.dataDir, 'ca'),
    passphrase,
    ...(config.pkcs11Module && config.pkcs11Token ? { pkcs11: { module: config.pkcs11Module, tokenLabel: config.pkcs11Token, pin: pin ?? '' } } : {}),
  });
}

export function guardFor(config: Config): SignerGuardOptions {
  return { timeoutMs: config.signerTimeoutMs, failures: 3, cooldownMs: 10_000 };
}

export async function openConfiguredCa(config: Config, env: NodeJS.ProcessEnv, init?: HierarchyOptions): Promise<OpenedCa> {
  const secret = resolvePassphrase(env, config.keyPassphraseFile, config.dataDir);
  const keys = keyStoresFor(config, env, secret.passphrase);
  const guard = guardFor(config);
  const ca = await openCa(config.dataDir, keys, guard, init);
  return { ca, keys, passphrase: secret.passphrase, guard, devPassphraseFile: secret.devFile };
}
