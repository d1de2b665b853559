/**
 * The embedded default store: better-sqlite3 in WAL mode, one file. Each part of the Store
 * interface lives in its own module (accounts, orders, certificates, revocation, identity, audit)
 * over a shared context; every state change is one transaction that also appends its audit record,
 * and resolves only once durable (see context.ts).
 */
import type { Store } from '../store.js';
import { accountMethods } from './accounts.js';
import { auditMethods } from './audit.js';
import { certificateMethods } from './certificates.js';
import { SqliteContext, type SqliteStoreOptions } from './context.js';
import { dashboardMethods } from './dashboard.js';
import { fleetMethods } from './fleet.js';
import { coordinationMethods } from './coordination.js';
import { identityMethods } from './identity.js';
import { maintenanceMethods } from './maintenance.js';
import { orderMethods } from './orders.js';
import { revocationMethods } from './revocation.js';

export type { SqliteDurability, SqliteStoreOptions } from './context.js';

// The class gets its Store methods from the part modules; this declaration tells TypeScript so.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface SqliteStore extends Store {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class SqliteStore {
  private readonly ctx: SqliteContext;

  constructor(path: string, options: SqliteStoreOptions) {
    this.ctx = new SqliteContext(path, options);
    Object.assign(
      this,
      accountMethods(this.ctx),
      orderMethods(this.ctx),
      certificateMethods(this.ctx),
      revocationMethods(this.ctx),
      identityMethods(this.ctx),
      auditMethods(this.ctx),
      fleetMethods(this.ctx),
      maintenanceMethods(this.ctx),
      coordinationMethods(this.ctx),
      dashboardMethods(this.ctx),
    );
  }

  async ping(): Promise<void> {
    this.ctx.db.prepare('SELECT 1 FROM schema_migrations LIMIT 1').get();
  }

  close(): Promise<void> {
    return this.ctx.close();
  }
}
