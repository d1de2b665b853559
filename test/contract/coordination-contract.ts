/**
 * The coordination part of the store contract: what processes and instances sharing one store
 * agree through (nonce redemptions, task leases, heartbeats, shared state). Each backend's test
 * file calls it with a factory that may open the SAME store twice, as two instances would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.js';

export function describeCoordinationContract(name: string, open: () => Promise<{ a: Store; b: Store; dispose(): Promise<void> }>): void {
  describe(`Store contract (coordination): ${name}`, () => {
    let a: Store;
    let b: Store;
    let dispose: () => Promise<void>;
    before(async () => {
      ({ a, b, dispose } = await open());
    });
    after(async () => dispose());
    const task = () => `task-${randomBytes(4).toString('hex')}`;

    it('a nonce id is redeemed once, on whichever instance comes first', async () => {
      const id = randomBytes(16).toString('base64url');
      const expires = new Date(Date.now() + 60_000);
      assert.equal(await a.redeemNonce(id, expires), true);
      assert.equal(await b.redeemNonce(id, expires), false, 'the other instance refuses it');
      assert.equal(await a.redeemNonce(id, expires), false, 'and so does the first');
    });

    it('redemptions are forgotten only once their nonce expired', async () => {
      const live = randomBytes(16).toString('base64url');
      const gone = randomBytes(16).toString('base64url');
      await a.redeemNonce(live, new Date(Date.now() + 60_000));
      await a.redeemNonce(gone, new Date(Date.now() - 1_000));
      while ((await a.purgeUsedNonces(new Date(), 100)) > 0);
      assert.equal(await b.redeemNonce(live, new Date(Date.now() + 60_000)), false, 'a live redemption is kept');
      assert.equal(await b.redeemNonce(gone, new Date(Date.now() - 1_000)), true, 'an expired one was purged');
    });

    it('a lease has one holder: it renews with the same fence, another takes it only once it expired, with a higher fence', async () => {
      const t = task();
      const first = await a.acquireLease(t, 'instance-a', 300);
      assert.equal(typeof first, 'number');
      assert.equal(await b.acquireLease(t, 'instance-b', 300), null, 'held by a');
      assert.equal(await a.acquireLease(t, 'instance-a', 300), first, 'renewal keeps the fence');
      await new Promise((r) => setTimeout(r, 350));
      const taken = await b.acquireLease(t, 'instance-b', 300);
      assert.ok(taken !== null && taken > first!, `the new holder's fence ${taken} is above ${first}`);
      assert.equal(await a.acquireLease(t, 'instance-a', 300), null, 'the old holder lost it');
      const leases = await a.listLeases();
      assert.equal(leases.find((l) => l.task === t)?.holder, 'instance-b');
    });

    it('a released lease is free at once', async () => {
      const t = task();
      await a.acquireLease(t, 'instance-a', 60_000);
      await a.releaseLease(t, 'instance-a');
      assert.notEqual(await b.acquireLease(t, 'instance-b', 60_000), null);
    });

    it('heartbeats list the live instances, and shared state written by one is read by the other', async () => {
      await a.heartbeat({ id: 'hb-a', host: 'h', pid: 1 });
      await b.heartbeat({ id: 'hb-b', host: 'h', pid: 2 });
      const seen = (await b.listInstances(new Date(Date.now() - 60_000))).map((i) => i.id);
      assert.ok(seen.includes('hb-a') && seen.includes('hb-b'), JSON.stringify(seen));
      await a.putSharedState('contract', '{"n":1}');
      assert.equal((await b.getSharedState('contract'))?.value, '{"n":1}');
      assert.equal(await b.getSharedState('missing'), null);
    });
  });
}
