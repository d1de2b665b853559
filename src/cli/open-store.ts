/**
 * Opens the configured store for a command run beside (or instead of) the server: the same
 * backend and durability, and the audit key derived from the same key passphrase, so records the
 * command appends continue the server's chain.
 */
import { resolvePassphrase } from '../ca/passphrase.js';
import type { Config } from '../config/load.js';
import { auditKeyFrom } from '../store/audit-chain.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';

export async function openDataStore(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<{ store: Store; auditKey: Uint8Array }> {
  const passphrase = resolvePassphrase(env, config.keyPassphraseFile, config.dataDir, false).passphrase;
  return { store: await openStore(config, passphrase), auditKey: auditKeyFrom(passphrase) };
}
