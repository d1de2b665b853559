/**
 * The HTTPS listener's certificate when the operator provides none: issued by Anvil's own CA for
 * localhost, 127.0.0.1, ::1 and the base URL's host, kept (key encrypted) in <data>/tls and
 * re-issued at start when it nears expiry.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Identifier } from '../acme/problem.js';
import { buildCertificate, derToPem, nameOf, randomSerial } from './certificate-builder.js';
import {
  authorityKeyIdentifier,
  basicConstraints,
  extendedKeyUsage,
  keyIdentifierOf,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
} from './extensions.js';
import type { Issuer } from './issuer.js';
import { readPair, writePair } from './key-cert-pair.js';
import { generateKey, spkiOf } from './key-files.js';

/** Lifetime of the listener certificate Anvil issues itself. */
const LIFETIME = { validityMs: 90 * 24 * 3_600_000, backdateMs: 3_600_000, renewBeforeMs: 30 * 24 * 3_600_000 };

export interface ServerTls {
  certPem: string;
  keyPem: string;
  passphrase: string;
}

export async function ensureServerTls(dataDir: string, issuer: Issuer, passphrase: string, extraHosts: string[]): Promise<ServerTls> {
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key.pem');
  const hosts = [...new Set(['localhost', '127.0.0.1', '::1', ...extraHosts])];
  const stored = readPair(certPath, keyPath, passphrase);
  if (stored && stillGood(stored.cert, hosts, issuer)) return { certPem: stored.certPem, keyPem: stored.keyPem, passphrase };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = generateKey('ecdsa-p256');
  const spki = spkiOf(key);
  const now = Date.now();
  const identifiers: Identifier[] = hosts.map((h) => ({ type: isIP(h) ? 'ip' : 'dns', value: h }));
  const der = await buildCertificate({
    serial: randomSerial(),
    issuer: issuer.subject,
    subject: nameOf([['CN', 'localhost']]),
    notBefore: new Date(now - LIFETIME.backdateMs),
    notAfter: new Date(now + LIFETIME.validityMs),
    spkiDer: spki,
    extensions: [
      basicConstraints(false),
      keyUsage(['digitalSignature']),
      extendedKeyUsage(['serverAuth']),
      subjectAltName(identifiers, false),
      subjectKeyIdentifier(keyIdentifierOf(spki)),
      authorityKeyIdentifier(issuer.keyId),
    ],
    signer: issuer.signer,
  });
  const certPem = derToPem(der) + issuer.chainPem;
  // The pair this process made is the one it serves, whatever another process writes meanwhile.
  return { certPem, keyPem: writePair(certPath, keyPath, certPem, key, passphrase), passphrase };
}

function stillGood(cert: X509Certificate, hosts: string[], issuer: Issuer): boolean {
  try {
    const renewBefore = Date.now() + LIFETIME.renewBeforeMs;
    if (new Date(cert.validTo).getTime() < renewBefore) return false;
    if (!cert.checkIssued(new X509Certificate(issuer.certPem))) return false;
    return hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined);
  } catch {
    return false;
  }
}
