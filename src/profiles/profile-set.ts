/**
 * Loads every profile file of a directory, validating each; an error names the file and field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseProfile, type Profile } from './profile.js';

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface ProfileSet {
  readonly byName: ReadonlyMap<string, Profile>;
  readonly defaultProfile: Profile;
}

/**
 * Loads and validates every profile in `dir`. `check` applies rules that need the running
 * server's context (registered challenge types, known issuers) and throws `field …: …`.
 */
export function loadProfiles(dir: string, defaultName: string, check: (p: Profile) => void = () => undefined): ProfileSet {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f))).sort();
  } catch (e) {
    throw new ProfileError(`cannot read profiles directory ${dir}: ${(e as Error).message}`);
  }
  const byName = new Map<string, Profile>();
  for (const file of files) {
    const path = join(dir, file);
    const name = basename(file, extname(file));
    if (!PROFILE_NAME.test(name)) throw new ProfileError(`${path}: profile file name must match ${PROFILE_NAME}`);
    if (byName.has(name)) throw new ProfileError(`${path}: a profile named ${name} is defined twice`);
    const bytes = readFileSync(path);
    let content: unknown;
    try {
      content = parseYaml(bytes.toString('utf8'));
    } catch (e) {
      throw new ProfileError(`${path}: not valid YAML/JSON: ${(e as Error).message}`);
    }
    try {
      const profile = parseProfile(name, content, bytes);
      check(profile);
      byName.set(name, profile);
    } catch (e) {
      throw new ProfileError(`${path}: ${(e as Error).message}`);
    }
  }
  const defaultProfile = byName.get(defaultName);
  if (!defaultProfile) throw new ProfileError(`${dir}: the default profile ${defaultName} is not defined (files: ${files.join(', ') || 'none'})`);
  return { byName, defaultProfile };
}

/**
 * The live profile set. Reloading (SIGHUP, `anvil profiles reload`, the admin API) validates the
 * whole directory first; a bad file leaves the running set untouched and the error is returned.
 * Certificates already issued are never changed: each records the profile hash it was issued under.
 */
export class ProfileRegistry {
  private set: ProfileSet;

  constructor(
    private readonly dir: string,
    private readonly defaultName: string,
    private readonly check: (p: Profile) => void = () => undefined,
  ) {
    this.set = loadProfiles(dir, defaultName, check);
  }

  get(name: string): Profile | undefined {
    return this.set.byName.get(name);
  }

  get defaultProfile(): Profile {
    return this.set.defaultProfile;
  }

  all(): Profile[] {
    return [...this.set.byName.values()];
  }

  /** Re-reads the directory; on success swaps the set in and returns the names, else throws. */
  reload(): { loaded: string[]; changed: string[] } {
    const next = loadProfiles(this.dir, this.defaultName, this.check);
    const changed = [...next.byName.values()].filter((p) => this.set.byName.get(p.name)?.hash !== p.hash).map((p) => p.name);
    this.set = next;
    return { loaded: [...next.byName.keys()], changed };
  }
}
