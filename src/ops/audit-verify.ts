/**
 * What `anvil audit verify` reports, shared by the CLI and the admin API (the dashboard's
 * "Verify chain" button), so both say the same sentences for the same store and checkpoint.
 */
import { readFileSync } from 'node:fs';
import { latestCheckpoint, verifyAuditChain, verifyAuditChainAgainst, type AuditVerdict } from '../store/audit-chain.js';
import type { Store } from '../store/store.js';

export interface AuditVerifyReport {
  ok: boolean;
  /** The lines `anvil audit verify` prints. */
  lines: string[];
  /** Absent when the checkpoint itself was refused. */
  verdict?: AuditVerdict;
}

/** Verifies the chain, against the checkpoint in `checkpointFile` when one is given. */
export async function auditVerifyReport(store: Pick<Store, 'readAudit'>, auditKey: Uint8Array, checkpointFile: string | undefined): Promise<AuditVerifyReport> {
  let checkpoint;
  if (checkpointFile) {
    try {
      checkpoint = latestCheckpoint(auditKey, readFileSync(checkpointFile, 'utf8'));
    } catch (e) {
      return { ok: false, lines: [`audit checkpoint ${checkpointFile} REFUSED: ${(e as Error).message}`] };
    }
  }
  const verdict = checkpoint ? await verifyAuditChainAgainst(store, auditKey, checkpoint) : await verifyAuditChain(store, auditKey);
  if (!verdict.ok) {
    return { ok: false, verdict, lines: [`audit log BROKEN at record ${verdict.problem!.seq}: ${verdict.problem!.reason} (${verdict.records} records verified before it)`] };
  }
  return {
    ok: true,
    verdict,
    lines: [
      `audit log intact: ${verdict.records} records, hash chain verified`,
      checkpoint
        ? `complete up to the checkpoint of ${checkpoint.at} (record ${checkpoint.seq}, from ${checkpointFile})`
        : 'no checkpoint given (--checkpoint): removal of the newest records cannot be detected',
    ],
  };
}
