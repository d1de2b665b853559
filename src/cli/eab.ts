/**
 * `anvil eab create|list|revoke`: External Account Binding credentials. The HMAC key is printed
 * once at creation and kept only sealed with the key passphrase; `list` never shows it.
 */
import { openDataStore } from './open-store.js';
import { isIP } from 'node:net';
import { resolvePassphrase } from '../ca/passphrase.js';
import { ExternalAccounts } from '../domain/external-accounts.js';
import { operatorActor, parseCommand } from './settings-args.js';
import { UsageError, unknownWord } from './usage-error.js';

export const EAB_USAGE = `Usage:
  anvil eab create [--dns-suffix <.suffix>]... [--ip-range <cidr>]... [--profile <name>]... [--no-preauthorize] [--note <text>] [--json]
  anvil eab list [--json]
  anvil eab revoke --kid <kid>
(all take --data-dir and the other serve settings)`;

export async function eabCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const parsed = parseCommand(rest, {
    'dns-suffix': { type: 'string', multiple: true },
    'ip-range': { type: 'string', multiple: true },
    profile: { type: 'string', multiple: true },
    'no-preauthorize': { type: 'boolean' },
    note: { type: 'string' },
    kid: { type: 'string' },
    json: { type: 'boolean' },
  });
  const v = parsed.values;
  const config = parsed.config();
  const store = (await openDataStore(config)).store;
  try {
    if (action === 'create') {
      const list = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
      const dnsSuffixes = list(v['dns-suffix']).map((s) => s.toLowerCase());
      const ipRanges = list(v['ip-range']);
      for (const s of dnsSuffixes) {
        if (!/^\.?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(s)) return usage(`--dns-suffix ${s} is not a DNS suffix`);
      }
      for (const r of ipRanges) {
        const [a, b] = r.split('/');
        const n = Number(b);
        if (!a || isIP(a) === 0 || !Number.isInteger(n) || n < 0 || n > (isIP(a) === 4 ? 32 : 128)) return usage(`--ip-range ${r} is not a CIDR range`);
      }
      const passphrase = resolvePassphrase(process.env, config.keyPassphraseFile, config.dataDir, false).passphrase;
      const created = await new ExternalAccounts(store, passphrase).create(
        { dnsSuffixes, ipRanges, profiles: list(v.profile), preauthorize: v['no-preauthorize'] !== true },
        typeof v.note === 'string' ? v.note : '',
        operatorActor(),
      );
      if (v.json) process.stdout.write(JSON.stringify({ kid: created.kid, hmacKey: created.hmacKey, policy: created.credential.policy }) + '\n');
      else {
        process.stdout.write(`kid:      ${created.kid}\nhmac key: ${created.hmacKey}\n(the HMAC key is shown only now; give both to the client: certbot --eab-kid/--eab-hmac-key, lego --eab --kid/--hmac)\n`);
      }
      return 0;
    }
    if (action === 'list') {
      const all = await store.listEab();
      if (v.json) {
        process.stdout.write(JSON.stringify(all.map((c) => ({ kid: c.kid, policy: c.policy, note: c.note, createdAt: c.createdAt, revokedAt: c.revokedAt }))) + '\n');
      } else {
        for (const c of all) {
          const p = c.policy;
          const scope = [...p.dnsSuffixes, ...p.ipRanges].join(',') || 'any name';
          process.stdout.write(`${c.kid}\t${c.revokedAt ? 'revoked' : 'active'}\t${scope}\tprofiles=${p.profiles.join(',') || 'any'}\tpreauthorize=${p.preauthorize}\t${c.note}\n`);
        }
      }
      return 0;
    }
    if (action === 'revoke') {
      if (typeof v.kid !== 'string') return usage('--kid is required');
      if (!(await store.revokeEab(v.kid, operatorActor()))) {
        process.stderr.write(`anvil eab revoke: no active credential ${v.kid}\n`);
        return 1;
      }
      process.stdout.write(`revoked ${v.kid}; accounts bound with it can no longer order\n`);
      return 0;
    }
    throw unknownWord('action', action ?? '', ['create', 'list', 'revoke']);
  } finally {
    await store.close();
  }
}

function usage(message: string): never {
  throw new UsageError(message);
}
