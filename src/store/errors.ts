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
