/**
 * The CA's files in the data directory: a manifest naming the root and the issuers, their
 * certificates, and their private keys encrypted at rest. On first start a development hierarchy
 * (root + one intermediate) is created here.
 *
 *   <data>/root.pem                 the root to trust (handed to clients and openssl)
 *   <data>/ca/manifest.json         which files hold which CA, and each issuer's status
 *   <data>/ca/<id>.pem              CA certificates
 *   <data>/ca/<id>.key.pem          encrypted PKCS#8 private keys
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import type { KeyType } from './algorithms.js';
import { buildCertificate, derToPem, nameOf, randomSerial, serialHex, toArrayBuffer } from './certificate-builder.js';
import { authorityKeyIdentifier, basicConstraints, keyIdentifierOf, keyUsage, subjectKeyIdentifier } from './extensions.js';
import { makeIssuer, type Issuer } from './issuer.js';
import { generateKey, readEncryptedKey, writeEncryptedKey } from './key-files.js';
import { KeyObjectSigner } from './signer.js';

export type IssuerStatus = 'active' | 'retiring' | 'archived';

interface ManifestEntry {
  id: string;
  certFile: string;
  keyFile: string;
}

interface Manifest {
  version: 1;
  root: ManifestEntry;
  issuers: (ManifestEntry & { status: IssuerStatus })[];
}

export interface CaMaterial {
  rootPemPath: string;
  rootPem: string;
  rootDer: Uint8Array;
  issuers: Issuer[];
  /** The issuer new certificates are signed by. */
  active: Issuer;
  /** True when this start created the hierarchy. */
  created: boolean;
}

const HOUR = 3_600_000;
const YEAR = 365 * 24 * HOUR;

export interface InitOptions {
  rootKeyType?: KeyType;
  intermediateKeyType?: KeyType;
  rootValidityMs?: number;
  intermediateValidityMs?: number;
  label?: string;
}

/** Loads the CA from the data directory, creating a development hierarchy on first use. */
export async function openCa(dataDir: string, passphrase: string, init: InitOptions = {}): Promise<CaMaterial> {
  const caDir = join(dataDir, 'ca');
  const manifestPath = join(caDir, 'manifest.json');
  let created = false;
  if (!existsSync(manifestPath)) {
    await createHierarchy(dataDir, caDir, passphrase, init);
    created = true;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const rootDer = readDer(join(caDir, manifest.root.certFile));
  const issuers = manifest.issuers
    .filter((i) => i.status !== 'archived')
    .map((entry) => {
      const key = readEncryptedKey(join(caDir, entry.keyFile), passphrase);
      const certDer = readDer(join(caDir, entry.certFile));
      assertKeyMatches(certDer, key, entry.certFile);
      return { entry, issuer: makeIssuer(entry.id, certDer, new KeyObjectSigner(key)) };
    });
  const active = issuers.find((i) => i.entry.status === 'active');
  if (!active) throw new Error(`${manifestPath} names no active issuer`);
  return {
    rootPemPath: join(dataDir, 'root.pem'),
    rootPem: derToPem(rootDer),
    rootDer,
    issuers: issuers.map((i) => i.issuer),
    active: active.issuer,
    created,
  };
}

async function createHierarchy(dataDir: string, caDir: string, passphrase: string, o: InitOptions): Promise<void> {
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const now = Date.now();
  const label = o.label ?? serialHex(randomSerial()).slice(0, 8);

  const rootKey = generateKey(o.rootKeyType ?? 'ecdsa-p384');
  const rootSpki = spkiOf(rootKey);
  const rootName = nameOf([['O', 'Anvil'], ['CN', `Anvil Development Root ${label}`]]);
  const rootKeyId = keyIdentifierOf(rootSpki);
  const rootSigner = new KeyObjectSigner(rootKey);
  const rootDer = await buildCertificate({
    serial: randomSerial(),
    issuer: rootName,
    subject: rootName,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + (o.rootValidityMs ?? 10 * YEAR)),
    spkiDer: rootSpki,
    extensions: [basicConstraints(true), keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(rootKeyId)],
    signer: rootSigner,
  });

  const intKey = generateKey(o.intermediateKeyType ?? 'ecdsa-p256');
  const intSpki = spkiOf(intKey);
  const intId = `int-${Buffer.from(keyIdentifierOf(intSpki)).toString('hex').slice(0, 12)}`;
  const intDer = await buildCertificate({
    serial: randomSerial(),
    issuer: rootName,
    subject: nameOf([['O', 'Anvil'], ['CN', `Anvil Development Intermediate ${label}`]]),
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + (o.intermediateValidityMs ?? 5 * YEAR)),
    spkiDer: intSpki,
    extensions: [
      basicConstraints(true, 0),
      keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']),
      subjectKeyIdentifier(keyIdentifierOf(intSpki)),
      authorityKeyIdentifier(rootKeyId),
    ],
    signer: rootSigner,
  });

  writeEncryptedKey(join(caDir, 'root.key.pem'), rootKey, passphrase);
  writeFileSync(join(caDir, 'root.pem'), derToPem(rootDer));
  writeEncryptedKey(join(caDir, `${intId}.key.pem`), intKey, passphrase);
  writeFileSync(join(caDir, `${intId}.pem`), derToPem(intDer));
  writeFileSync(join(dataDir, 'root.pem'), derToPem(rootDer));
  const manifest: Manifest = {
    version: 1,
    root: { id: 'root', certFile: 'root.pem', keyFile: 'root.key.pem' },
    issuers: [{ id: intId, certFile: `${intId}.pem`, keyFile: `${intId}.key.pem`, status: 'active' }],
  };
  // The manifest is written last and atomically: its presence means the hierarchy is complete.
  const tmp = join(caDir, 'manifest.json.tmp');
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp, join(caDir, 'manifest.json'));
}

export function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
}

function readDer(path: string): Uint8Array {
  const pem = readFileSync(path, 'utf8');
  const b64 = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!b64) throw new Error(`${path} holds no certificate`);
  return new Uint8Array(Buffer.from(b64.replace(/\s+/g, ''), 'base64'));
}

function assertKeyMatches(certDer: Uint8Array, key: KeyObject, certFile: string): void {
  const cert = AsnConvert.parse(toArrayBuffer(certDer), Certificate);
  const certSpki = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
  if (!certSpki.equals(Buffer.from(spkiOf(key)))) throw new Error(`the key for ${certFile} does not match its certificate`);
}
