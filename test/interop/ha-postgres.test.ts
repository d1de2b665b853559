/**
 * Interop (issue 12): three `anvil serve` instances, each with its own data directory, on one
 * PostgreSQL cluster the test starts, behind HAProxy (TCP passthrough: each instance serves TLS
 * with a listener certificate from the shared CA; every instance's --base-url is the balancer).
 *
 * Covered: the three started at once on an empty database agree on one root and apply each
 * migration once; a nonce from one instance is accepted once by another and refused the second
 * time; an issuer rotation through one instance's admin API reaches the other two within 5 s;
 * certbot, lego and acme-client issue through the balancer and openssl verifies the chains; an
 * instance SIGKILLed under a bounded concurrent load (clients retrying resets and 503s as ACME
 * clients do) loses no order, no certificate and no lease: a validation it was running is finished
 * by another instance, and when it restarts on its data dir it leaves alone a validation a live
 * instance is running; CRL
 * numbers keep increasing when the holder of the `crl` lease dies; a 30 s database outage answers
 * 503 + Retry-After problem documents and unready /readyz, and service returns without restarts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SCHEMA_VERSION } from '../../src/store/postgres/migrations.js';
import { acmeClientKit } from '../helpers/acme-client-kit.js';
import { dns, http01Of, keyAuthorization, makeCsr, newOrder, pemToBase64url, poll, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { adminCall, createAdminToken, readyz, waitReadyz } from '../helpers/admin-http.js';
import { fetchCrl, serialHexOf } from '../helpers/crl-reader.js';
import { haproxyUnavailable, startHaproxy, type Balancer } from '../helpers/haproxy.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { postgresUnavailable, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js';
import { RawAcme, type HttpResponse, type SignOptions } from '../helpers/raw-acme.js';
import { revocationUrlsOf } from '../helpers/revocation-http.js';
import { certbotIn, legoHttp, runLego, standaloneCertonly } from './clients.js';
import { describeRun, freePort, opensslVerify, readText, requireTool, splitPemChain, startAnvil, waitFor, type AcmeServer } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = postgresUnavailable() || haproxyUnavailable() || requireTool('certbot') || requireTool('lego') || requireTool('openssl');

const LEASE_TTL_MS = 15_000;
const BAD_NONCE = 'urn:ietf:params:acme:error:badNonce';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One instance: its ports stay fixed, so a restart serves at the same addresses on the same data dir. */
interface Instance {
  name: string;
  port: number;
  adminPort: number;
  revocationPort: number;
  dataDir: string;
  server: AcmeServer | undefined;
  readonly adminUrl: string;
  readonly revocationUrl: string;
}

/**
 * RawAcme as an ACME client behind a balancer behaves: a request that fails on the network
 * (connection reset by a dying instance), with a 5xx, or with badNonce is sent again with a fresh
 * nonce, a bounded number of times. Every retry and every 500 is recorded for the assertions.
 */
class RetryingAcme extends RawAcme {
  readonly retries: string[] = [];
  readonly internalErrors: string[] = [];

  override async init(): Promise<this> {
    await this.retry('GET directory', async () => {
      await super.init();
      return this.directory?.newNonce ? undefined : 'no directory';
    });
    return this;
  }

  override async post(url: string, payload: unknown, o: SignOptions & { contentType?: string } = {}): Promise<HttpResponse> {
    let last: HttpResponse | undefined;
    await this.retry(`POST ${url}`, async () => {
      last = await super.post(url, payload, o);
      if (last.status === 500) this.internalErrors.push(`POST ${url} → 500 ${last.body}`);
      if (last.status >= 500 || (last.status === 400 && last.json?.type === BAD_NONCE)) return `${last.status} ${last.json?.type ?? last.body.slice(0, 100)}`;
      return undefined;
    });
    return last!;
  }

  /** Runs `attempt` until it reports no reason to retry; network errors are reasons too. */
  private async retry(what: string, attempt: () => Promise<string | undefined>): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (let n = 1; ; n++) {
      let why: string | undefined;
      try {
        why = await attempt();
      } catch (e) {
        why = (e as Error).message;
      }
      if (why === undefined) return;
      this.retries.push(`${what}: ${why}`);
      if (n >= 60 || Date.now() > deadline) throw new Error(`${what} still failing after ${n} attempts: ${why}`);
      await sleep(Math.min(200 * n, 1_000));
    }
  }
}

describe('three instances on one PostgreSQL behind HAProxy', { skip, timeout: 400_000 }, () => {
  let stack: InteropStack;
  let cluster: PostgresCluster;
  let databaseUrl = '';
  let db: pg.Pool;
  let lbPort = 0;
  let balancer: Balancer | undefined;
  let responder: Http01Responder | undefined;
  let rootPem = '';
  const instances: Instance[] = [];
  const lbBase = () => `https://127.0.0.1:${lbPort}`;
  const lbDirectory = () => `${lbBase()}/directory`;

  const startInstance = async (inst: Instance): Promise<AcmeServer> => {
    inst.server = await startAnvil({
      dnsResolver: stack.dns.resolver,
      http01Port: stack.http01Port,
      dataDir: inst.dataDir,
      port: inst.port,
      readyTimeoutMs: 90_000,
      extraArgs: [
        '--database-url', databaseUrl,
        '--base-url', lbBase(),
        '--admin-listen', `127.0.0.1:${inst.adminPort}`,
        '--revocation-listen', `127.0.0.1:${inst.revocationPort}`,
        '--database-pool-size', '8',
        // Room for the validations the load test holds open across a kill and a restart.
        '--validation-timeout', '30s',
      ],
    });
    return inst.server;
  };
  const serverOf = (inst: Instance): AcmeServer => {
    if (!inst.server) throw new Error(`instance ${inst.name} is not running`);
    return inst.server;
  };
  /** The instance whose process holds a lease (holder = `host:pid:random`). */
  const instanceOfHolder = (holder: string): Instance | undefined => instances.find((i) => i.server && String(i.server.pid) === holder.split(':')[1]);
  const liveLeases = async (): Promise<{ task: string; holder: string; expires_at: number }[]> =>
    (await db.query<{ task: string; holder: string; expires_at: string }>('SELECT task, holder, expires_at FROM leases')).rows
      .map((r) => ({ ...r, expires_at: Number(r.expires_at) }))
      .filter((r) => r.expires_at > Date.now());
  const logsOf = (inst: Instance): string => (inst.server ? inst.server.logs().slice(-6_000) : '(not running)');
  const allLogs = (): string => instances.map((i) => `--- ${i.name} (tail) ---\n${logsOf(i)}`).join('\n');
  /** An ACME URL of the balancer, sent to one instance directly. */
  const direct = (inst: Instance, url: string): string => url.replace(lbBase(), serverOf(inst).baseUrl);

  /**
   * The whole order with retries where a client would retry. A finalize whose first attempt landed
   * on an instance that then died is answered orderNotReady on the retry: the order is then
   * processing (taken over by a sweeper) or valid, and is polled to the end.
   */
  const issueRetrying = async (acme: RetryingAcme, name: string): Promise<{ chainPem: string; orderUrl: string }> => {
    const created = await newOrder(acme, dns(name));
    if (created.status !== 201) throw new Error(`newOrder: ${created.status} ${created.body}`);
    const orderUrl = String(created.headers.location);
    for (const authzUrl of created.json.authorizations as string[]) {
      const authz = await postAsGet(acme, authzUrl);
      if (authz.json.status === 'valid') continue;
      const challenge = http01Of(authz.json);
      responder!.set(challenge.token, await keyAuthorization(acme, challenge.token));
      const answered = await acme.post(challenge.url, {});
      if (answered.status !== 200) throw new Error(`challenge: ${answered.status} ${answered.body}`);
      const settled = await poll(acme, authzUrl, (b) => b.status !== 'pending', 60_000);
      if (settled.json?.status !== 'valid') throw new Error(`authorization: ${settled.status} ${settled.body}`);
    }
    const ready = await poll(acme, orderUrl, (b) => b.status !== 'pending', 60_000);
    if (ready.json?.status !== 'ready') throw new Error(`order not ready: ${ready.status} ${ready.body}`);
    const { csr } = await makeCsr([name]);
    const finalized = await acme.post(ready.json.finalize, { csr });
    if (finalized.status !== 200) {
      const now = await postAsGet(acme, orderUrl);
      const landedBefore = finalized.status === 403 && finalized.json?.type === 'urn:ietf:params:acme:error:orderNotReady' && ['processing', 'valid'].includes(now.json?.status);
      if (!landedBefore) throw new Error(`finalize: ${finalized.status} ${finalized.body}; order ${now.body}`);
    }
    const valid = await poll(acme, orderUrl, (b) => b.status !== 'processing' && b.status !== 'ready', 60_000);
    if (valid.json?.status !== 'valid') throw new Error(`order not valid: ${valid.status} ${valid.body}`);
    const cert = await postAsGet(acme, valid.json.certificate);
    if (cert.status !== 200) throw new Error(`certificate download: ${cert.status} ${cert.body}`);
    return { chainPem: cert.body, orderUrl };
  };
  const registeredAcme = async (): Promise<RetryingAcme> => {
    const acme = await new RetryingAcme(lbDirectory(), rootPem).init();
    const reg = await acme.register();
    if (reg.status !== 201 && reg.status !== 200) throw new Error(`newAccount: ${reg.status} ${reg.body}`);
    return acme;
  };
  const assertChainVerifies = async (chainPem: string, who: string) => {
    const [leaf, ...rest] = splitPemChain(chainPem);
    assert.ok(leaf && rest.length > 0, `${who}: a leaf and its intermediate:\n${chainPem}`);
    const verify = await opensslVerify(rootPem, rest.join(''), leaf);
    assert.ok(verify.ok, `${who}: openssl verify against the shared root\n${verify.output}`);
  };

  // after() tears down whatever before() got to start, also when before() failed half way.
  before(async () => {
    stack = await openStack('anvil-interop-ha-');
    cluster = await startPostgresCluster();
    stack.onClose(() => cluster.destroy());
    databaseUrl = await cluster.createDatabase();
    db = new pg.Pool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 3_000 });
    db.on('error', () => undefined);
    stack.onClose(() => db.end());
    lbPort = await freePort();
    for (const name of ['a', 'b', 'c']) {
      const [port, adminPort, revocationPort] = [await freePort(), await freePort(), await freePort()];
      const dataDir = path.join(stack.work, name);
      await mkdir(dataDir);
      instances.push({
        name, port, adminPort, revocationPort, dataDir, server: undefined,
        adminUrl: `http://127.0.0.1:${adminPort}`,
        revocationUrl: `http://127.0.0.1:${revocationPort}`,
      });
    }
    stack.onClose(() => Promise.all(instances.map((i) => i.server?.stop())));
    // All three at the same moment, on the empty database.
    const started = await Promise.allSettled(instances.map(startInstance));
    const failed = started.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed.length > 0) throw new AggregateError(failed.map((f) => f.reason), `${failed.length} of 3 instances did not start`);
    balancer = await startHaproxy(stack.work, instances.map((i) => ({ name: i.name, port: i.port, adminPort: i.adminPort })), lbPort);
    stack.onClose(() => balancer?.stop());
    rootPem = await readText(serverOf(instances[0]!).rootPemPath);
    await waitFor('the balancer serving the directory', async () => (await fetchDirectory()) === 200, 20_000, 200);
  });
  after(async () => stack?.close());

  const fetchDirectory = async (): Promise<number> => {
    try {
      return (await new RawAcme(lbDirectory(), rootPem).init()).directory.newNonce ? 200 : 0;
    } catch {
      return 0;
    }
  };

  it('three instances started at once on an empty database share one root, and each migration ran once', async () => {
    const roots = instances.map((i) => readFileSync(serverOf(i).rootPemPath));
    for (const [n, root] of roots.entries()) assert.ok(root.equals(roots[0]!), `instance ${instances[n]!.name} has the same root.pem bytes as ${instances[0]!.name}`);
    const published = instances.filter((i) => /"key":"ca-directory","msg":"published this directory to the shared store"/.test(serverOf(i).logs()));
    assert.equal(published.length, 1, `exactly one instance created and published the hierarchy, the others copied it\n${allLogs()}`);
    const versions = (await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
    assert.deepEqual(versions, Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'schema_migrations lists every migration once');
  });

  it("a nonce from one instance is accepted once by another and refused with badNonce the second time", async () => {
    const directory = (await new RawAcme(lbDirectory(), rootPem).init()).directory;
    const [a, b, c] = instances as [Instance, Instance, Instance];
    for (const [from, first, second] of [[a, b, c], [b, c, c], [c, a, b]] as const) {
      const head = await new RawAcme(lbDirectory(), rootPem).init();
      head.directory = { ...directory, newNonce: direct(from, directory.newNonce) };
      const nonce = await head.nonce();
      const user = new RawAcme(lbDirectory(), rootPem);
      const once = await user.postRaw(direct(first, directory.newAccount), JSON.stringify(await user.sign(directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true, nonce })));
      assert.equal(once.status, 201, `a nonce from ${from.name} is accepted by ${first.name}: ${once.body}`);
      const twice = await user.postRaw(direct(second, directory.newAccount), JSON.stringify(await user.sign(directory.newAccount, { onlyReturnExisting: true }, { useJwk: true, nonce })));
      assert.equal(twice.status, 400, `the same nonce again at ${second.name}: ${twice.body}`);
      assert.equal(twice.json?.type, BAD_NONCE);
    }
  });

  it('an issuer rotation through one instance\'s admin API reaches the other two within 5 s', async () => {
    const [a, ...others] = instances as [Instance, Instance, Instance];
    const { token } = await createAdminToken(a.dataDir, 'ca-admin', 'ha-rotation', { ANVIL_DATABASE_URL: databaseUrl });
    const rotated = await adminCall(a.adminUrl, token, 'POST', '/admin/issuers/rotate');
    assert.equal(rotated.status, 200, rotated.body);
    const created = String(rotated.json?.created ?? '');
    assert.match(created, /^int-/, `the rotation names the new issuer: ${rotated.body}`);
    const rotatedAt = Date.now();
    for (const inst of [a, ...others]) {
      let detail = '';
      await waitFor(
        `${inst.name}'s readiness naming the new issuer ${created}`,
        async () => {
          const r = await readyz(inst.adminUrl);
          detail = r.body?.checks.find((c) => c.name === 'signer')?.detail ?? r.raw;
          return detail.startsWith(`${created} `);
        },
        5_000 - (Date.now() - rotatedAt),
        100,
      ).catch((e: Error) => assert.fail(`${e.message}; signer check says ${detail}\n${logsOf(inst)}`));
    }
  });

  it('certbot, lego and acme-client issue through the balancer, and openssl verifies each chain against the shared root', async () => {
    const throughBalancer: AcmeServer = { ...serverOf(instances[0]!), directoryUrl: lbDirectory(), baseUrl: lbBase() };
    const certbotDir = path.join(stack.work, 'certbot');
    const certbot = certbotIn(certbotDir, throughBalancer);
    const certbotName = uniqueName('certbot');
    const cb = await certbot.run(standaloneCertonly(stack.http01Port, [certbotName]));
    assert.equal(cb.code, 0, `${describeRun(cb)}\n${allLogs()}`);
    const live = path.join(certbot.configDir, 'live', certbotName);
    await assertChainVerifies(`${await readText(path.join(live, 'cert.pem'))}${await readText(path.join(live, 'chain.pem'))}`, 'certbot');

    const legoName = uniqueName('lego');
    const legoPath = path.join(stack.work, 'lego');
    const lg = await runLego(throughBalancer, { email: 'ha@example.test', path: legoPath }, ['--domains', legoName, ...legoHttp(stack.http01Port), 'run']);
    assert.equal(lg.code, 0, `${describeRun(lg)}\n${allLogs()}`);
    await assertChainVerifies(await readText(path.join(legoPath, 'certificates', `${legoName}.crt`)), 'lego');

    // From here on the test's responder answers http-01 on the validator's port.
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder?.close());
    const kit = await acmeClientKit(lbDirectory(), rootPem, responder);
    const issued = await kit.issue({ names: [uniqueName('acme-client')], keyType: 'ecdsa-p256' });
    await assertChainVerifies(issued.chain, 'acme-client');
  });

  it('an instance SIGKILLed under concurrent load loses no order, no certificate and no lease, and restarts on its data dir', async (t) => {
    assert.ok(responder, 'the http-01 responder runs (started by the client test)');
    const TOTAL = 30;
    const PARALLEL = 4;
    const deadline = Date.now() + 90_000;
    const leases = await liveLeases();
    // The victim is the instance holding most periodic-task leases, so their takeover is tested.
    const byInstance = instances.map((i) => ({ inst: i, held: leases.filter((l) => instanceOfHolder(l.holder) === i) }));
    const victim = byInstance.sort((x, y) => y.held.length - x.held.length)[0]!;
    assert.ok(victim.held.length > 0, `some instance holds a lease: ${JSON.stringify(leases)}`);
    const victimHolders = new Set(victim.held.map((l) => l.holder));
    const clients: RetryingAcme[] = [];
    const received: { name: string; chainPem: string }[] = [];
    const failures: string[] = [];
    let next = 0;
    let failover: Promise<{ takeoverMs: number }> | undefined;
    let completedAtKill = 0;
    /**
     * A validation in progress on `inst`: the challenge is posted to it directly, and the
     * responder holds the answer to its validator until finish() puts the answer there at once.
     */
    const holdValidation = async (inst: Instance) => {
      const acme = await registeredAcme();
      const name = uniqueName('held');
      const created = await newOrder(acme, dns(name));
      assert.equal(created.status, 201, created.body);
      const authzUrl = String(created.json.authorizations[0]);
      const challenge = http01Of((await postAsGet(acme, authzUrl)).json);
      const answer = await keyAuthorization(acme, challenge.token);
      responder!.setRaw(challenge.token, { status: 200, body: answer, delayMs: 120_000 });
      const posted = await acme.postRaw(direct(inst, challenge.url), JSON.stringify(await acme.sign(challenge.url, {})));
      assert.equal(posted.status, 200, `the challenge posted to ${inst.name} directly: ${posted.body}`);
      const fetches = () => responder!.requests.filter((r) => r.endsWith(`/${challenge.token}`)).length;
      await waitFor(`${inst.name}'s validator waiting on the held answer`, () => fetches() > 0, 10_000, 20);
      return {
        fetches,
        /** Answers the held request and any later one; the order then completes. validAfterMs: from `since` until the authorization is valid. */
        finish: async (since: number): Promise<{ name: string; chainPem: string; validAfterMs: number }> => {
          responder!.set(challenge.token, answer);
          responder!.release(challenge.token);
          const settled = await poll(acme, authzUrl, (b) => b.status !== 'pending', 90_000);
          assert.equal(settled.json?.status, 'valid', `the held validation of ${name} (started on ${inst.name}) ends valid: ${settled.body}`);
          const validAfterMs = Date.now() - since;
          const orderUrl = String(created.headers.location);
          const ready = await poll(acme, orderUrl, (b) => b.status !== 'pending', 30_000);
          const finalized = await acme.post(ready.json.finalize, { csr: (await makeCsr([name])).csr });
          assert.equal(finalized.status, 200, finalized.body);
          const valid = await poll(acme, orderUrl, (b) => b.status !== 'processing' && b.status !== 'ready', 30_000);
          const cert = await postAsGet(acme, valid.json.certificate);
          assert.equal(cert.status, 200, cert.body);
          return { name, chainPem: cert.body, validAfterMs };
        },
      };
    };
    type Held = Promise<{ name: string; chainPem: string; validAfterMs: number }>;
    let heldOnVictim: Held | undefined;
    let heldOnLive: Held | undefined;
    const killAndRecover = async (): Promise<{ takeoverMs: number }> => {
      // A validation in progress on the victim when it dies: another instance must finish it.
      const onVictim = await holdValidation(victim.inst);
      const killedAt = Date.now();
      completedAtKill = received.length;
      await serverOf(victim.inst).kill('SIGKILL');
      heldOnVictim = onVictim.finish(killedAt);
      heldOnVictim.catch(() => undefined); // awaited (and reported) after the load
      let state = '';
      await waitFor(
        `the leases of the killed instance (${victim.held.map((l) => l.task).join(', ')}) held by a live instance`,
        async () => {
          const now = await liveLeases().catch(() => []);
          state = JSON.stringify(now);
          return victim.held.every((l) => {
            const row = now.find((r) => r.task === l.task);
            return row !== undefined && !victimHolders.has(row.holder) && instanceOfHolder(row.holder) !== undefined;
          });
        },
        2 * LEASE_TTL_MS,
        250,
      ).catch((e: Error) => assert.fail(`${e.message}; leases now ${state}\n${allLogs()}`));
      const takeoverMs = Date.now() - killedAt;
      // A validation in progress on a live instance while the victim restarts: the starting
      // instance must leave it to that instance, not take it over.
      const live = instances.find((i) => i !== victim.inst)!;
      const onLive = await holdValidation(live);
      await startInstance(victim.inst);
      await sleep(2_000);
      const fetches = onLive.fetches();
      heldOnLive = onLive.finish(Date.now());
      heldOnLive.catch(() => undefined);
      assert.equal(fetches, 1, `the restarted ${victim.inst.name} did not validate again what ${live.name} is validating (the held answer was fetched ${fetches} times)`);
      return { takeoverMs };
    };
    const worker = async (): Promise<void> => {
      const acme = await registeredAcme();
      clients.push(acme);
      while (next < TOTAL && Date.now() < deadline) {
        const name = uniqueName(`load${next++}`);
        try {
          received.push({ name, ...(await issueRetrying(acme, name)) });
        } catch (e) {
          failures.push(`${name}: ${(e as Error).message}`);
        }
        if (received.length >= 6 && !failover) {
          failover = killAndRecover();
          failover.catch(() => undefined); // awaited (and reported) after the load
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const { takeoverMs } = await (failover ?? Promise.reject(new Error('the load ended before the kill')));
    const stalledOrder = await heldOnVictim!;
    received.push(stalledOrder, await heldOnLive!);
    const retried = clients.flatMap((c) => c.retries);
    const context = `${retried.length} retries, e.g.\n${retried.slice(0, 10).join('\n')}\n${allLogs()}`;
    assert.deepEqual(failures, [], `every order completes\n${context}`);
    assert.equal(received.length, TOTAL + 2, `all ${TOTAL} orders (and the two held ones) completed within the time cap\n${context}`);
    assert.deepEqual(clients.flatMap((c) => c.internalErrors), [], 'no request was answered 500');
    assert.ok(takeoverMs <= 2 * LEASE_TTL_MS, `leases taken over in ${takeoverMs} ms`);
    assert.ok(stalledOrder.validAfterMs <= 3 * LEASE_TTL_MS, `the validation caught on the dead instance was finished by another within ${3 * LEASE_TTL_MS} ms of the kill (took ${stalledOrder.validAfterMs} ms)`);
    t.diagnostic(`killed ${victim.inst.name} (leases ${victim.held.map((l) => l.task).join(', ')}) with ${completedAtKill} of ${TOTAL} orders done; leases taken over in ${takeoverMs} ms; its validation in ${stalledOrder.validAfterMs} ms; ${retried.length} client retries: ${[...new Set(retried.map((r) => r.replace(/^.*?: /, '').slice(0, 60)))].slice(0, 6).join(' | ')}`);

    const serials = received.map((r) => serialHexOf(splitPemChain(r.chainPem)[0]!));
    assert.equal(new Set(serials).size, serials.length, 'no serial was handed out twice');
    const stored = (await db.query<{ serial: string; order_id: string }>('SELECT serial, order_id FROM certificates WHERE serial = ANY($1)', [serials])).rows;
    assert.deepEqual(stored.map((r) => r.serial).sort(), [...serials].sort(), 'every certificate a client received is in the store');
    const doubled = (await db.query('SELECT order_id, count(*) AS n FROM certificates GROUP BY order_id HAVING count(*) > 1')).rows;
    assert.deepEqual(doubled, [], 'no order was issued twice (by the dead instance and by its successor)');
    for (const r of received.slice(0, 3)) await assertChainVerifies(r.chainPem, r.name);

    let stuck: unknown[] = [];
    await waitFor(
      'no order or challenge left processing',
      async () => {
        stuck = (await db.query("SELECT 'order' AS kind, id FROM orders WHERE status = 'processing' UNION ALL SELECT 'challenge', id FROM challenges WHERE status = 'processing'")).rows;
        return stuck.length === 0;
      },
      3 * LEASE_TTL_MS,
      500,
    ).catch((e: Error) => assert.fail(`${e.message}: ${JSON.stringify(stuck)}\n${allLogs()}`));
    assert.equal((await fetchDirectory()), 200, 'the balancer serves after the restart');
  });

  it('CRL numbers keep increasing when the holder of the crl lease dies and another instance publishes', async (t) => {
    const acme = await registeredAcme();
    const first = await issueRetrying(acme, uniqueName('crl-a'));
    const second = await issueRetrying(acme, uniqueName('crl-b'));
    const [leafA, issuerPem] = splitPemChain(first.chainPem) as [string, string];
    const leafB = splitPemChain(second.chainPem)[0]!;
    const fullPath = new URL(revocationUrlsOf(leafA).fullCrl).pathname;
    const crlAt = (inst: Instance) => fetchCrl(`${inst.revocationUrl}${fullPath}`);
    const numbersSeen: bigint[] = [];
    const revoke = async (leaf: string) => {
      const res = await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(leaf), reason: 1 });
      assert.equal(res.status, 200, `revokeCert: ${res.body}`);
    };
    const waitListed = async (from: Instance[], leaf: string, timeoutMs: number): Promise<bigint> => {
      const serial = serialHexOf(leaf);
      let number: bigint | undefined;
      await waitFor(`a full CRL listing ${serial}`, async () => {
        for (const inst of from) {
          const { crl } = await crlAt(inst);
          assert.ok(crl.verifiedBy(issuerPem), `the full CRL from ${inst.name} is signed by the issuer`);
          assert.ok(crl.number !== undefined, 'the CRL has a number');
          if (numbersSeen.length > 0) assert.ok(crl.number >= numbersSeen.at(-1)!, `CRL number ${crl.number} from ${inst.name} after ${numbersSeen.at(-1)}: never backwards`);
          numbersSeen.push(crl.number);
          if (crl.entries.has(serial)) number = crl.number;
        }
        return number !== undefined;
      }, timeoutMs, 200);
      return number!;
    };

    const crlLease = (await liveLeases()).find((l) => l.task === 'crl');
    assert.ok(crlLease, 'an instance holds the crl lease');
    const holder = instanceOfHolder(crlLease.holder);
    assert.ok(holder, `the crl lease holder ${crlLease.holder} is one of the instances`);
    const survivors = instances.filter((i) => i !== holder);
    await revoke(leafA);
    const before = await waitListed(instances, leafA, 15_000);
    await serverOf(holder).kill('SIGKILL');
    const killedAt = Date.now();
    const beforeFailover = numbersSeen.reduce((m, n) => (n > m ? n : m), 0n);
    await revoke(leafB);
    const afterFailover = await waitListed(survivors, leafB, 2 * LEASE_TTL_MS + 10_000).catch((e: Error) => assert.fail(`${e.message}\n${allLogs()}`));
    const successor = (await liveLeases()).find((l) => l.task === 'crl');
    assert.ok(successor && successor.holder !== crlLease.holder && survivors.includes(instanceOfHolder(successor.holder)!), `a survivor holds the crl lease now: ${JSON.stringify(successor)}`);
    assert.ok(afterFailover > beforeFailover, `the CRL published after the failover (number ${afterFailover}) is above every earlier one (up to ${beforeFailover}, first listing ${before})`);
    assert.ok(Date.now() - killedAt < 2 * LEASE_TTL_MS + 10_000, 'published within the lease takeover time');
    t.diagnostic(`crl lease ${holder.name} → ${instanceOfHolder(successor.holder)?.name}; CRL ${before} before, ${afterFailover} after, ${Date.now() - killedAt} ms after the kill`);
    await startInstance(holder);
  });

  it('a 30 s database outage answers 503 with Retry-After and unready /readyz; service returns without restarting any instance', async (t) => {
    const pids = instances.map((i) => serverOf(i).pid);
    const prober = await registeredAcme();
    const raw = new RawAcme(lbDirectory(), rootPem, prober.key);
    raw.directory = prober.directory;
    raw.kid = prober.kid;
    type Probe = { startedAt: number; ms: number; status: number; retryAfter: unknown; contentType: unknown; type: unknown; error?: string };
    const probes: Probe[] = [];
    let probing = true;
    const probeLoop = async () => {
      const stopAt = Date.now() + 60_000;
      while (probing && Date.now() < stopAt) {
        const startedAt = Date.now();
        try {
          const res = await raw.post(raw.directory.newOrder, { identifiers: dns(uniqueName('outage')) });
          probes.push({ startedAt, ms: Date.now() - startedAt, status: res.status, retryAfter: res.headers['retry-after'], contentType: res.headers['content-type'], type: res.json?.type });
        } catch (e) {
          probes.push({ startedAt, ms: Date.now() - startedAt, status: 0, retryAfter: undefined, contentType: undefined, type: undefined, error: (e as Error).message });
        }
        await sleep(250);
      }
    };
    const loops = [probeLoop(), probeLoop()];
    let windowStart = 0;
    let windowEnd = 0;
    const unready: string[] = [];
    try {
      await cluster.stop('fast');
      windowStart = Date.now();
      await sleep(3_000);
      for (const inst of instances) {
        const r = await readyz(inst.adminUrl);
        const store = r.body?.checks.find((c) => c.name === 'store');
        assert.equal(r.status, 503, `${inst.name}: /readyz is 503 with the store down: ${r.raw}`);
        assert.equal(store?.ok, false, `${inst.name}: the store check fails: ${r.raw}`);
        assert.match(store?.detail ?? '', /store unreachable/, `${inst.name}: the store check says the store is unreachable`);
        unready.push(inst.name);
      }
      await sleep(Math.max(0, windowStart + 30_000 - Date.now()));
      windowEnd = Date.now();
    } finally {
      await cluster.start();
    }
    assert.deepEqual(unready, instances.map((i) => i.name));
    const during = probes.filter((p) => p.startedAt >= windowStart && p.startedAt + p.ms <= windowEnd);
    assert.ok(during.length >= 20, `the light load kept probing through the outage (${during.length} probes)`);
    const wrong = during.filter((p) => p.status !== 503 || p.retryAfter === undefined || !/^application\/problem\+json/.test(String(p.contentType)) || typeof p.type !== 'string' || p.ms > 5_000);
    assert.deepEqual(wrong, [], 'every request during the outage got 503, Retry-After and a problem document within 5 s');
    t.diagnostic(`${during.length} probes during the outage, slowest ${Math.max(...during.map((p) => p.ms))} ms`);

    for (const inst of instances) {
      const r = await waitReadyz(inst.adminUrl, 200, 30_000);
      assert.equal(r.status, 200, `${inst.name}: /readyz is 200 again within 30 s of the database's return: ${r.raw}`);
    }
    const recovered = await issueRetrying(prober, uniqueName('after-outage'));
    await assertChainVerifies(recovered.chainPem, 'the order after the outage');
    probing = false;
    await Promise.all(loops);
    assert.deepEqual(instances.map((i) => serverOf(i).pid), pids, 'no instance was restarted');
  });
});
