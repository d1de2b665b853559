/**
 * The audit log proves its completeness (issue 16 item 5). Removing the newest records leaves a
 * valid chain, so the chain alone cannot show it; the server therefore writes signed checkpoints of
 * the chain head (seq, hash) on a schedule to its log stream and to a file outside the database,
 * and `anvil audit verify --checkpoint <file>` checks the chain against the newest one it is given.
 * Tampering is done with better-sqlite3 on a copy of the stopped server's data directory.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditRows, copyDataDir, dropAuditTriggers, withDb } from '../helpers/audit-tamper.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { describeRun, readText, removeDir, run, serverEntry, startAnvil, tempDir, waitFor, type AcmeServer } from './harness.js';

const PASSPHRASE = 'interop-test-passphrase';
const anvil = (args: string[]) => run(process.execPath, [serverEntry(), ...args], { env: { ANVIL_KEY_PASSPHRASE: PASSPHRASE }, timeoutMs: 30_000 });

describe('audit chain head checkpoints', { timeout: 180_000 }, () => {
  let work = '';
  let dataDir = '';
  let server: AcmeServer | undefined;
  let logs = '';

  before(async () => {
    work = await tempDir('anvil-audit-checkpoint-');
    dataDir = path.join(work, 'data');
    server = await startAnvil({ dnsResolver: '127.0.0.1:1', http01Port: 1, dataDir, extraArgs: ['--audit-checkpoint-interval', '1s'] });
    const rootPem = await readText(server.rootPemPath);
    for (let i = 0; i < 4; i++) {
      const c = await new RawAcme(server.directoryUrl, rootPem).init();
      assert.equal((await c.register()).status, 201);
    }
    // The schedule catches up with the head within a tick or two.
    const head = () => withDb(dataDir, (db) => (db.prepare('SELECT max(seq) AS seq FROM audit_log').get() as { seq: number }).seq);
    const fileSeq = () => {
      try {
        return JSON.parse(readFileSync(path.join(dataDir, 'audit-checkpoint.json'), 'utf8')).seq as number;
      } catch {
        return -1;
      }
    };
    await waitFor('the checkpoint file to reach the chain head', () => fileSeq() === head(), 10_000);
    await server.stop();
    logs = server.logs();
    server = undefined;
  });

  after(async () => {
    await server?.stop();
    await removeDir(work);
  });

  /** A copy of the data directory with the newest `n` records deleted (triggers dropped first). */
  function truncatedCopy(name: string, n: number): { dir: string; total: number } {
    const dir = copyDataDir(dataDir, path.join(work, name));
    const total = auditRows(dir).length;
    withDb(dir, (db) => {
      dropAuditTriggers(db);
      db.prepare('DELETE FROM audit_log WHERE seq > ?').run(total - n);
    });
    return { dir, total };
  }

  it('the server wrote the latest checkpoint to <data-dir>/audit-checkpoint.json and to its log stream', () => {
    const file = JSON.parse(readFileSync(path.join(dataDir, 'audit-checkpoint.json'), 'utf8'));
    const rows = auditRows(dataDir);
    assert.equal(file.seq, rows.length);
    assert.equal(file.hash, rows[rows.length - 1]!.hash);
    assert.match(file.mac, /^[0-9a-f]{64}$/);
    const logged = logs.split('\n').filter((l) => l.includes('"audit.checkpoint"')).map((l) => JSON.parse(l).checkpoint);
    assert.ok(logged.some((c) => c.seq === file.seq && c.hash === file.hash), `a log line carries the checkpoint:\n${logs.slice(-3000)}`);
  });

  it('an intact log verifies as complete up to the checkpoint', async () => {
    const result = await anvil(['audit', 'verify', '--data-dir', dataDir, '--checkpoint', path.join(dataDir, 'audit-checkpoint.json')]);
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /complete up to the checkpoint of .* \(record \d+/);
  });

  it('deleting the newest two records is detected against the checkpoint file, naming the removed records', async () => {
    const { dir, total } = truncatedCopy('cut-file', 2);
    const result = await anvil(['audit', 'verify', '--data-dir', dir, '--checkpoint', path.join(dir, 'audit-checkpoint.json')]);
    assert.equal(result.code, 1, describeRun(result));
    assert.match(result.stdout, new RegExp(`BROKEN at record ${total - 1}: the log ends at record ${total - 2}, but the checkpoint of .* names record ${total}: records ${total - 1}–${total} were removed`), describeRun(result));
  });

  it('the server\'s checkpoint file is used without --checkpoint; the log stream works as a checkpoint source too', async () => {
    const { dir, total } = truncatedCopy('cut-default', 1);
    const byDefault = await anvil(['audit', 'verify', '--data-dir', dir]);
    assert.equal(byDefault.code, 1, describeRun(byDefault));
    assert.match(byDefault.stdout, new RegExp(`records ${total}–${total} were removed`));
    rmSync(path.join(dir, 'audit-checkpoint.json'));
    const logFile = path.join(work, 'server.log');
    writeFileSync(logFile, logs);
    const fromLogs = await anvil(['audit', 'verify', '--data-dir', dir, '--checkpoint', logFile]);
    assert.equal(fromLogs.code, 1, describeRun(fromLogs));
    assert.match(fromLogs.stdout, /were removed/);
  });

  it('without any checkpoint the truncated log still passes, and verify says that this cannot be detected', async () => {
    const { dir } = truncatedCopy('cut-none', 2);
    rmSync(path.join(dir, 'audit-checkpoint.json'));
    const result = await anvil(['audit', 'verify', '--data-dir', dir]);
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /no checkpoint given \(--checkpoint\): removal of the newest records cannot be detected/);
  });

  it('a checkpoint whose seq was edited (forged without the passphrase) is refused', async () => {
    const forged = JSON.parse(readFileSync(path.join(dataDir, 'audit-checkpoint.json'), 'utf8'));
    forged.seq -= 1;
    const file = path.join(work, 'forged.json');
    writeFileSync(file, JSON.stringify(forged));
    const result = await anvil(['audit', 'verify', '--data-dir', dataDir, '--checkpoint', file]);
    assert.equal(result.code, 1, describeRun(result));
    assert.match(result.stdout, /REFUSED: 1 checkpoint\(s\) found, none signed with this CA's audit key/);
  });

  it('anvil audit checkpoint writes one now and prints it', async () => {
    const result = await anvil(['audit', 'checkpoint', '--data-dir', dataDir]);
    assert.equal(result.code, 0, describeRun(result));
    const printed = JSON.parse(result.stdout);
    assert.equal(printed.seq, auditRows(dataDir).length);
    assert.deepEqual(JSON.parse(readFileSync(path.join(dataDir, 'audit-checkpoint.json'), 'utf8')), printed);
  });
});
