/**
 * Interop: the npm acme-client, in process, against Anvil — account registration, issuance for
 * two names with http-01 answered by a tiny node:http responder, renewal, revocation by account
 * key and its repetition (RFC 8555 §7.6 alreadyRevoked), and account key rollover (§7.3.5).
 * acme-client throws only a problem's `detail`, so the problem documents are recorded from its
 * axios instance and asserted by type.
 */
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import acme from 'acme-client';
import { instrumentAcmeClient, type RecordedProblem } from '../helpers/acme-client-kit.js';
import { certSerial, opensslSans, opensslVerify, requireTool, splitPemChain, startServer, type AcmeServer } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const NAMES = ['a.test', 'b.test'];
const ACME_ERROR = 'urn:ietf:params:acme:error:';
const skip = requireTool('openssl');

describe('acme-client against Anvil', { skip, timeout: 600_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let responder: http.Server | undefined;
  let rootPem = '';
  /** token → key authorization, served by the http-01 responder. */
  const keyAuthorizations = new Map<string, string>();
  /** `<Host header> <path>` of every request the validator made to the responder. */
  const validatorHits: string[] = [];
  let problems: RecordedProblem[] = [];
  let clientLog: string[] = [];

  let accountKey: Buffer;
  let accountUrl = '';
  let client: acme.Client;
  let firstChain = '';
  let renewedChain = '';
  let oldKeyAfterRollover: Buffer | undefined;

  const clientOptions = { backoffAttempts: 40, backoffMin: 100, backoffMax: 1_000 };

  /** Everything a failing assertion needs: recent problems, acme-client's log, the server's log. */
  function context(): string {
    const logs = server?.logs() ?? '';
    return [
      '--- problems answered by the server ---',
      ...problems.slice(-10).map((p) => `${p.method} ${p.url} → ${p.status} ${p.type}: ${p.detail}`),
      '--- acme-client log (tail) ---',
      ...clientLog.slice(-40),
      `--- ${server?.kind ?? 'server'} output (tail) ---`,
      logs.slice(-10_000),
    ].join('\n');
  }

  /** Runs `action`, which must fail, and returns the problem the server answered it with. */
  async function expectProblem(what: string, action: () => Promise<unknown>): Promise<RecordedProblem> {
    const before = problems.length;
    let threw: unknown;
    try {
      await action();
    } catch (error) {
      threw = error;
    }
    assert.ok(threw !== undefined, `${what} must fail\n${context()}`);
    const problem = problems.slice(before).at(-1);
    assert.ok(problem, `${what} failed without a problem document from the server: ${(threw as Error).message}\n${context()}`);
    assert.ok(problem.status >= 400 && problem.status < 500, `${what}: a client error status, got ${problem.status}\n${context()}`);
    return problem;
  }

  const challengeCreateFn = async (_authz: acme.Authorization, challenge: { type: string; token: string }, keyAuthorization: string): Promise<void> => {
    assert.equal(challenge.type, 'http-01', 'acme-client picked http-01 as told');
    keyAuthorizations.set(challenge.token, keyAuthorization);
  };
  const challengeRemoveFn = async (_authz: acme.Authorization, challenge: { token: string }): Promise<void> => {
    keyAuthorizations.delete(challenge.token);
  };

  /** client.auto for NAMES with a fresh P-256 key and CSR; returns the chain and the CSR's key. */
  async function issue(withClient: acme.Client): Promise<{ chain: string; key: Buffer }> {
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acme.crypto.createCsr({ commonName: NAMES[0]!, altNames: NAMES }, key);
    const chain = await withClient.auto({
      csr,
      challengeCreateFn,
      challengeRemoveFn,
      challengePriority: ['http-01'],
      // acme-client's self-check would resolve *.test with the system resolver; the CA validates.
      skipChallengeVerification: true,
      termsOfServiceAgreed: true,
    });
    return { chain, key };
  }

  /** The chain is leaf + intermediate, verifies against the root, names exactly NAMES and certifies `key`. */
  async function assertChain(chain: string, key: Buffer): Promise<void> {
    const certs = splitPemChain(chain);
    assert.equal(certs.length, 2, `the downloaded chain is leaf + intermediate, got:\n${chain}`);
    const verify = await opensslVerify(rootPem, certs[1]!, certs[0]!);
    assert.ok(verify.ok, `openssl verify of the leaf against root.pem with the chain's intermediate\n${verify.output}`);
    assert.deepEqual(await opensslSans(certs[0]!), NAMES.map((name) => `DNS:${name}`).sort());
    const leafKey = new X509Certificate(certs[0]!).publicKey.export({ type: 'spki', format: 'der' });
    const csrKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
    assert.ok(leafKey.equals(csrKey), 'the leaf certifies the CSR\'s public key');
  }

  before(async () => {
    stack = await openStack('anvil-interop-acme-client-');
    const { http01Port } = stack;
    stack.onClose(() => new Promise<void>((resolve) => (responder ? responder.close(() => resolve()) : resolve())));
    responder = http.createServer((request, response) => {
      validatorHits.push(`${request.headers.host ?? ''} ${request.url ?? ''}`);
      const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(request.url ?? '');
      const keyAuthorization = match ? keyAuthorizations.get(match[1]!) : undefined;
      if (request.method !== 'GET' || keyAuthorization === undefined) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end(keyAuthorization);
    });
    await new Promise<void>((resolve, reject) => {
      responder!.once('error', reject);
      responder!.listen(http01Port, '127.0.0.1', () => resolve());
    });
    assert.equal((responder.address() as AddressInfo).port, http01Port);

    ({ server, rootPem } = await stack.start({ launch: startServer }));

    ({ problems, clientLog } = instrumentAcmeClient(rootPem));
  });

  after(() => stack?.close());

  it('acme-client registers an account with termsOfServiceAgreed', async () => {
    accountKey = await acme.crypto.createPrivateEcdsaKey('P-256');
    client = new acme.Client({ directoryUrl: server!.directoryUrl, accountKey, ...clientOptions });
    let account: { status: string } | undefined;
    try {
      account = await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:interop@example.test'] });
    } catch (error) {
      assert.fail(`createAccount failed: ${(error as Error).message}\n${context()}`);
    }
    assert.equal(account.status, 'valid');
    accountUrl = client.getAccountUrl();
    assert.ok(accountUrl.startsWith(`${server!.baseUrl}/`), `the account URL ${accountUrl} is on the server`);

    // The same key again finds the same account (RFC 8555 §7.3.1, onlyReturnExisting).
    const again = new acme.Client({ directoryUrl: server!.directoryUrl, accountKey, ...clientOptions });
    await again.createAccount({ onlyReturnExisting: true });
    assert.equal(again.getAccountUrl(), accountUrl);
  });

  it('acme-client issues a two-name certificate for a fresh P-256 CSR that verifies against the root', async () => {
    assert.ok(accountUrl, 'needs the account registered by the previous test');
    let issued: { chain: string; key: Buffer };
    try {
      issued = await issue(client);
    } catch (error) {
      assert.fail(`client.auto failed: ${(error as Error).message}\n${context()}`);
    }
    await assertChain(issued.chain, issued.key);
    firstChain = issued.chain;
    // The validator fetched the challenge from each name, on the configured port.
    for (const name of NAMES) {
      assert.ok(
        validatorHits.some((hit) => hit.startsWith(`${name}:`) && hit.includes(' /.well-known/acme-challenge/')),
        `the validator fetched an http-01 token from ${name}; hits: ${validatorHits.join(', ')}`,
      );
    }
  });

  it('the issued chain passes openssl verify -x509_strict -purpose sslserver', async () => {
    assert.ok(firstChain, 'needs the certificate issued by the previous test');
    const [leaf, intermediate] = splitPemChain(firstChain);
    const verify = await opensslVerify(rootPem, intermediate!, leaf!, { strict: true, purpose: 'sslserver' });
    assert.ok(verify.ok, `RFC 5280 strict checks and TLS server purpose\n${verify.output}`);
  });

  it('acme-client issues again (renewal) and gets a new serial that verifies', async () => {
    assert.ok(firstChain, 'needs the certificate issued by the earlier test');
    let issued: { chain: string; key: Buffer };
    try {
      issued = await issue(client);
    } catch (error) {
      assert.fail(`client.auto (renewal) failed: ${(error as Error).message}\n${context()}`);
    }
    await assertChain(issued.chain, issued.key);
    assert.notEqual(certSerial(splitPemChain(issued.chain)[0]!), certSerial(splitPemChain(firstChain)[0]!), 'a new serial number');
    renewedChain = issued.chain;
  });

  it('acme-client revokes the renewed certificate with the account key', async () => {
    assert.ok(renewedChain, 'needs the certificate renewed by the previous test');
    try {
      await client.revokeCertificate(splitPemChain(renewedChain)[0]!, { reason: 1 });
    } catch (error) {
      assert.fail(`revokeCertificate failed: ${(error as Error).message}\n${context()}`);
    }
  });

  it('revoking the same certificate again fails with alreadyRevoked', async (t) => {
    assert.ok(renewedChain, 'needs the certificate renewed by the earlier test');
    const problem = await expectProblem('a second revocation', () => client.revokeCertificate(splitPemChain(renewedChain)[0]!, { reason: 1 }));
    t.diagnostic(`server answered ${problem.status} ${problem.type}: ${problem.detail}`);
    assert.equal(problem.type, `${ACME_ERROR}alreadyRevoked`, context());
  });

  it('updateAccountKey rolls the account over to a new RSA key, and a new order with the new key succeeds', async () => {
    assert.ok(accountUrl, 'needs the account registered by the first test');
    const newKey = await acme.crypto.createPrivateRsaKey(2048);
    try {
      await client.updateAccountKey(newKey);
    } catch (error) {
      assert.fail(`updateAccountKey failed: ${(error as Error).message}\n${context()}`);
    }
    oldKeyAfterRollover = accountKey;
    accountKey = newKey;
    assert.equal(client.getAccountUrl(), accountUrl, 'the account keeps its URL');

    let issued: { chain: string; key: Buffer };
    try {
      issued = await issue(client);
    } catch (error) {
      assert.fail(`client.auto with the new key failed: ${(error as Error).message}\n${context()}`);
    }
    await assertChain(issued.chain, issued.key);

    // A fresh client holding the new key finds the same account.
    const fresh = new acme.Client({ directoryUrl: server!.directoryUrl, accountKey: newKey, ...clientOptions });
    await fresh.createAccount({ onlyReturnExisting: true });
    assert.equal(fresh.getAccountUrl(), accountUrl);
  });

  it('after the rollover the old key finds no account (accountDoesNotExist)', async (t) => {
    assert.ok(oldKeyAfterRollover, 'needs the key rollover of the previous test');
    const stale = new acme.Client({ directoryUrl: server!.directoryUrl, accountKey: oldKeyAfterRollover, ...clientOptions });
    const problem = await expectProblem('newAccount with onlyReturnExisting and the old key', () => stale.createAccount({ onlyReturnExisting: true }));
    t.diagnostic(`server answered ${problem.status} ${problem.type}: ${problem.detail}`);
    assert.ok([`${ACME_ERROR}accountDoesNotExist`, `${ACME_ERROR}unauthorized`].includes(problem.type), `got ${problem.type}\n${context()}`);
  });

  it('after the rollover a request signed with the old key for the account URL is refused', async (t) => {
    assert.ok(oldKeyAfterRollover, 'needs the key rollover of the earlier test');
    const stale = new acme.Client({ directoryUrl: server!.directoryUrl, accountKey: oldKeyAfterRollover, accountUrl, ...clientOptions });
    const problem = await expectProblem('newOrder signed with the old key', () => stale.createOrder({ identifiers: NAMES.map((value) => ({ type: 'dns', value })) }));
    t.diagnostic(`server answered ${problem.status} ${problem.type}: ${problem.detail}`);
    // The account's key is now RSA and the request says ES256: Pebble answers malformed, Boulder
    // badSignatureAlgorithm; either refuses the stale key, which is the behaviour under test.
    assert.ok(
      [`${ACME_ERROR}malformed`, `${ACME_ERROR}badSignatureAlgorithm`, `${ACME_ERROR}unauthorized`, `${ACME_ERROR}accountDoesNotExist`].includes(problem.type),
      `got ${problem.type}\n${context()}`,
    );
  });
});
