#!/usr/bin/env node
/**
 * The `anvil` command. Subcommands are registered in a table, each in its own module.
 */
import { adminTokenCommand, auditCommand } from './admin.js';
import { agentCommand } from './agent.js';
import { caCommand, initCommand } from './ca.js';
import { probeCommand } from './probe.js';
import { eabCommand } from './eab.js';
import { profilesCommand } from './profiles.js';
import { renewFleetCommand } from './renew-fleet.js';
import { revokeCommand } from './revoke.js';
import { serveCommand } from './serve.js';
import { tokenCertCommand } from './token-cert.js';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the ACME CA server', run: serveCommand },
  init: { summary: 'create a production CA hierarchy (or import an intermediate)', run: initCommand },
  ca: { summary: 'CA hierarchy: status, rotate, bundle, archive, retire-key, root key offline', run: caCommand },
  revoke: { summary: 'revoke a certificate by serial (operator)', run: revokeCommand },
  profiles: { summary: 'check the profiles directory, or make the running server reload it', run: profilesCommand },
  eab: { summary: 'create, list and revoke External Account Binding credentials', run: eabCommand },
  'token-cert': { summary: 'obtain a certificate with a workload-identity token (tkauth-01), for CI jobs', run: tokenCertCommand },
  'admin-token': { summary: 'create, list and revoke admin API tokens (roles: auditor, operator, ca-admin)', run: adminTokenCommand },
  audit: { summary: 'verify or export the hash-chained audit log', run: auditCommand },
  probe: { summary: 'synthetic end-to-end check of a live CA (issue, verify, revoke, OCSP, CRL)', run: probeCommand },
  'renew-fleet': { summary: 'ask every certificate of a profile or issuer to renew now (ARI)', run: renewFleetCommand },
  agent: { summary: 'run the renewal agent beside a service (ARI timing, failover, atomic swap, trust bundle)', run: agentCommand },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const list = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`).join('\n');
    process.stderr.write(`Usage: anvil <command> [options]\n\nCommands:\n${list}\n`);
    return name === undefined || name === '--help' ? 0 : 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`anvil: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
