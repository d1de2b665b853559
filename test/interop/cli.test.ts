/**
 * The operator CLI behaves (issue 16 item 4): `--help` on every command and action prints help and
 * changes nothing; an unknown command, action or option is a short error naming it with the nearest
 * valid one and exit 2; `anvil` alone exits non-zero; commands that talk to a server over TLS fail
 * within seconds, clearly, when its certificate is not trusted; a second `anvil serve` on a data
 * directory whose server runs refuses to start; `npx anvil` works in the checkout.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestPki, startHttpsPeer, type HttpsPeer } from '../helpers/test-pki.js';
import { describeRun, freePort, removeDir, repoRoot, run, serverEntry, startAnvil, tempDir, type AcmeServer } from './harness.js';

const ENV = { ANVIL_KEY_PASSPHRASE: 'cli-test-passphrase' };
const anvil = (args: string[], timeoutMs = 30_000) => run(process.execPath, [serverEntry(), ...args], { env: ENV, timeoutMs });

/** Every command and action, each of which must answer --help without touching the data directory. */
const INVOCATIONS = [
  ['serve'],
  ['init'],
  ...['status', 'rotate', 'bundle', 'archive', 'retire-key', 'export-root-key', 'remove-root-key', 'import-root-key'].map((a) => ['ca', a]),
  ['ca'],
  ['revoke'],
  ['profiles', 'check'],
  ['profiles', 'reload'],
  ['eab', 'create'],
  ['eab', 'list'],
  ['eab', 'revoke'],
  ['eab'],
  ['token-cert'],
  ['admin-token', 'create'],
  ['admin-token', 'list'],
  ['admin-token', 'revoke'],
  ['audit', 'verify'],
  ['audit', 'export'],
  ['dns-persist', 'record'],
  ['probe'],
  ['renew-fleet'],
];

let work = '';
before(async () => {
  work = await tempDir('anvil-cli-');
});
after(async () => {
  await removeDir(work);
});

describe('anvil --help', () => {
  test('every command and action prints help on stdout, exits 0 and creates nothing (eab create --help made a real credential before)', async () => {
    for (const invocation of INVOCATIONS) {
      for (const form of [['--help'], ['-h']]) {
        const dataDir = path.join(work, `help-${invocation.join('-')}${form[0]}`);
        const result = await anvil([...invocation, ...form, '--data-dir', dataDir, '--role', 'ca-admin', '--name', 'x']);
        assert.equal(result.code, 0, describeRun(result));
        assert.match(result.stdout, /Usage:\s+anvil/, describeRun(result));
        assert.equal(existsSync(dataDir), false, `${invocation.join(' ')} ${form[0]} created ${dataDir}: ${existsSync(dataDir) ? readdirSync(dataDir).join(', ') : ''}`);
      }
    }
  });

  test('anvil --help lists the commands and exits 0; anvil with no arguments exits 2', async () => {
    const help = await anvil(['--help']);
    assert.equal(help.code, 0, describeRun(help));
    assert.match(help.stdout, /dns-persist/, describeRun(help));
    const none = await anvil([]);
    assert.equal(none.code, 2, describeRun(none));
    assert.match(none.stderr, /no command given/, describeRun(none));
  });
});

describe('typing mistakes', () => {
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['sevre'], message: /unknown command "sevre" \(did you mean "serve"\?\)/ },
    { args: ['eab', 'craete'], message: /unknown action "craete" \(did you mean "create"\?\)/ },
    { args: ['eab'], message: /missing action: one of create, list, revoke/ },
    { args: ['ca', 'rotat'], message: /unknown action "rotat" \(did you mean "rotate"\?\)/ },
    { args: ['audit', 'verfy'], message: /unknown action "verfy" \(did you mean "verify"\?\)/ },
    { args: ['revoke', '--serail', '01'], message: /unknown option "--serail" \(did you mean "--serial"\?\)/ },
    { args: ['serve', '--data-dri', 'x'], message: /unknown option "--data-dri" \(did you mean "--data-dir"\?\)/ },
    { args: ['token-cert', '--directry', 'https://127.0.0.1:1/directory'], message: /unknown option "--directry" \(did you mean "--directory"\?\)/ },
    { args: ['probe', '--ca-fil', 'x'], message: /unknown option "--ca-fil" \(did you mean "--ca-file"\?\)/ },
    { args: ['eab', 'list', 'extra'], message: /unexpected argument "extra"/ },
    { args: ['admin-token', 'create', '--role', 'operatr', '--name', 'x'], message: /unknown role "operatr" \(did you mean "operator"\?\)/ },
  ];
  for (const { args, message } of cases) {
    test(`anvil ${args.join(' ')}: exit 2, one line naming it, no wall of usage`, async () => {
      const dataDir = path.join(work, `typo-${args.join('-')}`);
      const result = await anvil([...args, '--data-dir', dataDir]);
      assert.equal(result.code, 2, describeRun(result));
      assert.match(result.stderr, message, describeRun(result));
      assert.ok(result.stderr.trim().split('\n').length <= 2, `a short error, not the usage text:\n${describeRun(result)}`);
      assert.equal(result.stdout, '', describeRun(result));
      assert.equal(existsSync(path.join(dataDir, 'anvil.db')), false, 'a mistyped command opens no store');
    });
  }

  test('anvil revoke refuses a reason that is neither a subscriber reason name nor its code', async () => {
    const result = await anvil(['revoke', '--serial', '01', '--reason', 'cACompromise', '--data-dir', path.join(work, 'reason')]);
    assert.equal(result.code, 2, describeRun(result));
    assert.match(result.stderr, /unknown or refused reason "cACompromise"; reasons: unspecified \(0\), keyCompromise \(1\)/, describeRun(result));
  });
});

describe('commands that talk to a server over TLS', () => {
  let peer: HttpsPeer;
  before(async () => {
    const pki = await makeTestPki(work, 'untrusted');
    peer = await startHttpsPeer(pki, (_req, res) => res.end('{}'));
  });
  after(async () => {
    await peer.close();
  });

  for (const command of ['token-cert', 'probe']) {
    test(`anvil ${command} against a server whose certificate is not trusted fails within seconds and says so`, async () => {
      const args =
        command === 'token-cert'
          ? ['token-cert', '--directory', `${peer.url}/directory`, '--name', 'a.test', '--token-env', 'NO_SUCH_VAR', '--out-cert', path.join(work, 'c.pem'), '--out-key', path.join(work, 'k.pem')]
          : ['probe', '--directory', `${peer.url}/directory`, '--name', 'probe.test'];
      const started = Date.now();
      const result = await anvil(args, 30_000);
      const elapsed = Date.now() - started;
      assert.equal(result.code, 1, describeRun(result));
      assert.ok(elapsed < 10_000, `took ${elapsed} ms\n${describeRun(result)}`);
      const output = result.stdout + result.stderr;
      assert.match(output, /TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE|TLS certificate of 127\.0\.0\.1:\d+ is not trusted/, describeRun(result));
      assert.match(output, /--ca-file/, describeRun(result));
      assert.doesNotMatch(output, /Cannot read properties/, describeRun(result));
    });
  }
});

describe('anvil serve on a data directory that a server holds', () => {
  let server: AcmeServer | undefined;
  after(async () => {
    await server?.stop();
  });

  test('a second server refuses to start, naming the running one; --extra-instance starts', async () => {
    const dataDir = path.join(work, 'shared-data');
    server = await startAnvil({ dnsResolver: '127.0.0.1:1', http01Port: 1, dataDir });
    const second = await anvil(['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`, '--admin-listen', '127.0.0.1:0', '--revocation-listen', '127.0.0.1:0'], 20_000);
    assert.equal(second.code, 1, describeRun(second));
    assert.match(second.stderr, new RegExp(`another Anvil server \\(pid ${server.pid}\\) is running on the data directory`), describeRun(second));
    const extra = await startAnvil({ dnsResolver: '127.0.0.1:1', http01Port: 1, dataDir, extraArgs: ['--extra-instance', '--revocation-listen', '127.0.0.1:0'] });
    await extra.stop();
    assert.ok(existsSync(path.join(dataDir, 'anvil.pid')), 'the extra instance leaves the first server\'s pid file alone');
  });
});

test('npx anvil runs the CLI in the checkout', async () => {
  const result = await run('npx', ['--no-install', 'anvil', '--help'], { cwd: repoRoot(), timeoutMs: 60_000 });
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /Usage: anvil <command>/, describeRun(result));
});
