/**
 * The flat-cost part of the store contract: what the store records at write time so that scans
 * stay bounded (renewal links, counters, OCSP due work, one chain per issuer) and the bounded
 * maintenance batches (retention, purges). Every backend's test file calls it beside
 * `describeStoreContract`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.js';
import type { AccountRecord, NewCertificate, OrderRecord, SignedOcspResponse } from '../../src/store/types.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

export function describeFleetContract(name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>): void {
  describe(`Store contract (flat cost): ${name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    before(async () => {
      ({ store, dispose } = await open());
    });
    after(async () => dispose());

    let n = 0;
    const unique = (label: string) => `${label}-${++n}-${randomBytes(3).toString('hex')}.fleet.test`;

    async function account(): Promise<AccountRecord> {
      const tp = `fleet-${randomBytes(8).toString('hex')}`;
      return store.createAccount({ jwk: { kty: 'EC', x: tp }, thumbprint: tp, contact: [], termsOfServiceAgreed: true, createdFromIp: '192.0.2.7' });
    }

    async function order(accountId: string, names: string[], o: { expiresAt?: Date; replaces?: { certificateId: string; certId: string } } = {}): Promise<OrderRecord> {
      return store.createOrder({
        accountId,
        identifiers: names.map((value) => ({ type: 'dns', value })),
        profile: 'default',
        notBefore: null,
        notAfter: null,
        expiresAt: o.expiresAt ?? new Date(Date.now() + HOUR),
        replaces: o.replaces ?? null,
        reusedAuthzIds: [],
        newAuthzs: names.map((value) => ({
          identifier: { type: 'dns', value },
          wildcard: false,
          status: 'pending' as const,
          expiresAt: o.expiresAt ?? new Date(Date.now() + HOUR),
          challenges: [
            { type: 'http-01', token: randomBytes(8).toString('hex') },
            { type: 'dns-01', token: randomBytes(8).toString('hex') },
          ],
        })),
      });
    }

    /** Issues a certificate for the names through the finalize path; timing relative to now. */
    async function issue(a: AccountRecord, names: string[], t: { notBefore?: number; notAfter?: number; renewalStart?: number; replaces?: string; issuerId?: string; chainPem?: string; ocsp?: SignedOcspResponse } = {}) {
      const o = await order(a.id, names, t.replaces ? { replaces: { certificateId: t.replaces, certId: 'x.y' } } : {});
      const now = Date.now();
      const cert: NewCertificate = {
        serial: randomBytes(16).toString('hex'),
        issuerId: t.issuerId ?? 'int-fleet',
        accountId: a.id,
        orderId: o.id,
        profile: 'default',
        profileHash: 'abc',
        identifiers: o.identifiers,
        notBefore: new Date(now + (t.notBefore ?? -MINUTE)),
        notAfter: new Date(now + (t.notAfter ?? HOUR)),
        renewalStart: new Date(now + (t.renewalStart ?? HOUR / 2)),
        renewalEnd: new Date(now + (t.renewalStart ?? HOUR / 2) + MINUTE),
        der: new Uint8Array(randomBytes(40)),
        chainPem: t.chainPem ?? '-----BEGIN CERTIFICATE-----\nfleet\n-----END CERTIFICATE-----\n',
        spkiSha256: randomBytes(32).toString('hex'),
        crlShard: 1,
        ...(t.ocsp ? { ocsp: t.ocsp } : {}),
      };
      assert.equal(await store.beginFinalize(o.id, new Uint8Array([7]), cert.serial, cert.issuerId), true);
      return store.completeFinalize(o.id, cert);
    }

    it('a later certificate for one of its names renews a certificate: only unrenewed, unrevoked ones are missed renewals', async () => {
      const a = await account();
      const [renewedName, aloneName] = [unique('renewed'), unique('alone')];
      const renewed = await issue(a, [renewedName, unique('other')], { notAfter: 10 * MINUTE });
      const alone = await issue(a, [aloneName], { notAfter: 20 * MINUTE });
      await issue(a, [renewedName], { notAfter: 5 * HOUR });
      const missed = await store.findExpiredWithoutSuccessor(new Date(), new Date(Date.now() + HOUR), 100);
      const ids = missed.map((c) => c.id);
      assert.ok(ids.includes(alone.id), 'the certificate nobody renewed is missed');
      assert.ok(!ids.includes(renewed.id), 'a certificate renewed by name (one of its names) is not');
    });

    it('a renewal issued long before its predecessor’s ARI window is early; one inside the window, or of a revoked predecessor, is not', async () => {
      const a = await account();
      const [earlyName, onTimeName, revokedName] = [unique('early'), unique('ontime'), unique('revoked')];
      const first = await issue(a, [earlyName], { notBefore: -HOUR, renewalStart: 10 * HOUR, notAfter: 12 * HOUR });
      const early = await issue(a, [earlyName], { replaces: first.id });
      const due = await issue(a, [onTimeName], { notBefore: -2 * HOUR, renewalStart: -MINUTE, notAfter: HOUR });
      const onTime = await issue(a, [onTimeName]);
      const gone = await issue(a, [revokedName], { notBefore: -HOUR, renewalStart: 10 * HOUR, notAfter: 12 * HOUR });
      await store.revokeCertificate(gone.id, { reason: 1, at: new Date(), invalidityDate: null, ocsp: null, blockKey: false, actor: 'test', crlEntry: new Uint8Array([0x30, 0]) });
      const afterRevoked = await issue(a, [revokedName]);
      const pairs = await store.findEarlyRenewals(new Date(Date.now() - MINUTE), 0.5, 100);
      const bySuccessor = new Map(pairs.map((p) => [p.successor.id, p.previous.id]));
      assert.equal(bySuccessor.get(early.id), first.id, 'the early renewal names its predecessor');
      assert.ok(!bySuccessor.has(onTime.id), `a renewal inside the window of ${due.id} is not early`);
      assert.ok(!bySuccessor.has(afterRevoked.id), 'renewing a revoked certificate early is expected');
    });

    it('issuance counts per account come from counters: keys under the minimum are left out, given keys are counted', async () => {
      const [busy, quiet] = [await account(), await account()];
      for (let i = 0; i < 3; i++) await issue(busy, [unique('busy')]);
      await issue(quiet, [unique('quiet')]);
      const from = new Date(Date.now() - 10 * MINUTE);
      const to = new Date(Date.now() + MINUTE);
      const atLeast3 = await store.issuanceCounts('account', from, to, { minimum: 3 });
      assert.deepEqual(atLeast3.filter((r) => r.key === busy.id || r.key === quiet.id), [{ key: busy.id, count: 3 }]);
      const given = await store.issuanceCounts('account', from, to, { keys: [quiet.id] });
      assert.deepEqual(given, [{ key: quiet.id, count: 1 }]);
    });

    it('rate-limit windows count the orders, failed validations and accounts of the window, and the oldest names when a slot frees', async () => {
      const a = await account();
      const o = await order(a.id, [unique('rl')]);
      await order(a.id, [unique('rl')]);
      const window = await store.countOrders({ accountId: a.id }, new Date(Date.now() - 60_000));
      assert.equal(window.count, 2);
      assert.ok(window.oldest && window.oldest.getTime() <= Date.now(), 'the oldest counted event is in the past');
      assert.equal((await store.countOrders({ accountId: a.id }, new Date(Date.now() + 5_000))).count, 0, 'a window starting later counts nothing');
      const ch = o.authorizations[0]!;
      const authz = (await store.getAuthz(ch.id))!;
      await store.startChallenge(authz.challenges[0]!.id, new Date());
      await store.recordValidation(authz.challenges[0]!.id, { status: 'invalid', error: { type: 'urn:ietf:params:acme:error:connection', detail: 'x', status: 400 }, validationRecord: [], authzExpiresAt: new Date() });
      assert.equal((await store.countFailedValidations(a.id, new Date(Date.now() - 60_000))).count, 1);
      assert.ok((await store.countAccountsFromIp('192.0.2.7', new Date(Date.now() - 60_000))).count >= 1);
    });

    it('work in progress is claimed by its process: only a lapsed claim is taken over, by one caller', async () => {
      const a = await account();
      const o = await order(a.id, [unique('claim')]);
      const ch = (await store.getAuthz(o.authorizations[0]!.id))!.challenges[0]!;
      await store.startChallenge(ch.id, new Date());
      assert.ok(!(await store.claimStaleChallenges(new Date(), 60_000, 1000)).includes(ch.id), 'a running validation is not taken over');
      assert.ok((await store.claimStaleChallenges(new Date(Date.now() + 10 * 60_000), 60_000, 1000)).includes(ch.id), 'a lapsed claim is');
      assert.ok(!(await store.claimStaleChallenges(new Date(Date.now() + 30_000), 60_000, 1000)).includes(ch.id), 'and only by one caller');
      await store.renewChallengeClaims([ch.id], new Date(Date.now() + 60 * 60_000));
      assert.ok(!(await store.claimStaleChallenges(new Date(Date.now() + 30 * 60_000), 60_000, 1000)).includes(ch.id), 'a renewed claim holds until its new end');
      assert.ok((await store.claimStaleChallenges(new Date(Date.now() + 2 * 60 * 60_000), 60_000, 1000)).includes(ch.id), 'and lapses after it');
      const o2 = await order(a.id, [unique('claim')]);
      await store.beginFinalize(o2.id, new Uint8Array([5]), randomBytes(16).toString('hex'), 'int-fleet');
      assert.ok(!(await store.claimStaleOrders(new Date(), 60_000, 1000)).some((p) => p.id === o2.id));
      const taken = await store.claimStaleOrders(new Date(Date.now() + 10 * 60_000), 60_000, 1000);
      assert.deepEqual(taken.find((p) => p.id === o2.id)?.csr, new Uint8Array([5]));
    });

    it('a final authorization keeps only the challenge that was used (RFC 8555 §7.1.4)', async () => {
      const a = await account();
      const o = await order(a.id, [unique('used')]);
      const authz = (await store.getAuthz(o.authorizations[0]!.id))!;
      assert.equal(authz.challenges.length, 2);
      const used = authz.challenges[1]!;
      await store.startChallenge(used.id, new Date());
      await store.recordValidation(used.id, { status: 'valid', error: null, validationRecord: [], authzExpiresAt: new Date(Date.now() + HOUR) });
      const final = (await store.getAuthz(authz.id))!;
      assert.deepEqual(final.challenges.map((c) => [c.id, c.status]), [[used.id, 'valid']]);
    });

    it('counts unrevoked certificates expiring in a window exactly, across hour boundaries', async () => {
      const a = await account();
      const issuerId = `int-exp-${randomBytes(3).toString('hex')}`;
      const from = new Date();
      const before = await store.countExpiringCertificates(from, new Date(from.getTime() + 24 * HOUR));
      for (const offset of [20 * MINUTE, 90 * MINUTE, 5 * HOUR, 23 * HOUR]) await issue(a, [unique('exp')], { notAfter: offset, issuerId });
      await issue(a, [unique('late')], { notAfter: 30 * HOUR, issuerId });
      const revoked = await issue(a, [unique('rev')], { notAfter: 2 * HOUR, issuerId });
      await store.revokeCertificate(revoked.id, { reason: 1, at: new Date(), invalidityDate: null, ocsp: null, blockKey: false, actor: 'test', crlEntry: new Uint8Array([0x30, 0]) });
      const within = await store.countExpiringCertificates(from, new Date(from.getTime() + 24 * HOUR));
      assert.equal(within - before, 4, 'four unrevoked certificates expire within 24 h; the later and the revoked one do not count');
      const stats = await store.issuerCertificateStats(issuerId, new Date());
      assert.equal(stats.unexpired, 6, 'the issuer has six unexpired certificates, revoked ones included');
      assert.equal(stats.lastNotAfter && Math.round((stats.lastNotAfter.getTime() - from.getTime()) / HOUR), 30);
    });

    it('certificates of one issuer share one stored chain and each reads it back', async () => {
      const a = await account();
      const chainPem = `-----BEGIN CERTIFICATE-----\n${randomBytes(30).toString('base64')}\n-----END CERTIFICATE-----\n`;
      const one = await issue(a, [unique('chain')], { chainPem });
      const two = await issue(a, [unique('chain')], { chainPem });
      assert.equal((await store.getCertificate(one.id))?.chainPem, chainPem);
      assert.equal((await store.findCertificateBySerial(two.serial))?.chainPem, chainPem);
    });

    it('OCSP work: a new certificate is due until its answer is saved; an answer is due again at its refresh time, never if it lasts the certificate’s life', async () => {
      const a = await account();
      const cert = await issue(a, [unique('ocsp')], { notAfter: 2 * HOUR });
      const due = async (at: Date) => (await store.listOcspDue(at, 10_000)).some((c) => c.id === cert.id);
      assert.equal(await due(new Date()), true, 'due before its first answer');
      const now = new Date();
      await store.saveOcspResponse(cert.id, { der: new Uint8Array([1]), thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR), refreshAt: new Date(now.getTime() + HOUR / 2) }, false);
      assert.equal(await due(new Date()), false, 'not due once answered');
      assert.equal(await due(new Date(now.getTime() + HOUR / 2 + 1)), true, 'due at its refresh time');
      await store.saveOcspResponse(cert.id, { der: new Uint8Array([2]), thisUpdate: now, nextUpdate: new Date(now.getTime() + 3 * HOUR), refreshAt: null }, false);
      assert.equal(await due(new Date(now.getTime() + 10 * HOUR)), false, 'an answer lasting the certificate’s life is never due');
    });

    it('a certificate recorded with its first OCSP answer serves that answer at once and is never queued for the refresher', async () => {
      const a = await account();
      const now = new Date(Math.floor(Date.now() / 1000) * 1000);
      const answer: SignedOcspResponse = { der: new Uint8Array(randomBytes(60)), thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR), refreshAt: new Date(now.getTime() + HOUR / 2) };
      const cert = await issue(a, [unique('first-ocsp')], { notAfter: 2 * HOUR, ocsp: answer });
      const status = await store.getCertificateStatus(cert.issuerId, cert.serial);
      assert.deepEqual(status?.ocsp && Buffer.from(status.ocsp.der), Buffer.from(answer.der), 'the stored answer is the one recorded with the certificate');
      assert.equal(status?.ocsp?.revoked, false);
      assert.equal(status?.ocsp?.nextUpdate.getTime(), answer.nextUpdate.getTime());
      const due = async (at: Date) => (await store.listOcspDue(at, 10_000)).some((c) => c.id === cert.id);
      assert.equal(await due(new Date()), false, 'not queued: it already has its answer');
      assert.equal(await due(new Date(now.getTime() + HOUR / 2 + 1)), true, 'due at its refresh time like any answer');
    });

    it('retention purges expired orders without a certificate and unlinked authorizations with their challenges; an order that led to a certificate stays', async () => {
      const a = await account();
      const stale = await order(a.id, [unique('stale')], { expiresAt: new Date(Date.now() - 2 * HOUR) });
      const kept = await issue(a, [unique('kept')]);
      const cutoff = new Date(Date.now() + 3 * HOUR);
      for (let i = 0; i < 1000 && (await store.purgeExpired(cutoff, 50)) > 0; i++);
      assert.equal(await store.getOrder(stale.id), null, 'the expired order is gone');
      assert.equal(await store.getAuthz(stale.authorizations[0]!.id), null, 'its authorization is gone');
      assert.equal((await store.getOrder(kept.orderId))?.certificateId, kept.id, 'the order of an issued certificate stays');
      assert.equal((await store.getCertificate(kept.id))?.id, kept.id);
    });

    it('certificate retention purges expired certificates, but a revoked one only once it has left the CRLs, and keeps their serials from reuse', async () => {
      const a = await account();
      const expired = await issue(a, [unique('old')], { notBefore: -3 * HOUR, notAfter: -2 * HOUR, renewalStart: -2.5 * HOUR });
      const revoked = await issue(a, [unique('oldrev')], { notBefore: -3 * HOUR, notAfter: -2 * HOUR, renewalStart: -2.5 * HOUR });
      await store.revokeCertificate(revoked.id, { reason: 1, at: new Date(), invalidityDate: null, ocsp: null, blockKey: false, actor: 'test', crlEntry: new Uint8Array([0x30, 0]) });
      const live = await issue(a, [unique('live')]);
      for (let i = 0; i < 1000 && (await store.purgeCertificates(new Date(Date.now() - HOUR), new Date(Date.now() - 5 * HOUR), 50)) > 0; i++);
      assert.equal(await store.getCertificate(expired.id), null, 'the expired certificate is purged');
      const reuse = await order(a.id, [unique('reuse')]);
      await assert.rejects(store.beginFinalize(reuse.id, new Uint8Array([7]), expired.serial, expired.issuerId), 'a purged certificate\'s serial is never used again');
      assert.equal((await store.getOrder(reuse.id))?.status, 'pending');
      assert.equal((await store.getCertificate(revoked.id))?.id, revoked.id, 'the revoked one may still be on a CRL');
      assert.equal((await store.getCertificate(live.id))?.id, live.id);
      for (let i = 0; i < 1000 && (await store.purgeCertificates(new Date(Date.now() - HOUR), new Date(Date.now() - HOUR), 50)) > 0; i++);
      assert.equal(await store.getCertificate(revoked.id), null, 'purged once past the CRL horizon');
    });
  });
}
