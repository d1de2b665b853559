/**
 * Issuer lifecycle operations with their safety checks, shared by the CLI and the admin API:
 * rotate (the intermediate, or the root and a new intermediate under it), archive (only when every certificate expired), destroy the key (only after a CRL was
 * published past the last expiry). Each is audited.
 */
import { join } from 'node:path';
import { archiveIssuer, assertIssuerStatus, destroyIssuerKey } from '../ca/ca-admin.js';
import { rotateIssuer, rotateRoot, type HierarchyOptions } from '../ca/ca-directory.js';
import type { KeyStores } from '../ca/key-stores.js';
import type { SharedDirectory } from '../ops/shared-directory.js';
import type { Store } from '../store/store.js';
import { FULL_CRL } from '../store/types.js';

export class CaOperationError extends Error {
  override readonly name = 'CaOperationError';
}

export class CaOperations {
  constructor(
    private readonly dataDir: string,
    private readonly keys: KeyStores,
    private readonly store: Store,
    /** On a shared store: where every change is published to the other instances. */
    private readonly shared?: { directory: SharedDirectory; holder: string },
  ) {}

  /** Runs a change of the CA directory; on a shared store, on the current hierarchy and published after. */
  private changing<T>(fn: () => Promise<T>): Promise<T> {
    return this.shared ? this.shared.directory.change(this.shared.holder, fn) : fn();
  }

  rotate(options: HierarchyOptions, actor: string): Promise<{ created: string; retired: string[] }> {
    return this.changing(() => this.rotateHere(options, actor));
  }

  /** A new root and a new active intermediate under it; the old roots stay in the trust bundle (retiring). */
  rotateRoot(options: HierarchyOptions, actor: string): Promise<{ root: string; retiringRoots: string[]; crossSignedBy: string[]; created: string; retired: string[] }> {
    return this.changing(async () => {
      const result = await rotateRoot(this.dataDir, this.keys, options);
      await this.store.appendAudit({ actor, action: 'root.rotated', subject: result.root, data: { issuer: result.created, retired: result.retired, retiringRoots: result.retiringRoots, crossSignedBy: result.crossSignedBy } });
      return result;
    });
  }

  archive(issuerId: string, actor: string): Promise<void> {
    return this.changing(() => this.archiveHere(issuerId, actor));
  }

  destroyKey(issuerId: string, actor: string): Promise<void> {
    return this.changing(() => this.destroyKeyHere(issuerId, actor));
  }

  private async rotateHere(options: HierarchyOptions, actor: string): Promise<{ created: string; retired: string[] }> {
    const result = await rotateIssuer(this.dataDir, this.keys, options);
    await this.store.appendAudit({ actor, action: 'issuer.rotated', subject: result.created, data: { retired: result.retired } });
    return result;
  }

  private async archiveHere(issuerId: string, actor: string): Promise<void> {
    wrap(() => assertIssuerStatus(this.dataDir, issuerId, 'retiring', 'only a retiring issuer can be archived'));
    const stats = await this.store.issuerCertificateStats(issuerId, new Date());
    if (stats.unexpired > 0) throw new CaOperationError(`issuer ${issuerId} still has ${stats.unexpired} unexpired certificate(s)`);
    wrap(() => archiveIssuer(this.dataDir, issuerId));
    await this.store.appendAudit({ actor, action: 'issuer.archived', subject: issuerId });
  }

  private async destroyKeyHere(issuerId: string, actor: string): Promise<void> {
    wrap(() => assertIssuerStatus(this.dataDir, issuerId, 'archived', 'archive it first'));
    const stats = await this.store.issuerCertificateStats(issuerId, new Date());
    if (stats.unexpired > 0) throw new CaOperationError(`issuer ${issuerId} still has ${stats.unexpired} unexpired certificate(s)`);
    const finalCrl = await this.store.getCrl(issuerId, FULL_CRL);
    if (stats.lastNotAfter && (!finalCrl || finalCrl.thisUpdate <= stats.lastNotAfter)) {
      throw new CaOperationError(
        `no CRL of ${issuerId} was published after its last certificate expired (${stats.lastNotAfter.toISOString()}); let the server publish one first`,
      );
    }
    wrap(() => destroyIssuerKey(this.dataDir, this.keys, issuerId));
    await this.store.appendAudit({ actor, action: 'issuer.key-destroyed', subject: issuerId });
  }

  get caDir(): string {
    return join(this.dataDir, 'ca');
  }
}

function wrap(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw new CaOperationError((e as Error).message);
  }
}
