/**
 * The shape of External Account Binding credentials `anvil eab create` hands out (README
 * "External Account Binding with name policies"): the kid and HMAC key are given to clients as
 * command-line arguments — `certbot --eab-kid KID --eab-hmac-key KEY`, `lego --kid KID --hmac KEY`,
 * `anvil eab revoke --kid KID` — so neither may begin with "-": argparse (certbot), urfave/cli
 * (lego) and util.parseArgs (anvil) would take it for an option (certbot: "argument --eab-kid:
 * expected one argument"). Random base64url begins with "-" once in 64; 200 credentials (400
 * strings) show it with probability 1 − (63/64)^400 ≈ 0.998. (Each creation seals its key with
 * the passphrase, which is deliberately slow, so the sample stays at 200.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExternalAccounts } from '../../src/domain/external-accounts.js';
import type { Store } from '../../src/store/store.js';

const COUNT = 200;

/** Just enough of a Store for ExternalAccounts.create: remembers what was created. */
function fakeStore(): { store: Store; created: { kid: string }[] } {
  const created: { kid: string }[] = [];
  const store = {
    createEab: async (credential: { kid: string }) => {
      created.push(credential);
      return { ...credential, createdAt: new Date(), revokedAt: null };
    },
  } as unknown as Store;
  return { store, created };
}

test('kids and HMAC keys are base64url, unique, 256-bit keys, and never begin with "-" (they are CLI arguments)', async () => {
  const { store, created } = fakeStore();
  const eab = new ExternalAccounts(store, 'unit-test-passphrase');
  const kids = new Set<string>();
  const leadingDash: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const made = await eab.create({ dnsSuffixes: ['.team.test'], ipRanges: [], profiles: [], preauthorize: true }, 'unit', 'unit-test');
    assert.match(made.kid, /^[A-Za-z0-9_-]+$/);
    assert.match(made.hmacKey, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(made.hmacKey, 'base64url').length, 32);
    kids.add(made.kid);
    for (const [what, value] of [['kid', made.kid], ['hmac key', made.hmacKey]] as const) {
      if (value.startsWith('-')) leadingDash.push(`${what} ${value}`);
    }
  }
  assert.equal(kids.size, COUNT, 'kids are unique');
  assert.equal(created.length, COUNT);
  assert.deepEqual(leadingDash, [], 'credentials beginning with "-" break `certbot --eab-kid KID`, `lego --kid KID`, `anvil eab revoke --kid KID`');
});
