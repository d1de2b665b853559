/** Coordination of processes sharing one SQLite store: nonce redemptions, task leases, heartbeats. */
import type { CoordinationStore } from '../store.js';
import type { SqliteContext } from './context.js';

export function coordinationMethods(ctx: SqliteContext): CoordinationStore {
  const { db } = ctx;
  const s = {
    redeem: db.prepare<[string, number]>('INSERT OR IGNORE INTO used_nonces (id, expires_at) VALUES (?, ?)'),
    purgeNonces: db.prepare<[number, number]>('DELETE FROM used_nonces WHERE id IN (SELECT id FROM used_nonces WHERE expires_at < ? LIMIT ?)'),
    // Taken when free or expired (a new holder gets the next fence); renewed by its holder.
    acquire: db.prepare<[{ task: string; holder: string; expires: number; now: number }], { fence: number }>(
      `INSERT INTO leases (task, holder, expires_at, fence, acquired_at) VALUES (@task, @holder, @expires, 1, @now)
       ON CONFLICT (task) DO UPDATE SET expires_at = excluded.expires_at,
         fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END,
         acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
         holder = excluded.holder
       WHERE leases.holder = excluded.holder OR leases.expires_at <= @now
       RETURNING fence`,
    ),
    release: db.prepare<[number, string, string]>('UPDATE leases SET expires_at = ? WHERE task = ? AND holder = ?'),
    leases: db.prepare<[], { task: string; holder: string; expires_at: number; fence: number; acquired_at: number }>('SELECT * FROM leases ORDER BY task'),
    heartbeat: db.prepare<[{ id: string; host: string; pid: number; now: number }]>(
      `INSERT INTO instances (id, host, pid, started_at, seen_at) VALUES (@id, @host, @pid, @now, @now)
       ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`,
    ),
    instances: db.prepare<[number], { id: string; host: string; pid: number; started_at: number; seen_at: number }>(
      'SELECT * FROM instances WHERE seen_at >= ? ORDER BY started_at',
    ),
    forgetInstances: db.prepare<[number]>('DELETE FROM instances WHERE seen_at < ?'),
    putState: db.prepare<[string, string, number]>(
      'INSERT INTO shared_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    ),
    getState: db.prepare<[string], { value: string; updated_at: number }>('SELECT value, updated_at FROM shared_state WHERE key = ?'),
  };

  return {
    // Not waiting for the group fsync: a redemption lost to a power cut only re-opens a nonce the
    // client already used, within its lifetime.
    async redeemNonce(id, expiresAt) {
      return s.redeem.run(id, expiresAt.getTime()).changes === 1;
    },
    async purgeUsedNonces(before, limit) {
      return s.purgeNonces.run(before.getTime(), limit).changes;
    },
    async acquireLease(task, holder, ttlMs) {
      const now = Date.now();
      const row = db.transaction(() => s.acquire.get({ task, holder, expires: now + ttlMs, now })).immediate();
      return row ? ctx.durable(row.fence) : null;
    },
    async releaseLease(task, holder) {
      s.release.run(Date.now(), task, holder);
    },
    async listLeases() {
      return s.leases.all().map((r) => ({ task: r.task, holder: r.holder, expiresAt: new Date(r.expires_at), fence: r.fence, acquiredAt: new Date(r.acquired_at) }));
    },
    async heartbeat(instance) {
      s.heartbeat.run({ ...instance, now: Date.now() });
    },
    async listInstances(seenSince) {
      return s.instances.all(seenSince.getTime()).map((r) => ({ id: r.id, host: r.host, pid: r.pid, startedAt: new Date(r.started_at), seenAt: new Date(r.seen_at) }));
    },
    async putSharedState(key, value) {
      s.putState.run(key, value, Date.now());
    },
    async getSharedState(key) {
      const r = s.getState.get(key);
      return r ? { value: r.value, updatedAt: new Date(r.updated_at) } : null;
    },
    async forgetInstances(seenBefore) {
      return s.forgetInstances.run(seenBefore.getTime()).changes;
    },
  };
}
