/**
 * `authzReuse: false` in a profile (issue 16 item 6): an order under it never reuses a valid
 * authorization, so every certificate is backed by its own validation; the shipped ci-ephemeral
 * profile says so, so every CI certificate is backed by a fresh token. Orders under other profiles
 * keep reusing within --authz-reuse-window.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadProfiles } from '../../src/profiles/profile-set.js';
import { BUNDLED_PROFILES_DIR } from '../../src/server.js';
import { assertOk } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { answerHttp01, dns, newOrder, poll, pollSettled, postAsGet, readyOrder, uniqueName } from '../helpers/acme-flow.js';

let fx: AcmeFixture;
before(async () => {
  fx = await startAcmeFixture();
});
after(() => fx?.close());

test('the shipped ci-ephemeral profile has authzReuse: false; the others reuse', () => {
  const set = loadProfiles(BUNDLED_PROFILES_DIR, 'default');
  assert.equal(set.byName.get('ci-ephemeral')?.authzReuse, false);
  for (const name of ['default', 'shortlived', 'mtls', 'classic']) assert.equal(set.byName.get(name)?.authzReuse, true, name);
});

test('a ci-ephemeral order for a name the account validated moments ago starts pending with a new authorization', async () => {
  const name = uniqueName('noreuse-ci');
  const first = await readyOrder(fx.acme, fx.responder, dns(name));
  const validAuthz = first.order.authorizations[0] as string;
  assert.equal((await postAsGet(fx.acme, validAuthz)).json.status, 'valid');

  const reusing = await newOrder(fx.acme, dns(name));
  assertOk(reusing, 201, fx.srv.directoryUrl);
  assert.deepEqual(reusing.json.authorizations, [validAuthz], 'the default profile reuses the valid authorization');
  assert.equal(reusing.json.status, 'ready');

  const ci = await newOrder(fx.acme, dns(name), { profile: 'ci-ephemeral' });
  assertOk(ci, 201, fx.srv.directoryUrl);
  assert.equal(ci.json.status, 'pending', ci.body);
  assert.notEqual(ci.json.authorizations[0], validAuthz);
  assert.equal((await postAsGet(fx.acme, ci.json.authorizations[0])).json.status, 'pending');

  // Validating it does not let the next ci-ephemeral order skip its own validation either.
  await answerHttp01(fx.acme, fx.responder, ci.json.authorizations[0]);
  assert.equal((await pollSettled(fx.acme, ci.json.authorizations[0])).json.status, 'valid');
  await poll(fx.acme, String(ci.headers.location), (b) => b.status === 'ready');
  const again = await newOrder(fx.acme, dns(name), { profile: 'ci-ephemeral' });
  assert.equal(again.json.status, 'pending', again.body);
  assert.ok(!(again.json.authorizations as string[]).includes(ci.json.authorizations[0]));
});
