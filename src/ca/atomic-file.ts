/** Files replaced whole, so no reader sees one half-written. */
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';

/**
 * Writes a file atomically: a temporary file of this process's own, then rename. Processes that
 * share a data directory (`--workers`, `--extra-instance`) may write the same file at once.
 */
export function writeAtomic(path: string, content: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode, flag: 'wx' });
  renameSync(tmp, path);
}
