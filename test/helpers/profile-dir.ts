/**
 * Profile directories for tests: a temp copy of the shipped acme-profiles/ plus the test's own
 * profile files (YAML text or an object written as YAML), and the shipped files read back as
 * the server should describe them.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { repoRoot } from '../interop/harness.js';

/** The repository's acme-profiles/ directory (the server's default --profiles-dir). */
export function bundledProfilesDir(): string {
  return join(repoRoot(), 'acme-profiles');
}

/** name → parsed content of each shipped profile file. */
export function bundledProfiles(): Map<string, Record<string, any>> {
  const dir = bundledProfilesDir();
  const out = new Map<string, Record<string, any>>();
  for (const file of readdirSync(dir).filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f)))) {
    out.set(basename(file, extname(file)), parseYaml(readFileSync(join(dir, file), 'utf8')) as Record<string, any>);
  }
  return out;
}

/** Writes `<dir>/<name>.yaml` from YAML text or an object; returns the path. */
export function writeProfile(dir: string, name: string, content: string | Record<string, unknown>): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, typeof content === 'string' ? content : stringifyYaml(content));
  return file;
}

/** A temp profiles directory: optionally the shipped profiles, plus `extra` files. */
export interface ProfileDir {
  dir: string;
  write(name: string, content: string | Record<string, unknown>): string;
  remove(): void;
}

export function makeProfileDir(options: { withBundled?: boolean; extra?: Record<string, string | Record<string, unknown>> } = {}): ProfileDir {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-profiles-'));
  if (options.withBundled ?? true) {
    const src = bundledProfilesDir();
    for (const file of readdirSync(src)) copyFileSync(join(src, file), join(dir, file));
  }
  for (const [name, content] of Object.entries(options.extra ?? {})) writeProfile(dir, name, content);
  return {
    dir,
    write: (name, content) => writeProfile(dir, name, content),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
