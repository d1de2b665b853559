/**
 * Looking at an Anvil data directory from the outside: every file in it, the private keys it
 * holds (which must all be encrypted PKCS#8, README "Data directory"), which public keys those
 * decrypt to, the CA manifest, and byte searches for secrets that must never be stored or logged.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * A file's bytes, or undefined when it went away after it was listed: a running server replaces
 * files by writing a temporary and renaming it, so a temporary can vanish mid-scan. (A leftover
 * temporary is still read: it stays on disk.)
 */
function readIfPresent(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Every regular file under `dir`, recursively (absolute paths, sorted). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() || statSync(full, { throwIfNoEntry: false })?.isFile()) out.push(full);
    }
  };
  walk(dir);
  return out.sort();
}

/** PEM markers of private keys that are NOT encrypted. */
export const PLAINTEXT_KEY_MARKERS = [
  '-----BEGIN PRIVATE KEY-----',
  'BEGIN EC PRIVATE KEY',
  'BEGIN RSA PRIVATE KEY',
  'BEGIN OPENSSH PRIVATE KEY',
  'BEGIN DSA PRIVATE KEY',
];

/** Files holding any `PRIVATE KEY` PEM block, with whether every block in them is `ENCRYPTED PRIVATE KEY`. */
export function privateKeyFiles(dir: string): { file: string; encrypted: boolean }[] {
  const out: { file: string; encrypted: boolean }[] = [];
  for (const file of filesUnder(dir)) {
    const text = readIfPresent(file)?.toString('latin1');
    if (text === undefined) continue;
    const begins = text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----/g);
    if (!begins) continue;
    out.push({ file, encrypted: begins.every((b) => b === '-----BEGIN ENCRYPTED PRIVATE KEY-----') });
  }
  return out;
}

/** Where a byte pattern occurs in the files under `dir` (file paths), for secrets that must be nowhere. */
export function filesContaining(dir: string, needle: Buffer | string): string[] {
  const bytes = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : needle;
  if (bytes.length < 8) throw new Error(`refusing to search for a needle of ${bytes.length} bytes (too short to mean anything)`);
  return filesUnder(dir).filter((file) => readIfPresent(file)?.includes(bytes) ?? false);
}

/** The SPKI DER (hex) of every encrypted private key under `dir`, decrypted with `passphrase`, by file. */
export function decryptedKeySpkis(dir: string, passphrase: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { file, encrypted } of privateKeyFiles(dir)) {
    if (!encrypted) continue;
    const text = readIfPresent(file)?.toString('utf8');
    if (text === undefined) continue;
    const blocks = text.match(/-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]+?-----END ENCRYPTED PRIVATE KEY-----/g) ?? [];
    out.set(
      file,
      blocks.map((pem) => spkiHex(createPrivateKey({ key: pem, format: 'pem', passphrase }))),
    );
  }
  return out;
}

/** Hex of the DER SubjectPublicKeyInfo of a key or certificate. */
export function spkiHex(key: KeyObject | X509Certificate): string {
  const pub = key instanceof X509Certificate ? key.publicKey : createPublicKey(key);
  return pub.export({ type: 'spki', format: 'der' }).toString('hex');
}

/** Files under `dir` whose encrypted private key belongs to `certPem` (decrypted with `passphrase`). */
export function keyFilesFor(dir: string, passphrase: string, certPem: string): string[] {
  const wanted = spkiHex(new X509Certificate(certPem));
  return [...decryptedKeySpkis(dir, passphrase)].filter(([, spkis]) => spkis.includes(wanted)).map(([file]) => file);
}

/** `<data>/ca/manifest.json`, parsed (shape of src/ca/manifest.ts, read independently). */
export interface ManifestView {
  version: number;
  bundleVersion: number;
  defaults?: Record<string, unknown>;
  roots: { id: string; certFile: string; key: { kind: string; file?: string } | null; keyType: string; status: string }[];
  issuers: {
    id: string;
    certFile: string;
    key: { kind: string; file?: string; label?: string; id?: string };
    keyType: string;
    status: string;
    rootId: string;
    alternates: { certFile: string; rootId: string }[];
    archivedAt?: string;
    keyDestroyedAt?: string;
  }[];
}

export function readManifestView(dataDir: string): ManifestView {
  return JSON.parse(readFileSync(path.join(dataDir, 'ca', 'manifest.json'), 'utf8')) as ManifestView;
}

/** The PEM of a CA certificate named in the manifest. */
export function caCertPem(dataDir: string, certFile: string): string {
  return readFileSync(path.join(dataDir, 'ca', certFile), 'utf8');
}

/**
 * The raw secret bytes of a private key, the forms in which it could leak: the PKCS#8 DER, and
 * the private scalar(s) from its JWK (EC/Ed `d`; RSA `d`, `p`, `q`) as raw bytes and base64url.
 */
export function secretForms(privateKeyPem: string | Buffer, passphrase?: string): { name: string; bytes: Buffer }[] {
  const key = createPrivateKey({ key: privateKeyPem, format: 'pem', ...(passphrase ? { passphrase } : {}) });
  const forms: { name: string; bytes: Buffer }[] = [];
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  forms.push({ name: 'PKCS#8 DER', bytes: pkcs8 });
  forms.push({ name: 'PKCS#8 base64', bytes: Buffer.from(pkcs8.toString('base64').slice(0, 64)) });
  const jwk = key.export({ format: 'jwk' }) as Record<string, string | undefined>;
  for (const field of ['d', 'p', 'q']) {
    const value = jwk[field];
    if (!value) continue;
    forms.push({ name: `${field} raw`, bytes: Buffer.from(value, 'base64url') });
    forms.push({ name: `${field} base64url`, bytes: Buffer.from(value) });
    forms.push({ name: `${field} hex`, bytes: Buffer.from(Buffer.from(value, 'base64url').toString('hex')) });
  }
  return forms;
}
