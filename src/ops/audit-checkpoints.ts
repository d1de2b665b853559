/**
 * Writes signed checkpoints of the audit chain head on a schedule: to the log stream (one
 * `"event":"audit.checkpoint"` line each, for a log shipper to keep elsewhere) and to a file
 * outside the database (replaced atomically). A checkpoint is written at start, when the head has
 * moved since the last one, and at stop. Each tick is one index probe of the log's head.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { signCheckpoint, type AuditCheckpoint } from '../store/audit-chain.js';
import type { Store } from '../store/store.js';

/** The checkpoint file's name in the data directory when --audit-checkpoint-file is not set. */
export const AUDIT_CHECKPOINT_FILE = 'audit-checkpoint.json';

export interface AuditCheckpointOptions {
  store: Pick<Store, 'auditHead'>;
  auditKey: Uint8Array;
  /** File that holds the latest checkpoint (JSON). */
  file: string;
  intervalMs: number;
  log: Logger;
}

/** Takes one checkpoint of the current head and writes it to the file and the log; null for an empty log. */
export async function writeCheckpoint(o: AuditCheckpointOptions): Promise<AuditCheckpoint | null> {
  const head = await o.store.auditHead();
  if (!head) return null;
  const checkpoint = signCheckpoint(o.auditKey, head);
  const tmp = `${o.file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(checkpoint) + '\n', { mode: 0o644 });
  renameSync(tmp, o.file);
  o.log.info({ event: 'audit.checkpoint', checkpoint }, 'audit checkpoint');
  return checkpoint;
}

/** Starts the schedule; the returned stop() writes a last checkpoint. */
export function startAuditCheckpoints(o: AuditCheckpointOptions): { stop(): Promise<void> } {
  let last: { seq: number; hash: string } | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = async (force: boolean) => {
    try {
      const head = await o.store.auditHead();
      if (!head || (!force && last && last.seq === head.seq && last.hash === head.hash)) return;
      last = await writeCheckpoint(o);
    } catch (e) {
      o.log.error({ err: (e as Error).message, file: o.file }, 'audit checkpoint failed');
    }
  };
  const schedule = () => {
    timer = setTimeout(() => {
      running = tick(false).then(schedule);
    }, o.intervalMs);
    timer.unref();
  };
  running = tick(true).then(schedule);
  return {
    stop: async () => {
      clearTimeout(timer);
      await running;
      clearTimeout(timer);
      await tick(false);
    },
  };
}
