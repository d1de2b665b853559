/**
 * CRLs (RFC 5280 §5) as a relying party downloads them from the revocation listener: v2, dates,
 * AKI, CRL number, the sharded scope (Issuing Distribution Point, §5.2.5) against the full CRL,
 * publication within --crl-revocation-delay, entries with reasons, 404s for what does not exist,
 * and what happens to revoked certificates once they expire (§3.3).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { assertOk } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { answerHttp01, dns, issue, makeCsr, newOrder, pemBlocks, pemToBase64url, poll, pollSettled, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { fetchCrl, serialHexOf, waitForCrl, type ParsedCrl } from '../helpers/crl-reader.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { binaryRequest, revocationUrlsOf, sleep, subjectKeyIdOf, type RevocationUrls } from '../helpers/revocation-http.js';
import type { TestServer } from '../helpers/test-server.js';
import { freePort } from '../interop/harness.js';

const SHARDS = 4;
const DELAY_MS = 1_000;
/** Bound on "within --crl-revocation-delay": the delay, one publication, and polling slack. */
const PUBLISH_BOUND_MS = DELAY_MS + 3_000;
/** The default crlLifetime. */
const CRL_LIFETIME_MS = 12 * 3_600_000;

let fx: AcmeFixture;
let responder: Http01Responder;
let srv: TestServer;
let acme: RawAcme;
let revocationBase = '';
let intermediate = '';
let issuerId = '';

interface Leaf {
  pem: string;
  serial: string;
  urls: RevocationUrls;
}

before(async () => {
  const port = await freePort();
  revocationBase = `http://127.0.0.1:${port}`;
  fx = await startAcmeFixture({
    '--revocation-listen': `127.0.0.1:${port}`,
    '--crl-shards': String(SHARDS),
    '--crl-revocation-delay': '1s',
  });
  ({ responder, srv, acme } = fx);
  const first = await newLeaf();
  intermediate = first.intermediate;
  issuerId = first.leaf.urls.issuerId;
});

after(() => fx?.close());

async function newLeaf(): Promise<{ leaf: Leaf; intermediate: string }> {
  const issued = await issue(acme, responder, [uniqueName('crl')]);
  const [pem, inter] = pemBlocks(issued.chainPem) as [string, string];
  return { leaf: { pem: `${pem}\n`, serial: serialHexOf(pem), urls: revocationUrlsOf(pem) }, intermediate: `${inter}\n` };
}

async function revoke(leaf: Leaf, reason?: number): Promise<void> {
  const res = await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(leaf.pem), ...(reason === undefined ? {} : { reason }) });
  assertOk(res, 200, srv.directoryUrl);
}

const shardUrl = (shard: number): string => `${revocationBase}/crl/${issuerId}/${shard}.crl`;
const fullUrl = (): string => `${revocationBase}/crl/${issuerId}/full.crl`;

describe('CRL structure (RFC 5280 §5.1, §5.2)', () => {
  test('every shard and the full CRL are v2, signed by the issuer, with thisUpdate < nextUpdate, AKI = issuer SKI, and a CRL number', async () => {
    const ski = subjectKeyIdOf(intermediate);
    const issuerSubject = new Uint8Array(AsnConvert.serialize(AsnConvert.parse(new X509Certificate(intermediate).raw, Certificate).tbsCertificate.subject));
    for (const url of [...Array.from({ length: SHARDS }, (_, i) => shardUrl(i)), fullUrl()]) {
      const { crl } = await fetchCrl(url);
      assert.equal(crl.version, 1, `${url}: version v2 (INTEGER 1), required with extensions (§5.1.2.1)`);
      assert.ok(crl.verifiedBy(intermediate), `${url}: the signature verifies with the intermediate's key`);
      assert.deepEqual(Buffer.from(crl.issuerDer), Buffer.from(issuerSubject), `${url}: issuer is the intermediate's subject, byte for byte`);
      assert.ok(crl.nextUpdate, `${url}: nextUpdate present (§5.1.2.5: conforming CAs MUST include it)`);
      assert.ok(crl.thisUpdate < crl.nextUpdate, `${url}: thisUpdate ${crl.thisUpdate.toISOString()} < nextUpdate ${crl.nextUpdate.toISOString()}`);
      assert.equal(crl.nextUpdate.getTime() - crl.thisUpdate.getTime(), CRL_LIFETIME_MS, `${url}: nextUpdate − thisUpdate is crlLifetime (12h by default)`);
      assert.ok(Math.abs(crl.thisUpdate.getTime() - Date.now()) < CRL_LIFETIME_MS / 2 + 60_000, `${url}: thisUpdate is current`);
      assert.equal(crl.akiKeyId, ski, `${url}: AKI keyIdentifier equals the intermediate's SKI (§5.2.1)`);
      assert.equal(typeof crl.number, 'bigint', `${url}: CRL number present (§5.2.3)`);
      assert.ok(crl.number! >= 0n);
    }
  });

  test('each shard CRL has a critical Issuing Distribution Point naming exactly its own URL (onlyContainsUserCerts); the full CRL has none', async () => {
    for (let shard = 0; shard < SHARDS; shard++) {
      const { crl } = await fetchCrl(shardUrl(shard));
      assert.ok(crl.idp, `shard ${shard}: IDP present`);
      assert.equal(crl.idp.critical, true, `shard ${shard}: IDP is critical (§5.2.5)`);
      assert.deepEqual(crl.idp.urls, [shardUrl(shard)], `shard ${shard}: IDP names the shard URL`);
      assert.equal(crl.idp.onlyContainsUserCerts, true, `shard ${shard}: onlyContainsUserCerts`);
    }
    const { crl } = await fetchCrl(fullUrl());
    assert.equal(crl.idp, undefined, 'the full CRL has no IDP: its scope is every certificate of the issuer');
  });

  test('the certificate\'s CRL Distribution Point names one of the shard URLs of its issuer', async () => {
    const { leaf } = await newLeaf();
    assert.equal(leaf.urls.issuerId, issuerId);
    assert.ok(leaf.urls.shard >= 0 && leaf.urls.shard < SHARDS, `shard ${leaf.urls.shard} within 0..${SHARDS - 1}`);
    assert.equal(leaf.urls.crl, shardUrl(leaf.urls.shard));
  });

  test('downloading the same CRL twice without a change returns the same bytes (published, not signed per request)', async () => {
    const a = await fetchCrl(shardUrl(0));
    const b = await fetchCrl(shardUrl(0));
    assert.deepEqual(a.der, b.der);
    assert.equal(a.headers['content-type']?.split(';')[0], 'application/pkix-crl');
  });

  test('unknown issuer, unknown shard and bad file names are 404', async () => {
    for (const path of [
      `/crl/no-such-issuer/0.crl`,
      `/crl/no-such-issuer/full.crl`,
      `/crl/${issuerId}/${SHARDS}.crl`,
      `/crl/${issuerId}/99999.crl`,
      `/crl/${issuerId}/-1.crl`,
      `/crl/${issuerId}/abc.crl`,
      `/crl/${issuerId}/0`,
      `/crl/${issuerId}/full`,
    ]) {
      const res = await binaryRequest(revocationBase + path);
      assert.equal(res.status, 404, `GET ${path}: ${res.status} ${res.body.toString('utf8').slice(0, 100)}`);
    }
  });
});

describe('publication after a revocation (within --crl-revocation-delay)', () => {
  test('a revoked certificate appears in its shard CRL and the full CRL with its reason, and both CRL numbers grow', async () => {
    const { leaf } = await newLeaf();
    const shardBefore = (await fetchCrl(leaf.urls.crl)).crl;
    const fullBefore = (await fetchCrl(fullUrl())).crl;
    await revoke(leaf, 1);
    const revokedAt = Date.now();
    const shard = await waitForCrl(leaf.urls.crl, (c) => c.entries.has(leaf.serial), PUBLISH_BOUND_MS);
    const full = await waitForCrl(fullUrl(), (c) => c.entries.has(leaf.serial), PUBLISH_BOUND_MS);
    for (const [name, before, now] of [['shard', shardBefore, shard.crl], ['full', fullBefore, full.crl]] as [string, ParsedCrl, ParsedCrl][]) {
      const entry = now.entries.get(leaf.serial)!;
      assert.equal(entry.reason, 1, `${name}: reasonCode keyCompromise`);
      assert.ok(Math.abs(entry.revocationDate.getTime() - revokedAt) < 5_000, `${name}: revocationDate ${entry.revocationDate.toISOString()} is the revocation time`);
      assert.ok(now.number! > before.number!, `${name}: CRL number grew (${before.number} → ${now.number})`);
      assert.ok(now.thisUpdate >= before.thisUpdate, `${name}: thisUpdate did not go back`);
    }
    const total = Math.max(shard.seenAfterMs, full.seenAfterMs);
    assert.ok(total <= PUBLISH_BOUND_MS, `published after ${total} ms`);
  });

  test('reason unspecified (0) is listed without a reasonCode extension (RFC 5280 §5.3.1)', async () => {
    const { leaf } = await newLeaf();
    await revoke(leaf, 0);
    const { crl } = await waitForCrl(leaf.urls.crl, (c) => c.entries.has(leaf.serial), PUBLISH_BOUND_MS);
    assert.equal(crl.entries.get(leaf.serial)!.reason, undefined);
  });

  test('each shard lists exactly the revoked certificates whose CDP names it; the full CRL lists them all', async () => {
    const leaves: Leaf[] = [];
    for (let i = 0; i < 8; i++) leaves.push((await newLeaf()).leaf);
    for (const leaf of leaves) await revoke(leaf, 4);
    const full = await waitForCrl(fullUrl(), (c) => leaves.every((l) => c.entries.has(l.serial)), PUBLISH_BOUND_MS);
    for (const leaf of leaves) assert.equal(full.crl.entries.get(leaf.serial)!.reason, 4, 'superseded in the full CRL');
    const allRevoked = new Set(full.crl.entries.keys());
    for (let shard = 0; shard < SHARDS; shard++) {
      const mine = leaves.filter((l) => l.urls.shard === shard).map((l) => l.serial);
      const { crl } = await waitForCrl(shardUrl(shard), (c) => mine.every((s) => c.entries.has(s)), PUBLISH_BOUND_MS);
      for (const serial of crl.entries.keys()) {
        assert.ok(allRevoked.has(serial), `shard ${shard} lists ${serial}, which the full CRL does not`);
      }
      const others = leaves.filter((l) => l.urls.shard !== shard).map((l) => l.serial);
      for (const serial of others) assert.ok(!crl.entries.has(serial), `shard ${shard} must not list ${serial} of another shard (IDP scope, §5.2.5)`);
    }
  });

  test('CRL numbers strictly increase across successive publications of the same CRL', async () => {
    const numbers: bigint[] = [(await fetchCrl(fullUrl())).crl.number!];
    for (let i = 0; i < 3; i++) {
      const { leaf } = await newLeaf();
      await revoke(leaf, 5);
      const { crl } = await waitForCrl(fullUrl(), (c) => c.entries.has(leaf.serial), PUBLISH_BOUND_MS);
      numbers.push(crl.number!);
    }
    for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i]! > numbers[i - 1]!, `CRL numbers ${numbers.join(' → ')} strictly increase`);
  });
});

/** Issues a certificate whose notAfter is `seconds` from now (RFC 8555 §7.1.3 order notAfter). */
async function shortLivedLeaf(seconds: number): Promise<Leaf & { notAfter: Date }> {
  const name = uniqueName('exp');
  const created = await newOrder(acme, dns(name), { notAfter: new Date(Date.now() + seconds * 1000).toISOString() });
  assert.equal(created.status, 201, `newOrder with notAfter: ${created.body}`);
  const url = String(created.headers.location);
  for (const authzUrl of created.json.authorizations as string[]) {
    await answerHttp01(acme, responder, authzUrl);
    assert.equal((await pollSettled(acme, authzUrl)).json.status, 'valid');
  }
  const { csr } = await makeCsr([name]);
  assert.equal((await acme.post(created.json.finalize, { csr })).status, 200);
  const valid = await poll(acme, url, (b) => b.status !== 'processing' && b.status !== 'ready');
  assert.equal(valid.json.status, 'valid', valid.body);
  const pem = `${pemBlocks((await postAsGet(acme, valid.json.certificate)).body)[0]!}\n`;
  const notAfter = new Date(new X509Certificate(pem).validTo);
  assert.ok(notAfter.getTime() - Date.now() < (seconds + 2) * 1000, `the certificate expires at ${notAfter.toISOString()}`);
  return { pem, serial: serialHexOf(pem), urls: revocationUrlsOf(pem), notAfter };
}

describe('revoked certificates that expire (RFC 5280 §3.3)', () => {
  let expiring: (Leaf & { notAfter: Date }) | undefined;
  let firstAfterExpiry: ParsedCrl | undefined;

  test('a revoked short-lived certificate is listed while it is valid', async () => {
    expiring = await shortLivedLeaf(6);
    await revoke(expiring, 5);
    await waitForCrl(fullUrl(), (c) => c.entries.has(expiring!.serial), PUBLISH_BOUND_MS);
  });

  test('the first CRL issued after its notAfter still lists it ("MUST NOT be removed until it appears on one CRL issued beyond the validity period", §3.3)', async () => {
    assert.ok(expiring, 'needs the previous test');
    const wait = expiring.notAfter.getTime() + 1_100 - Date.now();
    if (wait > 0) await sleep(wait);
    // The first full CRL with thisUpdate after notAfter: the stored one if something published it
    // already, else the one a new revocation makes the server publish.
    let crl = (await fetchCrl(fullUrl())).crl;
    if (crl.thisUpdate <= expiring.notAfter) {
      const { leaf: trigger } = await newLeaf();
      await revoke(trigger, 4);
      crl = (await waitForCrl(fullUrl(), (c) => c.entries.has(trigger.serial), PUBLISH_BOUND_MS)).crl;
    }
    firstAfterExpiry = crl;
    assert.ok(crl.thisUpdate > expiring.notAfter, `this CRL (thisUpdate ${crl.thisUpdate.toISOString()}) was issued after notAfter ${expiring.notAfter.toISOString()}`);
    assert.ok(crl.entries.has(expiring.serial), `the first CRL issued after the certificate expired (number ${crl.number}) must still list serial ${expiring.serial}`);
  });

  test('CRLs after that one no longer list the expired certificate', async () => {
    assert.ok(expiring, 'needs the first test');
    const { leaf: trigger } = await newLeaf();
    await revoke(trigger, 4);
    const { crl } = await waitForCrl(fullUrl(), (c) => c.entries.has(trigger.serial), PUBLISH_BOUND_MS);
    if (firstAfterExpiry) assert.ok(crl.number! > firstAfterExpiry.number!, 'a later CRL');
    assert.ok(!crl.entries.has(expiring.serial), `expired serial ${expiring.serial} is gone from CRL ${crl.number}`);
  });
});

