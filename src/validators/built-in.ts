/** The challenge types Anvil implements itself (operators may register more). */
export const BUILT_IN_CHALLENGE_TYPES: readonly string[] = ['http-01'];
