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
import { chownSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** One file of a version: its name inside the version directory, content and mode. */
export interface VersionFile {
  name: string;
  content: string;
  mode: number;
}

const VERSIONS = 'versions';
const CURRENT = 'current';

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDurable(path: string, content: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
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
export function installVersion(dir: string, version: string, files: VersionFile[], owner?: { uid?: number | undefined; gid?: number | undefined }): string {
  const versions = join(dir, VERSIONS);
  mkdirSync(versions, { recursive: true, mode: 0o755 });
  const staging = join(versions, `.staging-${version}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging, { mode: 0o755 });
  for (const f of files) {
    const path = join(staging, f.name);
    writeDurable(path, f.content, f.mode);
    if (owner && (owner.uid !== undefined || owner.gid !== undefined)) chownSync(path, owner.uid ?? -1, owner.gid ?? -1);
  }
  if (owner && (owner.uid !== undefined || owner.gid !== undefined)) chownSync(staging, owner.uid ?? -1, owner.gid ?? -1);
  fsyncPath(staging);
  const final = join(versions, version);
  renameSync(staging, final);
  fsyncPath(versions);
  // The switch: a new symlink under a temporary name, renamed over `current` (atomic on POSIX).
  const link = join(dir, `.${CURRENT}-${randomBytes(4).toString('hex')}`);
  symlinkSync(join(VERSIONS, version), link);
  renameSync(link, join(dir, CURRENT));
  for (const f of files) ensureStableLink(dir, f.name);
  fsyncPath(dir);
  return version;
}

/** `<dir>/<name>` -> `current/<name>`, created once; a regular file in the way is left alone. */
function ensureStableLink(dir: string, name: string): void {
  const path = join(dir, name);
  try {
    lstatSync(path);
    return;
  } catch {
    // absent: create it
  }
  const tmp = join(dir, `.${name}-${randomBytes(4).toString('hex')}`);
  symlinkSync(join(CURRENT, name), tmp);
  renameSync(tmp, path);
}

/** Removes every version directory except `keep` (and any stale staging directory). */
export function pruneVersions(dir: string, keep: string[]): string[] {
  const versions = join(dir, VERSIONS);
  let names: string[];
  try {
    names = readdirSync(versions);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (keep.includes(name)) continue;
    rmSync(join(versions, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
