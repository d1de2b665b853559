/**
 * The contract every Store backend must pass. A backend's test file calls
 * `describeStoreContract(name, open)` with a factory for a fresh, empty store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import { ConflictError } from '../../src/store/errors.js';
import type { Store } from '../../src/store/store.js';
import { FULL_CRL, type AccountRecord, type NewCertificate, type OrderRecord } from '../../src/store/types.js';

const HOUR = 3_600_000;

let counter = 0;
function newKey() {
  counter++;
  return { jwk: { kty: 'EC', crv: 'P-256', x: `x${counter}`, y: `y${counter}` }, thumbprint: `tp-${counter}-${randomBytes(4).toString('hex')}` };
}

export function describeStoreContract(name: string, open: () => Promise<{ store: Store; auditKey: Uint8Array; dispose(): Promise<void> }>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let auditKey: Uint8Array;
    let dispose: () => Promise<void>;

    before(async () => {
      ({ store, auditKey, dispose } = await open());
    });

    it('audit records chain under the store\'s audit key: the chain verifies with that key and fails at the first record with another', async () => {
      const before = (await verifyAuditChain(store, auditKey)).records;
      for (const action of ['test.one', 'test.two', 'test.three']) await store.appendAudit({ actor: 'contract', action, subject: 's', data: { n: 1 } });
      const good = await verifyAuditChain(store, auditKey);
      assert.equal(good.ok, true, JSON.stringify(good));
      assert.equal(good.records, before + 3);
      const forged = await verifyAuditChain(store, new Uint8Array(randomBytes(32)));
      assert.equal(forged.ok, false);
      assert.equal(forged.problem?.seq, 1);
      const tail = await store.readAudit(before, 10);
      assert.deepEqual(tail.map((r) => r.action), ['test.one', 'test.two', 'test.three']);
    });
    after(async () => {
      await dispose();
    });

    async function account(): Promise<AccountRecord> {
      const k = newKey();
      return store.createAccount({ ...k, contact: ['mailto:a@x.test'], termsOfServiceAgreed: true });
    }

    async function order(accountId: string, values = ['a.test'], status: 'pending' | 'valid' = 'pending'): Promise<OrderRecord> {
      return store.createOrder({
        accountId,
        identifiers: values.map((value) => ({ type: 'dns', value })),
        profile: 'default',
        notBefore: null,
        notAfter: null,
        expiresAt: new Date(Date.now() + HOUR),
        replaces: null,
        reusedAuthzIds: [],
        newAuthzs: values.map((value) => ({
          identifier: { type: 'dns', value },
          wildcard: false,
          status,
          expiresAt: new Date(Date.now() + HOUR),
          challenges: [{ type: 'http-01', token: randomBytes(8).toString('hex') }],
        })),
      });
    }

    function certificate(o: OrderRecord, serial = randomBytes(16).toString('hex')): NewCertificate {
      return {
        serial,
        issuerId: 'int-test',
        accountId: o.accountId,
        orderId: o.id,
        profile: 'default',
        profileHash: 'abc',
        identifiers: o.identifiers,
        notBefore: new Date(),
        notAfter: new Date(Date.now() + HOUR),
        renewalStart: new Date(Date.now() + HOUR / 2),
        renewalEnd: new Date(Date.now() + (HOUR * 3) / 4),
        der: new Uint8Array([1, 2, 3]),
        chainPem: 'chain',
        spkiSha256: randomBytes(32).toString('hex'),
        crlShard: 3,
      };
    }

    it('creates an account and finds it by id and by key thumbprint', async () => {
      const a = await account();
      assert.equal(a.status, 'valid');
      assert.deepEqual((await store.getAccount(a.id))?.contact, ['mailto:a@x.test']);
      assert.equal((await store.findAccountByThumbprint(a.thumbprint))?.id, a.id);
      assert.equal(await store.getAccount('nope'), null);
    });

    it('refuses a second account with the same key with a ConflictError naming the first', async () => {
      const k = newKey();
      const first = await store.createAccount({ ...k, contact: [], termsOfServiceAgreed: false });
      await assert.rejects(
        store.createAccount({ ...k, contact: [], termsOfServiceAgreed: false }),
        (e: unknown) => e instanceof ConflictError && e.existingId === first.id,
      );
    });

    it('updates contacts and deactivates an account, after which updates are refused', async () => {
      const a = await account();
      assert.deepEqual((await store.updateAccountContact(a.id, ['mailto:b@x.test']))?.contact, ['mailto:b@x.test']);
      assert.equal((await store.deactivateAccount(a.id))?.status, 'deactivated');
      assert.equal(await store.deactivateAccount(a.id), null);
      assert.equal(await store.updateAccountContact(a.id, []), null);
    });

    it('deactivating an account deactivates its pending authorizations', async () => {
      const a = await account();
      const o = await order(a.id);
      await store.deactivateAccount(a.id);
      assert.equal((await store.getAuthz(o.authorizations[0]!.id))?.status, 'deactivated');
    });

    it('changes an account key only from the current key, and refuses a key another account holds', async () => {
      const a = await account();
      const b = await account();
      const k = newKey();
      assert.equal(await store.changeAccountKey(a.id, 'wrong-old', k.jwk, k.thumbprint), null);
      const changed = await store.changeAccountKey(a.id, a.thumbprint, k.jwk, k.thumbprint);
      assert.equal(changed?.thumbprint, k.thumbprint);
      assert.equal(await store.findAccountByThumbprint(a.thumbprint), null);
      await assert.rejects(store.changeAccountKey(b.id, b.thumbprint, k.jwk, k.thumbprint), (e: unknown) => e instanceof ConflictError && e.existingId === a.id);
    });

    it('creates an order with its authorizations and challenges in order', async () => {
      const a = await account();
      const o = await order(a.id, ['a.test', 'b.test']);
      assert.equal(o.status, 'pending');
      assert.deepEqual(o.identifiers.map((i) => i.value), ['a.test', 'b.test']);
      assert.equal(o.authorizations.length, 2);
      const authz = await store.getAuthz(o.authorizations[1]!.id);
      assert.equal(authz?.identifier.value, 'b.test');
      assert.equal(authz?.challenges.length, 1);
      assert.equal(authz?.challenges[0]?.status, 'pending');
    });

    it('moves a challenge to processing once, and records the validation with the authorization', async () => {
      const a = await account();
      const o = await order(a.id);
      const authz = (await store.getAuthz(o.authorizations[0]!.id))!;
      const ch = authz.challenges[0]!;
      assert.equal(await store.startChallenge(ch.id, new Date()), true);
      assert.equal(await store.startChallenge(ch.id, new Date()), false);
      assert.deepEqual(await store.listProcessingChallenges().then((l) => l.includes(ch.id)), true);
      const expires = new Date(Date.now() + 5 * HOUR);
      assert.equal(await store.recordValidation(ch.id, { status: 'valid', error: null, validationRecord: [{ url: 'u' }], authzExpiresAt: expires }), true);
      assert.equal(await store.recordValidation(ch.id, { status: 'invalid', error: null, validationRecord: [], authzExpiresAt: expires }), false);
      const after = (await store.getAuthz(authz.id))!;
      assert.equal(after.status, 'valid');
      assert.equal(after.expiresAt.getTime(), expires.getTime());
      assert.equal(after.challenges[0]?.status, 'valid');
      assert.deepEqual(after.challenges[0]?.validationRecord, [{ url: 'u' }]);
    });

    it('does not start a challenge of an expired authorization', async () => {
      const a = await account();
      const o = await order(a.id);
      const authz = (await store.getAuthz(o.authorizations[0]!.id))!;
      assert.equal(await store.startChallenge(authz.challenges[0]!.id, new Date(Date.now() + 2 * HOUR)), false);
    });

    it('finds reusable valid authorizations and authorized identifiers', async () => {
      const a = await account();
      await order(a.id, ['reuse.test'], 'valid');
      const found = await store.findReusableAuthzs(a.id, [{ identifier: { type: 'dns', value: 'reuse.test' }, wildcard: false }], new Date(Date.now() - HOUR), new Date());
      assert.equal(found.length, 1);
      const none = await store.findReusableAuthzs(a.id, [{ identifier: { type: 'dns', value: 'reuse.test' }, wildcard: true }], new Date(Date.now() - HOUR), new Date());
      assert.equal(none.length, 0);
      const held = await store.findAuthorizedIdentifiers(a.id, [{ type: 'dns', value: 'reuse.test' }, { type: 'dns', value: 'other.test' }], new Date());
      assert.deepEqual(held, [{ type: 'dns', value: 'reuse.test' }]);
    });

    it('deactivates a pending or valid authorization once', async () => {
      const a = await account();
      const o = await order(a.id);
      const id = o.authorizations[0]!.id;
      assert.equal((await store.deactivateAuthz(id))?.status, 'deactivated');
      assert.equal(await store.deactivateAuthz(id), null);
    });

    it('finalizes once: reserves the serial, records the certificate and the valid order together', async () => {
      const a = await account();
      const o = await order(a.id, ['fin.test'], 'valid');
      const cert = certificate(o);
      assert.equal(await store.beginFinalize(o.id, new Uint8Array([9]), cert.serial, cert.issuerId), true);
      assert.equal(await store.beginFinalize(o.id, new Uint8Array([9]), 'ff', cert.issuerId), false);
      assert.deepEqual((await store.listProcessingOrders()).find((p) => p.id === o.id)?.csr, new Uint8Array([9]));
      const rec = await store.completeFinalize(o.id, cert);
      const after = (await store.getOrder(o.id))!;
      assert.equal(after.status, 'valid');
      assert.equal(after.certificateId, rec.id);
      assert.equal((await store.findCertificateBySerial(cert.serial))?.id, rec.id);
      assert.deepEqual((await store.getCertificate(rec.id))?.der, new Uint8Array([1, 2, 3]));
      await assert.rejects(store.completeFinalize(o.id, certificate(o)));
    });

    it('refuses to reserve a serial that is already taken', async () => {
      const a = await account();
      const o1 = await order(a.id, ['s1.test'], 'valid');
      const o2 = await order(a.id, ['s2.test'], 'valid');
      assert.equal(await store.beginFinalize(o1.id, new Uint8Array([1]), 'aabb', 'int'), true);
      await assert.rejects(store.beginFinalize(o2.id, new Uint8Array([1]), 'aabb', 'int'));
      assert.equal((await store.getOrder(o2.id))?.status, 'pending', 'the failed reservation left the order untouched');
    });

    it('refuses to reserve the serial of an issued certificate, whose reservation may be released', async () => {
      const a = await account();
      const o1 = await order(a.id, ['s3.test'], 'valid');
      const o2 = await order(a.id, ['s4.test'], 'valid');
      const cert = certificate(o1);
      assert.equal(await store.beginFinalize(o1.id, new Uint8Array([1]), cert.serial, cert.issuerId), true);
      await store.completeFinalize(o1.id, cert);
      await assert.rejects(store.beginFinalize(o2.id, new Uint8Array([1]), cert.serial, cert.issuerId));
      assert.equal((await store.getOrder(o2.id))?.status, 'pending', 'the refused reservation left the order untouched');
    });

    it('reads back every certificate of a chain byte for byte, the later ones stored against the first as dictionary', async () => {
      // Leaf-like bytes: a common body (as leaves of one issuer share) with per-certificate parts,
      // and bytes that begin with the stored forms' tags.
      const common = randomBytes(400);
      const leaf = () => new Uint8Array(Buffer.concat([Buffer.from([0x30, 0x82]), common.subarray(0, 200), randomBytes(40), common.subarray(200), randomBytes(24)]));
      const ders = [leaf(), leaf(), leaf(), new Uint8Array([0, 1, 2]), new Uint8Array([1]), new Uint8Array(0), leaf()];
      const chainPem = `chain-${randomBytes(4).toString('hex')}`;
      const a = await account();
      const ids: string[] = [];
      for (const [i, der] of ders.entries()) {
        const o = await order(a.id, [`dict${i}.test`], 'valid');
        const cert = { ...certificate(o), der, chainPem };
        assert.equal(await store.beginFinalize(o.id, new Uint8Array([1]), cert.serial, cert.issuerId), true);
        const rec = await store.completeFinalize(o.id, cert);
        assert.deepEqual(rec.der, der, 'the record returned at issuance');
        ids.push(rec.id);
      }
      for (const [i, id] of ids.entries()) assert.deepEqual((await store.getCertificate(id))?.der, ders[i], `certificate ${i} read back`);
    });

    it('answers every stored OCSP response of an issuer byte for byte: first answers, refreshes and revoked answers', async () => {
      const issuerId = `ocsp-dict-${randomBytes(4).toString('hex')}`;
      const common = randomBytes(500);
      const answer = () => new Uint8Array(Buffer.concat([Buffer.from([0x30, 0x82]), common.subarray(0, 250), randomBytes(30), common.subarray(250)]));
      const signed = (der: Uint8Array) => ({ der, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + HOUR), refreshAt: null });
      const a = await account();
      const issued = [];
      for (const [i, first] of [answer(), answer(), new Uint8Array([0, 9]), answer()].entries()) {
        const o = await order(a.id, [`ocspdict${i}.test`], 'valid');
        const cert = { ...certificate(o), issuerId, ocsp: signed(first) };
        await store.beginFinalize(o.id, new Uint8Array([1]), cert.serial, issuerId);
        issued.push({ rec: await store.completeFinalize(o.id, cert), der: first });
      }
      for (const { rec, der } of issued) assert.deepEqual((await store.getCertificateStatus(issuerId, rec.serial))?.ocsp?.der, der, 'first answer');
      const refreshed = answer();
      assert.equal(await store.saveOcspResponse(issued[1]!.rec.id, signed(refreshed), false), true);
      assert.deepEqual((await store.getCertificateStatus(issuerId, issued[1]!.rec.serial))?.ocsp?.der, refreshed, 'refreshed answer');
      const revokedAnswer = answer();
      const revocation = { reason: 1, at: new Date(), invalidityDate: null, ocsp: signed(revokedAnswer), blockKey: false, actor: 'test', crlEntry: new Uint8Array(8) };
      assert.equal(await store.revokeCertificate(issued[2]!.rec.id, revocation), true);
      const status = await store.getCertificateStatus(issuerId, issued[2]!.rec.serial);
      assert.deepEqual(status?.ocsp?.der, revokedAnswer, 'revoked answer');
      assert.equal(status?.ocsp?.revoked, true);
    });

    it('returns an interrupted finalization to pending or invalid', async () => {
      const a = await account();
      const o = await order(a.id, ['abort.test'], 'valid');
      await store.beginFinalize(o.id, new Uint8Array([1]), randomBytes(16).toString('hex'), 'int');
      await store.abortFinalize(o.id, { status: 'pending' });
      assert.equal((await store.getOrder(o.id))?.status, 'pending');
      await store.beginFinalize(o.id, new Uint8Array([1]), randomBytes(16).toString('hex'), 'int');
      await store.abortFinalize(o.id, { status: 'invalid', error: { type: 'urn:ietf:params:acme:error:badCSR', detail: 'x', status: 400 } });
      const after = (await store.getOrder(o.id))!;
      assert.equal(after.status, 'invalid');
      assert.equal(after.error?.detail, 'x');
    });

    it('revokes a certificate once and lists it for the CRL with the entry stored at revocation', async () => {
      const a = await account();
      const o = await order(a.id, ['rev.test'], 'valid');
      const cert = certificate(o);
      await store.beginFinalize(o.id, new Uint8Array([1]), cert.serial, cert.issuerId);
      const rec = await store.completeFinalize(o.id, cert);
      const at = new Date();
      const crlEntry = new Uint8Array(randomBytes(24));
      const revocation = { reason: 1, at, invalidityDate: null, ocsp: null, blockKey: false, actor: 'test', crlEntry };
      assert.equal(await store.isRevoked(rec.issuerId, rec.serial), false);
      assert.equal(await store.revokeCertificate(rec.id, revocation), true);
      assert.equal(await store.isRevoked(rec.issuerId, rec.serial), true);
      assert.equal(await store.isRevoked('another-issuer', rec.serial), null, 'a serial is looked up under its own issuer only');
      assert.equal(await store.revokeCertificate(rec.id, { ...revocation, reason: 4 }), false);
      const after = (await store.getCertificate(rec.id))!;
      assert.equal(after.revocationReason, 1);
      assert.equal(after.revokedAt?.getTime(), Math.floor(at.getTime()));
      for (const shard of [rec.crlShard, FULL_CRL]) {
        const listed = await store.crlEntries(rec.issuerId, shard, new Date(0));
        assert.ok(Buffer.from(listed.der).includes(Buffer.from(crlEntry)), `shard ${shard} carries the entry stored at revocation`);
      }
      const expiredOnly = await store.crlEntries(rec.issuerId, rec.crlShard, new Date(rec.notAfter.getTime() + 1));
      assert.ok(!Buffer.from(expiredOnly.der).includes(Buffer.from(crlEntry)), 'not once the certificate expired before the cut-off');
      assert.deepEqual(await store.listRevokedWithoutCrlEntry(10), [], 'every revocation has its entry');
    });

    it('pages through an account\'s orders in creation order', async () => {
      const a = await account();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await order(a.id, [`p${i}.test`])).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let guard = 0; guard < 10; guard++) {
        const page = await store.listAccountOrders(a.id, 2, cursor);
        seen.push(...page.ids);
        if (!page.next) break;
        cursor = page.next;
      }
      assert.deepEqual(new Set(seen), new Set(ids));
      assert.equal(seen.length, 5);
    });

    it('leaves invalid orders out of the account\'s orders list', async () => {
      const a = await account();
      const kept = await order(a.id, ['kept.test']);
      const dropped = await order(a.id, ['dropped.test']);
      await store.deactivateAuthz(dropped.authorizations[0]!.id);
      const page = await store.listAccountOrders(a.id, 10);
      assert.deepEqual(page.ids, [kept.id]);
    });

    it('answers ping while open', async () => {
      await store.ping();
    });
  });
}
