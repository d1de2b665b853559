/**
 * An Anvil server in the test process on 127.0.0.1 port 0, with its own temporary data
 * directory, for integration tests that need to look at the store as well as the wire.
 * (Interop tests run the server as a separate process instead: test/interop/harness.ts.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type FlagValues } from '../../src/config/load.js';
import { createLogger, startServer, type RunningServer } from '../../src/server.js';

export interface TestServer {
  server: RunningServer;
  directoryUrl: string;
  baseUrl: string;
  dataDir: string;
  rootPem: string;
  close(): Promise<void>;
}

export async function startTestServer(flags: FlagValues = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'anvil-test-'));
  const config = loadConfig({
    flags: { '--listen': '127.0.0.1:0', '--admin-listen': '127.0.0.1:0', '--revocation-listen': '127.0.0.1:0', '--data-dir': dataDir, '--log-level': 'silent', '--http01-port': '5002', ...flags },
    env: {},
  });
  const server = await startServer(config, { ANVIL_KEY_PASSPHRASE: 'test-passphrase' }, createLogger(config.logLevel));
  return {
    server,
    directoryUrl: server.directoryUrl,
    baseUrl: server.baseUrl,
    dataDir,
    rootPem: readFileSync(server.rootPemPath, 'utf8'),
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
