/**
 * Interop: graceful shutdown (README "Operations": SIGTERM stops accepting, lets in-flight
 * requests finish (≤ 10 s), drains validations (≤ 10 s), stops the timers and closes the store).
 * A running server gets SIGTERM while two newOrder requests are half uploaded and one http-01
 * validation is waiting on a slow responder. New connections must be refused at once; the two
 * uploads, completed after the signal, must be answered 201; the validation must finish and be
 * recorded; the process must exit 0 within the bound; and the store must pass
 * `PRAGMA integrity_check` and `anvil audit verify` afterwards.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { dns, http01Of, keyAuthorization, newOrder, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { anvilCli } from '../helpers/eab.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { describeRun, httpsGet, readText, removeDir, startAnvil, tempDir, type AcmeServer } from './harness.js';

/** README: in-flight requests ≤ 10 s, then validations ≤ 10 s; plus process teardown. */
const EXIT_BOUND_MS = 22_000;
const VALIDATION_DELAY_MS = 3_000;
const UPLOAD_HOLD_MS = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An http-01 responder that answers each challenge only after a delay, recording when it was asked. */
async function slowResponder(delayMs: number): Promise<{ port: number; answers: Map<string, string>; asked: string[]; close(): Promise<void> }> {
  const answers = new Map<string, string>();
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const token = (req.url ?? '').split('/').pop() ?? '';
    asked.push(token);
    setTimeout(() => {
      const answer = answers.get(token);
      res.writeHead(answer ? 200 : 404, { 'Content-Type': 'application/octet-stream' });
      res.end(answer ?? 'not found');
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    answers,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A POST whose body is sent in two parts: the first now, the rest when `finish()` is called. */
function halfUpload(url: string, body: string, ca: string): { finish(): Promise<{ status: number; body: string }> } {
  const bytes = Buffer.from(body);
  const cut = Math.floor(bytes.length / 2);
  let settle!: (v: { status: number; body: string }) => void;
  let fail!: (e: Error) => void;
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const req = https.request(url, { method: 'POST', ca, agent: false, headers: { 'Content-Type': 'application/jose+json', 'Content-Length': String(bytes.length) } }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => settle({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
  });
  req.on('error', (e) => fail(e));
  req.write(bytes.subarray(0, cut));
  return {
    finish: () => {
      req.end(bytes.subarray(cut));
      return done;
    },
  };
}

describe('graceful shutdown on SIGTERM during in-flight requests and a running validation', { timeout: 90_000 }, () => {
  let work = '';
  let dataDir = '';
  let dnsServer: TestDnsServer | undefined;
  let responder: Awaited<ReturnType<typeof slowResponder>> | undefined;
  let server: AcmeServer | undefined;

  before(async () => {
    work = await tempDir('anvil-interop-shutdown-');
    dataDir = path.join(work, 'data');
    dnsServer = await startDnsServer();
    responder = await slowResponder(VALIDATION_DELAY_MS);
    server = await startAnvil({ dnsResolver: dnsServer.resolver, http01Port: responder.port, dataDir });
  });

  after(async () => {
    await server?.kill('SIGKILL');
    await responder?.close();
    await dnsServer?.close();
    await removeDir(work);
  });

  it('in-flight uploads are answered, the validation is drained and recorded, new connections are refused, exit 0 in bound, the store is intact', async () => {
    const rootPem = await readText(server!.rootPemPath);
    const acme = await new RawAcme(server!.directoryUrl, rootPem).init();
    assert.equal((await acme.register()).status, 201);

    // A validation in flight: the responder holds its answer for VALIDATION_DELAY_MS.
    const validating = uniqueName('shutdown-validate');
    const created = await newOrder(acme, dns(validating));
    assert.equal(created.status, 201, created.body);
    const authzUrl = String(created.json.authorizations[0]);
    const challenge = http01Of((await postAsGet(acme, authzUrl)).json);
    responder!.answers.set(challenge.token, await keyAuthorization(acme, challenge.token));
    assert.equal((await acme.post(challenge.url, {})).status, 200);
    const askedBy = Date.now() + 5_000;
    while (!responder!.asked.includes(challenge.token) && Date.now() < askedBy) await sleep(20);
    assert.ok(responder!.asked.includes(challenge.token), 'the validator is fetching the challenge');

    // Two requests in flight: signed newOrders, half of each body sent.
    const uploads = [uniqueName('shutdown-upload-a'), uniqueName('shutdown-upload-b')];
    const pending = [];
    for (const name of uploads) {
      const jws = await acme.sign(String(acme.directory.newOrder), { identifiers: dns(name) });
      pending.push(halfUpload(String(acme.directory.newOrder), JSON.stringify(jws), rootPem));
    }
    await sleep(200);
    const midway = http01Of((await postAsGet(acme, authzUrl)).json);
    assert.equal(midway.status, 'processing', `the validation is still running when SIGTERM is sent: ${JSON.stringify(midway)}`);

    const signalledAt = Date.now();
    process.kill(server!.pid, 'SIGTERM');
    await sleep(300);
    await assert.rejects(httpsGet(server!.directoryUrl, rootPem, 2_000), /ECONNREFUSED|ECONNRESET|socket hang up/, 'a new connection after SIGTERM is refused');

    await sleep(UPLOAD_HOLD_MS);
    const answers = await Promise.all(pending.map((p) => p.finish()));
    for (const [i, a] of answers.entries()) assert.equal(a.status, 201, `in-flight newOrder for ${uploads[i]} answered after SIGTERM: ${a.status} ${a.body}`);

    let bound: NodeJS.Timeout | undefined;
    const exitedWithin = await Promise.race([server!.exited.then(() => true), new Promise<false>((r) => (bound = setTimeout(() => r(false), EXIT_BOUND_MS)))]);
    clearTimeout(bound);
    const exitMs = Date.now() - signalledAt;
    assert.ok(exitedWithin, `the process exits within ${EXIT_BOUND_MS} ms of SIGTERM\n--- server log (tail) ---\n${server!.logs().slice(-3000)}`);
    const exit = await server!.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `clean exit (after ${exitMs} ms)\n${server!.logs().slice(-3000)}`);
    assert.match(server!.logs(), /anvil stopped/, 'the server logged its stop');

    const db = new Database(path.join(dataDir, 'anvil.db'), { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'PRAGMA integrity_check');
      const recorded = db.prepare('SELECT status FROM challenges WHERE token = ?').get(challenge.token) as { status: string } | undefined;
      assert.equal(recorded?.status, 'valid', 'the validation in flight at SIGTERM finished and was recorded');
      const identifiers = (db.prepare('SELECT identifiers FROM orders').all() as { identifiers: string }[]).map((r) => r.identifiers).join('\n');
      for (const name of uploads) assert.ok(identifiers.includes(name), `the order answered during shutdown is stored: ${name}`);
      assert.ok(!db.prepare("SELECT 1 FROM challenges WHERE status = 'processing'").get(), 'no challenge left processing');
    } finally {
      db.close();
    }
    const verify = await anvilCli(['audit', 'verify', '--data-dir', dataDir]);
    assert.equal(verify.code, 0, describeRun(verify));
  });
});
