/**
 * What most interop tests run beside the client under test: a temp dir, the loopback DNS server,
 * a port for Anvil's http-01 validator, and the server itself. close() tears down whatever was
 * started, also after a failed `before`: the server first (it may still be using the rest), then
 * what the test added with onClose, newest first, then DNS and the temp dir.
 */
import path from 'node:path';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { cleanUp, freePort, readText, removeDir, startAnvil, tempDir, type AcmeServer, type StartAnvilOptions } from './harness.js';

export interface StackServerOptions extends Omit<StartAnvilOptions, 'dnsResolver' | 'http01Port'> {
  /** startAnvil unless given; startServer lets ANVIL_INTEROP_PEER put Pebble in Anvil's place. */
  launch?: (opts: StartAnvilOptions) => Promise<AcmeServer>;
}

export interface InteropStack {
  readonly work: string;
  readonly dns: TestDnsServer;
  /** Where Anvil's http-01 validator connects; nothing listens there unless the test binds it. */
  readonly http01Port: number;
  /** Starts the server (data dir `<work>/server` unless given); a later start replaces the one close() stops. */
  start(options?: StackServerOptions): Promise<{ server: AcmeServer; rootPem: string }>;
  onClose(step: () => unknown): void;
  close(): Promise<void>;
}

/** `prefix` names the temp dir and, in cleanup errors, the test. */
export async function openStack(prefix: string): Promise<InteropStack> {
  const http01Port = await freePort();
  const work = await tempDir(prefix);
  let dns: TestDnsServer;
  try {
    dns = await startDnsServer();
  } catch (error) {
    await removeDir(work);
    throw error;
  }
  let server: AcmeServer | undefined;
  const steps: (() => unknown)[] = [];
  return {
    work,
    dns,
    http01Port,
    async start({ launch = startAnvil, ...options } = {}) {
      server = await launch({ dnsResolver: dns.resolver, http01Port, dataDir: path.join(work, 'server'), ...options });
      return { server, rootPem: await readText(server.rootPemPath) };
    },
    onClose: (step) => void steps.unshift(step),
    close: () => cleanUp(prefix.replace(/-$/, ''), [() => server?.stop(), ...steps, () => dns.close(), () => removeDir(work)]),
  };
}
