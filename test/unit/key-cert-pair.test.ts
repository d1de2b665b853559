/**
 * The key and certificate files that processes sharing a data directory may re-issue at once:
 * a reader takes a pair only when the key is the certificate's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readPair, writePair } from '../../src/ca/key-cert-pair.js';

const dir = mkdtempSync(join(tmpdir(), 'anvil-pair-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate and its key, made by openssl as an operator would. */
function selfSigned(name: string): { certPem: string; keyPem: string } {
  const keyPath = join(dir, `${name}.src.key`);
  const certPath = join(dir, `${name}.src.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-days', '1', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
}

describe('key and certificate pair files', () => {
  const a = selfSigned('a');
  const b = selfSigned('b');
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key.pem');

  it('a written pair reads back as the same certificate, its key encrypted and readable only by the owner', () => {
    writePair(certPath, keyPath, a.certPem, createPrivateKey(a.keyPem), 'pass');
    const pair = readPair(certPath, keyPath, 'pass');
    assert.ok(pair);
    assert.equal(pair.certPem, a.certPem);
    assert.match(readFileSync(keyPath, 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left');
  });

  it("one process's key beside another's certificate is no pair, so the reader re-issues", () => {
    writePair(certPath, keyPath, a.certPem, createPrivateKey(a.keyPem), 'pass');
    // The interleaving of two writers: b's key lands after a's, a's certificate after b's.
    writePair(join(dir, 'unused.pem'), keyPath, b.certPem, createPrivateKey(b.keyPem), 'pass');
    assert.equal(readPair(certPath, keyPath, 'pass'), undefined);
  });

  it('a missing file or a wrong passphrase is no pair, and no error', () => {
    writePair(certPath, keyPath, a.certPem, createPrivateKey(a.keyPem), 'pass');
    assert.equal(readPair(certPath, keyPath, 'other'), undefined);
    assert.equal(readPair(join(dir, 'absent.pem'), keyPath, 'pass'), undefined);
  });
});
