/**
 * `anvil renew-fleet --profile <name> | --issuer <id>`: a fleet-wide renewal signal. Every
 * certificate of that profile or issuer issued before now gets an ARI window in the past
 * (RFC 9773 §4.2), so ARI-aware clients renew at their next check.
 */
import { openDataStore } from './open-store.js';
import { operatorActor, parseCommand } from './settings-args.js';

const USAGE = 'Usage: anvil renew-fleet (--profile <name> | --issuer <id>) [--data-dir <dir>]';

export async function renewFleetCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(args, { profile: { type: 'string' }, issuer: { type: 'string' } });
  } catch (e) {
    process.stderr.write(`anvil renew-fleet: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { profile, issuer } = parsed.values;
  if ((typeof profile === 'string') === (typeof issuer === 'string')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = parsed.config();
  const store = openDataStore(config).store;
  try {
    const trigger = typeof profile === 'string' ? { scope: 'profile' as const, name: profile } : { scope: 'issuer' as const, name: String(issuer) };
    await store.setRenewalTrigger({ ...trigger, at: new Date() }, operatorActor());
    process.stdout.write(`renewal triggered for ${trigger.scope} ${trigger.name}: certificates issued before now are due\n`);
    return 0;
  } finally {
    await store.close();
  }
}
