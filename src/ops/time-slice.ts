/**
 * Cooperative time slicing for background work that runs on the event loop that also serves
 * requests: a loop calls `maybeYield()` between items and gives the loop back (setImmediate, so
 * pending I/O runs) once it has held it for `sliceMs`. Awaiting an already-resolved promise does
 * not do this: it only drains microtasks.
 */
export class TimeSlice {
  private started = performance.now();

  constructor(private readonly sliceMs = 10) {}

  async maybeYield(): Promise<void> {
    if (performance.now() - this.started < this.sliceMs) return;
    await yieldToEventLoop();
    this.started = performance.now();
  }
}

/** Resolves after the event loop has run its pending I/O callbacks once. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
