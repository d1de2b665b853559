/**
 * Profile files are validated before they are used (README "Profiles"; STYLE principle 9): the
 * built server started as a process with a bad profiles directory refuses to start, and
 * `anvil profiles check` exits 1, each with an error naming the file and the field; a good
 * directory checks with exit 0 and one `name  hash  description` line per profile.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundledProfiles, bundledProfilesDir, makeProfileDir, type ProfileDir } from '../helpers/profile-dir.js';
import { describeRun, removeDir, run, serverEntry, tempDir, type RunResult } from './harness.js';

/** A valid profile body that each case breaks in one field. */
const GOOD = { description: 'a good profile', validity: '1h' };

/** name → [the broken file's content, the field the error must name, a pattern the message must match]. */
const BROKEN: Record<string, [Record<string, unknown> | string, string, RegExp]> = {
  'validity not a duration': [{ ...GOOD, validity: '5 minutes' }, 'validity', /duration/],
  'validity below 1m': [{ ...GOOD, validity: '30s' }, 'validity', /at least 1m/],
  'unknown key type': [{ ...GOOD, keyTypes: ['ecdsa-p256', 'rsa1024'] }, 'keyTypes', /ecdsa-p256/],
  'renewalWindow start after end': [{ ...GOOD, renewalWindow: { start: 0.8, end: 0.5 } }, 'renewalWindow', /start must be before end/],
  'renewalWindow start equal to end': [{ ...GOOD, renewalWindow: { start: 0.5, end: 0.5 } }, 'renewalWindow', /start must be before end/],
  'renewalWindow fraction out of (0, 1)': [{ ...GOOD, renewalWindow: { start: 0.5, end: 1.5 } }, 'renewalWindow.end', /./],
  'unknown challenge type': [{ ...GOOD, challenges: ['http-01', 'carrier-pigeon-01'] }, 'challenges', /carrier-pigeon-01/],
  'unknown top-level field': [{ ...GOOD, colour: 'blue' }, '', /colour/],
  'unknown field under identifiers': [{ ...GOOD, identifiers: { dnsSufixes: ['.internal'] } }, 'identifiers', /dnsSufixes/],
  'backdate not shorter than validity': [{ ...GOOD, backdate: '2h' }, 'backdate', /shorter than validity/],
  'bad CIDR': [{ ...GOOD, identifiers: { ipRanges: ['10.0.0.0/33'] } }, 'identifiers.ipRanges', /CIDR/],
  'bad regular expression': [{ ...GOOD, identifiers: { dnsPatterns: ['('] } }, 'identifiers.dnsPatterns', /regular expression/],
  'missing description': [{ validity: '1h' }, 'description', /./],
  'unknown access mode': [{ ...GOOD, access: 'private' }, 'access', /./],
};

const cleanEnv = (): Record<string, string | undefined> => ({
  ...Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('ANVIL_')).map((k) => [k, undefined])),
  ANVIL_KEY_PASSPHRASE: 'validation-test-passphrase',
  ANVIL_ADMIN_LISTEN: '127.0.0.1:0',
  ANVIL_REVOCATION_LISTEN: '127.0.0.1:0',
});

const anvil = (args: string[], timeoutMs = 20_000): Promise<RunResult> => run(process.execPath, [serverEntry(), ...args], { timeoutMs, env: cleanEnv() });

/** A profiles dir: the shipped profiles plus `broken.yaml`. */
function brokenDir(content: Record<string, unknown> | string): ProfileDir {
  const dir = makeProfileDir({ withBundled: true });
  dir.write('broken', content);
  return dir;
}

function assertNamesFileAndField(output: string, file: string, field: string, pattern: RegExp, result: RunResult): void {
  assert.ok(output.includes(file), `the error names the file ${file}\n${describeRun(result)}`);
  if (field) assert.match(output, new RegExp(`field ${field.replace(/\./g, '\\.')}\\b`), `the error names the field ${field}\n${describeRun(result)}`);
  assert.match(output, pattern, describeRun(result));
}

describe('a server started with a bad profiles directory refuses to start', { timeout: 300_000 }, () => {
  let dataDir = '';
  before(async () => {
    dataDir = await tempDir('anvil-profile-validation-');
  });
  after(async () => {
    await removeDir(dataDir);
  });

  const serve = (profilesDir: string, extra: string[] = []) =>
    anvil(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--profiles-dir', profilesDir, '--log-level', 'error', ...extra]);

  for (const [what, [content, field, pattern]] of Object.entries(BROKEN)) {
    test(what, async () => {
      const dir = brokenDir(content);
      try {
        const result = await serve(dir.dir);
        assert.ok(!result.timedOut, `the server must not start\n${describeRun(result)}`);
        assert.equal(result.code, 1, `exit code 1\n${describeRun(result)}`);
        assert.match(result.stderr, /cannot start/, describeRun(result));
        assertNamesFileAndField(result.stderr, join(dir.dir, 'broken.yaml'), field, pattern, result);
      } finally {
        dir.remove();
      }
    });
  }

  test('a file that is not YAML names the file', async () => {
    const dir = brokenDir('description: [unclosed\nvalidity: 1h\n');
    try {
      const result = await serve(dir.dir);
      assert.equal(result.code, 1, describeRun(result));
      assertNamesFileAndField(result.stderr, join(dir.dir, 'broken.yaml'), '', /YAML/, result);
    } finally {
      dir.remove();
    }
  });

  test('a --default-profile that no file defines names the directory and the profile', async () => {
    const dir = makeProfileDir({ withBundled: true });
    try {
      const result = await serve(dir.dir, ['--default-profile', 'nonexistent']);
      assert.equal(result.code, 1, describeRun(result));
      assert.ok(result.stderr.includes(dir.dir), describeRun(result));
      assert.match(result.stderr, /nonexistent/, describeRun(result));
    } finally {
      dir.remove();
    }
  });
});

describe('anvil profiles check', { timeout: 300_000 }, () => {
  for (const [what, [content, field, pattern]] of Object.entries(BROKEN)) {
    test(`exits 1 for: ${what}`, async () => {
      const dir = brokenDir(content);
      try {
        const result = await anvil(['profiles', 'check', '--profiles-dir', dir.dir]);
        assert.equal(result.code, 1, describeRun(result));
        assertNamesFileAndField(result.stderr, join(dir.dir, 'broken.yaml'), field, pattern, result);
      } finally {
        dir.remove();
      }
    });
  }

  test('a good directory exits 0 and prints each profile with the start of its SHA-256 and its description', async () => {
    const dir = makeProfileDir({ withBundled: true, extra: { extra: GOOD } });
    try {
      const result = await anvil(['profiles', 'check', '--profiles-dir', dir.dir]);
      assert.equal(result.code, 0, describeRun(result));
      const lines = result.stdout.trim().split('\n').sort();
      const expected = [...bundledProfiles().entries(), ['extra', GOOD] as const]
        .map(([name, p]) => {
          const hash = createHash('sha256').update(readFileSync(join(dir.dir, `${name}.yaml`))).digest('hex');
          return `${name}\t${hash.slice(0, 16)}\t${p.description}`;
        })
        .sort();
      assert.deepEqual(lines, expected, describeRun(result));
    } finally {
      dir.remove();
    }
  });

  test('without --profiles-dir it checks the shipped acme-profiles/', async () => {
    const result = await anvil(['profiles', 'check']);
    assert.equal(result.code, 0, describeRun(result));
    const names = result.stdout.trim().split('\n').map((l) => l.split('\t')[0]).sort();
    assert.deepEqual(names, [...bundledProfiles().keys()].sort());
    for (const name of names) {
      const hash = createHash('sha256').update(readFileSync(join(bundledProfilesDir(), `${name}.yaml`))).digest('hex');
      assert.ok(result.stdout.includes(`${name}\t${hash.slice(0, 16)}\t`), `hash of ${name}: ${result.stdout}`);
    }
  });
});
