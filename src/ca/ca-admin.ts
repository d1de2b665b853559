/**
 * Operator changes to the hierarchy beyond creation and rotation: importing an intermediate signed
 * by an external root, archiving a retired issuer, destroying its key, and moving the root key
 * offline and back. Every change rewrites the manifest atomically and bumps the bundle version.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { keyTypeOf } from './algorithms.js';
import { derToPem, pemToDerList } from './certificate-builder.js';
import { keyIdentifierOf } from './extensions.js';
import { readEncryptedKey, spkiOf, writeEncryptedKey } from './key-files.js';
import { shredFile, type KeyStores } from './key-stores.js';
import { manifestExists, readManifest, writeManifest, type IssuerStatus, type Manifest } from './manifest.js';

function mutate(caDir: string, change: (m: Manifest) => void): Manifest {
  const manifest = readManifest(caDir);
  change(manifest);
  manifest.bundleVersion++;
  writeManifest(caDir, manifest);
  return manifest;
}

/**
 * Imports an existing intermediate (its key and chain, signed by an external root): the key is
 * re-encrypted with Anvil's passphrase, the root is recorded without a key.
 */
export function importIntermediate(
  dataDir: string,
  passphrase: string,
  o: { chainPem: string; keyPem: string; keyPassphrase?: string; rootPem?: string },
): { issuerId: string; rootSubjectKeyId: string } {
  const caDir = join(dataDir, 'ca');
  if (manifestExists(caDir)) throw new Error(`${caDir} already holds a CA; import into a new data directory`);
  const chain = pemToDerList(o.chainPem).map((der) => new X509Certificate(Buffer.from(der)));
  const selfSigned = (c: X509Certificate): boolean => c.checkIssued(c) && c.verify(c.publicKey);
  const givenRoot = o.rootPem ? new X509Certificate(Buffer.from(pemToDerList(o.rootPem)[0] ?? [])) : undefined;
  const root = givenRoot ?? (chain.length > 1 && selfSigned(chain[chain.length - 1]!) ? chain[chain.length - 1] : undefined);
  const intermediate = chain[0];
  if (!intermediate || !root) throw new Error('need the intermediate certificate and its self-signed root (at the end of the chain or --root-cert)');
  // Everything between the issuer and the root is served with each leaf, so the path must be whole.
  const upper = chain.slice(1).filter((c) => !selfSigned(c));
  const path = [intermediate, ...upper, root];
  for (let i = 0; i + 1 < path.length; i++) {
    const [child, parent] = [path[i]!, path[i + 1]!];
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new Error(`the chain is broken: "${child.subject.replace(/\n/g, ', ')}" is not signed by "${parent.subject.replace(/\n/g, ', ')}"`);
    }
    if (!parent.ca) throw new Error(`"${parent.subject.replace(/\n/g, ', ')}" is not a CA certificate`);
  }
  const key = createPrivateKey({ key: o.keyPem, format: 'pem', ...(o.keyPassphrase ? { passphrase: o.keyPassphrase } : {}) });
  const keyType = keyTypeOf(key);
  if (!keyType) throw new Error('unsupported intermediate key type');
  const certSpki = intermediate.publicKey.export({ type: 'spki', format: 'der' });
  if (!Buffer.from(certSpki).equals(Buffer.from(spkiOf(key)))) throw new Error('the key does not belong to the intermediate certificate');
  const id = `int-${Buffer.from(keyIdentifierOf(spkiOf(key))).toString('hex').slice(0, 12)}`;
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  writeEncryptedKey(join(caDir, `${id}.key.pem`), key, passphrase);
  writeFileSync(join(caDir, `${id}.pem`), derToPem(intermediate.raw));
  if (upper.length > 0) writeFileSync(join(caDir, `${id}.upper.pem`), upper.map((c) => derToPem(c.raw)).join(''));
  writeFileSync(join(caDir, 'root.pem'), derToPem(root.raw));
  const manifest: Manifest = {
    version: 2,
    bundleVersion: 1,
    roots: [{ id: 'root', certFile: 'root.pem', key: null, keyType: 'ecdsa-p384', status: 'active' }],
    issuers: [
      {
        id,
        certFile: `${id}.pem`,
        key: { kind: 'file', file: `${id}.key.pem` },
        keyType,
        status: 'active',
        rootId: 'root',
        alternates: [],
        ...(upper.length > 0 ? { upperChainFile: `${id}.upper.pem` } : {}),
      },
    ],
  };
  writeManifest(caDir, manifest);
  return { issuerId: id, rootSubjectKeyId: Buffer.from(keyIdentifierOf(spkiOf(key))).toString('hex') };
}

/** Throws unless the issuer exists with `status`, naming what to do instead. */
export function assertIssuerStatus(dataDir: string, issuerId: string, status: IssuerStatus, hint: string): void {
  const issuer = readManifest(join(dataDir, 'ca')).issuers.find((i) => i.id === issuerId);
  if (!issuer) throw new Error(`no issuer ${issuerId}`);
  if (issuer.status !== status) throw new Error(`issuer ${issuerId} is ${issuer.status}; ${hint}`);
}

/** A retiring issuer whose certificates have all expired stops being loaded. */
export function archiveIssuer(dataDir: string, issuerId: string): void {
  mutate(join(dataDir, 'ca'), (m) => {
    const issuer = m.issuers.find((i) => i.id === issuerId);
    if (!issuer) throw new Error(`no issuer ${issuerId}`);
    if (issuer.status !== 'retiring') throw new Error(`issuer ${issuerId} is ${issuer.status}; only a retiring issuer can be archived`);
    issuer.status = 'archived';
    issuer.archivedAt = new Date().toISOString();
  });
}

/** Destroys an archived issuer's key (file shredded; PKCS#11 object deleted) and records when. */
export function destroyIssuerKey(dataDir: string, keys: KeyStores, issuerId: string): void {
  mutate(join(dataDir, 'ca'), (m) => {
    const issuer = m.issuers.find((i) => i.id === issuerId);
    if (!issuer) throw new Error(`no issuer ${issuerId}`);
    if (issuer.status !== 'archived') throw new Error(`issuer ${issuerId} is ${issuer.status}; archive it first`);
    if (issuer.keyDestroyedAt) throw new Error(`the key of ${issuerId} was destroyed at ${issuer.keyDestroyedAt}`);
    keys.destroy(issuer.key);
    // The OCSP responder key was certified by this issuer and could still vouch for its serials.
    for (const file of [`${issuerId}.key.pem`, `${issuerId}.pem`]) shredFile(join(dataDir, 'ca', 'ocsp', file));
    issuer.keyDestroyedAt = new Date().toISOString();
  });
}

/** Copies the (encrypted) root key out for offline storage. */
export function exportRootKey(dataDir: string, rootId: string, outPath: string): void {
  const caDir = join(dataDir, 'ca');
  const root = readManifest(caDir).roots.find((r) => r.id === rootId);
  if (!root?.key || root.key.kind !== 'file') throw new Error(`root ${rootId} has no key file in the data directory`);
  if (existsSync(outPath)) throw new Error(`${outPath} exists; refusing to overwrite`);
  copyFileSync(join(caDir, root.key.file), outPath);
}

/** Removes the root key from the running CA (after export); rotations then need it brought back. */
export function removeRootKey(dataDir: string, keys: KeyStores, rootId: string): void {
  mutate(join(dataDir, 'ca'), (m) => {
    const root = m.roots.find((r) => r.id === rootId);
    if (!root?.key) throw new Error(`root ${rootId} has no key here`);
    keys.destroy(root.key);
    root.key = null;
  });
}

/** Brings an exported (encrypted, same passphrase) root key back, checking it matches the root. */
export function importRootKey(dataDir: string, passphrase: string, rootId: string, inPath: string): void {
  const caDir = join(dataDir, 'ca');
  const key = readEncryptedKey(inPath, passphrase);
  mutate(caDir, (m) => {
    const root = m.roots.find((r) => r.id === rootId);
    if (!root) throw new Error(`no root ${rootId}`);
    if (root.key) throw new Error(`root ${rootId} already has its key`);
    const rootPem = join(caDir, root.certFile);
    const certSpki = new X509Certificate(readFileSync(rootPem)).publicKey.export({ type: 'spki', format: 'der' });
    if (!Buffer.from(certSpki).equals(Buffer.from(spkiOf(key)))) throw new Error(`${inPath} is not the key of root ${rootId}`);
    const file = `${rootId}.key.pem`;
    writeEncryptedKey(join(caDir, file), key, passphrase);
    root.key = { kind: 'file', file };
  });
}
