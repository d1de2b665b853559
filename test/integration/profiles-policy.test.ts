/**
 * Profile selection and policy on newOrder and finalize (draft-ietf-acme-profiles; README
 * "Profiles"), against an in-process server whose --profiles-dir holds the shipped profiles plus
 * test profiles that each switch on one identifier rule, and whose --default-profile is a test
 * profile. Every refusal is asserted by exact status and problem type, and identifier refusals by
 * their subproblems (RFC 8555 §6.7.1): one per refused identifier, naming it and the rule.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { csrBase64url, csrFor, leafKey } from '../helpers/acme-client-kit.js';
import { assertOk, assertProblem } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { dns, newOrder, poll, postAsGet, uniqueName, type Identifier } from '../helpers/acme-flow.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { makeProfileDir, type ProfileDir } from '../helpers/profile-dir.js';
import { finalizeAndDownload, readyOrderWith } from '../helpers/profile-flow.js';
import { RawAcme } from '../helpers/raw-acme.js';

const ACME_ERROR = 'urn:ietf:params:acme:error:';

/** Test profiles: each turns on one identifier rule (or access rule) so refusals can be told apart. */
const TEST_PROFILES: Record<string, Record<string, unknown>> = {
  house: { description: 'test default profile, 6 hours', validity: '6h' },
  fenced: {
    description: 'only .internal names, no wildcards, no IPs',
    validity: '1h',
    identifiers: { dnsSuffixes: ['.internal'], wildcards: false, allowIp: false },
  },
  ranged: { description: 'IP identifiers only inside 10.0.0.0/8 and fd00::/8', validity: '1h', identifiers: { ipRanges: ['10.0.0.0/8', 'fd00::/8'] } },
  patterned: { description: 'DNS names must look like svc-<n>.internal', validity: '1h', identifiers: { dnsPatterns: ['svc-[0-9]+\\.internal'] } },
  tiny: { description: 'at most two identifiers per order', validity: '1h', identifiers: { maxPerOrder: 2 } },
  partners: { description: 'only for EAB-bound accounts', validity: '1h', access: 'eab' },
};

let fx: AcmeFixture;
let responder: Http01Responder;
let profiles: ProfileDir;
let dir: string;
let acme: RawAcme;

before(async () => {
  profiles = makeProfileDir({ withBundled: true, extra: TEST_PROFILES });
  fx = await startAcmeFixture({ '--profiles-dir': profiles.dir, '--default-profile': 'house' });
  ({ responder, acme } = fx);
  dir = fx.srv.directoryUrl;
});

after(async () => {
  await fx?.close();
  profiles?.remove();
});

/**
 * newOrder that must be refused with rejectedIdentifier; checks one subproblem per refused
 * identifier (exactly `refused`, in any order), each naming its identifier and matching `rule`.
 */
async function assertRejected(profile: string, identifiers: Identifier[], refused: Identifier[], rule: RegExp): Promise<any> {
  const res = await newOrder(acme, identifiers, { profile });
  const problem = assertProblem(res, 400, 'rejectedIdentifier', dir);
  const subproblems: any[] = problem.subproblems ?? [];
  const key = (i: Identifier) => `${i.type}:${i.value}`;
  assert.deepEqual(subproblems.map((s) => key(s.identifier)).sort(), refused.map(key).sort(), `one subproblem per refused identifier: ${res.body}`);
  for (const s of subproblems) {
    assert.equal(s.type, `${ACME_ERROR}rejectedIdentifier`, `subproblem type: ${JSON.stringify(s)}`);
    assert.match(s.detail, rule, `the subproblem names the rule: ${JSON.stringify(s)}`);
    assert.match(s.detail, new RegExp(`\\b${profile}\\b`), `the subproblem names the profile: ${JSON.stringify(s)}`);
  }
  return problem;
}

/** newOrder under `profile` (none: the server's default), http-01 for each authorization; returns the ready order. */
const readyOrderUnder = (profile: string | undefined, identifiers: Identifier[]) =>
  readyOrderWith(acme, responder, identifiers, profile === undefined ? {} : { profile });

describe('directory meta.profiles (draft-ietf-acme-profiles §3)', () => {
  test('lists every profile file in --profiles-dir with its description', async () => {
    const res = await acme.init();
    const expected: Record<string, string> = {
      default: 'TLS server certificate, 24 hours, with OCSP and CRL pointers',
      shortlived: 'TLS server certificate, 12 hours, no OCSP/CRL pointers (expiry is the revocation)',
      'ci-ephemeral': 'CI job certificate, 1 hour, serverAuth + clientAuth, no OCSP/CRL pointers',
      mtls: 'mTLS service certificate, 3 days, serverAuth + clientAuth, with OCSP and CRL pointers',
      classic: 'TLS server certificate, 90 days, with OCSP and CRL pointers (for slow-renewing systems)',
      ...Object.fromEntries(Object.entries(TEST_PROFILES).map(([name, p]) => [name, p.description as string])),
    };
    assert.deepEqual(res.directory.meta.profiles, expected);
  });
});

describe('profile selection on newOrder', () => {
  test('the order echoes the profile it names, on creation and on POST-as-GET', async () => {
    const created = await newOrder(acme, dns(uniqueName('mt')), { profile: 'mtls' });
    assertOk(created, 201, dir);
    assert.equal(created.json.profile, 'mtls');
    const fetched = await postAsGet(acme, String(created.headers.location));
    assertOk(fetched, 200, dir);
    assert.equal(fetched.json.profile, 'mtls');
  });

  test('an order naming no profile gets --default-profile (house, not default), and is issued under it', async () => {
    const name = uniqueName('house');
    const created = await newOrder(acme, dns(name));
    assertOk(created, 201, dir);
    assert.equal(created.json.profile, 'house');
    const { url, order } = await readyOrderUnder(undefined, dns(uniqueName('house')));
    const issued = await finalizeAndDownload(acme, url, order);
    assert.equal(issued.order.profile, 'house');
    const leaf = new X509Certificate(issued.leafPem);
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 6 * 3_600_000, 'validity is the house profile\'s 6h');
  });

  test('an unknown profile is invalidProfile', async () => {
    for (const profile of ['no-such-profile', 'DEFAULT', '']) {
      const res = await newOrder(acme, dns(uniqueName('u')), { profile });
      const problem = assertProblem(res, 400, 'invalidProfile', dir);
      assert.ok(problem.detail.length > 0, `a detail for ${JSON.stringify(profile)}`);
    }
  });

  test('an access: eab profile asked for by an account without External Account Binding is invalidProfile', async () => {
    const res = await newOrder(acme, dns(uniqueName('p')), { profile: 'partners' });
    const problem = assertProblem(res, 400, 'invalidProfile', dir);
    assert.match(problem.detail, /partners/);
  });

  test('"profile" that is not a string is malformed', async () => {
    for (const profile of [42, true, null, ['mtls'], { name: 'mtls' }]) {
      const res = await newOrder(acme, dns(uniqueName('m')), { profile });
      assertProblem(res, 400, 'malformed', dir);
    }
  });
});

describe('identifier policy: each rule refuses with rejectedIdentifier and a subproblem naming the identifier and the rule', () => {
  test('dnsSuffixes: a name outside .internal is refused; names under it are accepted', async () => {
    assertOk(await newOrder(acme, dns('app.internal', 'a.b.internal'), { profile: 'fenced' }), 201, dir);
    await assertRejected('fenced', dns('app.internal', 'app.example.test', 'notinternal'), dns('app.example.test', 'notinternal'), /suffix.*\.internal/);
  });

  test('wildcards: false refuses *.name', async () => {
    await assertRejected('fenced', dns('*.svc.internal'), dns('*.svc.internal'), /wildcard/i);
  });

  test('allowIp: false refuses ip identifiers (RFC 8738)', async () => {
    await assertRejected('fenced', [{ type: 'ip', value: '10.1.2.3' }], [{ type: 'ip', value: '10.1.2.3' }], /IP address identifiers are not allowed/);
  });

  test('several rules at once: one subproblem per refused identifier, none for the accepted one', async () => {
    const problem = await assertRejected(
      'fenced',
      [...dns('ok.internal', 'web.example.test'), { type: 'ip', value: '10.9.9.9' }],
      [...dns('web.example.test'), { type: 'ip', value: '10.9.9.9' }],
      /suffix|IP address/,
    );
    assert.equal(problem.subproblems.length, 2);
  });

  test('ipRanges: addresses inside the CIDRs are accepted, outside refused (IPv4 and IPv6)', async () => {
    assertOk(await newOrder(acme, [{ type: 'ip', value: '10.20.30.40' }, { type: 'ip', value: 'fd00::1' }], { profile: 'ranged' }), 201, dir);
    await assertRejected(
      'ranged',
      [{ type: 'ip', value: '10.0.0.1' }, { type: 'ip', value: '192.168.1.1' }, { type: 'ip', value: '2001:db8::1' }],
      [{ type: 'ip', value: '192.168.1.1' }, { type: 'ip', value: '2001:db8::1' }],
      /outside the allowed ranges.*10\.0\.0\.0\/8/,
    );
  });

  test('dnsPatterns: the whole name must match (anchored); others are refused', async () => {
    assertOk(await newOrder(acme, dns('svc-12.internal'), { profile: 'patterned' }), 201, dir);
    await assertRejected('patterned', dns('svc-12.internal', 'web.internal', 'svc-1.internal.evil.test', 'xsvc-1.internal'), dns('web.internal', 'svc-1.internal.evil.test', 'xsvc-1.internal'), /matches none of the allowed name patterns/);
  });

  test('maxPerOrder: more identifiers than the profile allows is rejectedIdentifier; exactly the maximum is accepted', async () => {
    assertOk(await newOrder(acme, dns(uniqueName('t'), uniqueName('t')), { profile: 'tiny' }), 201, dir);
    const res = await newOrder(acme, dns(uniqueName('t'), uniqueName('t'), uniqueName('t')), { profile: 'tiny' });
    const problem = assertProblem(res, 400, 'rejectedIdentifier', dir);
    assert.match(problem.detail, /at most 2/);
  });

  test('shipped ci-ephemeral caps orders at 5 identifiers', async () => {
    const names = Array.from({ length: 6 }, () => uniqueName('ci'));
    assertProblem(await newOrder(acme, dns(...names), { profile: 'ci-ephemeral' }), 400, 'rejectedIdentifier', dir);
    assertOk(await newOrder(acme, dns(...names.slice(0, 5)), { profile: 'ci-ephemeral' }), 201, dir);
  });

  test('shipped classic refuses IP identifiers; shipped shortlived refuses wildcards', async () => {
    await assertRejected('classic', [{ type: 'ip', value: '10.0.0.7' }], [{ type: 'ip', value: '10.0.0.7' }], /IP address identifiers are not allowed/);
    await assertRejected('shortlived', dns('*.wild.test'), dns('*.wild.test'), /wildcard names are not allowed/);
  });
});

describe('key types at finalize', () => {
  test('an RSA CSR on ci-ephemeral (ECDSA only) is badPublicKey; the order stays ready; an ECDSA P-384 CSR then issues', async () => {
    const name = uniqueName('cik');
    const { url, order } = await readyOrderUnder('ci-ephemeral', dns(name));
    const rsa = csrBase64url(await csrFor([name], await leafKey('rsa2048')));
    const refused = await acme.post(order.finalize, { csr: rsa });
    const problem = assertProblem(refused, 400, 'badPublicKey', dir);
    assert.match(problem.detail, /rsa2048.*ci-ephemeral|ci-ephemeral.*rsa2048/);
    const after = await postAsGet(acme, url);
    assert.equal(after.json.status, 'ready', 'the refused finalize leaves the order ready (RFC 8555 §7.4)');

    const ec = csrBase64url(await csrFor([name], await leafKey('ecdsa-p384')));
    const finalized = await acme.post(order.finalize, { csr: ec });
    assertOk(finalized, 200, dir);
    const valid = await poll(acme, url, (b) => b.status !== 'processing');
    assert.equal(valid.json.status, 'valid', valid.body);
    assert.equal(valid.json.profile, 'ci-ephemeral');
  });

  test('an RSA 3072 CSR on shortlived (ECDSA/Ed25519 only) is badPublicKey', async () => {
    const name = uniqueName('slk');
    const { order } = await readyOrderUnder('shortlived', dns(name));
    const res = await acme.post(order.finalize, { csr: csrBase64url(await csrFor([name], await leafKey('rsa3072'))) });
    assertProblem(res, 400, 'badPublicKey', dir);
  });
});
