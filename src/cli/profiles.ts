/**
 * `anvil profiles check` validates the profiles directory offline; `anvil profiles reload` asks
 * the running server (its pid file in the data directory) to reload, which keeps the old set
 * when a file is bad and logs why.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadProfiles } from '../profiles/profile-set.js';
import { BUNDLED_PROFILES_DIR } from '../server.js';
import { BUILT_IN_CHALLENGE_TYPES } from '../validators/build-registry.js';
import { PID_FILE } from './serve.js';
import { parseCommand } from './settings-args.js';
import { unknownWord } from './usage-error.js';

export const PROFILES_USAGE = 'Usage: anvil profiles check|reload [--profiles-dir <dir>] [--data-dir <dir>] [other serve settings]';

export async function profilesCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const parsed = parseCommand(rest, {});
  const config = parsed.config();
  if (action === 'check') {
    const dir = config.profilesDir ?? BUNDLED_PROFILES_DIR;
    try {
      const set = loadProfiles(dir, config.defaultProfile, (p) => {
        const unknown = p.challenges.filter((t) => !BUILT_IN_CHALLENGE_TYPES.includes(t));
        if (unknown.length > 0) throw new Error(`field challenges: ${unknown.join(', ')} is not a built-in challenge type`);
      });
      for (const p of set.byName.values()) process.stdout.write(`${p.name}\t${p.hash.slice(0, 16)}\t${p.description}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`anvil profiles check: ${(e as Error).message}\n`);
      return 1;
    }
  }
  if (action === 'reload') {
    let pid: number;
    try {
      pid = Number(readFileSync(join(config.dataDir, PID_FILE), 'utf8').trim());
    } catch {
      process.stderr.write(`anvil profiles reload: no running server found (no ${PID_FILE} in ${config.dataDir})\n`);
      return 1;
    }
    process.kill(pid, 'SIGHUP');
    process.stdout.write(`asked anvil (pid ${pid}) to reload its profiles; its log says whether they were accepted\n`);
    return 0;
  }
  throw unknownWord('action', action ?? '', ['check', 'reload']);
}
