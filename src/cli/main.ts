#!/usr/bin/env node
/**
 * The `anvil` command. Subcommands are registered in a table, each in its own module. Help and
 * typing mistakes are handled here, before any command runs, so `--help` anywhere never changes
 * state and a misspelt command, action or option is a one-line error with a suggestion.
 */
import { ADMIN_TOKEN_USAGE, AUDIT_USAGE, adminTokenCommand, auditCommand } from './admin.js';
import { AGENT_USAGE, agentCommand } from './agent.js';
import { CA_USAGE, INIT_USAGE, caCommand, initCommand } from './ca.js';
import { DNS_PERSIST_USAGE, dnsPersistCommand } from './dns-persist.js';
import { PROBE_USAGE, probeCommand } from './probe.js';
import { EAB_USAGE, eabCommand } from './eab.js';
import { PROFILES_USAGE, profilesCommand } from './profiles.js';
import { RENEW_FLEET_USAGE, renewFleetCommand } from './renew-fleet.js';
import { REVOKE_USAGE, revokeCommand } from './revoke.js';
import { serveCommand, serveHelp } from './serve.js';
import { TOKEN_CERT_USAGE, tokenCertCommand } from './token-cert.js';
import { UsageError, unknownWord } from './usage-error.js';

interface Command {
  summary: string;
  /** Help text, printed for `--help`; a function when it is long to build. */
  usage: string | (() => string);
  /** The actions (first argument) the command takes, when it has any. */
  actions?: readonly string[];
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the ACME CA server', usage: serveHelp, run: serveCommand },
  init: { summary: 'create a production CA hierarchy (or import an intermediate)', usage: INIT_USAGE, run: initCommand },
  ca: {
    summary: 'CA hierarchy: status, rotate, bundle, archive, retire-key, root key offline',
    usage: CA_USAGE,
    actions: ['status', 'rotate', 'bundle', 'archive', 'retire-key', 'export-root-key', 'remove-root-key', 'import-root-key'],
    run: caCommand,
  },
  revoke: { summary: 'revoke a certificate by serial (operator)', usage: REVOKE_USAGE, run: revokeCommand },
  profiles: { summary: 'check the profiles directory, or make the running server reload it', usage: PROFILES_USAGE, actions: ['check', 'reload'], run: profilesCommand },
  eab: { summary: 'create, list and revoke External Account Binding credentials', usage: EAB_USAGE, actions: ['create', 'list', 'revoke'], run: eabCommand },
  'token-cert': { summary: 'obtain a certificate with a workload-identity token (tkauth-01), for CI jobs', usage: TOKEN_CERT_USAGE, run: tokenCertCommand },
  'admin-token': { summary: 'create, list and revoke admin API tokens (roles: auditor, operator, ca-admin)', usage: ADMIN_TOKEN_USAGE, actions: ['create', 'list', 'revoke'], run: adminTokenCommand },
  audit: { summary: 'verify (against a checkpoint) or export the hash-chained audit log; write a checkpoint', usage: AUDIT_USAGE, actions: ['verify', 'export', 'checkpoint'], run: auditCommand },
  'dns-persist': { summary: 'print the dns-persist-01 TXT record that authorizes an account for a name', usage: DNS_PERSIST_USAGE, actions: ['record'], run: dnsPersistCommand },
  probe: { summary: 'synthetic end-to-end check of a live CA (issue, verify, revoke, OCSP, CRL)', usage: PROBE_USAGE, run: probeCommand },
  'renew-fleet': { summary: 'ask every certificate of a profile or issuer to renew now (ARI)', usage: RENEW_FLEET_USAGE, run: renewFleetCommand },
  agent: { summary: 'run the renewal agent beside a service (ARI timing, failover, atomic swap, trust bundle)', usage: AGENT_USAGE, run: agentCommand },
};

const HELP_FLAGS = new Set(['--help', '-h']);

function commandList(): string {
  const list = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`).join('\n');
  return `Usage: anvil <command> [action] [options]   (anvil <command> --help for its options)\n\nCommands:\n${list}\n`;
}

/** True when the arguments ask for help (before a `--` that ends the options). */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => HELP_FLAGS.has(a));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`anvil: no command given\n${commandList()}`);
    return 2;
  }
  if (HELP_FLAGS.has(name) || name === 'help') {
    process.stdout.write(commandList());
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw unknownWord('command', name, Object.keys(COMMANDS));
  if (wantsHelp(rest)) {
    process.stdout.write(`${typeof command.usage === 'function' ? command.usage() : command.usage}\n`);
    return 0;
  }
  if (command.actions) {
    const action = rest[0];
    if (action === undefined || action.startsWith('-')) throw new UsageError(`missing action: one of ${command.actions.join(', ')}`);
    if (!command.actions.includes(action)) throw unknownWord('action', action, command.actions);
  }
  return command.run(rest);
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      const name = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? ` ${argv[0]}` : '';
      process.stderr.write(`anvil${name}: ${e.message}\n(run "anvil${name} --help" for usage)\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`anvil: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
