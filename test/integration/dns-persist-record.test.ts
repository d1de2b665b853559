/**
 * `anvil dns-persist record` (issue 16 item 7) prints the dns-persist-01 TXT record for an account
 * and a name, with the hash input the README documents: SHA-256 over one length byte, the bare
 * name, the account key thumbprint and the account URL. The printed record, published as is,
 * validates a dns-persist-01 challenge.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { assertOk } from '../helpers/acme-assert.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { assertChallengeValid, validateOnce } from '../helpers/challenge-flow.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { describeRun, removeDir, run, serverEntry, tempDir } from '../interop/harness.js';

let dns: TestDnsServer;
let srv: TestServer;
let acme: RawAcme;
let work = '';

before(async () => {
  dns = await startDnsServer();
  work = await tempDir('anvil-dns-persist-record-');
  srv = await startTestServer({ '--dns-resolvers': dns.resolver, '--validation-timeout': '5s' });
  acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
  assertOk(await acme.register(), 201, srv.directoryUrl);
});

after(async () => {
  await srv.close();
  await dns.close();
  await removeDir(work);
});

const cli = (args: string[]) => run(process.execPath, [serverEntry(), 'dns-persist', 'record', ...args], { env: { ANVIL_KEY_PASSPHRASE: 'test-passphrase' }, timeoutMs: 20_000 });

/** The README's formula, computed here independently of the server's code. */
async function expectedAccountUri(domain: string): Promise<string> {
  const d = Buffer.from(domain, 'ascii');
  const input = Buffer.concat([Buffer.from([d.length]), d, Buffer.from(await acme.thumbprint(), 'ascii'), Buffer.from(acme.kid!, 'ascii')]);
  const base = acme.kid!.replace(/\/acct\/[^/]+$/, '');
  return `${base}/account-hash/sha-256/${createHash('sha256').update(input).digest('base64url')}`;
}

test('the printed record uses the documented hash input and, published, validates dns-persist-01', async () => {
  const name = uniqueName('persist-record');
  const result = await cli(['--account-url', acme.kid!, '--name', name, '--data-dir', srv.dataDir]);
  assert.equal(result.code, 0, describeRun(result));
  const m = /^_validation-persist\.(\S+)\. IN TXT "([^"]+)"\n$/.exec(result.stdout);
  assert.ok(m, describeRun(result));
  assert.equal(m[1], name);
  assert.equal(m[2], `anvil.internal; accounturi=${await expectedAccountUri(name)}`);
  dns.setTxt(`_validation-persist.${name}`, [m[2]!]);
  assertChallengeValid(await validateOnce(acme, { type: 'dns', value: name }, 'dns-persist-01'));
});

test('--account-key (the client\'s key, as JWK) gives the same record without the data directory; --wildcard and --persist-until add their tags', async () => {
  const name = uniqueName('persist-key');
  const keyFile = path.join(work, 'account.jwk');
  writeFileSync(keyFile, JSON.stringify(acme.key.jwk));
  const result = await cli(['--account-url', acme.kid!, '--name', name, '--account-key', keyFile, '--wildcard', '--persist-until', '1893456000']);
  assert.equal(result.code, 0, describeRun(result));
  assert.equal(result.stdout, `_validation-persist.${name}. IN TXT "anvil.internal; accounturi=${await expectedAccountUri(name)}; policy=wildcard; persistUntil=1893456000"\n`);
});

test('an account URL that is not one, or an account the store does not hold, is an error naming it', async () => {
  const bad = await cli(['--account-url', 'https://x.test/nope', '--name', 'a.test', '--data-dir', srv.dataDir]);
  assert.equal(bad.code, 2, describeRun(bad));
  assert.match(bad.stderr, /is not an Anvil account URL/);
  const unknown = await cli(['--account-url', acme.kid!.replace(/[^/]+$/, 'nosuchaccount'), '--name', 'a.test', '--data-dir', srv.dataDir]);
  assert.equal(unknown.code, 1, describeRun(unknown));
  assert.match(unknown.stderr, /no account nosuchaccount/);
});
