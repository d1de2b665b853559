/**
 * Liveness and readiness. /healthz: the process answers. /readyz: the store file is there and
 * readable and a fresh connection can read it, the active issuer's signer signs (checked at most
 * every few seconds), every issuer has a current full CRL, and no pre-signed OCSP answer is overdue.
 */
import { accessSync, constants, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { CaMaterial } from '../ca/ca-directory.js';
import type { Store } from '../store/store.js';
import { FULL_CRL } from '../store/types.js';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

const SIGNER_PROBE_MS = 5_000;

const failed = (name: string, e: Error): Check => ({ name, ok: false, detail: `cannot be read: ${e.message}` });

/** How late a due OCSP refresh may run before readiness reports it (the refresher runs every 30 s). */
const OCSP_REFRESH_GRACE_MS = 10 * 60_000;

export class Readiness {
  private lastSignerCheck: { at: number; issuerId: string; check: Check } | undefined;

  constructor(
    private readonly store: Store,
    /** The SQLite file; undefined on PostgreSQL, where the ping is the check. */
    private readonly dbPath: string | undefined,
    private readonly ca: CaMaterial,
  ) {}

  async checks(): Promise<Check[]> {
    const store = await this.storeCheck();
    // Without the store the CRL and OCSP state cannot be read: the store check already says why.
    if (!store.ok) return [store, await this.signerCheck()];
    const [crl, ocsp] = await Promise.all([this.crlChecks().catch((e: Error) => [failed('crl', e)]), this.ocspCheck().catch((e: Error) => failed('ocsp', e))]);
    return [store, await this.signerCheck(), ...crl, ocsp];
  }

  private async storeCheck(): Promise<Check> {
    try {
      if (this.dbPath === undefined) {
        await this.store.ping();
        return { name: 'store', ok: true };
      }
      // Root ignores permission bits, so a file made unreadable (chmod 000) is caught by its mode too.
      const st = statSync(this.dbPath);
      if ((st.mode & 0o600) !== 0o600) return { name: 'store', ok: false, detail: `store file ${this.dbPath} is not readable and writable (mode ${(st.mode & 0o777).toString(8)})` };
      accessSync(this.dbPath, constants.R_OK | constants.W_OK);
      const fresh = new Database(this.dbPath, { readonly: true, fileMustExist: true, timeout: 1000 });
      try {
        fresh.prepare('SELECT MAX(version) FROM schema_migrations').get();
      } finally {
        fresh.close();
      }
      await this.store.ping();
      return { name: 'store', ok: true };
    } catch (e) {
      return { name: 'store', ok: false, detail: `store unreachable: ${(e as Error).message}` };
    }
  }

  private async signerCheck(): Promise<Check> {
    const now = Date.now();
    const issuer = this.ca.active;
    // A cached answer holds only for the issuer it probed: after a rotation (here or, on a shared
    // store, on another instance) readiness must name the signer now in force.
    const last = this.lastSignerCheck;
    if (last && last.issuerId === issuer.id && now - last.at < SIGNER_PROBE_MS && last.check.ok) return last.check;
    let check: Check;
    try {
      await issuer.signer.sign(new TextEncoder().encode(`anvil readiness ${now}`));
      check = { name: 'signer', ok: true, detail: `${issuer.id} (${issuer.signer.kind})` };
    } catch (e) {
      check = { name: 'signer', ok: false, detail: `${issuer.id}: ${(e as Error).message}` };
    }
    this.lastSignerCheck = { at: now, issuerId: issuer.id, check };
    return check;
  }

  private async crlChecks(): Promise<Check[]> {
    const out: Check[] = [];
    for (const issuer of this.ca.issuers) {
      const crl = await this.store.getCrl(issuer.id, FULL_CRL);
      const ok = crl !== null && crl.nextUpdate.getTime() > Date.now();
      out.push({ name: `crl:${issuer.id}`, ok, detail: crl ? `number ${crl.number}, next update ${crl.nextUpdate.toISOString()}` : 'no CRL published yet' });
    }
    return out;
  }

  private async ocspCheck(): Promise<Check> {
    // Read from the due-work index: a certificate waiting over a minute for its first answer, or
    // a refresh over OCSP_REFRESH_GRACE_MS late, means the refresher is not keeping up.
    const now = Date.now();
    const { oldestPendingSince, oldestRefreshDueAt } = await this.store.ocspBacklog();
    if (oldestPendingSince && oldestPendingSince.getTime() < now - 60_000) {
      return { name: 'ocsp', ok: false, detail: `pre-signed OCSP answers are overdue: a certificate issued at ${oldestPendingSince.toISOString()} has none yet` };
    }
    if (oldestRefreshDueAt && oldestRefreshDueAt.getTime() < now - OCSP_REFRESH_GRACE_MS) {
      return { name: 'ocsp', ok: false, detail: `pre-signed OCSP answers are overdue: a refresh due at ${oldestRefreshDueAt.toISOString()} has not run` };
    }
    return { name: 'ocsp', ok: true };
  }
}
