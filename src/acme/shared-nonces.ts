/**
 * Nonces valid on every instance sharing a store (RFC 8555 §6.5): each nonce is a random id, its
 * expiry and an HMAC over both under a key every instance derives from the key passphrase, so
 * any instance can check one it did not issue without asking anyone. Single use is enforced by
 * the store: redeeming inserts the id into a table of used nonces (kept until they expire), and
 * only the first insert wins, on any instance.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NonceService } from './nonces.js';

/** What the store does for nonces: record a redemption once. */
export interface NonceRedemptions {
  /** True for the first redemption of this id, false for any later one (on any instance). */
  redeemNonce(id: string, expiresAt: Date): Promise<boolean>;
}

const ID_BYTES = 16;
const MAC_BYTES = 16;

/** The nonce key of every instance that shares this passphrase. */
export function nonceKeyFrom(passphrase: string): Buffer {
  return Buffer.from(hkdfSync('sha256', passphrase, 'anvil', 'anvil nonce key v1', 32));
}

export class SharedNonceService implements NonceService {
  constructor(
    private readonly key: Buffer,
    private readonly redemptions: NonceRedemptions,
    private readonly lifetimeMs = 3_600_000,
  ) {}

  issue(): string {
    const body = Buffer.alloc(ID_BYTES + 6);
    randomBytes(ID_BYTES).copy(body);
    body.writeUIntBE(Math.floor((Date.now() + this.lifetimeMs) / 1000), ID_BYTES, 6);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  async consume(nonce: string): Promise<boolean> {
    if (nonce.length !== Math.ceil(((ID_BYTES + 6 + MAC_BYTES) * 4) / 3) || !/^[A-Za-z0-9_-]+$/.test(nonce)) return false;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== ID_BYTES + 6 + MAC_BYTES) return false;
    const body = raw.subarray(0, ID_BYTES + 6);
    if (!timingSafeEqual(this.mac(body), raw.subarray(ID_BYTES + 6))) return false;
    const expiresAt = raw.readUIntBE(ID_BYTES, 6) * 1000;
    if (expiresAt <= Date.now()) return false;
    // The redemption key leads with the expiry (fixed-width hex), so redemptions arrive in key
    // order: each insert lands at the right edge of the store's index instead of a random page.
    const key = `${(expiresAt / 1000).toString(16).padStart(12, '0')}${raw.subarray(0, ID_BYTES).toString('base64url')}`;
    return this.redemptions.redeemNonce(key, new Date(expiresAt));
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
  }
}
