/**
 * Interop: External Account Binding with name policies (RFC 8555 §7.3.4; README "External Account
 * Binding with name policies") on a server started with --external-account-required.
 *  - Without a binding, newAccount is refused with externalAccountRequired (raw client and certbot).
 *  - `anvil eab create --dns-suffix .team.test` makes a credential; certbot (--eab-kid/--eab-hmac-key)
 *    and lego (--eab --kid --hmac) register with it and get certificates for names inside the policy
 *    with no challenge at all — Anvil's http-01 port has nothing listening and the clients' own
 *    http-01 servers listen elsewhere, the orders are `ready` at creation, and the server logs no
 *    validation — and are refused names outside it (rejectedIdentifier).
 *  - A raw client checks each binding rule: wrong MAC or unknown kid → unauthorized; payload not the
 *    account key, a nonce, another url → malformed; `--profile` → invalidProfile; `--ip-range`;
 *    `--no-preauthorize`; `anvil eab revoke` → the bound account can no longer order.
 *  - `anvil eab list` never prints an HMAC key, and the database never holds one in plaintext.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertProblem } from '../helpers/acme-assert.js';
import { dns, newOrder, postAsGet } from '../helpers/acme-flow.js';
import { anvilCli, createEab, eabJws, type EabCredential } from '../helpers/eab.js';
import { newAccountKey, RawAcme } from '../helpers/raw-acme.js';
import { certbotIn, legoHttp, runLego, standaloneCertonly, type Certbot } from './clients.js';
import { describeRun, failureReport, fileTail, freePort, opensslSans, opensslVerify, readText, requireTool, splitPemChain, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('certbot') || requireTool('lego') || requireTool('openssl');

describe('External Account Binding with name policies', { skip, timeout: 300_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let work: string | undefined;
  let certbot: Certbot;
  /** Where the clients' own http-01 servers would listen: never the port Anvil's validator uses. */
  let clientHttpPort = 0;
  let rootPem = '';
  let dir = '';
  /** Every credential created here, to look for their keys in the database and the list output. */
  const credentials: EabCredential[] = [];

  const eab = async (args: string[]): Promise<EabCredential> => {
    const created = await createEab(server!.dataDir, args);
    credentials.push(created);
    return created;
  };

  /** Count of validations Anvil has run so far (its log says "validation finished" for each). */
  const validationsLogged = (): number => server!.logs().split('\n').filter((l) => l.includes('validation finished')).length;

  const certbotCertonly = (names: string[], extra: string[] = []) =>
    certbot.run(standaloneCertonly(clientHttpPort, names, ['--cert-name', names[0]!, ...extra]));
  /** What certbot said, including its debug log (certbot 2.1 may hide ACME problems on stderr). */
  const certbotSaid = async (r: RunResult) => `${r.stdout}\n${r.stderr}\n${await readFile(certbot.lastLog, 'utf8').catch(() => '')}`;

  async function lego(store: string, args: string[]): Promise<RunResult> {
    return runLego(server!, { email: 'eab@example.test', path: path.join(work!, store) }, args);
  }

  /** A raw client whose newAccount carries a binding built from `o` (defaults: a correct one for its key). */
  async function rawWithBinding(cred: { kid: string; hmacKey: string }, o: { payloadKey?: ReturnType<typeof newAccountKey>; header?: Record<string, unknown>; url?: string } = {}) {
    const acme = await new RawAcme(dir, rootPem).init();
    const binding = await eabJws({
      kid: cred.kid,
      hmacKey: cred.hmacKey,
      payloadJwk: (o.payloadKey ?? acme.key).jwk,
      url: o.url ?? acme.directory.newAccount,
      ...(o.header ? { header: o.header } : {}),
    });
    const res = await acme.register({ termsOfServiceAgreed: true, externalAccountBinding: binding });
    return { acme, res };
  }

  async function assertLegoCertificate(store: string, name: string): Promise<void> {
    const certs = splitPemChain(await readText(path.join(work!, store, 'certificates', `${name}.crt`)));
    assert.equal(certs.length, 2, 'leaf + intermediate');
    const verify = await opensslVerify(rootPem, certs[1]!, certs[0]!);
    assert.ok(verify.ok, verify.output);
    assert.deepEqual(await opensslSans(certs[0]!), [`DNS:${name}`]);
  }

  before(async () => {
    stack = await openStack('anvil-interop-eab-');
    work = stack.work;
    // Anvil's http-01 port has nothing listening: an http-01 validation could only fail.
    clientHttpPort = await freePort();
    ({ server, rootPem } = await stack.start({ extraArgs: ['--external-account-required'] }));
    dir = server.directoryUrl;
    certbot = certbotIn(path.join(work, 'certbot'), server);
  });

  after(() => stack?.close());

  describe('without a binding', () => {
    it('the directory says externalAccountRequired: true (§7.1.1)', async () => {
      const acme = await new RawAcme(dir, rootPem).init();
      assert.equal(acme.directory.meta?.externalAccountRequired, true);
    });

    it('newAccount without externalAccountBinding is refused with externalAccountRequired (§7.3.4)', async () => {
      const acme = await new RawAcme(dir, rootPem).init();
      assertProblem(await acme.register(), 403, 'externalAccountRequired', dir);
    });

    it('certbot cannot register without EAB', async () => {
      const result = await certbot.run(['register', '--agree-tos', '--register-unsafely-without-email']);
      assert.notEqual(result.code, 0, failureReport(result, server!));
      assert.match(await certbotSaid(result), /externalAccountRequired|external account/i, failureReport(result, server!, await fileTail(certbot.lastLog)));
    });
  });

  describe('anvil eab create / list', () => {
    it('create prints a kid and a base64url 256-bit HMAC key once; list shows the credential but never a key', async () => {
      const cred = await eab(['--dns-suffix', '.team.test', '--note', 'team A']);
      assert.match(cred.kid, /^[A-Za-z0-9_-]{8,}$/);
      assert.equal(Buffer.from(cred.hmacKey, 'base64url').length, 32, 'a 256-bit key');
      assert.deepEqual(cred.policy.dnsSuffixes, ['.team.test']);

      const plain = await anvilCli(['eab', 'list', '--data-dir', server!.dataDir]);
      assert.equal(plain.code, 0, describeRun(plain));
      const json = await anvilCli(['eab', 'list', '--data-dir', server!.dataDir, '--json']);
      assert.equal(json.code, 0, describeRun(json));
      const listed = (JSON.parse(json.stdout) as { kid: string; note: string }[]).find((c) => c.kid === cred.kid);
      assert.equal(listed?.note, 'team A');
      assert.match(plain.stdout, new RegExp(`${cred.kid}\\s+active\\s+\\.team\\.test`));
      for (const out of [plain, json]) {
        assert.ok(!out.stdout.includes(cred.hmacKey) && !out.stderr.includes(cred.hmacKey), `eab list printed the HMAC key:\n${describeRun(out)}`);
        assert.ok(!out.stdout.includes(Buffer.from(cred.hmacKey, 'base64url').toString('base64')), 'nor in standard base64');
        assert.ok(!out.stdout.toLowerCase().includes(Buffer.from(cred.hmacKey, 'base64url').toString('hex')), 'nor in hex');
      }
    });
  });

  describe('certbot and lego with a binding', () => {
    /** lego 4.9 wants --eab/--kid/--hmac on every run against an EAB-only server, even with a stored account. */
    let legoEab: string[] = [];
    it('certbot registers with --eab-kid/--eab-hmac-key and gets a.team.test + b.team.test with no challenge', async () => {
      const cred = await eab(['--dns-suffix', '.team.test', '--note', 'certbot']);
      const validationsBefore = validationsLogged();
      const names = ['a.team.test', 'b.team.test'];
      // `--opt=value`: a base64url kid or key may begin with "-", which argparse would take for an option.
      const result = await certbotCertonly(names, [`--eab-kid=${cred.kid}`, `--eab-hmac-key=${cred.hmacKey}`]);
      assert.equal(result.code, 0, failureReport(result, server!, await fileTail(certbot.lastLog)));
      const live = (f: string) => path.join(certbot.configDir, 'live', names[0]!, f);
      const verify = await opensslVerify(rootPem, await readText(live('chain.pem')), await readText(live('cert.pem')));
      assert.ok(verify.ok, verify.output);
      assert.deepEqual(await opensslSans(live('cert.pem')), names.map((n) => `DNS:${n}`).sort());
      assert.equal(validationsLogged(), validationsBefore, 'Anvil ran no validation: the names were pre-authorized by the binding');
    });

    it('certbot (same bound account) is refused a name outside .team.test with rejectedIdentifier', async () => {
      const result = await certbotCertonly(['outside.test']);
      assert.notEqual(result.code, 0, failureReport(result, server!));
      assert.match(await certbotSaid(result), /urn:ietf:params:acme:error:rejectedIdentifier/, failureReport(result, server!, await fileTail(certbot.lastLog)));
    });

    it('lego registers with --eab --kid --hmac and gets c.team.test with no challenge', async () => {
      const cred = await eab(['--dns-suffix', '.team.test', '--note', 'lego']);
      const validationsBefore = validationsLogged();
      legoEab = ['--eab', `--kid=${cred.kid}`, `--hmac=${cred.hmacKey}`];
      const result = await lego('lego', [...legoEab, '--domains', 'c.team.test', ...legoHttp(clientHttpPort), 'run']);
      assert.equal(result.code, 0, failureReport(result, server!));
      await assertLegoCertificate('lego', 'c.team.test');
      assert.equal(validationsLogged(), validationsBefore, 'Anvil ran no validation');
    });

    it('lego (same bound account) is refused a name outside the policy with rejectedIdentifier', async () => {
      assert.ok(legoEab.length > 0, 'needs the credential of the previous test');
      const result = await lego('lego', [...legoEab, '--domains', 'elsewhere.test', ...legoHttp(clientHttpPort), 'run']);
      assert.notEqual(result.code, 0, failureReport(result, server!));
      assert.match(`${result.stdout}\n${result.stderr}`, /rejectedIdentifier/, failureReport(result, server!));
    });
  });

  describe('the binding itself (raw client)', () => {
    let cred: EabCredential;
    before(async () => {
      cred = await eab(['--dns-suffix', '.team.test', '--note', 'raw']);
    });

    it('a correct binding creates the account; an order inside the policy is ready at once with valid, challenge-free authorizations', async () => {
      const { acme, res } = await rawWithBinding(cred);
      assert.equal(res.status, 201, res.body);
      const before = validationsLogged();
      const order = await newOrder(acme, dns('raw.team.test', 'deep.raw.team.test'));
      assert.equal(order.status, 201, order.body);
      assert.equal(order.json.status, 'ready', `pre-authorized names need no challenge: ${order.body}`);
      for (const url of order.json.authorizations as string[]) {
        const authz = (await postAsGet(acme, url)).json;
        assert.equal(authz.status, 'valid', JSON.stringify(authz));
        assert.ok(!(authz.challenges as any[]).some((c) => c.status === 'valid' || c.status === 'processing'), `no challenge was validated: ${JSON.stringify(authz)}`);
      }
      assert.equal(validationsLogged(), before);
      const outside = await newOrder(acme, dns('raw.team.test', 'raw.other.test'));
      const problem = assertProblem(outside, 400, 'rejectedIdentifier', dir);
      assert.ok((problem.subproblems as any[] | undefined)?.some((s) => s.identifier?.value === 'raw.other.test'), `a subproblem names the refused identifier: ${outside.body}`);
      // The suffix is a label boundary: "team.test" itself and "xteam.test" are outside ".team.test".
      assertProblem(await newOrder(acme, dns('team.test')), 400, 'rejectedIdentifier', dir);
      assertProblem(await newOrder(acme, dns('xteam.test')), 400, 'rejectedIdentifier', dir);
    });

    it('a wildcard whose names all lie inside the suffix (*.team.test, *.x.team.test) is inside the policy and pre-authorized', async () => {
      const { acme, res } = await rawWithBinding(cred);
      assert.equal(res.status, 201, res.body);
      for (const name of ['*.x.team.test', '*.team.test']) {
        const order = await newOrder(acme, dns(name));
        assert.equal(order.status, 201, `${name}: every name *.team.test matches ends in .team.test, so it is inside the policy: ${order.body}`);
        assert.equal(order.json.status, 'ready', `${name} is pre-authorized: ${order.body}`);
      }
    });

    it('HS384 and HS512 bindings are accepted too (§7.3.4: any MAC-based algorithm)', async () => {
      for (const alg of ['HS384', 'HS512'] as const) {
        const acme = await new RawAcme(dir, rootPem).init();
        const binding = await eabJws({ kid: cred.kid, hmacKey: cred.hmacKey, payloadJwk: acme.key.jwk, url: acme.directory.newAccount, alg });
        const res = await acme.register({ termsOfServiceAgreed: true, externalAccountBinding: binding });
        assert.equal(res.status, 201, `${alg}: ${res.body}`);
      }
    });

    it('a MAC made with another key: unauthorized', async () => {
      const { res } = await rawWithBinding({ kid: cred.kid, hmacKey: Buffer.alloc(32, 7).toString('base64url') });
      assertProblem(res, 403, 'unauthorized', dir);
    });

    it('an unknown kid: unauthorized', async () => {
      const { res } = await rawWithBinding({ kid: 'no-such-kid-0000', hmacKey: cred.hmacKey });
      assertProblem(res, 403, 'unauthorized', dir);
    });

    it('a payload that is not the account key of the request: malformed', async () => {
      const { res } = await rawWithBinding(cred, { payloadKey: newAccountKey() });
      assertProblem(res, 400, 'malformed', dir);
    });

    it('a binding with a nonce: malformed (§7.3.4: MUST NOT contain a nonce)', async () => {
      const { res } = await rawWithBinding(cred, { header: { nonce: 'c29tZS1ub25jZS12YWx1ZQ' } });
      assertProblem(res, 400, 'malformed', dir);
    });

    it('a binding signed with a non-MAC algorithm (alg none / ES256): malformed (§7.3.4: a MAC-based algorithm)', async () => {
      for (const alg of ['none', 'ES256']) {
        const acme = await new RawAcme(dir, rootPem).init();
        const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
        const binding = { protected: b64({ alg, kid: cred.kid, url: acme.directory.newAccount }), payload: b64(acme.key.jwk), signature: alg === 'none' ? '' : 'AAAA' };
        assertProblem(await acme.register({ termsOfServiceAgreed: true, externalAccountBinding: binding }), 400, 'malformed', dir);
      }
    });

    it('a binding whose url is not the newAccount URL: malformed (§7.3.4)', async () => {
      const { res } = await rawWithBinding(cred, { url: `${dir.replace(/\/directory$/, '')}/new-order` });
      assertProblem(res, 400, 'malformed', dir);
    });

    it('a refused binding creates no account: the same key then registers with a good one', async () => {
      const acme = await new RawAcme(dir, rootPem).init();
      const bad = await eabJws({ kid: cred.kid, hmacKey: Buffer.alloc(32, 1).toString('base64url'), payloadJwk: acme.key.jwk, url: acme.directory.newAccount });
      assertProblem(await acme.register({ termsOfServiceAgreed: true, externalAccountBinding: bad }), 403, 'unauthorized', dir);
      assertProblem(await acme.register({ termsOfServiceAgreed: true, onlyReturnExisting: true }), 400, 'accountDoesNotExist', dir);
      const good = await eabJws({ kid: cred.kid, hmacKey: cred.hmacKey, payloadJwk: acme.key.jwk, url: acme.directory.newAccount });
      assert.equal((await acme.register({ termsOfServiceAgreed: true, externalAccountBinding: good })).status, 201);
    });

    it('--profile: an order for another profile is invalidProfile; the allowed one works', async () => {
      const restricted = await eab(['--dns-suffix', '.team.test', '--profile', 'default', '--note', 'profile-restricted']);
      const { acme, res } = await rawWithBinding(restricted);
      assert.equal(res.status, 201, res.body);
      assertProblem(await newOrder(acme, dns('p.team.test'), { profile: 'mtls' }), 400, 'invalidProfile', dir);
      const ok = await newOrder(acme, dns('p.team.test'), { profile: 'default' });
      assert.equal(ok.status, 201, ok.body);
      assert.equal(ok.json.status, 'ready');
    });

    it('--ip-range: IPs inside are pre-authorized, outside refused', async () => {
      const ipCred = await eab(['--ip-range', '10.20.0.0/16', '--note', 'ips']);
      const { acme, res } = await rawWithBinding(ipCred);
      assert.equal(res.status, 201, res.body);
      const inside = await newOrder(acme, [{ type: 'ip', value: '10.20.3.4' }]);
      assert.equal(inside.status, 201, inside.body);
      assert.equal(inside.json.status, 'ready');
      assertProblem(await newOrder(acme, [{ type: 'ip', value: '10.30.0.1' }]), 400, 'rejectedIdentifier', dir);
      assertProblem(await newOrder(acme, dns('any.team.test')), 400, 'rejectedIdentifier', dir);
    });

    it('--no-preauthorize: names inside the policy still need a challenge; outside are still refused', async () => {
      const strict = await eab(['--dns-suffix', '.team.test', '--no-preauthorize', '--note', 'challenge-needed']);
      const { acme, res } = await rawWithBinding(strict);
      assert.equal(res.status, 201, res.body);
      const order = await newOrder(acme, dns('np.team.test'));
      assert.equal(order.status, 201, order.body);
      assert.equal(order.json.status, 'pending');
      const authz = (await postAsGet(acme, order.json.authorizations[0])).json;
      assert.equal(authz.status, 'pending');
      assert.ok((authz.challenges as any[]).length > 0, 'challenges are offered');
      assertProblem(await newOrder(acme, dns('np.other.test')), 400, 'rejectedIdentifier', dir);
    });

    it('anvil eab revoke: the bound account can no longer order, and the kid can no longer bind', async () => {
      const doomed = await eab(['--dns-suffix', '.team.test', '--note', 'to revoke']);
      const { acme, res } = await rawWithBinding(doomed);
      assert.equal(res.status, 201, res.body);
      assert.equal((await newOrder(acme, dns('r.team.test'))).status, 201);

      const revoked = await anvilCli(['eab', 'revoke', '--data-dir', server!.dataDir, `--kid=${doomed.kid}`]);
      assert.equal(revoked.code, 0, describeRun(revoked));
      assertProblem(await newOrder(acme, dns('r2.team.test')), 403, 'unauthorized', dir);
      const { res: again } = await rawWithBinding(doomed);
      assertProblem(again, 403, 'unauthorized', dir);

      const list = await anvilCli(['eab', 'list', '--data-dir', server!.dataDir]);
      assert.match(list.stdout, new RegExp(`${doomed.kid}\\s+revoked`));
      const twice = await anvilCli(['eab', 'revoke', '--data-dir', server!.dataDir, `--kid=${doomed.kid}`]);
      assert.notEqual(twice.code, 0, 'revoking again reports that no active credential has that kid');
    });
  });

  describe('keys at rest', () => {
    it('no HMAC key is in the database files in plaintext (base64url, base64, hex or raw bytes)', async () => {
      assert.ok(credentials.length >= 5, 'the earlier tests created credentials');
      const dbFiles = (await readdir(server!.dataDir)).filter((f) => f.startsWith('anvil.db'));
      assert.ok(dbFiles.includes('anvil.db'), `database files: ${dbFiles.join(', ')}`);
      const contents = await Promise.all(dbFiles.map(async (f) => ({ f, bytes: await readFile(path.join(server!.dataDir, f)) })));
      // The kid is stored in the clear: finding it proves the search looks at the right bytes.
      const kidSeen = contents.some(({ bytes }) => bytes.includes(Buffer.from(credentials[0]!.kid)));
      assert.ok(kidSeen, 'the kid itself is findable in the database files');
      for (const cred of credentials) {
        const raw = Buffer.from(cred.hmacKey, 'base64url');
        const forms = [Buffer.from(cred.hmacKey), Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase()), raw];
        for (const { f, bytes } of contents) {
          for (const form of forms) assert.ok(!bytes.includes(form), `${f} holds the HMAC key of ${cred.kid} in plaintext`);
        }
      }
    });
  });
});
