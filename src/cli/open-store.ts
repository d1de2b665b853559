/**
 * Opens the data directory's store for a command run beside (or instead of) the server: same
 * durability setting, and the audit key derived from the same key passphrase, so records the
 * command appends continue the server's chain.
 */
import { join } from 'node:path';
import { resolvePassphrase } from '../ca/passphrase.js';
import type { Config } from '../config/load.js';
import { auditKeyFrom } from '../store/audit-chain.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';

export function openDataStore(config: Config, env: NodeJS.ProcessEnv = process.env): { store: SqliteStore; auditKey: Uint8Array } {
  const auditKey = auditKeyFrom(resolvePassphrase(env, config.keyPassphraseFile, config.dataDir, false).passphrase);
  return { store: new SqliteStore(join(config.dataDir, 'anvil.db'), { auditKey, durability: config.sqliteDurability }), auditKey };
}
