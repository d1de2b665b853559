/**
 * Interop: lego 4.9 (Debian) against Anvil with the challenges other than http-01.
 *  - dns-01 (RFC 8555 §8.4) through lego's `exec` DNS provider: lego runs a hook script as
 *    `present|cleanup <fqdn> <value>`, the hook writes the TXT record into the loopback DNS server
 *    Anvil's validator queries. A wildcard and its base name (one `_acme-challenge` name, two values).
 *  - tls-alpn-01 (RFC 8737) with lego's own responder on the port Anvil's validator connects to.
 * Anvil's http-01 port has nothing listening, so only the intended challenge can succeed; the
 * server log shows which type was validated. Certificates are judged with openssl.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startExecDnsHook, type ExecDnsHook } from '../helpers/dns-peers.js';
import type { TestDnsServer } from '../helpers/dns-server.js';
import { runLego } from './clients.js';
import { failureReport, freePort, opensslSans, opensslVerify, readText, requireTool, splitPemChain, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const CLIENT_TIMEOUT_MS = 90_000;
const skip = requireTool('lego') || requireTool('openssl');

/** Lines of Anvil's log for finished validations: [type, identifier, result]. */
function validations(server: AcmeServer): { type: string; identifier: string; result: string }[] {
  const out: { type: string; identifier: string; result: string }[] = [];
  for (const line of server.logs().split('\n')) {
    if (!line.includes('validation finished')) continue;
    try {
      const entry = JSON.parse(line) as { type: string; identifier: string; result: string };
      out.push({ type: entry.type, identifier: entry.identifier, result: entry.result });
    } catch {
      // not a JSON log line
    }
  }
  return out;
}

describe('lego dns-01 and tls-alpn-01 against Anvil', { skip, timeout: 300_000 }, () => {
  let stack: InteropStack | undefined;
  let dns: TestDnsServer | undefined;
  let hook: ExecDnsHook | undefined;
  let server: AcmeServer | undefined;
  let work: string | undefined;
  let tlsPort = 0;
  let rootPem = '';

  async function lego(store: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return runLego(server!, { email: 'interop@example.test', path: path.join(work!, store), timeoutMs: CLIENT_TIMEOUT_MS, env }, args);
  }

  /** lego's `<name>.crt` (a `*` becomes `_`): leaf + intermediate, verifying against the root, naming `names`. */
  async function assertIssued(store: string, fileName: string, names: string[]): Promise<void> {
    const bundle = await readText(path.join(work!, store, 'certificates', `${fileName}.crt`));
    const certs = splitPemChain(bundle);
    assert.equal(certs.length, 2, `leaf + intermediate, got:\n${bundle}`);
    const verify = await opensslVerify(rootPem, certs[1]!, certs[0]!, { purpose: 'sslserver' });
    assert.ok(verify.ok, `openssl verify against root.pem\n${verify.output}`);
    assert.deepEqual(await opensslSans(certs[0]!), names.map((n) => `DNS:${n}`).sort());
  }

  before(async () => {
    stack = await openStack('anvil-interop-lego-dns-tls-');
    ({ work, dns } = stack);
    hook = await startExecDnsHook(dns, work);
    stack.onClose(() => hook?.close());
    tlsPort = await freePort();
    // Nothing listens on the http-01 port: an http-01 validation could only fail.
    ({ server, rootPem } = await stack.start({ extraArgs: ['--tlsalpn01-port', String(tlsPort)] }));
  });

  after(() => stack?.close());

  it('lego issues *.w.test + w.test with dns-01 through the exec provider', async () => {
    const result = await lego(
      'dns',
      ['--domains', '*.w.test', '--domains', 'w.test', '--dns', 'exec', '--dns.resolvers', dns!.resolver, '--dns.disable-cp', 'run'],
      { EXEC_PATH: hook!.scriptPath, EXEC_SEQUENCE_INTERVAL: '1', EXEC_PROPAGATION_TIMEOUT: '30', EXEC_POLLING_INTERVAL: '1' },
    );
    const context = `\n--- hook calls ---\n${hook!.calls.join('\n')}`;
    assert.equal(result.code, 0, failureReport(result, server!, context));
    await assertIssued('dns', '_.w.test', ['*.w.test', 'w.test']);

    // Both authorizations (the wildcard and the base name) were proven at _acme-challenge.w.test.
    const presents = hook!.calls.filter((c) => c.startsWith('present _acme-challenge.w.test'));
    assert.equal(presents.length, 2, `two TXT values presented${context}`);
    assert.equal(new Set(presents.map((c) => c.split(' ')[2])).size, 2, `two different values${context}`);
    assert.equal(hook!.calls.filter((c) => c.startsWith('cleanup ')).length, 2, `lego cleaned up both${context}`);
    assert.deepEqual(hook!.published('_acme-challenge.w.test'), [], 'nothing left published');

    const done = validations(server!).filter((v) => v.identifier === 'w.test');
    assert.deepEqual(done.map((v) => `${v.type} ${v.result}`), ['dns-01 valid', 'dns-01 valid'], `Anvil validated both with dns-01: ${JSON.stringify(done)}`);
  });

  it('lego issues tls.test with tls-alpn-01 on the port Anvil connects to', async () => {
    const result = await lego('tls', ['--domains', 'tls.test', '--tls', '--tls.port', `127.0.0.1:${tlsPort}`, 'run']);
    assert.equal(result.code, 0, failureReport(result, server!));
    await assertIssued('tls', 'tls.test', ['tls.test']);
    const done = validations(server!).filter((v) => v.identifier === 'tls.test');
    assert.deepEqual(done.map((v) => `${v.type} ${v.result}`), ['tls-alpn-01 valid'], `Anvil validated with tls-alpn-01: ${JSON.stringify(done)}`);
  });

  it('lego renews the wildcard certificate with dns-01 again (authorizations reused or re-proven, a new certificate)', async () => {
    const before = await readText(path.join(work!, 'dns', 'certificates', '_.w.test.crt'));
    const result = await lego(
      'dns',
      ['--domains', '*.w.test', '--domains', 'w.test', '--dns', 'exec', '--dns.resolvers', dns!.resolver, '--dns.disable-cp', 'renew', '--days', '10000', '--no-random-sleep'],
      { EXEC_PATH: hook!.scriptPath, EXEC_SEQUENCE_INTERVAL: '1', EXEC_PROPAGATION_TIMEOUT: '30', EXEC_POLLING_INTERVAL: '1' },
    );
    assert.equal(result.code, 0, failureReport(result, server!));
    await assertIssued('dns', '_.w.test', ['*.w.test', 'w.test']);
    assert.notEqual(await readText(path.join(work!, 'dns', 'certificates', '_.w.test.crt')), before, 'a new certificate');
  });
});
