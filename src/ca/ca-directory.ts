/**
 * The CA's hierarchy on disk and in memory. `<data>/ca/manifest.json` (see manifest.ts) names the
 * roots and issuers, their certificates (`<data>/ca/*.pem`) and where their keys live (encrypted
 * files beside them, or a PKCS#11 token). `<data>/root.pem` is the primary root for clients;
 * `<data>/trust-bundle.pem` holds every root relying parties should trust (old and new during a
 * root rotation). Loading keeps the signers of unchanged issuers, so a reload never drops one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { writeAtomic } from './atomic-file.js';
import type { KeyType } from './algorithms.js';
import { issueIntermediate, issueRoot } from './ca-certs.js';
import { derToPem, nameOf, randomSerial, serialHex } from './certificate-builder.js';
import { keyIdentifierOf } from './extensions.js';
import { GuardedSigner, type SignerGuardOptions } from './guarded-signer.js';
import { makeIssuer, type Issuer } from './issuer.js';
import type { KeyStoreKind, KeyStores } from './key-stores.js';
import { manifestExists, readManifest, writeManifest, type HierarchyDefaults, type IssuerStatus, type Manifest, type RootEntry } from './manifest.js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, type Name } from '@peculiar/asn1-x509';
import { toArrayBuffer } from './certificate-builder.js';

export type { IssuerStatus } from './manifest.js';

export interface RootInfo {
  id: string;
  der: Uint8Array;
  pem: string;
  status: RootEntry['status'];
  hasKey: boolean;
}

export interface TrustBundle {
  version: number;
  roots: { id: string; status: string; pem: string }[];
  /** `chainPem` adds any CAs between the issuer and its root; `alternatePems` its cross-signed certificates. */
  issuers: { id: string; status: IssuerStatus; pem: string; chainPem: string; alternatePems: string[] }[];
}

/** The loaded hierarchy. Fields are replaced in place on reload, so holders see the new state. */
export interface CaMaterial {
  caDir: string;
  rootPemPath: string;
  rootPem: string;
  roots: RootInfo[];
  /** Issuers that still sign (active and retiring); archived ones are not loaded. */
  issuers: Issuer[];
  active: Issuer;
  bundleVersion: number;
  created: boolean;
  statusOf(issuerId: string): IssuerStatus | undefined;
  bundle(): TrustBundle;
}

const YEAR = 365 * 24 * 3_600_000;

export interface HierarchyOptions {
  rootKeyType?: KeyType;
  rootValidityMs?: number;
  intermediateKeyType?: KeyType;
  intermediateValidityMs?: number;
  intermediateKeyStore?: KeyStoreKind;
  /** Organisation shown in the names, e.g. "Example Corp". */
  organization?: string;
  /** Creates a second root and cross-signs the intermediate with it (an alternate chain). */
  alternateRoot?: boolean;
  permittedDns?: string[];
  label?: string;
}

/** Opens the CA, creating a development hierarchy (with an alternate root) on first use. */
export async function openCa(dataDir: string, keys: KeyStores, guard: SignerGuardOptions, init: HierarchyOptions = { alternateRoot: true }): Promise<CaMaterial> {
  const caDir = join(dataDir, 'ca');
  let created = false;
  if (!manifestExists(caDir)) {
    await createHierarchy(dataDir, keys, { ...init, label: init.label ?? `Development ${serialHex(randomSerial()).slice(0, 8)}` });
    created = true;
  }
  const material = loadCa(dataDir, keys, guard);
  material.created = created;
  return material;
}

/** Reads the manifest into memory; issuers whose id and certificate are unchanged keep `previous`'s signer. */
export function loadCa(dataDir: string, keys: KeyStores, guard: SignerGuardOptions, previous?: CaMaterial): CaMaterial {
  const caDir = join(dataDir, 'ca');
  const manifest = readManifest(caDir);
  const roots: RootInfo[] = manifest.roots.map((r) => {
    const der = readCertDer(join(caDir, r.certFile));
    return { id: r.id, der, pem: derToPem(der), status: r.status, hasKey: r.key !== null };
  });
  const rootById = new Map(roots.map((r) => [r.id, r]));
  const issuers: Issuer[] = [];
  for (const entry of manifest.issuers) {
    if (entry.status === 'archived') continue;
    const certDer = readCertDer(join(caDir, entry.certFile));
    const kept = previous?.issuers.find((i) => i.id === entry.id && Buffer.from(i.certDer).equals(Buffer.from(certDer)));
    const alternates = entry.alternates.map((a) => derToPem(readCertDer(join(caDir, a.certFile))));
    if (kept) {
      issuers.push({ ...kept, status: entry.status, alternateChainPems: alternates });
      continue;
    }
    const loaded = keys.load(entry.key, entry.keyType);
    assertSameKey(certDer, loaded.spkiDer, entry.certFile);
    const root = rootById.get(entry.rootId);
    if (!root) throw new Error(`issuer ${entry.id} names unknown root ${entry.rootId}`);
    const upperChainPem = entry.upperChainFile ? readFileSync(join(caDir, entry.upperChainFile), 'utf8') : undefined;
    issuers.push(
      makeIssuer(entry.id, certDer, new GuardedSigner(loaded.signer, guard), {
        status: entry.status,
        alternateChainPems: alternates,
        ...(upperChainPem ? { upperChainPem } : {}),
      }),
    );
  }
  const active = issuers.find((i) => i.status === 'active');
  if (!active) throw new Error(`${join(caDir, 'manifest.json')} names no active issuer`);
  const primary = roots.find((r) => r.status === 'active') ?? roots[0]!;
  writeAtomic(join(dataDir, 'root.pem'), primary.pem, 0o644);
  writeAtomic(join(dataDir, 'trust-bundle.pem'), roots.map((r) => r.pem).join(''), 0o644);
  const statuses = new Map(manifest.issuers.map((i) => [i.id, i.status]));
  const material: CaMaterial = {
    caDir,
    rootPemPath: join(dataDir, 'root.pem'),
    rootPem: primary.pem,
    roots,
    issuers,
    active,
    bundleVersion: manifest.bundleVersion,
    created: false,
    statusOf: (id) => statuses.get(id),
    bundle: () => ({
      version: manifest.bundleVersion,
      roots: roots.map((r) => ({ id: r.id, status: r.status, pem: r.pem })),
      issuers: issuers.map((i) => ({ id: i.id, status: i.status, pem: i.certPem, chainPem: i.chainPem, alternatePems: i.alternateChainPems })),
    }),
  };
  if (previous) {
    Object.assign(previous, material, { created: previous.created });
    return previous;
  }
  return material;
}

/** What the audit log records of a new hierarchy: its roots and issuers, by id and subject. */
export function caCreatedData(ca: CaMaterial, imported: boolean): Record<string, unknown> {
  return {
    imported,
    roots: ca.roots.map((r) => ({ id: r.id, hasKey: r.hasKey })),
    issuers: ca.issuers.map((i) => ({ id: i.id, status: i.status })),
  };
}

/** Creates a root (and optionally an alternate root) and one active intermediate. */
export async function createHierarchy(dataDir: string, keys: KeyStores, o: HierarchyOptions): Promise<Manifest> {
  const caDir = join(dataDir, 'ca');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const org = o.organization ?? 'Anvil';
  const label = o.label ? ` ${o.label}` : '';
  const rootIds = o.alternateRoot ? ['root', 'root-alt'] : ['root'];
  const roots: { entry: RootEntry; name: Name; spkiDer: Uint8Array; signer: import('./signer.js').Signer }[] = [];
  for (const id of rootIds) {
    const name = nameOf([['O', org], ['CN', `${org} ${id === 'root' ? 'Root' : 'Alternate Root'}${label}`]]);
    const keyType = o.rootKeyType ?? 'ecdsa-p384';
    const key = keys.generate('file', keyType, id);
    const der = await issueRoot({ name, spkiDer: key.spkiDer }, key.signer, o.rootValidityMs ?? 10 * YEAR);
    writeFileSync(join(caDir, `${id}.pem`), derToPem(der));
    roots.push({ entry: { id, certFile: `${id}.pem`, key: key.ref, keyType, status: 'active' }, name, spkiDer: key.spkiDer, signer: key.signer });
  }
  const defaults: HierarchyDefaults = {};
  if (o.organization) defaults.organization = o.organization;
  if (o.intermediateKeyType) defaults.intermediateKeyType = o.intermediateKeyType;
  if (o.intermediateValidityMs) defaults.intermediateValidityMs = o.intermediateValidityMs;
  if (o.intermediateKeyStore) defaults.intermediateKeyStore = o.intermediateKeyStore;
  if (o.permittedDns) defaults.permittedDns = o.permittedDns;
  const manifest: Manifest = { version: 2, bundleVersion: 1, defaults, roots: roots.map((r) => r.entry), issuers: [] };
  await addIssuer(caDir, manifest, keys, roots[0]!, roots.slice(1), o);
  writeManifest(caDir, manifest);
  return manifest;
}

/** A new active intermediate under the primary root (cross-signed by the others); the previous active one retires. */
export async function rotateIssuer(dataDir: string, keys: KeyStores, o: HierarchyOptions): Promise<{ retired: string[]; created: string }> {
  const caDir = join(dataDir, 'ca');
  const manifest = readManifest(caDir);
  const signing = manifest.roots
    .filter((r) => r.status === 'active')
    .map((r) => {
      if (!r.key) throw new Error(`the key of root ${r.id} is not in the data directory; bring it back (anvil ca import-root-key) to rotate`);
      const der = readCertDer(join(caDir, r.certFile));
      const loaded = keys.load(r.key, r.keyType);
      return { entry: r, name: subjectOf(der), spkiDer: loaded.spkiDer, signer: loaded.signer };
    });
  if (signing.length === 0) throw new Error('no active root to sign a new intermediate');
  const retired = manifest.issuers.filter((i) => i.status === 'active').map((i) => i.id);
  for (const issuer of manifest.issuers) if (issuer.status === 'active') issuer.status = 'retiring';
  // Options not given keep what `anvil init` chose (organisation, key type and store, constraints).
  const created = await addIssuer(caDir, manifest, keys, signing[0]!, signing.slice(1), { ...manifest.defaults, ...definedOnly(o) });
  manifest.bundleVersion++;
  writeManifest(caDir, manifest);
  return { retired, created };
}

/**
 * A root rotation: a new root (file key) and a new active intermediate under it. The roots that
 * were active become `retiring`: they stay in the trust bundle through the overlap, so the
 * retiring issuers' certificates keep verifying while relying parties add the new root. Each old
 * root whose key is here also cross-signs the new intermediate (an alternate chain), so a relying
 * party that trusts only an old root can still validate new certificates until it has the new one.
 * Later intermediate rotations sign under the new root only.
 */
export async function rotateRoot(
  dataDir: string,
  keys: KeyStores,
  o: HierarchyOptions,
): Promise<{ root: string; retiringRoots: string[]; crossSignedBy: string[]; created: string; retired: string[] }> {
  const caDir = join(dataDir, 'ca');
  const manifest = readManifest(caDir);
  const opts = { ...manifest.defaults, ...definedOnly(o) };
  const org = opts.organization ?? 'Anvil';
  const oldRoots = manifest.roots.filter((r) => r.status === 'active');
  const keyType = o.rootKeyType ?? oldRoots[0]?.keyType ?? 'ecdsa-p384';
  let id = `root-${serialHex(randomSerial()).slice(0, 8).toLowerCase()}`;
  while (manifest.roots.some((r) => r.id === id)) id = `root-${serialHex(randomSerial()).slice(0, 8).toLowerCase()}`;
  const name = nameOf([['O', org], ['CN', `${org} Root ${id.slice(5)}`]]);
  const key = keys.generate('file', keyType, id);
  const der = await issueRoot({ name, spkiDer: key.spkiDer }, key.signer, o.rootValidityMs ?? 10 * YEAR);
  writeFileSync(join(caDir, `${id}.pem`), derToPem(der));
  const entry: RootEntry = { id, certFile: `${id}.pem`, key: key.ref, keyType, status: 'active' };
  const crossRoots = oldRoots
    .filter((r) => r.key !== null)
    .map((r) => {
      const loaded = keys.load(r.key!, r.keyType);
      return { entry: r, name: subjectOf(readCertDer(join(caDir, r.certFile))), spkiDer: loaded.spkiDer, signer: loaded.signer };
    });
  const retired = manifest.issuers.filter((i) => i.status === 'active').map((i) => i.id);
  for (const issuer of manifest.issuers) if (issuer.status === 'active') issuer.status = 'retiring';
  for (const r of oldRoots) r.status = 'retiring';
  // The new root goes first: it is the primary root (root.pem) from now on.
  manifest.roots.unshift(entry);
  const created = await addIssuer(caDir, manifest, keys, { entry, name, spkiDer: key.spkiDer, signer: key.signer }, crossRoots, opts);
  manifest.bundleVersion++;
  writeManifest(caDir, manifest);
  return { root: id, retiringRoots: oldRoots.map((r) => r.id), crossSignedBy: crossRoots.map((r) => r.entry.id), created, retired };
}

async function addIssuer(
  caDir: string,
  manifest: Manifest,
  keys: KeyStores,
  root: { entry: RootEntry; name: Name; spkiDer: Uint8Array; signer: import('./signer.js').Signer },
  crossRoots: { entry: RootEntry; name: Name; spkiDer: Uint8Array; signer: import('./signer.js').Signer }[],
  o: HierarchyOptions,
): Promise<string> {
  const org = o.organization ?? 'Anvil';
  const keyType = o.intermediateKeyType ?? 'ecdsa-p256';
  const storeKind = o.intermediateKeyStore ?? 'file';
  const provisional = `int-${serialHex(randomSerial()).slice(0, 12)}`;
  const key = keys.generate(storeKind, keyType, provisional);
  const id = `int-${Buffer.from(keyIdentifierOf(key.spkiDer)).toString('hex').slice(0, 12)}`;
  const subject = { name: nameOf([['O', org], ['CN', `${org} Intermediate ${id.slice(4)}`]]), spkiDer: key.spkiDer };
  const options = { validityMs: o.intermediateValidityMs ?? 5 * YEAR, ...(o.permittedDns ? { permittedDns: o.permittedDns } : {}) };
  const der = await issueIntermediate(subject, root, { ...options, notAfterCap: notAfterOf(readCertDer(join(caDir, root.entry.certFile))) });
  writeFileSync(join(caDir, `${id}.pem`), derToPem(der));
  const alternates = [];
  for (const cross of crossRoots) {
    const crossDer = await issueIntermediate(subject, cross, { ...options, notAfterCap: notAfterOf(readCertDer(join(caDir, cross.entry.certFile))) });
    const file = `${id}.cross-${cross.entry.id}.pem`;
    writeFileSync(join(caDir, file), derToPem(crossDer));
    alternates.push({ certFile: file, rootId: cross.entry.id });
  }
  manifest.issuers.push({ id, certFile: `${id}.pem`, key: key.ref, keyType, status: 'active', rootId: root.entry.id, alternates });
  return id;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function readCertDer(path: string): Uint8Array {
  const pem = readFileSync(path, 'utf8');
  const b64 = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!b64) throw new Error(`${path} holds no certificate`);
  return new Uint8Array(Buffer.from(b64.replace(/\s+/g, ''), 'base64'));
}

function subjectOf(der: Uint8Array): Name {
  return AsnConvert.parse(toArrayBuffer(der), Certificate).tbsCertificate.subject;
}

function notAfterOf(der: Uint8Array): Date {
  return new Date(new X509Certificate(Buffer.from(der)).validTo);
}

function assertSameKey(certDer: Uint8Array, spkiDer: Uint8Array, certFile: string): void {
  const cert = AsnConvert.parse(toArrayBuffer(certDer), Certificate);
  const certSpki = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
  if (!certSpki.equals(Buffer.from(spkiDer))) throw new Error(`the key for ${certFile} does not match its certificate`);
}

export { writeAtomic };

export { existsSync };
