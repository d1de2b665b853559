/**
 * Anti-replay nonces (RFC 8555 §6.5): random, single use, expiring. Outstanding nonces live in
 * memory, bounded in number; the oldest is forgotten first, so a flood of unused nonces costs a
 * client at most a badNonce and a retry. Instances sharing a store use SharedNonceService
 * (shared-nonces.ts) instead.
 */
import { randomBytes } from 'node:crypto';

export interface NonceService {
  issue(): string;
  /** True exactly once per issued, unexpired nonce. */
  consume(nonce: string): boolean | Promise<boolean>;
}

export class MemoryNonceService implements NonceService {
  /** nonce → expiry (ms); Map iteration order is insertion order, i.e. oldest first. */
  private readonly outstanding = new Map<string, number>();

  constructor(
    private readonly capacity = 200_000,
    private readonly lifetimeMs = 3_600_000,
  ) {}

  issue(): string {
    const nonce = randomBytes(16).toString('base64url');
    if (this.outstanding.size >= this.capacity) {
      const oldest = this.outstanding.keys().next().value;
      if (oldest !== undefined) this.outstanding.delete(oldest);
    }
    this.outstanding.set(nonce, Date.now() + this.lifetimeMs);
    return nonce;
  }

  consume(nonce: string): boolean {
    const expires = this.outstanding.get(nonce);
    if (expires === undefined) return false;
    this.outstanding.delete(nonce);
    return expires > Date.now();
  }
}
