/**
 * `anvil admin-token create|list|revoke` (admin API credentials: shown once, stored hashed) and
 * `anvil audit verify|export` (the hash-chained audit log).
 */
import { openDataStore } from './open-store.js';
import { createWriteStream } from 'node:fs';
import { newAdminToken, ROLES } from '../ops/admin-api.js';
import { verifyAuditChain } from '../store/audit-chain.js';
import type { AdminRole } from '../store/types.js';
import { operatorActor, parseCommand } from './settings-args.js';

const TOKEN_USAGE = `Usage: anvil admin-token create --role ${ROLES.join('|')} --name <who> | list | revoke --id <id>   [--data-dir <dir>]`;
const AUDIT_USAGE = 'Usage: anvil audit verify | export [--out <file.jsonl>] [--after <seq>]   [--data-dir <dir>]';

function openStore(args: string[], own: Parameters<typeof parseCommand>[1]) {
  const parsed = parseCommand(args, own);
  const config = parsed.config();
  return { values: parsed.values, ...openDataStore(config) };
}

export async function adminTokenCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let opened;
  try {
    opened = openStore(rest, { role: { type: 'string' }, name: { type: 'string' }, id: { type: 'string' } });
  } catch (e) {
    process.stderr.write(`anvil admin-token: ${(e as Error).message}\n${TOKEN_USAGE}\n`);
    return 2;
  }
  const { values: v, store } = opened;
  try {
    if (action === 'create') {
      if (typeof v.role !== 'string' || !ROLES.includes(v.role as AdminRole) || typeof v.name !== 'string') {
        process.stderr.write(`${TOKEN_USAGE}\n`);
        return 2;
      }
      const t = newAdminToken();
      await store.createAdminToken({ id: t.id, tokenSha256: t.sha256, role: v.role as AdminRole, name: v.name }, operatorActor());
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
      if (typeof v.id !== 'string') {
        process.stderr.write(`${TOKEN_USAGE}\n`);
        return 2;
      }
      if (!(await store.revokeAdminToken(v.id, operatorActor()))) {
        process.stderr.write(`anvil admin-token: no active token ${v.id}\n`);
        return 1;
      }
      process.stdout.write(`revoked ${v.id}\n`);
      return 0;
    }
    process.stderr.write(`${TOKEN_USAGE}\n`);
    return 2;
  } finally {
    await store.close();
  }
}

export async function auditCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let opened;
  try {
    opened = openStore(rest, { out: { type: 'string' }, after: { type: 'string' } });
  } catch (e) {
    process.stderr.write(`anvil audit: ${(e as Error).message}\n${AUDIT_USAGE}\n`);
    return 2;
  }
  const { values: v, store, auditKey } = opened;
  try {
    if (action === 'verify') {
      const verdict = await verifyAuditChain(store, auditKey);
      if (verdict.ok) {
        process.stdout.write(`audit log intact: ${verdict.records} records, hash chain verified\n`);
        return 0;
      }
      process.stdout.write(`audit log BROKEN at record ${verdict.problem!.seq}: ${verdict.problem!.reason} (${verdict.records} records verified before it)\n`);
      return 1;
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
    process.stderr.write(`${AUDIT_USAGE}\n`);
    return 2;
  } finally {
    await store.close();
  }
}
