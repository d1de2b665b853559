/**
 * A circuit breaker: after `threshold` consecutive failures it opens and callers fail fast; after
 * `cooldownMs` one trial call is let through, whose outcome closes it or keeps it open.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
  ) {}

  /** False while open; after the cooldown one caller is let through to test the dependency. */
  allow(now = Date.now()): boolean {
    if (this.openedAt === undefined) return true;
    if (now - this.openedAt >= this.cooldownMs) {
      this.openedAt = now; // half-open: this trial decides; others wait another cooldown
      return true;
    }
    return false;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = undefined;
  }

  failure(now = Date.now()): void {
    this.failures++;
    if (this.failures >= this.threshold) this.openedAt = now;
  }

  get open(): boolean {
    return this.openedAt !== undefined;
  }
}
