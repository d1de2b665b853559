/**
 * The contract of the dashboard's store part (DashboardStore) every backend must pass: counters
 * kept at write time agree with what was written, successors are found, pages follow each other.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.js';
import type { NewCertificate, OrderRecord } from '../../src/store/types.js';

const HOUR = 3_600_000;
let counter = 0;

export function describeDashboardContract(name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>): void {
  describe(`DashboardStore contract: ${name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    let accountId = '';
    before(async () => {
      ({ store, dispose } = await open());
      counter++;
      accountId = (await store.createAccount({ jwk: { kty: 'EC', x: `dash${counter}` }, thumbprint: `dash-${counter}-${randomBytes(4).toString('hex')}`, contact: [], termsOfServiceAgreed: true })).id;
    });
    after(() => dispose());

    async function issue(names: string[], o: { profile?: string; issuer?: string; lifetimeMs?: number } = {}) {
      const order: OrderRecord = await store.createOrder({
        accountId,
        identifiers: names.map((value) => ({ type: 'dns', value })),
        profile: o.profile ?? 'default',
        notBefore: null,
        notAfter: null,
        expiresAt: new Date(Date.now() + HOUR),
        replaces: null,
        reusedAuthzIds: [],
        newAuthzs: [],
      });
      const serial = randomBytes(16).toString('hex');
      const issuerId = o.issuer ?? 'int-a';
      assert.equal(await store.beginFinalize(order.id, new Uint8Array([1]), serial, issuerId), true);
      const now = Date.now();
      const cert: NewCertificate = {
        serial,
        issuerId,
        accountId,
        orderId: order.id,
        profile: o.profile ?? 'default',
        profileHash: 'h',
        identifiers: order.identifiers,
        notBefore: new Date(now),
        notAfter: new Date(now + (o.lifetimeMs ?? 6 * HOUR)),
        renewalStart: new Date(now + HOUR),
        renewalEnd: new Date(now + 2 * HOUR),
        der: new Uint8Array([1]),
        chainPem: 'chain',
        spkiSha256: randomBytes(32).toString('hex'),
        crlShard: 0,
      };
      return store.completeFinalize(order.id, cert);
    }

    it('counts issuance per hour, live certificates per profile and issuer, and expiring ones with and without a successor', async () => {
      const now = new Date();
      const before = await store.hourlyActivity(new Date(now.getTime() - HOUR), new Date(now.getTime() + HOUR));
      const issuedBefore = before.reduce((n, h) => n + h.issued, 0);
      const a1 = await issue(['one.dash.test'], { profile: 'mtls', issuer: 'int-b' });
      await issue(['two.dash.test'], { profile: 'mtls', issuer: 'int-b' });
      const renewed = await issue(['one.dash.test', 'three.dash.test'], { profile: 'mtls', issuer: 'int-b', lifetimeMs: 48 * HOUR });
      const activity = await store.hourlyActivity(new Date(now.getTime() - HOUR), new Date(Date.now() + HOUR));
      assert.equal(activity.reduce((n, h) => n + h.issued, 0), issuedBefore + 3);
      const live = await store.liveCertificateCounts(new Date());
      assert.equal(live.find((c) => c.profile === 'mtls' && c.issuerId === 'int-b')?.live, 3);
      const expiring = await store.expiringSummary(new Date(), new Date(Date.now() + 24 * HOUR));
      // a1 and two expire within 24 h; a1 has a successor (renewed shares one.dash.test), two does not.
      assert.deepEqual(expiring, { total: 2, withSuccessor: 1, withoutSuccessor: 1 });
      const links = await store.certificateLinks(a1.id);
      assert.equal(links.successor?.id, renewed.id);
      assert.deepEqual((await store.certificateLinks(renewed.id)).predecessors.map((p) => p.id), [a1.id]);
    });

    it('a revocation leaves the live and expiring counts and appears in the hourly revocations', async () => {
      const c = await issue(['revoked.dash.test'], { profile: 'classic' });
      assert.equal((await store.liveCertificateCounts(new Date())).find((x) => x.profile === 'classic')?.live, 1);
      const before = await store.expiringSummary(new Date(), new Date(Date.now() + 24 * HOUR));
      assert.equal(
        await store.revokeCertificate(c.id, { reason: 4, at: new Date(), invalidityDate: null, ocsp: null, blockKey: false, actor: 'test', crlEntry: new Uint8Array([0x30, 0]) }),
        true,
      );
      assert.equal((await store.liveCertificateCounts(new Date())).find((x) => x.profile === 'classic'), undefined);
      const after = await store.expiringSummary(new Date(), new Date(Date.now() + 24 * HOUR));
      assert.equal(after.withoutSuccessor, before.withoutSuccessor - 1);
      const hours = await store.hourlyActivity(new Date(Date.now() - HOUR), new Date(Date.now() + HOUR));
      assert.ok(hours.reduce((n, h) => n + h.revoked, 0) >= 1);
    });

    it('inventory pages by name, profile and revocation follow each other without overlap, and a bad cursor is a RangeError', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await issue(['paged.dash.test'], { profile: 'ci-ephemeral', lifetimeMs: (i + 1) * HOUR })).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 5; page++) {
        const r = await store.searchInventory({ name: 'paged.dash.test', limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...r.certificates.map((c) => c.id));
        if (!r.next) break;
        cursor = r.next;
      }
      assert.deepEqual(seen, ids, 'ordered by expiry, each once');
      const byProfile = await store.searchInventory({ profile: 'ci-ephemeral', revoked: false, limit: 3 });
      assert.deepEqual(byProfile.certificates.map((c) => c.id), ids.slice(0, 3));
      assert.ok(byProfile.next);
      const rest = await store.searchInventory({ profile: 'ci-ephemeral', limit: 3, cursor: byProfile.next! });
      assert.deepEqual(rest.certificates.map((c) => c.id), ids.slice(3));
      assert.equal(rest.next, null);
      const windowed = await store.searchInventory({ name: 'paged.dash.test', expiresAfter: new Date(Date.now() + 2.5 * HOUR), expiresBefore: new Date(Date.now() + 4.5 * HOUR), limit: 10 });
      assert.deepEqual(windowed.certificates.map((c) => c.id), ids.slice(2, 4));
      assert.equal((await store.searchInventory({ name: 'paged.dash.test', revoked: true, limit: 10 })).certificates.length, 0);
      await assert.rejects(store.searchInventory({ limit: 10, cursor: 'not-a-cursor' }), RangeError);
    });

    it('a purged expired certificate leaves the name index and the links of its successor', async () => {
      const old = await issue(['purged.dash.test'], { lifetimeMs: -2 * HOUR });
      const next = await issue(['purged.dash.test']);
      assert.deepEqual((await store.certificateLinks(next.id)).predecessors.map((p) => p.id), [old.id]);
      let purged = 0;
      for (let i = 0; i < 100 && (await store.searchInventory({ name: 'purged.dash.test', limit: 10 })).certificates.some((c) => c.id === old.id); i++) {
        purged += await store.purgeCertificates(new Date(Date.now() - HOUR), new Date(Date.now() - HOUR), 100);
      }
      assert.ok(purged >= 1);
      assert.deepEqual((await store.searchInventory({ name: 'purged.dash.test', limit: 10 })).certificates.map((c) => c.id), [next.id]);
      assert.deepEqual((await store.certificateLinks(next.id)).predecessors, []);
    });

    it('lists accounts newest first with their orders, and filters the audit log by subject newest first', async () => {
      const page = await store.listAccounts(10);
      assert.equal(page.accounts[0]?.id, accountId);
      const activity = await store.accountActivity(accountId, 3);
      assert.equal(activity.orders.length, 3);
      assert.ok(activity.orders[0]!.createdAt >= activity.orders[1]!.createdAt);
      const c = await issue(['audited.dash.test']);
      const trail = await store.searchAudit({ subject: c.serial, limit: 10 });
      assert.deepEqual(trail.map((r) => r.action), ['certificate.issued']);
      const finalizing = await store.searchAudit({ action: 'order.finalizing', limit: 2 });
      assert.equal(finalizing.length, 2);
      assert.ok(finalizing[0]!.seq > finalizing[1]!.seq);
    });
  });
}
