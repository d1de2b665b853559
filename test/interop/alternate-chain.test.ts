/**
 * Interop: alternate certificate chains (RFC 8555 §7.4.2). Anvil's hierarchy has a second root
 * that cross-signs the intermediate; the certificate URL links the alternate chain with
 * `Link: <…/cert/<id>/1>;rel="alternate"`, and that URL returns the same leaf with the
 * cross-signed intermediate (and links back). Real clients choose by the root's common name:
 * `certbot --preferred-chain`, `lego --preferred-chain` and acme-client's preferredChain; without
 * a preference the default chain is kept. openssl judges each chain against the root it names.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertProblem, links, mediaType } from '../helpers/acme-assert.js';
import { acmeClientKit } from '../helpers/acme-client-kit.js';
import { issue, pemBlocks, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme, httpsRequest } from '../helpers/raw-acme.js';
import { certbotIn, legoHttp, runLego, standaloneCertonly, type Certbot } from './clients.js';
import { failureReport, fileTail, opensslVerify, readText, requireTool, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('certbot') || requireTool('lego') || requireTool('openssl');

/** The CN of a certificate's subject or issuer as node prints it ("O=…\nCN=…"). */
function cn(dn: string): string {
  const m = /(?:^|\n)CN=([^\n]+)/.exec(dn);
  if (!m) throw new Error(`no CN in ${JSON.stringify(dn)}`);
  return m[1]!;
}

describe('alternate chains: Link rel="alternate", certbot/lego/acme-client --preferred-chain', { skip, timeout: 180_000 }, () => {
  let work = '';
  let files = '';
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let certbot: Certbot;
  let http01Port = 0;
  let rootPath = '';
  let rootPem = '';
  let altRootPath = '';
  let altRootCn = '';
  let primaryRootCn = '';

  const certonly = (domain: string, extra: string[] = []): Promise<RunResult> => certbot.run(standaloneCertonly(http01Port, [domain], extra));

  async function save(name: string, pem: string): Promise<string> {
    const file = path.join(files, name);
    await writeFile(file, pem);
    return file;
  }

  /** The active intermediate (default chain) as the trust bundle lists it. */
  async function activeIntermediate(): Promise<X509Certificate> {
    const bundle = await httpsRequest(`${server!.baseUrl}/trust-bundle`, { ca: rootPem });
    const active = (bundle.json.issuers as { status: string; pem: string }[]).find((i) => i.status === 'active');
    assert.ok(active, bundle.body);
    return new X509Certificate(active.pem);
  }

  /** Checks that `intermediatePem` is the cross-signed twin of the active intermediate, under the alternate root. */
  async function assertCrossSigned(intermediatePem: string): Promise<void> {
    const cross = new X509Certificate(intermediatePem);
    const active = await activeIntermediate();
    assert.equal(cn(cross.issuer), altRootCn, `the alternate chain's intermediate is issued by the alternate root: ${cross.issuer}`);
    assert.equal(cross.subject, active.subject, 'same subject as the default intermediate');
    assert.ok(cross.publicKey.equals(active.publicKey), 'same key as the default intermediate (a cross-certificate)');
    assert.ok(!cross.raw.equals(active.raw), 'but a different certificate');
    const bundle = await httpsRequest(`${server!.baseUrl}/trust-bundle`, { ca: rootPem });
    const listed = (bundle.json.issuers as { status: string; alternatePems: string[] }[]).find((i) => i.status === 'active')!;
    assert.ok(
      listed.alternatePems.some((pem) => new X509Certificate(pem).raw.equals(cross.raw)),
      'the trust bundle lists the cross-signed certificate with its issuer',
    );
  }

  before(async () => {
    stack = await openStack('anvil-interop-altchain-');
    ({ work, http01Port } = stack);
    files = path.join(work, 'files');
    await mkdir(files, { recursive: true });
    ({ server, rootPem } = await stack.start());
    rootPath = server.rootPemPath;
    certbot = certbotIn(path.join(work, 'certbot'), server);
    const bundle = await httpsRequest(`${server.baseUrl}/trust-bundle`, { ca: rootPem });
    const roots = bundle.json.roots as { id: string; pem: string }[];
    assert.equal(roots.length, 2, `a primary and an alternate root: ${bundle.body}`);
    const primary = roots.find((r) => new X509Certificate(r.pem).raw.equals(new X509Certificate(rootPem).raw));
    const alternate = roots.find((r) => r !== primary);
    assert.ok(primary && alternate, 'root.pem is one of the bundle roots');
    primaryRootCn = cn(new X509Certificate(primary.pem).subject);
    altRootCn = cn(new X509Certificate(alternate.pem).subject);
    assert.notEqual(altRootCn, primaryRootCn);
    altRootPath = await save('alt-root.pem', alternate.pem);
  }, { timeout: 90_000 });

  after(() => stack?.close());

  it('certbot --preferred-chain "<alternate root CN>" saves the cross-signed chain, which verifies against the alternate root', async () => {
    const domain = 'alt-preferred.test';
    const result = await certonly(domain, ['--preferred-chain', altRootCn]);
    assert.equal(result.code, 0, failureReport(result, server!, await fileTail(certbot.lastLog)));
    const live = (f: string) => path.join(certbot.configDir, 'live', domain, f);
    const chain = pemBlocks(await readText(live('chain.pem')));
    assert.equal(chain.length, 1, 'one intermediate');
    await assertCrossSigned(`${chain[0]}\n`);
    const verify = await opensslVerify(altRootPath, live('chain.pem'), live('cert.pem'));
    assert.ok(verify.ok, `the saved chain verifies against the alternate root\n${verify.output}`);
    const wrongRoot = await opensslVerify(rootPath, live('chain.pem'), live('cert.pem'));
    assert.equal(wrongRoot.ok, false, `the alternate chain ends at the alternate root, not the primary one\n${wrongRoot.output}`);
  });

  it('certbot without --preferred-chain keeps the default chain (primary root)', async () => {
    const domain = 'alt-default.test';
    const result = await certonly(domain);
    assert.equal(result.code, 0, failureReport(result, server!, await fileTail(certbot.lastLog)));
    const live = (f: string) => path.join(certbot.configDir, 'live', domain, f);
    const chain = pemBlocks(await readText(live('chain.pem')));
    assert.equal(chain.length, 1);
    const intermediate = new X509Certificate(`${chain[0]}\n`);
    assert.equal(cn(intermediate.issuer), primaryRootCn);
    assert.ok(intermediate.raw.equals((await activeIntermediate()).raw), 'the default chain carries the active intermediate');
    const verify = await opensslVerify(rootPath, live('chain.pem'), live('cert.pem'));
    assert.ok(verify.ok, verify.output);
  });

  it('lego --preferred-chain "<alternate root CN>" saves the cross-signed intermediate', async () => {
    const domain = 'alt-lego.test';
    const legoPath = path.join(work, 'lego');
    const args = ['--domains', domain, ...legoHttp(http01Port), 'run', '--preferred-chain', altRootCn];
    const result = await runLego(server!, { email: 'alt@example.test', path: legoPath, timeoutMs: 60_000 }, args);
    assert.equal(result.code, 0, failureReport(result, server!));
    const issuerPath = path.join(legoPath, 'certificates', `${domain}.issuer.crt`);
    const chain = pemBlocks(await readText(issuerPath));
    assert.equal(chain.length, 1, 'one intermediate');
    await assertCrossSigned(`${chain[0]}\n`);
    const verify = await opensslVerify(altRootPath, issuerPath, path.join(legoPath, 'certificates', `${domain}.crt`));
    assert.ok(verify.ok, verify.output);
  });

  describe('over raw ACME and acme-client', () => {
    let responder: Http01Responder | undefined;
    before(async () => {
      responder = await startHttp01Responder(http01Port);
    });
    after(async () => {
      await responder?.close();
    });

    it('the certificate URL links /cert/<id>/1 as rel="alternate"; it serves the same leaf with the cross-signed intermediate and links back', async () => {
      const acme = await new RawAcme(server!.directoryUrl, rootPem).init();
      assert.equal((await acme.register()).status, 201);
      const issued = await issue(acme, responder!, [uniqueName('alt-raw')]);
      const certUrl = issued.certificateUrl;

      const main = await postAsGet(acme, certUrl);
      assert.equal(main.status, 200, main.body);
      assert.deepEqual(links(main, 'alternate'), [`${certUrl}/1`], `Link rel="alternate": ${JSON.stringify(main.headers.link)}`);
      const [leaf, defaultIntermediate] = pemBlocks(main.body);
      assert.equal(cn(new X509Certificate(`${defaultIntermediate}\n`).issuer), primaryRootCn);

      const alt = await postAsGet(acme, `${certUrl}/1`);
      assert.equal(alt.status, 200, alt.body);
      assert.equal(mediaType(alt), 'application/pem-certificate-chain');
      const blocks = pemBlocks(alt.body);
      assert.equal(blocks.length, 2, `leaf + cross-signed intermediate:\n${alt.body}`);
      assert.equal(blocks[0], leaf, 'the same leaf');
      await assertCrossSigned(`${blocks[1]}\n`);
      assert.deepEqual(links(alt, 'alternate'), [certUrl], `links back to the default chain: ${JSON.stringify(alt.headers.link)}`);
      const leafPath = await save('raw-leaf.pem', `${blocks[0]}\n`);
      const crossPath = await save('raw-cross.pem', `${blocks[1]}\n`);
      const verify = await opensslVerify(altRootPath, crossPath, leafPath);
      assert.ok(verify.ok, verify.output);

      assertProblem(await postAsGet(acme, `${certUrl}/2`), 404, 'malformed', server!.directoryUrl);
    });

    it('acme-client getCertificate(order, "<alternate root CN>") picks the alternate chain; without it, the default', async () => {
      const kit = await acmeClientKit(server!.directoryUrl, rootPem, responder!);
      const name = uniqueName('alt-acmeclient');
      const issued = await kit.issue({ names: [name], keyType: 'ecdsa-p256' });
      const preferred = pemBlocks(await kit.client.getCertificate(issued.order, altRootCn));
      assert.equal(preferred.length, 2, kit.context());
      await assertCrossSigned(`${preferred[1]}\n`);
      const plain = pemBlocks(await kit.client.getCertificate(issued.order));
      assert.equal(cn(new X509Certificate(`${plain[1]}\n`).issuer), primaryRootCn);
      assert.equal(plain[0], preferred[0], 'the same leaf either way');
    });
  });
});
