/**
 * Interop: the hash-chained audit log (README "Operations"). A running server sees accounts,
 * orders, validations, issuance and revocation from acme-client, EAB credentials from the CLI and
 * the admin API, an operator's revocation and an auditor's refused call through the admin API.
 * `anvil audit verify` must pass and `anvil audit export` must hold each of those actions with its
 * actor. Then, on fresh copies of the stopped server's data directory, an attacker who dropped the
 * append-only triggers edits one record, deletes one, and inserts one (with a correctly computed
 * hash and the later records renumbered): each time `anvil audit verify` must exit 1 and name the
 * record. Without dropping the triggers, UPDATE and DELETE on audit_log must be refused.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditHash } from '../../src/store/audit-chain.js';
import { acmeClientKit, type AcmeClientKit } from '../helpers/acme-client-kit.js';
import { adminCall, createAdminToken } from '../helpers/admin-http.js';
import { auditRows, copyDataDir, dropAuditTriggers, insertAuditRowAfter, withDb, type ExportedRecord } from '../helpers/audit-tamper.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { anvilCli, createEab } from '../helpers/eab.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { describeRun, freePort, readText, removeDir, startAnvil, tempDir, type AcmeServer } from './harness.js';

const serialKey = (hex: string): string => hex.toLowerCase().replace(/:/g, '').replace(/^0+/, '');

describe('audit log: every state change with its actor; verify detects edited, deleted and inserted records', { timeout: 90_000 }, () => {
  let work = '';
  let dataDir = '';
  let dnsServer: TestDnsServer | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;
  let adminUrl = '';
  let records: ExportedRecord[] = [];
  /** What the run did, to find in the export. */
  const did = {
    accountId: '',
    names: [] as string[],
    /** Comparable form (lower-case, no leading zeros) and the form Node prints, for URLs. */
    serials: [] as string[],
    serialsPrinted: [] as string[],
    apiEabKid: '',
    cliEabKid: '',
  };

  before(async () => {
    work = await tempDir('anvil-interop-audit-');
    dataDir = path.join(work, 'data');
    dnsServer = await startDnsServer();
    responder = await startHttp01Responder(await freePort());
    const adminPort = await freePort();
    server = await startAnvil({ dnsResolver: dnsServer.resolver, http01Port: responder.port, dataDir, env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` } });
    adminUrl = `http://127.0.0.1:${adminPort}`;
  });

  after(async () => {
    await server?.stop();
    await responder?.close();
    await dnsServer?.close();
    await removeDir(work);
  });

  it('a run of accounts, orders, issuance, revocations, EAB and admin calls leaves a chain that `anvil audit verify` accepts', async () => {
    const operator = await createAdminToken(dataDir, 'operator', 'ops-alice');
    const auditor = await createAdminToken(dataDir, 'auditor', 'aud-bob');

    const apiEab = await adminCall(adminUrl, operator.token, 'POST', '/admin/eab', { dnsSuffixes: ['.test'], note: 'audit test' });
    assert.equal(apiEab.status, 200, apiEab.body);
    did.apiEabKid = apiEab.json.kid;
    did.cliEabKid = (await createEab(dataDir, ['--dns-suffix', '.test', '--note', 'audit test cli'])).kid;

    const kit: AcmeClientKit = await acmeClientKit(server!.directoryUrl, await readText(server!.rootPemPath), responder!);
    did.accountId = kit.client.getAccountUrl().split('/').pop()!;
    const chains: string[] = [];
    for (let i = 0; i < 2; i++) {
      const name = uniqueName('audit');
      did.names.push(name);
      const issued = await kit.issue({ names: [name], keyType: 'ecdsa-p256' });
      chains.push(issued.chain);
      const printed = new X509Certificate(issued.chain).serialNumber.toLowerCase();
      did.serialsPrinted.push(printed);
      did.serials.push(serialKey(printed));
    }
    // The subscriber revokes the first (ACME revokeCert), the operator the second (admin API).
    await kit.client.revokeCertificate(chains[0]!, { reason: 4 });
    const refused = await adminCall(adminUrl, auditor.token, 'POST', `/admin/certificates/${did.serialsPrinted[1]}/revoke`, { reason: 5 });
    assert.equal(refused.status, 403, `an auditor may not revoke: ${refused.body}`);
    const revoked = await adminCall(adminUrl, operator.token, 'POST', `/admin/certificates/${did.serialsPrinted[1]}/revoke`, { reason: 5 });
    assert.equal(revoked.status, 200, revoked.body);

    const viaApi = await adminCall(adminUrl, auditor.token, 'GET', '/admin/audit/verify');
    assert.equal(viaApi.status, 200, viaApi.body);
    assert.equal(viaApi.json.ok, true, `GET /admin/audit/verify: ${viaApi.body}`);

    const verify = await anvilCli(['audit', 'verify', '--data-dir', dataDir]);
    assert.equal(verify.code, 0, describeRun(verify));
    assert.match(verify.stdout, /audit log intact: \d+ records, hash chain verified/, describeRun(verify));
  });

  it('`anvil audit export` prints JSON lines holding each action with its actor', async () => {
    const exported = await anvilCli(['audit', 'export', '--data-dir', dataDir]);
    assert.equal(exported.code, 0, describeRun(exported));
    const lines = exported.stdout.split('\n').filter((l) => l.trim() !== '');
    records = lines.map((l) => JSON.parse(l) as ExportedRecord);
    assert.deepEqual(
      records.map((r) => r.seq),
      records.map((_, i) => i + 1),
      'records are numbered 1..n in order',
    );
    for (const r of records) {
      assert.ok(typeof r.actor === 'string' && r.actor.length > 0, `every record has an actor: ${JSON.stringify(r)}`);
      assert.match(r.hash, /^[0-9a-f]{64}$/);
      assert.ok(!Number.isNaN(Date.parse(r.at)), `at is a date: ${r.at}`);
    }
    const dump = () => records.map((r) => `${r.seq} ${r.actor} ${r.action} ${r.subject} ${JSON.stringify(r.data)}`).join('\n');
    const find = (what: string, p: (r: ExportedRecord) => boolean): ExportedRecord => {
      const hit = records.find(p);
      assert.ok(hit, `no audit record for ${what}:\n${dump()}`);
      return hit;
    };
    const account = `account:${did.accountId}`;
    find('account.created by the account', (r) => r.action === 'account.created' && r.actor === account && r.subject === did.accountId);
    for (const name of did.names) {
      find(`order.created for ${name}`, (r) => r.action === 'order.created' && r.actor === account && JSON.stringify(r.data).includes(name));
      find(`validation.valid for ${name}`, (r) => r.action === 'validation.valid' && r.actor.length > 0 && r.data.identifier === name && r.data.account === did.accountId);
    }
    for (const [i, serial] of did.serials.entries()) {
      find(`certificate.issued ${serial}`, (r) => r.action === 'certificate.issued' && r.actor === account && serialKey(r.subject) === serial && JSON.stringify(r.data.names) === JSON.stringify([did.names[i]]));
    }
    find('certificate.revoked by the subscriber', (r) => r.action === 'certificate.revoked' && r.actor === account && serialKey(r.subject) === did.serials[0] && r.data.reason === 4);
    find('certificate.revoked by the operator', (r) => r.action === 'certificate.revoked' && r.actor === 'admin:ops-alice' && serialKey(r.subject) === did.serials[1] && r.data.reason === 5);
    find('eab.created through the admin API', (r) => r.action === 'eab.created' && r.actor === 'admin:ops-alice' && r.subject === did.apiEabKid);
    find('eab.created through the CLI', (r) => r.action === 'eab.created' && /^operator:/.test(r.actor) && r.subject === did.cliEabKid);
    find('admin-token.created by the CLI operator', (r) => r.action === 'admin-token.created' && /^operator:/.test(r.actor) && r.data.role === 'operator' && r.data.name === 'ops-alice');
    find('the allowed admin revocation call', (r) => /^admin\.post /.test(r.action) && r.actor === 'admin:ops-alice' && r.subject.includes(did.serialsPrinted[1]!) && r.data.allowed === true);
    find('the refused admin revocation call', (r) => /^admin\.post /.test(r.action) && r.actor === 'admin:aud-bob' && r.subject.includes(did.serialsPrinted[1]!) && r.data.allowed === false);
    find('the admin EAB call', (r) => /^admin\.post /.test(r.action) && r.actor === 'admin:ops-alice' && r.subject === '/admin/eab' && r.data.allowed === true);
    find('the auditor reading the verdict', (r) => /^admin\.get /.test(r.action) && r.actor === 'admin:aud-bob' && r.subject === '/admin/audit/verify');
  });

  describe('tampering with a stopped server\'s store, each on a fresh copy', () => {
    let stopped = false;
    const stopServer = async () => {
      if (stopped) return;
      await server!.stop();
      stopped = true;
    };
    const seqOf = (p: (r: ExportedRecord) => boolean): number => {
      const r = records.find(p);
      assert.ok(r, 'the export test found the record');
      return r.seq;
    };
    const verifyCopy = async (copy: string) => anvilCli(['audit', 'verify', '--data-dir', copy]);

    it('UPDATE and DELETE on audit_log are refused by the triggers, and the chain still verifies', async () => {
      await stopServer();
      const copy = copyDataDir(dataDir, path.join(work, 'copy-triggers'));
      const before = auditRows(copy);
      withDb(copy, (db) => {
        assert.throws(() => db.prepare("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1").run(), /append-only/);
        assert.throws(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run(), /append-only/);
        assert.throws(() => db.prepare('DELETE FROM audit_log').run(), /append-only/);
      });
      assert.deepEqual(auditRows(copy), before, 'nothing changed');
      const verify = await verifyCopy(copy);
      assert.equal(verify.code, 0, describeRun(verify));
    });

    it('an edited record: verify exits 1 and names it', async () => {
      await stopServer();
      const seq = seqOf((r) => r.action === 'certificate.issued' && serialKey(r.subject) === did.serials[0]);
      const copy = copyDataDir(dataDir, path.join(work, 'copy-edit'));
      withDb(copy, (db) => {
        dropAuditTriggers(db);
        const row = db.prepare('SELECT data FROM audit_log WHERE seq = ?').get(seq) as { data: string };
        const changed = db.prepare('UPDATE audit_log SET data = ? WHERE seq = ?').run(row.data.replace(did.names[0]!, 'innocent.test'), seq).changes;
        assert.equal(changed, 1);
      });
      const verify = await verifyCopy(copy);
      assert.equal(verify.code, 1, describeRun(verify));
      assert.match(verify.stdout, new RegExp(`BROKEN at record ${seq}\\b`), `names record ${seq}\n${describeRun(verify)}`);
    });

    it('an edited record whose hash and every later hash were recomputed without the audit key: verify exits 1 and names it', async () => {
      await stopServer();
      const seq = seqOf((r) => r.action === 'certificate.issued' && serialKey(r.subject) === did.serials[0]);
      const copy = copyDataDir(dataDir, path.join(work, 'copy-rechain'));
      const forgerKey = new Uint8Array(randomBytes(32));
      withDb(copy, (db) => {
        dropAuditTriggers(db);
        const rows = db.prepare('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq').all(seq) as {
          seq: number; at: number; actor: string; action: string; subject: string; data: string; prev_hash: string;
        }[];
        let prev = rows[0]!.prev_hash;
        for (const r of rows) {
          const data = r.seq === seq ? r.data.replace(did.names[0]!, 'innocent.test') : r.data;
          const hash = auditHash(forgerKey, prev, r.seq, r.at, r.actor, r.action, r.subject, data);
          db.prepare('UPDATE audit_log SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(data, prev, hash, r.seq);
          prev = hash;
        }
      });
      const verify = await verifyCopy(copy);
      assert.equal(verify.code, 1, describeRun(verify));
      assert.match(verify.stdout, new RegExp(`BROKEN at record ${seq}\\b`), `names record ${seq}\n${describeRun(verify)}`);
    });

    it('a deleted record: verify exits 1 and names it', async () => {
      await stopServer();
      const seq = seqOf((r) => r.action === 'certificate.revoked' && r.actor === 'admin:ops-alice');
      const copy = copyDataDir(dataDir, path.join(work, 'copy-delete'));
      withDb(copy, (db) => {
        dropAuditTriggers(db);
        assert.equal(db.prepare('DELETE FROM audit_log WHERE seq = ?').run(seq).changes, 1);
      });
      const verify = await verifyCopy(copy);
      assert.equal(verify.code, 1, describeRun(verify));
      assert.match(verify.stdout, new RegExp(`BROKEN at record ${seq}\\b`), `names record ${seq}\n${describeRun(verify)}`);
    });

    it('an inserted record (hash computed with the published formula, later records renumbered): verify exits 1 and names it', async () => {
      await stopServer();
      // Forge an EAB revocation right after the API's eab.created, as if the credential had been revoked at once.
      const afterSeq = seqOf((r) => r.action === 'eab.created' && r.subject === did.apiEabKid);
      const copy = copyDataDir(dataDir, path.join(work, 'copy-insert'));
      const previous = auditRows(copy).find((r) => r.seq === afterSeq)!;
      const forged = { at: previous.at + 1, actor: 'admin:ops-alice', action: 'eab.revoked', subject: did.apiEabKid, data: '{}', prev_hash: previous.hash };
      // The forger knows the published formula but not the key derived from the CA key passphrase.
      const hash = auditHash(new Uint8Array(randomBytes(32)), forged.prev_hash, afterSeq + 1, forged.at, forged.actor, forged.action, forged.subject, forged.data);
      withDb(copy, (db) => {
        dropAuditTriggers(db);
        insertAuditRowAfter(db, afterSeq, { ...forged, hash });
      });
      const rows = auditRows(copy);
      assert.equal(rows.length, records.length + 1);
      assert.equal(rows[afterSeq]!.action, 'eab.revoked', 'the forged record sits at seq afterSeq + 1');
      const verify = await verifyCopy(copy);
      assert.equal(verify.code, 1, describeRun(verify));
      assert.match(verify.stdout, new RegExp(`BROKEN at record ${afterSeq + 1}\\b`), `names the inserted record ${afterSeq + 1}\n${describeRun(verify)}`);
    });
  });
});
