/**
 * The PostgreSQL store, for several Anvil instances sharing one database. Each part of the Store
 * interface lives in its own module over a shared context (pool, transactions, audit chain), as
 * in the SQLite store; every state change is one transaction that also appends its audit record.
 */
import type { Store } from '../store.js';
import { accountMethods } from './accounts.js';
import { auditMethods } from './audit.js';
import { certificateMethods } from './certificates.js';
import { coordinationMethods } from './coordination.js';
import { dashboardMethods } from './dashboard.js';
import { PgContext, type PostgresStoreOptions } from './context.js';
import { fleetMethods } from './fleet.js';
import { identityMethods } from './identity.js';
import { maintenanceMethods } from './maintenance.js';
import { migrate } from './migrations.js';
import { orderMethods } from './orders.js';
import { revocationMethods } from './revocation.js';

export type { PostgresStoreOptions } from './context.js';

// The class gets its Store methods from the part modules; this declaration tells TypeScript so.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface PostgresStore extends Store {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class PostgresStore {
  private constructor(
    private readonly ctx: PgContext,
    /** The schema versions this instance applied when it opened (empty when the database was current). */
    readonly appliedMigrations: readonly number[],
  ) {
    // Typed as the whole interface: a Store method no part implements fails the build here.
    const methods: Omit<Store, 'ping' | 'close'> = {
      ...accountMethods(ctx),
      ...orderMethods(ctx),
      ...certificateMethods(ctx),
      ...revocationMethods(ctx),
      ...identityMethods(ctx),
      ...auditMethods(ctx),
      ...fleetMethods(ctx),
      ...maintenanceMethods(ctx),
      ...coordinationMethods(ctx),
      ...dashboardMethods(ctx),
    };
    Object.assign(this, methods);
  }

  /** Opens the pool and brings the schema up to date (safe when several instances start at once). */
  static async open(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
    const ctx = new PgContext(url, options);
    try {
      return new PostgresStore(ctx, await migrate(ctx.pool));
    } catch (e) {
      await ctx.close().catch(() => undefined);
      throw e;
    }
  }

  /** Throws unless the database answers and accepts writes (a standby in recovery does not). */
  async ping(): Promise<void> {
    const row = await this.ctx.sql.row<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby FROM schema_migrations LIMIT 1');
    if (!row) throw new Error('the PostgreSQL schema is not migrated');
    if (row.standby) throw new Error('the PostgreSQL server is a standby in recovery: it does not accept writes');
  }

  close(): Promise<void> {
    return this.ctx.close();
  }
}
