/**
 * The store a configuration names: PostgreSQL when `--database-url` is set (shared by any number
 * of instances), otherwise the embedded SQLite file in the data directory.
 */
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { auditKeyFrom } from './audit-chain.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export type StoreSettings = Pick<Config, 'dataDir' | 'databaseUrl' | 'databasePoolSize' | 'sqliteDurability'>;

export const sqlitePath = (dataDir: string): string => join(dataDir, 'anvil.db');

export async function openStore(config: StoreSettings, passphrase: string): Promise<Store> {
  const auditKey = auditKeyFrom(passphrase);
  if (config.databaseUrl) return PostgresStore.open(config.databaseUrl, { auditKey, maxConnections: config.databasePoolSize, applicationName: `anvil ${process.pid}` });
  return new SqliteStore(sqlitePath(config.dataDir), { auditKey, durability: config.sqliteDurability, backgroundCheckpoints: true });
}
