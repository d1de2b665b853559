/**
 * Opens what a serving process works on: the store the configuration names, and the CA
 * hierarchy. With SQLite both are in the data directory. With PostgreSQL the hierarchy lives in
 * the store too (see ca/shared-ca-directory.ts): the data directory only caches it, so any number
 * of instances on their own disks serve one CA.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { caCreatedData } from './ca/ca-directory.js';
import { openConfiguredCa, type OpenedCa } from './ca/open-ca.js';
import { resolvePassphrase } from './ca/passphrase.js';
import { CA_DIRECTORY, PROFILES_DIRECTORY, SharedDirectory } from './ops/shared-directory.js';
import type { SharedDirectories } from './app.js';
import type { Config } from './config/load.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';

export interface OpenedData {
  opened: OpenedCa;
  store: Store;
  /** Set on a shared store: the directories every instance follows. */
  shared: SharedDirectories;
}

/** `profilesSource`: the operator's profile directory (with PostgreSQL, the first instance shares it). */
export async function openCaAndStore(config: Config, env: NodeJS.ProcessEnv, log: Logger, holder: string, profilesSource: string): Promise<OpenedData> {
  if (!config.databaseUrl) {
    const opened = await openConfiguredCa(config, env);
    try {
      const store = await openStore(config, opened.passphrase);
      if (opened.ca.created) await store.appendAudit({ actor: 'system', action: 'ca.created', subject: opened.ca.active.id, data: caCreatedData(opened.ca, false) });
      return { opened, store, shared: {} };
    } catch (e) {
      opened.keys.close();
      throw e;
    }
  }
  if (!env.ANVIL_KEY_PASSPHRASE && !config.keyPassphraseFile) {
    throw new Error('a PostgreSQL store needs the key passphrase from ANVIL_KEY_PASSPHRASE or --key-passphrase-file: every instance decrypts the same CA keys with it');
  }
  const passphrase = resolvePassphrase(env, config.keyPassphraseFile, config.dataDir, false).passphrase;
  const store = await openStore(config, passphrase);
  try {
    const ca = new SharedDirectory(store, CA_DIRECTORY, join(config.dataDir, 'ca'));
    await ca.bootstrap(
      async () => {
        const first = await openConfiguredCa(config, env);
        first.keys.close();
        if (first.ca.created) await store.appendAudit({ actor: 'system', action: 'ca.created', subject: first.ca.active.id, data: caCreatedData(first.ca, false) });
      },
      holder,
      log,
    );
    const profiles = new SharedDirectory(store, PROFILES_DIRECTORY, join(config.dataDir, 'profiles'));
    await profiles.bootstrap(async () => profiles.copyFrom(profilesSource), holder, log);
    return { opened: await openConfiguredCa(config, env), store, shared: { ca, profiles: { directory: profiles, source: profilesSource } } };
  } catch (e) {
    await store.close();
    throw e;
  }
}
