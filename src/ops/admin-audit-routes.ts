/** The admin API's audit-log and anomaly reads. */
import { existsSync } from 'node:fs';
import type { Router } from 'express';
import type { AdminContext, RouteFactory } from './admin-api.js';
import { auditVerifyReport } from './audit-verify.js';

/** Registers the audit and anomaly reads on the admin router. */
export function auditRoutes(r: Router, route: RouteFactory, ctx: AdminContext): void {
  r.get(
    '/admin/audit',
    route('audit:read', async (req) => {
      const after = Number(req.query.after ?? 0);
      const limit = Math.min(Number(req.query.limit ?? 1000), 10_000);
      return ctx.store.readAudit(Number.isFinite(after) ? after : 0, Number.isFinite(limit) && limit > 0 ? limit : 1000);
    }),
  );
  r.get(
    '/admin/audit/verify',
    route('audit:read', async () => {
      // As `anvil audit verify` does: against the checkpoint file when there is one, with its sentences.
      const report = await auditVerifyReport(ctx.store, ctx.auditKey, existsSync(ctx.auditCheckpointFile) ? ctx.auditCheckpointFile : undefined);
      return { ok: report.ok, records: report.verdict?.records ?? 0, ...(report.verdict?.problem ? { problem: report.verdict.problem } : {}), report: report.lines };
    }),
  );
  r.get('/admin/anomalies', route('anomalies:read', async () => ctx.anomalies()));
}
