/**
 * Interop: two `anvil serve` instances on one PostgreSQL database, each on its own data directory
 * (no shared file system). What one instance or the CLI changes reaches the other without a
 * restart: a profile reload through A's admin API, and `anvil ca rotate` run against A's data
 * directory. A PostgreSQL store refuses to start without an explicit key passphrase, and a bad
 * database URL is refused without echoing it.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { postgresUnavailable, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js';
import { freePort, httpsGet, removeDir, repoRoot, run, serverEntry, startAnvil, tempDir, waitFor, type AcmeServer } from './harness.js';

const PASSPHRASE = 'shared-state-test-passphrase';
const unavailable = postgresUnavailable();

describe('two instances on one PostgreSQL database share the CA hierarchy and the profiles', { skip: unavailable ?? false, timeout: 240_000 }, () => {
  let cluster: PostgresCluster;
  let databaseUrl = '';
  let work = '';
  let profilesDir = '';
  const instances: { server: AcmeServer; adminUrl: string; dataDir: string }[] = [];

  const anvil = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, [serverEntry(), ...args], { env: { ANVIL_KEY_PASSPHRASE: PASSPHRASE, ...env }, timeoutMs: 60_000 });
  /** The issuers an instance has loaded: readiness checks a CRL of each. */
  const loadedIssuers = async (i: number) => {
    const ready = (await (await fetch(`${instances[i]!.adminUrl}/readyz`)).json()) as { checks: { name: string }[] };
    return ready.checks.filter((c) => c.name.startsWith('crl:')).map((c) => c.name.slice(4));
  };
  /** The issuer new certificates come from, as the trust bundle names it. */
  const activeIssuer = async (i: number) => {
    const { server } = instances[i]!;
    const res = await httpsGet(`${server.baseUrl}/trust-bundle`, readFileSync(server.rootPemPath, 'utf8'));
    return (JSON.parse(res.body) as { issuers: { id: string; status: string }[] }).issuers.find((x) => x.status === 'active')?.id;
  };
  const profileDescription = async (i: number, name: string) => {
    const { server } = instances[i]!;
    const res = await httpsGet(server.directoryUrl, readFileSync(server.rootPemPath, 'utf8'));
    return (JSON.parse(res.body) as { meta: { profiles: Record<string, string> } }).meta.profiles[name];
  };

  before(async () => {
    cluster = await startPostgresCluster();
    databaseUrl = await cluster.createDatabase();
    work = await tempDir('anvil-pg-shared-');
    profilesDir = join(work, 'profiles');
    cpSync(join(repoRoot(), 'acme-profiles'), profilesDir, { recursive: true });
    // Every port chosen before either starts, and distinct: two concurrent free-port probes can
    // be handed the same just-released port.
    const ports = new Set<number>();
    while (ports.size < 6) ports.add(await freePort());
    const [portA, adminA, httpA, portB, adminB, httpB] = [...ports] as [number, number, number, number, number, number];
    const start = async (name: string, port: number, adminPort: number, http01Port: number, extraArgs: string[]) => {
      const dataDir = join(work, name);
      const server = await startAnvil({
        http01Port,
        port,
        dnsResolver: '',
        dataDir,
        extraArgs: ['--database-url', databaseUrl, ...extraArgs],
        env: { ANVIL_KEY_PASSPHRASE: PASSPHRASE, ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
        readyTimeoutMs: 60_000,
      });
      // Kept as soon as it runs, so `after` stops it even if the other one fails to start.
      instances.push({ server, adminUrl: `http://127.0.0.1:${adminPort}`, dataDir });
    };
    // Started together on the empty database: one of them creates the CA, the other copies it.
    const started = await Promise.allSettled([start('a', portA, adminA, httpA, ['--profiles-dir', profilesDir]), start('b', portB, adminB, httpB, [])]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    instances.sort((x, y) => x.dataDir.localeCompare(y.dataDir));
  });

  after(async () => {
    for (const i of instances) await i.server.stop().catch(() => undefined);
    await cluster?.destroy();
    await removeDir(work);
  });

  it('both instances serve one root, each from its own data directory', () => {
    const [a, b] = instances.map((i) => readFileSync(join(i.dataDir, 'root.pem'), 'utf8'));
    assert.ok(a?.includes('BEGIN CERTIFICATE'));
    assert.equal(a, b);
  });

  it("a profile reload through A's admin API reaches B within 5 s, without a restart", async () => {
    const created = await anvil(['admin-token', 'create', '--role', 'operator', '--name', 'shared-state', '--data-dir', instances[0]!.dataDir, '--database-url', databaseUrl]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    const file = join(profilesDir, 'default.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^description: .*$/m, 'description: "edited on A"'));
    const reloaded = await fetch(`${instances[0]!.adminUrl}/admin/profiles/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(reloaded.status, 200, await reloaded.text());
    const t0 = Date.now();
    await waitFor('B to serve the edited profile', async () => (await profileDescription(1, 'default')) === 'edited on A', 5_000, 100);
    assert.ok(Date.now() - t0 <= 5_000);
  });

  it("`anvil ca rotate` against A's data directory reaches B within 5 s: both load the new issuer and make it the active one", async () => {
    const before = await activeIssuer(1);
    const rotated = await anvil(['ca', 'rotate', '--data-dir', instances[0]!.dataDir, '--database-url', databaseUrl]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const created = /new active issuer (\S+);/.exec(rotated.stdout)?.[1];
    assert.ok(created && created !== before, rotated.stdout);
    await waitFor('B to make the new issuer active', async () => (await activeIssuer(1)) === created, 5_000, 100);
    await waitFor('A to make the new issuer active', async () => (await activeIssuer(0)) === created, 5_000, 100);
    for (const i of [0, 1]) assert.ok((await loadedIssuers(i)).includes(created), `instance ${i} loaded ${created}`);
  });

  it('a PostgreSQL store refuses to start without an explicit key passphrase, and says why', async () => {
    const r = await run(process.execPath, [serverEntry(), 'serve', '--database-url', databaseUrl, '--data-dir', join(work, 'no-passphrase'), '--listen', '127.0.0.1:0'], {
      env: { ANVIL_KEY_PASSPHRASE: '' },
      timeoutMs: 30_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PostgreSQL store needs the key passphrase from ANVIL_KEY_PASSPHRASE or --key-passphrase-file/);
  });

  it('a database URL of another scheme is refused without echoing it (it may hold a password)', async () => {
    const r = await anvil(['serve', '--database-url', 'mysql://root:hunter2-secret@127.0.0.1/anvil', '--data-dir', join(work, 'bad-url')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid setting databaseUrl .*expected a postgres:\/\/ or postgresql:\/\/ URL/);
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2-secret/);
  });
});
