/** Typed store errors, so the domain can tell "someone else has it" from a failure. */

/** A uniqueness rule was violated; `existingId` names the record that holds the value. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(
    message: string,
    readonly existingId?: string,
  ) {
    super(message);
  }
}

/**
 * The store cannot be reached (connection refused or lost, pool exhausted, server shutting down):
 * the request may succeed later, so callers answer 503 with Retry-After rather than 500.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
