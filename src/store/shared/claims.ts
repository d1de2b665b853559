/**
 * How long work in progress stays claimed by the process running it, for every backend: a claim
 * that lapses (its process died) is taken over by another process or instance.
 */

/**
 * A started validation. Its process renews the claim every third of this while the validation
 * waits in its queue or runs, so a claim lapses only when the process is gone.
 */
export const CHALLENGE_CLAIM_MS = 15_000;

/** A finalization in progress (signing has a 2 s timeout). */
export const ORDER_CLAIM_MS = 15_000;
