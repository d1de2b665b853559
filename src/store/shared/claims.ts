/**
 * How long work in progress stays claimed by the process running it, for every backend: a claim
 * that lapses (its process died) is taken over by another process or instance.
 */

/** A started validation (the validator's own timeout is shorter). */
export const CHALLENGE_CLAIM_MS = 60_000;

/** A finalization in progress (signing has a 2 s timeout). */
export const ORDER_CLAIM_MS = 15_000;
