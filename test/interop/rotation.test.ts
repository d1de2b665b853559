/**
 * Interop: an intermediate rotation under load. Six ACME clients (scripts/lib/acme-load.ts) run
 * full orders continuously while `anvil ca rotate` runs against the live data directory half-way
 * through. No order may fail; every certificate verifies against the root with openssl; those
 * issued before the rotation come from the old intermediate and those issued a few seconds after
 * it from the new one. The retiring issuer keeps its revocation services: OCSP for a
 * pre-rotation certificate answers good, then revoked, signed by the retiring issuer's delegated
 * responder; its CRL is still published and lists the revocation. The trust bundle's version and
 * ETag move, and ARI tells holders of pre-rotation certificates to renew now (RFC 9773 §4.2).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { AcmeTransport, PEM_CHAIN, runLoad, type CertificateInfo, type LoadResult } from '../../scripts/lib/acme-load.js';
import { ariCertId, getRenewalInfo, suggestedWindow } from '../helpers/ari-cert-id.js';
import { fetchCrl, serialHexOf, waitForCrl } from '../helpers/crl-reader.js';
import { caCertPem, readManifestView } from '../helpers/data-dir-scan.js';
import { anvilCli } from '../helpers/eab.js';
import { parseOcspResponse } from '../helpers/ocsp-wire.js';
import { opensslOcsp, opensslVerifyWithCrl, type OcspRun } from '../helpers/openssl-revocation.js';
import { httpsRequest, type HttpResponse } from '../helpers/raw-acme.js';
import { revocationUrlsOf } from '../helpers/revocation-http.js';
import { describeRun, freePort, requireTool, run, splitPemChain, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');
const CLIENTS = 6;
const LOAD_SECONDS = 25; // long enough that certificates come after a slow `anvil ca rotate` plus the reload allowance
const ROTATE_AFTER_MS = 2_500;
/** A SIGHUP reloads at once; the manifest poll (2 s) is the fallback. Certificates finished this long after the rotation must be new. */
const RELOAD_ALLOWANCE_MS = 3_000;

interface Received {
  info: CertificateInfo;
  /** performance.now() when the client had the chain. */
  at: number;
  leafPem: string;
  intermediatePem: string;
}

describe('rotation: anvil ca rotate under continuous issuance', { skip, timeout: 150_000 }, () => {
  let work = '';
  let files = '';
  let dataDir = '';
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let rootPath = '';
  let rootPem = '';
  let bundleBefore: HttpResponse | undefined;
  const received: Received[] = [];
  let load: LoadResult | undefined;
  let rotation: { run: RunResult; startedAt: number; endedAt: number } | undefined;
  let oldIssuer: { id: string; pem: string } | undefined;
  let newIssuer: { id: string; pem: string } | undefined;

  const get = (p: string, headers: Record<string, string> = {}): Promise<HttpResponse> => httpsRequest(`${server!.baseUrl}${p}`, { ca: rootPem, headers });

  /** Writes a PEM to the files dir and returns its path. */
  async function save(name: string, pem: string): Promise<string> {
    const file = path.join(files, name);
    await writeFile(file, pem);
    return file;
  }

  before(async () => {
    stack = await openStack('anvil-interop-rotation-');
    const { http01Port } = stack;
    work = stack.work;
    files = path.join(work, 'files');
    await mkdir(files, { recursive: true });
    dataDir = path.join(work, 'data');
    const revocationPort = await freePort();
    ({ server, rootPem } = await stack.start({
      dataDir,
      extraArgs: ['--revocation-listen', `127.0.0.1:${revocationPort}`, '--crl-revocation-delay', '1s', '--crl-shards', '2', '--log-level', 'warn'],
    }));
    rootPath = server.rootPemPath;
    bundleBefore = await get('/trust-bundle');
    const manifest = readManifestView(dataDir);
    const active = manifest.issuers.find((i) => i.status === 'active')!;
    oldIssuer = { id: active.id, pem: caCertPem(dataDir, active.certFile) };

    let loadStart = 0;
    let rotating: Promise<void> | undefined;
    const trigger = setInterval(() => {
      // Certificates on both sides are the point: rotate once some have arrived, however slow the machine.
      if (loadStart === 0 || rotating || received.length < 3 || performance.now() - loadStart < ROTATE_AFTER_MS) return;
      const startedAt = performance.now();
      rotating = anvilCli(['ca', 'rotate', '--data-dir', dataDir]).then((r) => {
        rotation = { run: r, startedAt, endedAt: performance.now() };
      });
    }, 20);
    try {
      load = await runLoad({
        directoryUrl: server.directoryUrl,
        caPem: rootPem,
        concurrency: CLIENTS,
        maxOrders: 100_000,
        maxSeconds: LOAD_SECONDS,
        stallSeconds: 8,
        http01Port,
        namePrefix: 'rot',
        onStart: () => (loadStart = performance.now()),
        onCertificate: (info) => {
          const [leafPem, intermediatePem] = splitPemChain(info.pem);
          received.push({ info, at: performance.now(), leafPem: leafPem ?? '', intermediatePem: intermediatePem ?? '' });
        },
      });
    } finally {
      clearInterval(trigger);
      await rotating;
    }
    const rotated = readManifestView(dataDir).issuers.find((i) => i.status === 'active')!;
    newIssuer = { id: rotated.id, pem: caCertPem(dataDir, rotated.certFile) };
  }, { timeout: 90_000 });

  after(() => stack?.close());

  it('anvil ca rotate succeeds against the live data directory and tells the server', () => {
    assert.ok(rotation, 'the rotation ran during the load');
    assert.equal(rotation.run.code, 0, describeRun(rotation.run));
    assert.match(rotation.run.stdout, new RegExp(`new active issuer ${newIssuer!.id}; retiring ${oldIssuer!.id}`), describeRun(rotation.run));
    assert.notEqual(newIssuer!.id, oldIssuer!.id, 'the issuer id changes');
    const manifest = readManifestView(dataDir);
    assert.equal(manifest.issuers.find((i) => i.id === oldIssuer!.id)?.status, 'retiring');
  });

  it('zero failed orders while the intermediate rotated', (t) => {
    assert.ok(load, 'the load ran');
    t.diagnostic(`${load.completed} orders in ${load.durationS.toFixed(1)} s by ${CLIENTS} clients; rotation took ${((rotation?.endedAt ?? 0) - (rotation?.startedAt ?? 0)).toFixed(0)} ms`);
    const summary = `completed ${load.completed}, errors ${load.errors.count} (${load.errors.first.join(' | ')}), stop ${load.stopReason}, timeline ${load.timeline.join(',')}`;
    assert.equal(load.errors.count, 0, summary);
    assert.equal(load.stalled, false, summary);
    assert.equal(load.stopReason, 'time', summary);
    assert.ok(load.completed >= 30, `enough orders to mean something: ${summary}`);
  });

  it('certificates before the rotation come from the old intermediate, those after the reload from the new one; all verify against the root', async () => {
    assert.ok(rotation && oldIssuer && newIssuer, 'needs the rotation');
    const oldDer = new X509Certificate(oldIssuer.pem).raw;
    const newDer = new X509Certificate(newIssuer.pem).raw;
    const byIssuer = new Map<string, Received[]>([[oldIssuer.id, []], [newIssuer.id, []]]);
    for (const r of received) {
      const der = new X509Certificate(r.intermediatePem).raw;
      const id = der.equals(oldDer) ? oldIssuer.id : der.equals(newDer) ? newIssuer.id : `unknown:${r.info.certUrl}`;
      assert.ok(byIssuer.has(id), `chain of ${r.info.certUrl} carries an intermediate that is neither the old nor the new one`);
      byIssuer.get(id)!.push(r);
    }
    const before = received.filter((r) => r.at < rotation!.startedAt);
    const settled = received.filter((r) => r.at > rotation!.endedAt + RELOAD_ALLOWANCE_MS);
    assert.ok(before.length > 0 && settled.length > 0, `certificates on both sides of the rotation (${before.length} before, ${settled.length} after)`);
    assert.deepEqual(before.filter((r) => !byIssuer.get(oldIssuer!.id)!.includes(r)).map((r) => r.info.certUrl), [], 'before the rotation: the old intermediate');
    assert.deepEqual(settled.filter((r) => !byIssuer.get(newIssuer!.id)!.includes(r)).map((r) => r.info.certUrl), [], `${RELOAD_ALLOWANCE_MS} ms after the rotation: the new intermediate`);
    for (const [id, certs] of byIssuer) {
      const intermediatePath = await save(`${id}.pem`, id === oldIssuer.id ? oldIssuer.pem : newIssuer.pem);
      const leafPaths: string[] = [];
      for (const [n, r] of certs.entries()) {
        assert.ok(new X509Certificate(r.leafPem).checkIssued(new X509Certificate(r.intermediatePem)), `${r.info.certUrl}: leaf issued by its chain's intermediate`);
        leafPaths.push(await save(`${id}-leaf-${n}.pem`, r.leafPem));
      }
      // One openssl run per intermediate judges all of its leaves ("<file>: OK" per leaf).
      const verify = await run('openssl', ['verify', '-CAfile', rootPath, '-untrusted', intermediatePath, ...leafPaths], { timeoutMs: 60_000 });
      assert.equal(verify.code, 0, describeRun(verify));
      for (const leaf of leafPaths) assert.ok(verify.stdout.includes(`${leaf}: OK`), `${leaf} verifies\n${describeRun(verify)}`);
    }
  });

  it('the trust bundle version and ETag change; the bundle lists the retiring and the new issuer', async () => {
    assert.ok(bundleBefore && oldIssuer && newIssuer, 'needs the bundle from before the rotation');
    assert.equal(bundleBefore.status, 200, bundleBefore.body);
    const now = await get('/trust-bundle');
    assert.equal(now.status, 200, now.body);
    assert.ok(now.json.version > bundleBefore.json.version, `version moved: ${bundleBefore.json.version} → ${now.json.version}`);
    assert.ok(now.headers.etag && now.headers.etag !== bundleBefore.headers.etag, `ETag changed: ${bundleBefore.headers.etag} → ${now.headers.etag}`);
    const statuses = Object.fromEntries((now.json.issuers as { id: string; status: string }[]).map((i) => [i.id, i.status]));
    assert.deepEqual(statuses, { [oldIssuer.id]: 'retiring', [newIssuer.id]: 'active' });
    const revalidated = await get('/trust-bundle', { 'If-None-Match': String(bundleBefore.headers.etag) });
    assert.equal(revalidated.status, 200, 'the old ETag no longer matches');
    const unchanged = await get('/trust-bundle', { 'If-None-Match': String(now.headers.etag) });
    assert.equal(unchanged.status, 304, 'the current ETag matches');
    const pem = await get('/trust-bundle.pem');
    assert.equal(pem.headers['anvil-bundle-version'], String(now.json.version));
  });

  it('alternate chains follow the certificate’s issuer: a pre-rotation certificate gets the old cross-signed intermediate, a post-rotation one the new', async () => {
    assert.ok(rotation && oldIssuer && newIssuer, 'needs the rotation');
    const pre = received.find((r) => r.at < rotation!.startedAt)!;
    const post = [...received].reverse().find((r) => r.at > rotation!.endedAt + RELOAD_ALLOWANCE_MS)!;
    const acme = await AcmeTransport.open({ directoryUrl: server!.directoryUrl, caPem: rootPem });
    try {
      for (const [r, issuerPem] of [[pre, oldIssuer.pem], [post, newIssuer.pem]] as const) {
        const res = await acme.postAsGet(r.info.account, `${r.info.certUrl}/1`, { accept: PEM_CHAIN });
        const body = res.body.toString('utf8');
        assert.equal(res.status, 200, body);
        const [leaf, cross] = splitPemChain(body);
        assert.equal(leaf, r.leafPem, 'the same leaf');
        const crossCert = new X509Certificate(cross!);
        const issuer = new X509Certificate(issuerPem);
        assert.ok(crossCert.publicKey.equals(issuer.publicKey) && crossCert.subject === issuer.subject, `the cross-signed twin of the issuer of ${r.info.certUrl}`);
        assert.ok(!crossCert.raw.equals(issuer.raw) && crossCert.issuer !== issuer.issuer, 'issued by the other root');
      }
    } finally {
      acme.close();
    }
  });

  it('ARI: a pre-rotation certificate should renew now (window in the past); a post-rotation one later', async () => {
    assert.ok(rotation, 'needs the rotation');
    const directory = (await get('/directory')).json;
    const pre = received.find((r) => r.at < rotation!.startedAt)!;
    const post = [...received].reverse().find((r) => r.at > rotation!.endedAt + RELOAD_ALLOWANCE_MS)!;
    const preWindow = suggestedWindow(await getRenewalInfo(directory.renewalInfo, ariCertId(pre.leafPem), rootPem));
    assert.ok(preWindow.end.getTime() <= Date.now(), `retiring issuer: the window ends in the past: ${preWindow.start.toISOString()} – ${preWindow.end.toISOString()}`);
    const postWindow = suggestedWindow(await getRenewalInfo(directory.renewalInfo, ariCertId(post.leafPem), rootPem));
    assert.ok(postWindow.start.getTime() > Date.now(), `active issuer: the window is ahead: ${postWindow.start.toISOString()}`);
  });

  it('OCSP for a pre-rotation certificate answers good, then revoked, signed by the retiring issuer’s responder; its CRL is still published', async () => {
    assert.ok(rotation && oldIssuer, 'needs the rotation');
    // Not the certificate the ARI test used: revocation alone would also move its window.
    const pre = received.filter((r) => r.at < rotation!.startedAt).at(-1)!;
    const leafPath = await save('pre-rotation.pem', pre.leafPem);
    const intermediatePath = await save('old-intermediate.pem', oldIssuer.pem);
    const urls = revocationUrlsOf(pre.leafPem);
    assert.equal(urls.issuerId, oldIssuer.id, 'the CRL distribution point names the old issuer');
    const ocsp = async (name: string): Promise<OcspRun> => {
      const respout = path.join(files, `${name}.der`);
      const result = await opensslOcsp({ issuerPath: intermediatePath, certPath: leafPath, url: urls.ocsp, rootPath, after: ['-no_nonce', '-respout', respout] });
      const parsed = parseOcspResponse(await readFile(respout));
      const signer = parsed.basic?.signerCertDer;
      assert.ok(signer, `the response carries its delegated responder certificate\n${result.output}`);
      const responder = new X509Certificate(Buffer.from(signer));
      assert.ok(responder.checkIssued(new X509Certificate(oldIssuer!.pem)) && responder.verify(new X509Certificate(oldIssuer!.pem).publicKey), `signed by the retiring issuer's responder (responder issuer: ${responder.issuer})`);
      return result;
    };
    const good = await ocsp('good');
    assert.ok(good.verified, good.output);
    assert.equal(good.status, 'good', good.output);

    const acme = await AcmeTransport.open({ directoryUrl: server!.directoryUrl, caPem: rootPem });
    try {
      const revokeUrl = (acme.directory as unknown as { revokeCert: string }).revokeCert;
      const der = new X509Certificate(pre.leafPem).raw.toString('base64url');
      const res = await acme.post(pre.info.account, pre.info.account.kid, revokeUrl, { certificate: der, reason: 4 });
      assert.equal(res.status, 200, res.body.toString('utf8'));
    } finally {
      acme.close();
    }
    const revoked = await ocsp('revoked');
    assert.ok(revoked.verified, revoked.output);
    assert.equal(revoked.status, 'revoked', revoked.output);
    assert.equal(revoked.reason, 'superseded', revoked.output);

    const listed = await waitForCrl(urls.crl, (crl) => crl.entries.has(serialHexOf(pre.leafPem)), 8_000);
    assert.ok(listed.crl.verifiedBy(oldIssuer.pem), 'the shard CRL is signed by the retiring issuer');
    const refused = await opensslVerifyWithCrl(files, rootPath, intermediatePath, leafPath, listed.der, 'retiring-shard');
    assert.equal(refused.ok, false, refused.output);
    assert.match(refused.error ?? refused.output, /certificate revoked/, refused.output);
    const full = await fetchCrl(urls.fullCrl);
    assert.ok(full.crl.verifiedBy(oldIssuer.pem), 'the retiring issuer’s full CRL is published');
  });
});
