/**
 * Coordination of instances sharing one PostgreSQL store: nonce redemptions, task leases,
 * heartbeats and shared state. Each call is one statement, atomic on its own.
 */
import type { CoordinationStore } from '../store.js';
import type { PgContext } from './context.js';

export function coordinationMethods(ctx: PgContext): CoordinationStore {
  const { sql } = ctx;
  return {
    async redeemNonce(id, expiresAt) {
      // A concurrent redemption of the same id waits on the primary key, then inserts nothing.
      return (await sql.run('INSERT INTO used_nonces (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [id, expiresAt.getTime()])) === 1;
    },

    async purgeUsedNonces(before, limit) {
      return sql.run('DELETE FROM used_nonces WHERE id IN (SELECT id FROM used_nonces WHERE expires_at < $1 LIMIT $2)', [before.getTime(), limit]);
    },

    async acquireLease(task, holder, ttlMs) {
      const now = Date.now();
      // Taken when free or expired (a new holder gets the next fence); renewed by its holder.
      // The upsert's row lock makes concurrent takers queue: one wins, the others see its lease.
      const row = await sql.row<{ fence: number }>(
        `INSERT INTO leases (task, holder, expires_at, fence, acquired_at) VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (task) DO UPDATE SET expires_at = excluded.expires_at,
           fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END,
           acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
           holder = excluded.holder
         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
         RETURNING fence`,
        [task, holder, now + ttlMs, now],
      );
      return row ? row.fence : null;
    },

    async releaseLease(task, holder) {
      await sql.run('UPDATE leases SET expires_at = $1 WHERE task = $2 AND holder = $3', [Date.now(), task, holder]);
    },

    async listLeases() {
      const rows = await sql.rows<{ task: string; holder: string; expires_at: number; fence: number; acquired_at: number }>('SELECT * FROM leases ORDER BY task');
      return rows.map((r) => ({ task: r.task, holder: r.holder, expiresAt: new Date(r.expires_at), fence: r.fence, acquiredAt: new Date(r.acquired_at) }));
    },

    async heartbeat(instance) {
      const now = Date.now();
      await sql.run(
        `INSERT INTO instances (id, host, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`,
        [instance.id, instance.host, instance.pid, now],
      );
    },

    async listInstances(seenSince) {
      const rows = await sql.rows<{ id: string; host: string; pid: number; started_at: number; seen_at: number }>(
        'SELECT * FROM instances WHERE seen_at >= $1 ORDER BY started_at',
        [seenSince.getTime()],
      );
      return rows.map((r) => ({ id: r.id, host: r.host, pid: r.pid, startedAt: new Date(r.started_at), seenAt: new Date(r.seen_at) }));
    },

    async forgetInstances(seenBefore) {
      return sql.run('DELETE FROM instances WHERE seen_at < $1', [seenBefore.getTime()]);
    },

    async putSharedState(key, value) {
      await sql.run(
        'INSERT INTO shared_state (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
        [key, value, Date.now()],
      );
    },

    async getSharedState(key) {
      const r = await sql.row<{ value: string; updated_at: number }>('SELECT value, updated_at FROM shared_state WHERE key = $1', [key]);
      return r ? { value: r.value, updatedAt: new Date(r.updated_at) } : null;
    },
  };
}
