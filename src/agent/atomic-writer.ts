/**
 * Crash-safe, tear-free installation of a certificate version:
 *
 *   <dir>/versions/<version>/{cert,key,chain,fullchain[,combined]}.pem   written, fsynced, renamed in
 *   <dir>/current -> versions/<version>                                  switched with one rename(2)
 *   <dir>/cert.pem -> current/cert.pem (and each other file)             stable paths for services
 *
 * A reader that resolves `current` once (or reads the combined file) always sees a key and a
 * certificate of the same version. A version directory is complete before any name points at it,
 * and the previous version stays on disk for a grace window, so a reader that resolved the old
 * `current` a moment ago (an in-flight handshake, the blue half of a blue/green pair) can finish.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { chown, lstat, mkdir, open, readdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One file of a version: its name inside the version directory, content and mode. */
export interface VersionFile {
  name: string;
  content: string;
  mode: number;
}

const VERSIONS = 'versions';
const CURRENT = 'current';

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeDurable(path: string, content: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The version `current` points at, or undefined. */
export function currentVersion(dir: string): string | undefined {
  try {
    const target = readlinkSync(join(dir, CURRENT));
    return target.split('/').pop();
  } catch {
    return undefined;
  }
}

/** The absolute path of a version's directory. */
export function versionDir(dir: string, version: string): string {
  return join(dir, VERSIONS, version);
}

/**
 * Writes a complete version directory and switches `current` to it with one rename.
 * Returns the version name.
 */
export async function installVersion(dir: string, version: string, files: VersionFile[], owner?: { uid?: number | undefined; gid?: number | undefined }): Promise<string> {
  const versions = join(dir, VERSIONS);
  await mkdir(versions, { recursive: true, mode: 0o755 });
  const staging = join(versions, `.staging-${version}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { mode: 0o755 });
  const chowning = owner && (owner.uid !== undefined || owner.gid !== undefined);
  for (const f of files) {
    const path = join(staging, f.name);
    await writeDurable(path, f.content, f.mode);
    if (chowning) await chown(path, owner.uid ?? -1, owner.gid ?? -1);
  }
  if (chowning) await chown(staging, owner.uid ?? -1, owner.gid ?? -1);
  await fsyncPath(staging);
  await rename(staging, join(versions, version));
  await fsyncPath(versions);
  // The switch: a new symlink under a temporary name, renamed over `current` (atomic on POSIX).
  const link = join(dir, `.${CURRENT}-${randomBytes(4).toString('hex')}`);
  await symlink(join(VERSIONS, version), link);
  await rename(link, join(dir, CURRENT));
  for (const f of files) await ensureStableLink(dir, f.name);
  await fsyncPath(dir);
  return version;
}

/** `<dir>/<name>` -> `current/<name>`, created once; a regular file in the way is left alone. */
async function ensureStableLink(dir: string, name: string): Promise<void> {
  const path = join(dir, name);
  try {
    await lstat(path);
    return;
  } catch {
    // absent: create it
  }
  const tmp = join(dir, `.${name}-${randomBytes(4).toString('hex')}`);
  await symlink(join(CURRENT, name), tmp);
  await rename(tmp, path);
}

/** Removes every version directory except `keep` (and any stale staging directory). */
export async function pruneVersions(dir: string, keep: string[]): Promise<string[]> {
  const versions = join(dir, VERSIONS);
  let names: string[];
  try {
    names = await readdir(versions);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (keep.includes(name)) continue;
    await rm(join(versions, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
