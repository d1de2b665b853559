/**
 * Bounds every signing call: a timeout, and a circuit breaker that makes callers fail at once
 * while the key store (an HSM, a KMS) is slow or gone, instead of piling up waiting requests.
 * Finalize turns a SignerUnavailable into serverInternal with Retry-After and leaves the order ready.
 */
import { CircuitBreaker } from '../ops/circuit-breaker.js';
import { metrics } from '../ops/metrics.js';
import type { Signer } from './signer.js';

export class SignerUnavailable extends Error {
  override readonly name = 'SignerUnavailable';
}

export interface SignerGuardOptions {
  timeoutMs: number;
  failures: number;
  cooldownMs: number;
}

export interface SignerHealth {
  ok: boolean;
  breakerOpen: boolean;
  lastError: string | undefined;
  lastSuccessAt: Date | undefined;
}

export class GuardedSigner implements Signer {
  readonly kind: string;
  readonly keyType;
  readonly scheme;
  private readonly breaker: CircuitBreaker;
  private lastError: string | undefined;
  private lastSuccessAt: Date | undefined;

  constructor(
    private readonly inner: Signer,
    private readonly o: SignerGuardOptions,
  ) {
    this.kind = inner.kind;
    this.keyType = inner.keyType;
    this.scheme = inner.scheme;
    this.breaker = new CircuitBreaker(o.failures, o.cooldownMs);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    if (!this.breaker.allow()) throw new SignerUnavailable(`${this.kind} signer is unavailable (circuit open after repeated failures)`);
    let timer: NodeJS.Timeout | undefined;
    const end = metrics.signerSeconds.startTimer({ kind: this.kind });
    try {
      const signature = await Promise.race([
        this.inner.sign(data),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new SignerUnavailable(`${this.kind} signer did not answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
        }),
      ]);
      end();
      this.breaker.success();
      this.lastSuccessAt = new Date();
      this.lastError = undefined;
      return signature;
    } catch (e) {
      end();
      metrics.signerErrors.inc({ kind: this.kind });
      this.breaker.failure();
      this.lastError = (e as Error).message;
      throw e instanceof SignerUnavailable ? e : new SignerUnavailable(`${this.kind} signer failed`);
    } finally {
      clearTimeout(timer);
    }
  }

  health(): SignerHealth {
    return { ok: !this.breaker.open && this.lastError === undefined, breakerOpen: this.breaker.open, lastError: this.lastError, lastSuccessAt: this.lastSuccessAt };
  }
}
