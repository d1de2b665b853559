/**
 * Interop: the workload-identity token challenge (`tkauth-01`, shaped after RFC 9447; README
 * "Workload-identity tokens") end to end against Anvil as a real process.
 *
 * A test token authority (test/helpers/token-authority.ts) serves its keys as a JWKS on loopback
 * and signs tokens with jose; a --validators-config file trusts it three times, once per binding
 * mode — `audience` (aud = <directory>:<thumbprint>), `fingerprint` (RFC 9447 atc.fingerprint) and
 * `{claim: acme_jkt}` — with rules mapping claims to names. Profile ci-ephemeral offers tkauth-01
 * first. `anvil token-cert` then obtains certificates with one command, judged by openssl
 * (1 hour, serverAuth + clientAuth). A raw client posts `{"tkauth": token}` for every refusal:
 * expired, wrong audience, replayed jti, unbound account key (each binding mode), claims matching
 * no rule (rejectedIdentifier), untrusted issuer, `alg: none`, an algorithm the authority does not
 * allow, a forged signature, too long a lifetime (also when disguised by an `iat` in the future),
 * no jti. Tokens posted are bearer secrets: none may reach the log or the database.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import { assertProblem } from '../helpers/acme-assert.js';
import { postAsGet } from '../helpers/acme-flow.js';
import { assertChallengeInvalid, assertChallengeValid, orderChallenge, respondAndSettle, type Settled } from '../helpers/challenge-flow.js';
import { anvilCli } from '../helpers/eab.js';
import { EXT, listOf, opensslView } from '../helpers/openssl-cert.js';
import { newAccountKey, RawAcme } from '../helpers/raw-acme.js';
import { fingerprintOf, startTokenAuthority, thumbprintOf, timeClaims, nowS, type SigningAlg, type TokenAuthority } from '../helpers/token-authority.js';
import { describeRun, opensslVerify, readText, repoRoot, requireTool, splitPemChain, type AcmeServer } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');
const PROFILE = 'ci-ephemeral';
const TYPE = 'tkauth-01';
const ISS = { ci: 'https://ci.anvil.test', k8s: 'https://k8s.anvil.test', spiffe: 'https://spiffe.anvil.test' } as const;
const FETCH_TOKEN = path.join(repoRoot(), 'test', 'fixtures', 'tokens', 'fetch-token.mjs');
/** Claims a CI job on org/app's main branch carries. */
const CI_JOB = { repository: 'org/app', ref: 'refs/heads/main', sub: 'repo:org/app:ref:refs/heads/main' };

describe('tkauth-01 workload-identity tokens', { skip, timeout: 300_000 }, () => {
  let stack: InteropStack | undefined;
  let work: string | undefined;
  let authority: TokenAuthority | undefined;
  let server: AcmeServer | undefined;
  let dir = '';
  let rootPem = '';
  let acme: RawAcme;
  let thumb = '';
  /** Every token posted by the raw client, to check none is logged or stored. */
  const posted: string[] = [];

  /** Claims for each authority, bound to `thumbprint` the way that authority binds. */
  const claimsFor = {
    ci: (thumbprint: string, extra: JWTPayload = {}): JWTPayload => ({ iss: ISS.ci, aud: `${dir}:${thumbprint}`, ...CI_JOB, ...timeClaims(), ...extra }),
    spiffe: (thumbprint: string, extra: JWTPayload = {}): JWTPayload => ({
      iss: ISS.spiffe,
      aud: dir,
      sub: 'spiffe://anvil.test/workload/worker',
      atc: { tktype: 'JWT', fingerprint: fingerprintOf(thumbprint) },
      ...timeClaims(),
      ...extra,
    }),
    k8s: (thumbprint: string, extra: JWTPayload = {}): JWTPayload => ({
      iss: ISS.k8s,
      aud: dir,
      sub: 'system:serviceaccount:payments:api',
      'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'api', uid: 'b8d8c3a2' } },
      acme_jkt: thumbprint,
      ...timeClaims(),
      ...extra,
    }),
  };

  /** Orders `name` under ci-ephemeral and answers tkauth-01 with `token`. */
  async function present(name: string, token: string, client = acme): Promise<Settled> {
    const pending = await orderChallenge(client, { type: 'dns', value: name }, TYPE, { profile: PROFILE });
    posted.push(token);
    return respondAndSettle(client, pending, { tkauth: token });
  }
  const sign = (claims: JWTPayload, alg?: SigningAlg) => authority!.sign(claims, alg);

  before(async () => {
    stack = await openStack('anvil-interop-tkauth-');
    work = stack.work;
    authority = await startTokenAuthority();
    stack.onClose(() => authority?.close());
    const config = path.join(work, 'validators.yaml');
    await writeFile(
      config,
      `# Trusted workload-identity token authorities (README "Workload-identity tokens").
tokenAuthorities:
  - name: ci
    issuer: ${ISS.ci}
    jwksUrl: ${authority.jwksUrl}
    algorithms: [ES256]
    binding: audience
    maxLifetime: 15m
  - name: spiffe
    issuer: ${ISS.spiffe}
    jwksUrl: ${authority.jwksUrl}
    algorithms: [ES256]
    binding: fingerprint
  - name: k8s
    issuer: ${ISS.k8s}
    jwksUrl: ${authority.jwksUrl}
    algorithms: [ES256, RS256]
    binding: { claim: acme_jkt }
tokenRules:
  - authority: ci
    match: { repository: org/app, ref: refs/heads/main }
    identifiers: [app.ci.test, api.ci.test, replay.ci.test]
  - authority: spiffe
    match: { sub: "spiffe://anvil.test/workload/*" }
    identifiers: [worker.spiffe.test]
  - authority: k8s
    match: { sub: "system:serviceaccount:*" }
    identifiers: ["\${kubernetes.io.serviceaccount.name}.\${kubernetes.io.namespace}.svc.test"]
`,
    );
    ({ server, rootPem } = await stack.start({ extraArgs: ['--validators-config', config] }));
    dir = server.directoryUrl;
    acme = await new RawAcme(dir, rootPem).init();
    assert.equal((await acme.register()).status, 201);
    thumb = await acme.thumbprint();

    authority.minter('ci', (q) => ({ claims: claimsFor.ci(q.get('thumbprint') ?? '') }));
    authority.minter('spiffe', (q) => ({
      claims: { ...claimsFor.spiffe('AAAA'), atc: { tktype: 'JWT', fingerprint: q.get('fingerprint') ?? '' } },
    }));
  });

  after(() => stack?.close());

  it('ci-ephemeral offers tkauth-01 first; the challenge names the authorities (tkauth-type atc) and has a token', async () => {
    const pending = await orderChallenge(acme, { type: 'dns', value: 'shape.ci.test' }, TYPE, { profile: PROFILE });
    assert.equal(pending.authz.challenges[0].type, TYPE, 'offered first');
    const c = pending.challenge;
    assert.equal(c['tkauth-type'], 'atc');
    assert.equal(c['token-authority'], ISS.ci);
    assert.deepEqual(c['token-authorities'], [ISS.ci, ISS.spiffe, ISS.k8s]);
    assert.match(c.token, /^[A-Za-z0-9_-]{22,}$/);
  });

  describe('anvil token-cert', () => {
    async function tokenCert(name: string, minter: string, placeholder: string) {
      const outCert = path.join(work!, `${name}.crt`);
      const outKey = path.join(work!, `${name}.key`);
      const command = `'${process.execPath}' '${FETCH_TOKEN}' '${authority!.baseUrl}/mint/${minter}' '${placeholder}'`;
      const result = await anvilCli(
        ['token-cert', '--directory', dir, '--ca-file', server!.rootPemPath, '--name', name, '--profile', PROFILE, '--token-command', command, '--out-cert', outCert, '--out-key', outKey],
        { NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
      );
      return { result, outCert, outKey };
    }

    /** Leaf + intermediate verifying for both purposes; 1 h; serverAuth + clientAuth; SAN only `name`. */
    async function assertCiCertificate(outCert: string, outKey: string, name: string): Promise<void> {
      const certs = splitPemChain(await readText(outCert));
      assert.equal(certs.length, 2, 'leaf + intermediate');
      for (const purpose of ['sslserver', 'sslclient']) {
        const verify = await opensslVerify(rootPem, certs[1]!, certs[0]!, { purpose });
        assert.ok(verify.ok, `openssl verify -purpose ${purpose}\n${verify.output}`);
      }
      const view = await opensslView(certs[0]!);
      assert.equal((view.notAfter.getTime() - view.notBefore.getTime()) / 1000, 3600, `1 hour validity\n${view.text}`);
      assert.deepEqual(listOf(view.extensions.get(EXT.extendedKeyUsage)), ['TLS Web Client Authentication', 'TLS Web Server Authentication']);
      assert.equal(view.extensions.get(EXT.subjectAltName)?.value, `DNS:${name}`);
      assert.match(await readText(outKey), /-----BEGIN (EC )?PRIVATE KEY-----/);
      assert.equal(statSync(outKey).mode & 0o077, 0, 'the key file is private to its owner');
    }

    it('obtains a certificate for app.ci.test with an audience-bound token from --token-command ({thumbprint})', async () => {
      const { result, outCert, outKey } = await tokenCert('app.ci.test', 'ci', 'thumbprint={thumbprint}');
      assert.equal(result.code, 0, `${describeRun(result)}\n--- anvil (tail) ---\n${server!.logs().slice(-5000)}`);
      await assertCiCertificate(outCert, outKey, 'app.ci.test');
      const minted = authority!.minted.filter((m) => m.name === 'ci');
      assert.equal(minted.length, 1, 'the token command ran once');
      assert.match(String(minted[0]!.claims.aud), new RegExp(`^${dir.replace(/[.\\/]/g, '\\$&')}:[A-Za-z0-9_-]{43}$`), 'the thumbprint was substituted into the audience');
    });

    it('obtains a certificate for worker.spiffe.test with an atc.fingerprint-bound token ({fingerprint})', async () => {
      const { result, outCert, outKey } = await tokenCert('worker.spiffe.test', 'spiffe', 'fingerprint={fingerprint}');
      assert.equal(result.code, 0, `${describeRun(result)}\n--- anvil (tail) ---\n${server!.logs().slice(-5000)}`);
      await assertCiCertificate(outCert, outKey, 'worker.spiffe.test');
      const minted = authority!.minted.filter((m) => m.name === 'spiffe');
      assert.match(String((minted[0]!.claims.atc as { fingerprint: string }).fingerprint), /^SHA256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    });

    it('with --account-key and --token-env: a token minted beforehand for that key', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const keyFile = path.join(work!, 'ci-account.key');
      await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      const token = await sign(claimsFor.ci(await thumbprintOf(publicKey.export({ format: 'jwk' }) as never)));
      const outCert = path.join(work!, 'env.crt');
      const outKey = path.join(work!, 'env.key');
      const result = await anvilCli(
        ['token-cert', '--directory', dir, '--ca-file', server!.rootPemPath, '--name', 'api.ci.test', '--profile', PROFILE, '--account-key', keyFile, '--token-env', 'CI_JOB_TOKEN', '--out-cert', outCert, '--out-key', outKey],
        { CI_JOB_TOKEN: token, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
      );
      assert.equal(result.code, 0, `${describeRun(result)}\n--- anvil (tail) ---\n${server!.logs().slice(-5000)}`);
      await assertCiCertificate(outCert, outKey, 'api.ci.test');
    });

    it('fails (non-zero) when the token authorizes another name, and prints why', async () => {
      const { result, outCert } = await tokenCert('not-in-rule.ci.test', 'ci', 'thumbprint={thumbprint}');
      assert.notEqual(result.code, 0, describeRun(result));
      assert.match(result.stderr, /authorize no rule for not-in-rule\.ci\.test/, `the CA's detail reaches the user\n${describeRun(result)}`);
      assert.throws(() => statSync(outCert), 'no certificate file is written');
    });
  });

  describe('binding modes (raw client)', () => {
    it('audience: aud = <directory>:<thumbprint> validates', async () => {
      assertChallengeValid(await present('api.ci.test', await sign(claimsFor.ci(thumb))));
    });

    it('fingerprint: atc.fingerprint of the account key validates', async () => {
      const s = await present('worker.spiffe.test', await sign(claimsFor.spiffe(thumb)));
      assertChallengeValid(s);
      assert.equal(s.challenge.validationRecord[0].issuer, ISS.spiffe);
    });

    it('claim: acme_jkt = thumbprint validates; the rule renders the name from nested, dotted claims (RS256 allowed here)', async () => {
      const s = await present('api.payments.svc.test', await sign(claimsFor.k8s(thumb), 'RS256'));
      assertChallengeValid(s);
      assert.equal(s.challenge.validationRecord[0].subject, 'system:serviceaccount:payments:api');
    });
  });

  describe('refusals (raw client posting {"tkauth": token})', () => {
    /**
     * Each refusal uses a fresh account, so no earlier valid authorization of the same name is
     * reused (RFC 8555 §7.4 lets a server hand out an account's valid authorizations again).
     * `token` gets that account's thumbprint.
     */
    async function refused(name: string, token: (thumbprint: string) => Promise<string> | string, type: string, detail?: RegExp) {
      const client = await new RawAcme(dir, rootPem).init();
      assert.equal((await client.register()).status, 201);
      const error = assertChallengeInvalid(await present(name, await token(await client.thumbprint()), client), type);
      if (detail) assert.match(error.detail, detail);
      return error;
    }
    let otherThumb = '';
    before(async () => {
      otherThumb = await thumbprintOf(newAccountKey().jwk);
    });

    it('expired (exp well past the 30 s skew): unauthorized', async () => {
      const now = nowS();
      await refused('app.ci.test', (t) => sign(claimsFor.ci(t, { iat: now - 600, nbf: now - 600, exp: now - 120 })), 'unauthorized', /expired/);
    });

    it('not yet valid (nbf in the future): unauthorized', async () => {
      await refused('app.ci.test', (t) => sign(claimsFor.ci(t, { nbf: nowS() + 600, exp: nowS() + 700 })), 'unauthorized');
    });

    it('wrong audience: unauthorized', async () => {
      await refused('worker.spiffe.test', (t) => sign(claimsFor.spiffe(t, { aud: 'https://other-ca.test/directory' })), 'unauthorized', /aud/);
    });

    it('a replayed jti: the second use (same account, another name the rule allows) is unauthorized', async () => {
      const token = await sign(claimsFor.ci(thumb));
      assertChallengeValid(await present('app.ci.test', token));
      const error = assertChallengeInvalid(await present('replay.ci.test', token), 'unauthorized');
      assert.match(error.detail, /already used|replay/);
    });

    it('unbound account key, audience mode (aud names another key\'s thumbprint): unauthorized', async () => {
      await refused('app.ci.test', () => sign(claimsFor.ci(otherThumb)), 'unauthorized');
    });

    it('unbound account key, fingerprint mode: unauthorized', async () => {
      await refused('worker.spiffe.test', () => sign(claimsFor.spiffe(otherThumb)), 'unauthorized', /bind/);
    });

    it('unbound account key, claim mode: unauthorized', async () => {
      await refused('api.payments.svc.test', () => sign(claimsFor.k8s(otherThumb)), 'unauthorized', /bind/);
    });

    it('claims matching no rule (another repository): rejectedIdentifier', async () => {
      await refused('app.ci.test', (t) => sign(claimsFor.ci(t, { repository: 'org/other' })), 'rejectedIdentifier');
    });

    it('a valid token for a name its rule does not list: rejectedIdentifier', async () => {
      await refused('other.spiffe.test', (t) => sign(claimsFor.spiffe(t)), 'rejectedIdentifier');
    });

    it('an untrusted issuer: unauthorized', async () => {
      await refused('app.ci.test', (t) => sign(claimsFor.ci(t, { iss: 'https://evil.test' })), 'unauthorized', /not trusted/);
    });

    it('alg: none (an unsigned token, RFC 7519 §6): unauthorized', async () => {
      await refused(
        'app.ci.test',
        (t) => {
          const token = authority!.unsigned(claimsFor.ci(t));
          assert.match(token, /\.$/, 'an unsecured JWT has an empty signature');
          return token;
        },
        'unauthorized',
        /none/,
      );
    });

    it('an algorithm the authority does not allow (RS256 for an ES256-only authority): unauthorized', async () => {
      await refused('app.ci.test', (t) => sign(claimsFor.ci(t), 'RS256'), 'unauthorized', /RS256/);
    });

    it('an algorithm outside the authority\'s list (ES384 where ES256/RS256 are): unauthorized', async () => {
      await refused('api.payments.svc.test', (t) => sign(claimsFor.k8s(t), 'ES384'), 'unauthorized', /ES384/);
    });

    it('a forged signature (a key outside the JWKS under a kid inside it): unauthorized', async () => {
      await refused('app.ci.test', (t) => authority!.forge(claimsFor.ci(t)), 'unauthorized', /signature/);
    });

    it('a lifetime longer than maxLifetime (1 h where 15 m is allowed): unauthorized', async () => {
      const now = nowS();
      await refused('app.ci.test', (t) => sign(claimsFor.ci(t, { iat: now, exp: now + 3600 })), 'unauthorized', /lifetime/);
    });

    it('a lifetime dodged with an iat in the future (usable for 1 h from now, iat 5 min before exp): unauthorized', async () => {
      const now = nowS();
      // exp − iat is 5 min, but the token is accepted from now until exp: 60 min, four times maxLifetime.
      await refused(
        'app.ci.test',
        (t) => {
          const claims = claimsFor.ci(t, { iat: now + 55 * 60, exp: now + 60 * 60 });
          delete claims.nbf;
          return sign(claims);
        },
        'unauthorized',
      );
    });

    it('no jti: unauthorized', async () => {
      await refused(
        'app.ci.test',
        (t) => {
          const claims = claimsFor.ci(t);
          delete claims.jti;
          return sign(claims);
        },
        'unauthorized',
      );
    });

    it('a token bound to another account\'s key, posted by this account: unauthorized', async () => {
      await refused('app.ci.test', () => sign(claimsFor.ci(thumb)), 'unauthorized');
    });

    it('a response without a JWT is malformed (400) and leaves the challenge pending, still answerable', async () => {
      const client = await new RawAcme(dir, rootPem).init();
      assert.equal((await client.register()).status, 201);
      const pending = await orderChallenge(client, { type: 'dns', value: 'app.ci.test' }, TYPE, { profile: PROFILE });
      assertProblem(await client.post(pending.challenge.url, {}), 400, 'malformed', dir);
      assertProblem(await client.post(pending.challenge.url, { tkauth: 'not a jwt' }), 400, 'malformed', dir);
      const again = await postAsGet(client, pending.authzUrl);
      assert.equal(again.json.status, 'pending');
      const token = await sign(claimsFor.ci(await client.thumbprint()));
      posted.push(token);
      assertChallengeValid(await respondAndSettle(client, pending, { tkauth: token }));
    });
  });

  describe('tokens are bearer secrets', () => {
    it('no posted token appears in the server log or the database files', async () => {
      const tokens = posted.filter((t) => t.length > 0);
      assert.ok(tokens.length > 10);
      const logs = server!.logs();
      const files = (await readdir(server!.dataDir)).filter((f) => f.startsWith('anvil.db'));
      const bytes = await Promise.all(files.map((f) => readFile(path.join(server!.dataDir, f))));
      for (const token of tokens) {
        const signature = token.split('.')[2]!;
        const needle = signature.length > 0 ? signature : token.split('.')[1]!;
        assert.ok(!logs.includes(needle), 'a token is in the server log');
        for (const [i, b] of bytes.entries()) assert.ok(!b.includes(Buffer.from(needle)), `a token is stored in ${files[i]}`);
      }
    });
  });
});
