/**
 * Interop: certificate profiles (draft-ietf-acme-profiles) with the npm acme-client against the
 * built server as a real process, judged by openssl. For each shipped profile acme-client names
 * the profile on newOrder, answers http-01, finalizes with a CSR of the chosen key type and
 * downloads the chain; openssl then checks what the profile file promises: validity
 * (notAfter − notBefore), backdate, key usage (keyEncipherment only for RSA keys where
 * rsaKeyEncipherment is on), EKUs, OCSP (AIA) and CRL Distribution Point presence, CN or SAN-only
 * subject, and that the chain verifies. The expectations are derived from the profile files in
 * acme-profiles/, so the test proves the server follows the file, not a copy of it.
 */
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { acmeClientKit, csrFor, leafKey, type AcmeClientKit, type LeafKeyType, type ProfiledOrder } from '../helpers/acme-client-kit.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { ariCertId, getRenewalInfo, suggestedWindow } from '../helpers/ari-cert-id.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { EXT, listOf, opensslView } from '../helpers/openssl-cert.js';
import { bundledProfiles } from '../helpers/profile-dir.js';
import { httpsRequest } from '../helpers/raw-acme.js';
import { opensslVerify, readText, requireTool, splitPemChain, startAnvil, type AcmeServer } from './harness.js';

const skip = requireTool('openssl');
const ACME_ERROR = 'urn:ietf:params:acme:error:';

/** openssl's display names for the profile schema's key usage and EKU names. */
const KU_TEXT: Record<string, string> = {
  digitalSignature: 'Digital Signature',
  nonRepudiation: 'Non Repudiation',
  keyEncipherment: 'Key Encipherment',
  dataEncipherment: 'Data Encipherment',
  keyAgreement: 'Key Agreement',
};
const EKU_TEXT: Record<string, string> = {
  serverAuth: 'TLS Web Server Authentication',
  clientAuth: 'TLS Web Client Authentication',
  codeSigning: 'Code Signing',
  emailProtection: 'E-mail Protection',
  timeStamping: 'Time Stamping',
};

/** The profile schema's durations (`90s`, `15m`, `24h`, `7d`) in milliseconds. */
function durationMs(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** One issuance to judge: a profile and the key type of the CSR. */
const CASES: { profile: string; keyType: LeafKeyType }[] = [
  { profile: 'default', keyType: 'rsa2048' },
  { profile: 'default', keyType: 'ecdsa-p256' },
  { profile: 'shortlived', keyType: 'ecdsa-p256' },
  { profile: 'mtls', keyType: 'rsa2048' },
  { profile: 'ci-ephemeral', keyType: 'ecdsa-p384' },
  { profile: 'classic', keyType: 'rsa3072' },
];

describe('profiles: acme-client issues under each shipped profile, openssl judges the certificates', { skip, timeout: 120_000 }, () => {
  const files = bundledProfiles();
  let dns: TestDnsServer;
  let responder: Http01Responder;
  let server: AcmeServer;
  let rootPem = '';
  let directory: Record<string, any> = {};
  let kit: AcmeClientKit;

  before(async () => {
    dns = await startDnsServer();
    responder = await startHttp01Responder();
    server = await startAnvil({ dnsResolver: dns.resolver, http01Port: responder.port });
    rootPem = await readText(server.rootPemPath);
    directory = (await httpsRequest(server.directoryUrl, { ca: rootPem })).json;
    kit = await acmeClientKit(server.directoryUrl, rootPem, responder);
  });

  after(async () => {
    await server?.stop();
    await responder?.close();
    await dns?.close();
  });

  const report = (extra = ''): string => `${extra}\n${kit.context()}\n--- server output (tail) ---\n${server.logs().slice(-6_000)}`;

  test('the directory lists every shipped profile with its description in meta.profiles', () => {
    const expected = Object.fromEntries([...files].map(([name, p]) => [name, p.description]));
    assert.deepEqual(directory.meta?.profiles, expected, `meta: ${JSON.stringify(directory.meta)}`);
    assert.equal(Object.keys(expected).length, 5, 'five profiles ship in acme-profiles/');
  });

  for (const { profile, keyType } of CASES) {
    test(`${profile} with a ${keyType} key: validity, key usage, EKU, AIA/CDP, subject and chain as the profile says`, async () => {
      const p = files.get(profile)!;
      assert.ok(p, `acme-profiles/${profile}.yaml exists`);
      const names = [uniqueName(profile.replace(/[^a-z]/g, '')), uniqueName('alt')];
      const started = Date.now();
      let issued;
      try {
        issued = await kit.issue({ names, profile, keyType });
      } catch (error) {
        assert.fail(`issuance under ${profile} failed: ${(error as Error).message}${report()}`);
      }
      assert.equal(issued.order.profile, profile, 'the order echoes its profile (draft-ietf-acme-profiles §4)');

      const [leaf, intermediate, ...rest] = splitPemChain(issued.chain);
      assert.ok(leaf && intermediate && rest.length === 0, `chain is leaf + intermediate:\n${issued.chain}`);
      const eku: string[] = p.extendedKeyUsage ?? ['serverAuth'];
      const verify = await opensslVerify(rootPem, intermediate, leaf, { strict: true, purpose: 'sslserver' });
      assert.ok(verify.ok, `openssl verify -x509_strict -purpose sslserver\n${verify.output}`);
      if (eku.includes('clientAuth')) {
        const asClient = await opensslVerify(rootPem, intermediate, leaf, { purpose: 'sslclient' });
        assert.ok(asClient.ok, `a clientAuth profile verifies for -purpose sslclient\n${asClient.output}`);
      }

      const view = await opensslView(leaf);
      const ctx = `\n--- openssl x509 -text ---\n${view.text}`;
      // Validity: exactly the profile's lifetime; notBefore backdated by the profile's backdate.
      const validity = durationMs(p.validity);
      assert.equal(view.notAfter.getTime() - view.notBefore.getTime(), validity, `notAfter − notBefore = ${p.validity}${ctx}`);
      const backdate = durationMs(p.backdate ?? '1m');
      const expectedNotBefore = started - backdate;
      assert.ok(
        Math.abs(view.notBefore.getTime() - expectedNotBefore) <= 60_000,
        `notBefore ${view.notBefore.toISOString()} ≈ issuance − backdate ${p.backdate} (${new Date(expectedNotBefore).toISOString()})${ctx}`,
      );

      // Key usage: the profile's bits, plus keyEncipherment for RSA keys when rsaKeyEncipherment is on (default true).
      const ku = new Set<string>((p.keyUsage ?? ['digitalSignature']).map((u: string) => KU_TEXT[u]!));
      if (keyType.startsWith('rsa') && (p.rsaKeyEncipherment ?? true)) ku.add(KU_TEXT.keyEncipherment!);
      const kuExt = view.extensions.get(EXT.keyUsage);
      assert.ok(kuExt?.critical, `key usage present and critical (RFC 5280 §4.2.1.3)${ctx}`);
      assert.deepEqual(listOf(kuExt), [...ku].sort(), `key usage for a ${keyType} key under ${profile}${ctx}`);
      if (!keyType.startsWith('rsa')) assert.ok(!listOf(kuExt).includes('Key Encipherment'), `no keyEncipherment for a non-RSA key${ctx}`);

      assert.deepEqual(listOf(view.extensions.get(EXT.extendedKeyUsage)), eku.map((u) => EKU_TEXT[u]!).sort(), `EKUs${ctx}`);

      // Revocation pointers.
      const wantsOcsp = p.revocationInfo?.ocsp ?? true;
      const wantsCrl = p.revocationInfo?.crl ?? true;
      const aia = view.extensions.get(EXT.authorityInfoAccess);
      const cdp = view.extensions.get(EXT.crlDistributionPoints);
      if (wantsOcsp) assert.match(aia?.value ?? '', /OCSP - URI:https?:\/\/\S+\/ocsp/, `AIA with an OCSP URL${ctx}`);
      else assert.equal(aia, undefined, `no Authority Information Access under ${profile}${ctx}`);
      if (wantsCrl) assert.match(cdp?.value ?? '', /URI:https?:\/\/\S+\/crl\/\S+\.crl/, `a CRL Distribution Point${ctx}`);
      else assert.equal(cdp, undefined, `no CRL Distribution Point under ${profile}${ctx}`);

      // Subject: CN = the first identifier, or an empty subject with a critical SAN (RFC 5280 §4.2.1.6).
      const san = view.extensions.get(EXT.subjectAltName);
      assert.deepEqual(listOf(san), names.map((n) => `DNS:${n}`).sort(), `SAN names exactly the order's identifiers${ctx}`);
      if ((p.commonName ?? 'first') === 'first') {
        assert.equal(view.subject, `CN=${names[0]}`, `CN is the first identifier${ctx}`);
      } else {
        assert.equal(view.subject, '', `SAN-only: empty subject${ctx}`);
        assert.ok(san?.critical, `SAN is critical when the subject is empty${ctx}`);
      }
      assert.equal(view.extensions.get(EXT.basicConstraints)?.value, 'CA:FALSE', `a leaf${ctx}`);

      // The certificate certifies the CSR's key.
      const leafSpki = new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' });
      const csrSpki = createPublicKey(issued.key).export({ type: 'spki', format: 'der' });
      assert.ok(leafSpki.equals(csrSpki), 'the leaf certifies the CSR key');

      // ARI (RFC 9773): the window is the profile's renewalWindow fractions of this certificate's lifetime.
      const res = await getRenewalInfo(directory.renewalInfo, ariCertId(leaf), rootPem);
      const window = suggestedWindow(res);
      const fractions = p.renewalWindow ?? { start: 0.6667, end: 0.75 };
      const lifetime = view.notAfter.getTime() - view.notBefore.getTime();
      for (const edge of ['start', 'end'] as const) {
        const expected = view.notBefore.getTime() + lifetime * fractions[edge];
        assert.ok(Math.abs(window[edge].getTime() - expected) <= 1_000, `ARI ${edge} ${window[edge].toISOString()} = notBefore + ${fractions[edge]} × lifetime (${new Date(expected).toISOString()})`);
      }
    });
  }

  test('ci-ephemeral refuses an RSA CSR at finalize with badPublicKey; the order stays ready and an ECDSA CSR then succeeds', async () => {
    const names = [uniqueName('cirsa')];
    let order: ProfiledOrder;
    try {
      order = await kit.readyOrder({ names, profile: 'ci-ephemeral' });
    } catch (error) {
      assert.fail(`ordering under ci-ephemeral failed: ${(error as Error).message}${report()}`);
    }
    const rsaCsr = await csrFor(names, await leafKey('rsa2048'));
    const problem = await kit.expectProblem('finalize with an RSA key under ci-ephemeral', () => kit.client.finalizeOrder(order, rsaCsr));
    assert.equal(problem.type, `${ACME_ERROR}badPublicKey`, report());
    assert.equal(problem.status, 400);
    assert.match(problem.detail, /rsa2048/, 'the detail names the refused key type');
    assert.equal((await kit.client.getOrder(order)).status, 'ready', 'a refused CSR leaves the order ready (RFC 8555 §7.4)');

    const issued = await kit.finalize(order, names, await leafKey('ecdsa-p256'));
    assert.equal(issued.order.profile, 'ci-ephemeral');
    assert.equal(splitPemChain(issued.chain).length, 2);
  });

  test('acme-client naming an unknown profile gets invalidProfile', async () => {
    const problem = await kit.expectProblem('newOrder with profile "no-such-profile"', () =>
      kit.client.createOrder({ identifiers: [{ type: 'dns', value: uniqueName('np') }], profile: 'no-such-profile' } as never),
    );
    assert.equal(problem.type, `${ACME_ERROR}invalidProfile`, report());
    assert.equal(problem.status, 400);
  });

  test('acme-client without a profile gets the default profile', async () => {
    const order: ProfiledOrder = await kit.client.createOrder({ identifiers: [{ type: 'dns', value: uniqueName('nodefault') }] });
    assert.equal(order.profile, 'default');
  });
});
