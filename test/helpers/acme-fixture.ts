/**
 * The setup most integration tests share: an in-process server whose validator resolves through
 * the test DNS server and fetches http-01 answers from a test responder, plus one registered
 * account. A start that fails part-way closes what it had started, so `after` needs only close().
 */
import type { FlagValues } from '../../src/config/load.js';
import { assertOk } from './acme-assert.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { startHttp01Responder, type Http01Responder } from './http01-responder.js';
import { RawAcme, type AccountKey } from './raw-acme.js';
import { startTestServer, type TestServer } from './test-server.js';

export interface AcmeFixture {
  dnsServer: TestDnsServer;
  responder: Http01Responder;
  srv: TestServer;
  /** The account registered at start. */
  acme: RawAcme;
  /** Registers another account (with `key` when given), asserting 201. */
  register(key?: AccountKey): Promise<RawAcme>;
  close(): Promise<void>;
}

/** `flags` are added to (or override) the DNS resolver and http-01 port flags. */
export async function startAcmeFixture(flags: FlagValues = {}): Promise<AcmeFixture> {
  const dnsServer = await startDnsServer();
  let responder: Http01Responder | undefined;
  let srv: TestServer | undefined;
  const close = async (): Promise<void> => {
    await srv?.close();
    await responder?.close();
    await dnsServer.close();
  };
  try {
    responder = await startHttp01Responder();
    srv = await startTestServer({ '--dns-resolvers': dnsServer.resolver, '--http01-port': String(responder.port), ...flags });
    const server = srv;
    const register = async (key?: AccountKey): Promise<RawAcme> => {
      const c = await new RawAcme(server.directoryUrl, server.rootPem, key).init();
      assertOk(await c.register(), 201, server.directoryUrl);
      return c;
    };
    return { dnsServer, responder, srv, acme: await register(), register, close };
  } catch (error) {
    // The start failure is what the test should report, not a close error that follows it.
    await close().catch(() => undefined);
    throw error;
  }
}
