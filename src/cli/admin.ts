/**
 * `anvil admin-token create|list|revoke` (admin API credentials: shown once, stored hashed) and
 * `anvil audit verify|export` (the hash-chained audit log).
 */
import { openDataStore } from './open-store.js';
import { createWriteStream } from 'node:fs';
import { newAdminToken, ROLES } from '../ops/admin-api.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_CHECKPOINT_FILE, writeCheckpoint } from '../ops/audit-checkpoints.js';
import { auditVerifyReport } from '../ops/audit-verify.js';
import { createLogger } from '../ops/logger.js';
import type { AdminRole } from '../store/types.js';
import { operatorActor, parseCommand } from './settings-args.js';
import { UsageError, unknownWord } from './usage-error.js';

export const ADMIN_TOKEN_USAGE = `Usage: anvil admin-token create --role ${ROLES.join('|')} --name <who> | list | revoke --id <id>   [--data-dir <dir>]`;
export const AUDIT_USAGE = `Usage: anvil audit verify [--checkpoint <file>] | export [--out <file.jsonl>] [--after <seq>] | checkpoint   [--data-dir <dir>] [serve settings]
  verify      walk the hash chain; with a checkpoint (a checkpoint file, or log lines holding "audit.checkpoint"
              events: the newest validly signed one is used) also check that no record up to it was removed.
              Without --checkpoint the server's checkpoint file (--audit-checkpoint-file, default
              <data-dir>/audit-checkpoint.json) is used when it exists.
  export      write the records as JSON lines
  checkpoint  write a signed checkpoint of the chain head now (to the checkpoint file and stdout)`;

/** Parses the options, runs the command's argument checks, and only then opens the store. */
async function openStore(args: string[], own: Parameters<typeof parseCommand>[1], check: (v: ReturnType<typeof parseCommand>['values']) => void = () => undefined) {
  const parsed = parseCommand(args, own);
  check(parsed.values);
  const config = parsed.config();
  return { values: parsed.values, ...(await openDataStore(config)) };
}

export async function adminTokenCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const opened = await openStore(rest, { role: { type: 'string' }, name: { type: 'string' }, id: { type: 'string' } }, (v) => {
    if (action === 'create') {
      if (typeof v.role !== 'string') throw new UsageError(`--role is required: one of ${ROLES.join(', ')}`);
      if (!ROLES.includes(v.role as AdminRole)) throw unknownWord('role', v.role, ROLES);
      if (typeof v.name !== 'string') throw new UsageError('--name is required');
    }
    if (action === 'revoke' && typeof v.id !== 'string') throw new UsageError('--id is required');
  });
  const { values: v, store } = opened;
  try {
    if (action === 'create') {
      const t = newAdminToken();
      await store.createAdminToken({ id: t.id, tokenSha256: t.sha256, role: v.role as AdminRole, name: String(v.name) }, operatorActor());
      process.stdout.write(`${t.token}\n`);
      process.stderr.write(`admin token ${t.id} (${v.role}, ${v.name}): shown only now; send it as "Authorization: Bearer <token>"\n`);
      return 0;
    }
    if (action === 'list') {
      for (const t of await store.listAdminTokens()) {
        process.stdout.write(`${t.id}\t${t.role}\t${t.name}\t${t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : 'active'}\n`);
      }
      return 0;
    }
    if (action === 'revoke') {
      if (!(await store.revokeAdminToken(String(v.id), operatorActor()))) {
        process.stderr.write(`anvil admin-token: no active token ${v.id}\n`);
        return 1;
      }
      process.stdout.write(`revoked ${v.id}\n`);
      return 0;
    }
    throw unknownWord('action', action ?? '', ['create', 'list', 'revoke']);
  } finally {
    await store.close();
  }
}

export async function auditCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const parsed = parseCommand(rest, { out: { type: 'string' }, after: { type: 'string' }, checkpoint: { type: 'string' } });
  const config = parsed.config();
  const { store, auditKey } = await openDataStore(config);
  const v = parsed.values;
  const checkpointFile = config.auditCheckpointFile ?? join(config.dataDir, AUDIT_CHECKPOINT_FILE);
  try {
    if (action === 'checkpoint') {
      const checkpoint = await writeCheckpoint({ store, auditKey, file: checkpointFile, intervalMs: 0, log: createLogger('silent') });
      if (!checkpoint) {
        process.stderr.write('anvil audit checkpoint: the audit log is empty\n');
        return 1;
      }
      process.stdout.write(`${JSON.stringify(checkpoint)}\n`);
      process.stderr.write(`written to ${checkpointFile}\n`);
      return 0;
    }
    if (action === 'verify') {
      const given = typeof v.checkpoint === 'string' ? v.checkpoint : existsSync(checkpointFile) ? checkpointFile : undefined;
      const report = await auditVerifyReport(store, auditKey, given);
      process.stdout.write(report.lines.map((l) => `${l}\n`).join(''));
      return report.ok ? 0 : 1;
    }
    if (action === 'export') {
      const out = typeof v.out === 'string' ? createWriteStream(v.out) : process.stdout;
      let after = typeof v.after === 'string' ? Number(v.after) : 0;
      for (;;) {
        const page = await store.readAudit(after, 1000);
        if (page.length === 0) break;
        for (const r of page) {
          const { rawData: _raw, ...record } = r;
          out.write(JSON.stringify({ ...record, at: r.at.toISOString() }) + '\n');
        }
        after = page[page.length - 1]!.seq;
      }
      if (out !== process.stdout) await new Promise<void>((resolve) => (out as NodeJS.WritableStream).end(resolve));
      return 0;
    }
    throw unknownWord('action', action ?? '', ['verify', 'export', 'checkpoint']);
  } finally {
    await store.close();
  }
}
