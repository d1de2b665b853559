/**
 * `anvil renew-fleet --profile <name> | --issuer <id>`: a fleet-wide renewal signal. Every
 * certificate of that profile or issuer issued before now gets an ARI window in the past
 * (RFC 9773 §4.2), so ARI-aware clients renew at their next check.
 */
import { openDataStore } from './open-store.js';
import { operatorActor, parseCommand } from './settings-args.js';
import { UsageError } from './usage-error.js';

export const RENEW_FLEET_USAGE = 'Usage: anvil renew-fleet (--profile <name> | --issuer <id>) [--data-dir <dir>]';

export async function renewFleetCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(args, { profile: { type: 'string' }, issuer: { type: 'string' } });
  const { profile, issuer } = parsed.values;
  if ((typeof profile === 'string') === (typeof issuer === 'string')) throw new UsageError('give exactly one of --profile and --issuer');
  const config = parsed.config();
  const store = (await openDataStore(config)).store;
  try {
    const trigger = typeof profile === 'string' ? { scope: 'profile' as const, name: profile } : { scope: 'issuer' as const, name: String(issuer) };
    await store.setRenewalTrigger({ ...trigger, at: new Date() }, operatorActor());
    process.stdout.write(`renewal triggered for ${trigger.scope} ${trigger.name}: certificates issued before now are due\n`);
    return 0;
  } finally {
    await store.close();
  }
}
