/**
 * The CA manifest (`<data>/ca/manifest.json`): which roots and issuers exist, where their keys
 * live, each issuer's status, alternate (cross-signed) certificates, and the trust bundle version.
 * Written atomically; its presence means the hierarchy is complete. Version 1 files (single root,
 * file keys) are read as version 2.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeAtomic } from './atomic-file.js';
import { join } from 'node:path';
import type { KeyType } from './algorithms.js';
import type { KeyRef } from './key-stores.js';

export type IssuerStatus = 'active' | 'retiring' | 'archived';

export interface RootEntry {
  id: string;
  certFile: string;
  /** null once the root key was exported and removed for offline storage. */
  key: KeyRef | null;
  keyType: KeyType;
  /** `retiring` roots stay in the trust bundle during a root rotation. */
  status: 'active' | 'retiring';
}

export interface IssuerEntry {
  id: string;
  certFile: string;
  key: KeyRef;
  keyType: KeyType;
  status: IssuerStatus;
  rootId: string;
  /** The same issuer certified by other roots: alternate chains (Link rel="alternate"). */
  alternates: { certFile: string; rootId: string }[];
  /** CA certificates between this issuer and its root (an imported issuer under an external intermediate). */
  upperChainFile?: string;
  archivedAt?: string;
  keyDestroyedAt?: string;
}

/** Choices made at `anvil init` that later rotations keep unless told otherwise. */
export interface HierarchyDefaults {
  organization?: string;
  intermediateKeyType?: KeyType;
  intermediateValidityMs?: number;
  intermediateKeyStore?: 'file' | 'pkcs11';
  permittedDns?: string[];
}

export interface Manifest {
  version: 2;
  /** Grows with every change of roots or issuers: agents refetch the trust bundle when it moves. */
  bundleVersion: number;
  defaults?: HierarchyDefaults;
  roots: RootEntry[];
  issuers: IssuerEntry[];
}

interface ManifestV1 {
  version: 1;
  root: { id: string; certFile: string; keyFile: string };
  issuers: { id: string; certFile: string; keyFile: string; status: IssuerStatus }[];
}

export const manifestPath = (caDir: string): string => join(caDir, 'manifest.json');

export function manifestExists(caDir: string): boolean {
  return existsSync(manifestPath(caDir));
}

export function readManifest(caDir: string): Manifest {
  const raw = JSON.parse(readFileSync(manifestPath(caDir), 'utf8')) as Manifest | ManifestV1;
  if (raw.version === 2) return raw;
  return {
    version: 2,
    bundleVersion: 1,
    roots: [{ id: raw.root.id, certFile: raw.root.certFile, key: { kind: 'file', file: raw.root.keyFile }, keyType: 'ecdsa-p384', status: 'active' }],
    issuers: raw.issuers.map((i) => ({
      id: i.id,
      certFile: i.certFile,
      key: { kind: 'file', file: i.keyFile },
      keyType: 'ecdsa-p256',
      status: i.status,
      rootId: raw.root.id,
      alternates: [],
    })),
  };
}

export function writeManifest(caDir: string, manifest: Manifest): void {
  writeAtomic(manifestPath(caDir), JSON.stringify(manifest, null, 2) + '\n', 0o600);
}
