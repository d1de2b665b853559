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

export function loadProfiles(dir: string, defaultName: string): ProfileSet {
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
      byName.set(name, parseProfile(name, content, bytes));
    } catch (e) {
      throw new ProfileError(`${path}: ${(e as Error).message}`);
    }
  }
  const defaultProfile = byName.get(defaultName);
  if (!defaultProfile) throw new ProfileError(`${dir}: the default profile ${defaultName} is not defined (files: ${files.join(', ') || 'none'})`);
  return { byName, defaultProfile };
}
