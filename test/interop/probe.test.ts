/**
 * Interop: the synthetic probe, `anvil probe` (README "Operations"), run as a real process against
 * running servers, answering http-01 itself on the server's --http01-port for a name the test DNS
 * server resolves to 127.0.0.1:
 * - a server with `--revocation-listen`: every step ok, exit 0;
 * - a server whose OCSP responder is down (`--revocation-base-url` names a port nothing listens
 *   on): exit 1 and `probe FAILED at ocsp: …`;
 * - a server whose CRLs reach relying parties through a cache that keeps serving a CRL past its
 *   nextUpdate (`--crl-lifetime 1m`, the CRL cached at start and served a minute later): exit 1 and
 *   `probe FAILED at crl: …` (the server itself re-publishes every 30 s, so the staleness can only
 *   come from between it and the relying party; a minute is the shortest lifetime it accepts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uniqueName } from '../helpers/acme-flow.js';
import { fetchCrl } from '../helpers/crl-reader.js';
import { readManifestView } from '../helpers/data-dir-scan.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { anvilCli } from '../helpers/eab.js';
import { startRevocationProxy, type RevocationProxy } from '../helpers/revocation-proxy.js';
import { describeRun, freePort, startAnvil, type AcmeServer, type RunResult } from './harness.js';

const STEPS = ['directory', 'account', 'order', 'authorization', 'issuance', 'chain', 'revocation', 'ocsp', 'crl'];

interface ProbeTarget {
  server: AcmeServer;
  http01Port: number;
}

/** The per-step lines of the probe's text report: `ok   <step> <ms> ms` / `FAIL <step> <ms> ms  <detail>`. */
function stepsOf(stdout: string): { ok: boolean; step: string; line: string }[] {
  return stdout
    .split('\n')
    .map((line) => ({ line, m: /^(ok|FAIL)\s+(\S+)\s+\d+ ms/.exec(line) }))
    .filter((x) => x.m)
    .map((x) => ({ ok: x.m![1] === 'ok', step: x.m![2]!, line: x.line }));
}

async function probe(t: ProbeTarget): Promise<RunResult> {
  return anvilCli([
    'probe',
    '--directory',
    t.server.directoryUrl,
    '--ca-file',
    t.server.rootPemPath,
    '--name',
    uniqueName('probe'),
    '--http01-port',
    String(t.http01Port),
    '--http01-address',
    '127.0.0.1',
    '--crl-wait',
    '15s',
    '--timeout',
    '50s',
  ]);
}

async function start(dnsResolver: string, extraArgs: string[]): Promise<ProbeTarget> {
  const http01Port = await freePort();
  return { server: await startAnvil({ dnsResolver, http01Port, extraArgs }), http01Port };
}

describe('anvil probe against running servers', { timeout: 90_000 }, () => {
  let dnsServer: TestDnsServer | undefined;
  let healthy: ProbeTarget | undefined;
  let ocspDown: ProbeTarget | undefined;
  let staleCrl: ProbeTarget | undefined;
  let proxy: RevocationProxy | undefined;
  /** When the CRL the proxy cached at start goes stale. */
  let staleAt = 0;

  before(async () => {
    dnsServer = await startDnsServer();
    const resolver = dnsServer.resolver;
    const deadPort = await freePort();
    const upstreamPort = await freePort();
    proxy = await startRevocationProxy(`http://127.0.0.1:${upstreamPort}`, await freePort());
    [healthy, ocspDown, staleCrl] = await Promise.all([
      start(resolver, ['--revocation-listen', `127.0.0.1:${await freePort()}`, '--crl-revocation-delay', '1s']),
      start(resolver, ['--revocation-base-url', `http://127.0.0.1:${deadPort}`, '--crl-revocation-delay', '1s']),
      start(resolver, ['--revocation-listen', `127.0.0.1:${upstreamPort}`, '--revocation-base-url', proxy.baseUrl, '--crl-lifetime', '1m', '--crl-shards', '1', '--crl-revocation-delay', '1s']),
    ]);
    // The cache takes the issuer's only shard CRL now; a minute later it is past its nextUpdate.
    const issuer = readManifestView(staleCrl.server.dataDir).issuers.find((i) => i.status === 'active')!;
    const cached = await fetchCrl(`${proxy.baseUrl}/crl/${issuer.id}/0.crl`);
    assert.ok(cached.crl.nextUpdate, 'the CRL has a nextUpdate');
    staleAt = cached.crl.nextUpdate.getTime();
    assert.ok(staleAt - Date.now() <= 61_000, `--crl-lifetime 1m: nextUpdate ${cached.crl.nextUpdate.toISOString()}`);
  });

  after(async () => {
    for (const t of [healthy, ocspDown, staleCrl]) await t?.server.stop().catch(() => undefined);
    await proxy?.close();
    await dnsServer?.close();
  });

  it('passes against a healthy server with --revocation-listen: every step ok, exit 0', async () => {
    const result = await probe(healthy!);
    assert.equal(result.code, 0, describeRun(result));
    const steps = stepsOf(result.stdout);
    assert.deepEqual(
      steps.map((s) => s.step),
      STEPS,
      describeRun(result),
    );
    assert.deepEqual(steps.filter((s) => !s.ok).map((s) => s.line), [], describeRun(result));
    assert.match(result.stdout, /^probe passed$/m, describeRun(result));
  });

  it('fails naming the ocsp step when the OCSP responder is down: exit 1, "probe FAILED at ocsp: …"', async () => {
    const result = await probe(ocspDown!);
    assert.equal(result.code, 1, describeRun(result));
    assert.match(result.stdout, /^probe FAILED at ocsp: .+/m, describeRun(result));
    const steps = stepsOf(result.stdout);
    assert.deepEqual(
      steps.map((s) => `${s.step}:${s.ok}`),
      [...STEPS.slice(0, STEPS.indexOf('ocsp')).map((s) => `${s}:true`), 'ocsp:false'],
      `every step up to ocsp ok, ocsp failed, crl not reached\n${describeRun(result)}`,
    );
  });

  it('fails naming the crl step when the CRL relying parties get is stale: exit 1, "probe FAILED at crl: …"', async () => {
    const wait = staleAt - Date.now() + 1_000;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const result = await probe(staleCrl!);
    assert.equal(result.code, 1, describeRun(result));
    assert.match(result.stdout, /^probe FAILED at crl: .*stale/m, describeRun(result));
    const steps = stepsOf(result.stdout);
    assert.deepEqual(
      steps.map((s) => `${s.step}:${s.ok}`),
      [...STEPS.slice(0, -1).map((s) => `${s}:true`), 'crl:false'],
      `every step up to crl ok (OCSP through the proxy answers revoked)\n${describeRun(result)}`,
    );
    assert.ok([...proxy!.cachedHits.values()].some((n) => n > 0), 'the probe got the cached CRL');
  });
});
