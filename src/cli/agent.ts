/**
 * `anvil agent`: the thin shell over the `anvil-ca/agent` library.
 *   anvil agent --config agent.yaml            run until SIGTERM/SIGINT
 *   anvil agent --once [--force] --config …    one pass, for cron and CI (exit 1 when not healthy)
 *   anvil agent status [--json] --config …     each certificate's expiry, window, last attempt, error
 *   anvil agent check --config …               check the configuration file and exit
 */
import { parseArgs } from 'node:util';
import { Agent } from '../agent/agent.js';
import { loadAgentConfig } from '../agent/config.js';
import { formatStatus, readStatus } from '../agent/status-report.js';

export const AGENT_USAGE = `Usage: anvil agent [--config <agent.yaml>]              run: renew on time, swap atomically, reload
       anvil agent --once [--force] [--config <file>]   one pass (renew what is due; --force renews all); exit 1 if not healthy
       anvil agent status [--json] [--config <file>]    certificates, expiry, renewal window, last attempt and error;
                                                         exit 0 when every one is ok, 1 otherwise
       anvil agent check [--config <file>]              check the configuration file

The configuration file defaults to $ANVIL_AGENT_CONFIG, else ./agent.yaml. README "Agent" documents every field.`;

export async function agentCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string' }, once: { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (error) {
    process.stderr.write(`anvil agent: ${(error as Error).message}\n${AGENT_USAGE}\n`);
    return 2;
  }
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(`${AGENT_USAGE}\n`);
    return 0;
  }
  const sub = positionals[0];
  if (positionals.length > 1 || (sub !== undefined && sub !== 'status' && sub !== 'check')) {
    process.stderr.write(`anvil agent: unknown arguments: ${positionals.join(' ')}\n${AGENT_USAGE}\n`);
    return 2;
  }
  const file = typeof values.config === 'string' ? values.config : (process.env.ANVIL_AGENT_CONFIG ?? 'agent.yaml');
  const config = loadAgentConfig(file);

  if (sub === 'check') {
    process.stdout.write(`${file}: ok (${config.certificates.length} certificate(s), ${config.ca.directories.length} endpoint(s))\n`);
    return 0;
  }
  if (sub === 'status') {
    const statuses = readStatus(config);
    process.stdout.write(values.json ? `${JSON.stringify(statuses, null, 2)}\n` : `${formatStatus(statuses)}\n`);
    return statuses.every((s) => s.health === 'ok') ? 0 : 1;
  }
  const agent = new Agent({ config });
  if (values.once) {
    const healthy = await agent.runOnce({ force: values.force === true });
    await agent.stop();
    process.stdout.write(`${formatStatus(agent.status())}\n`);
    return healthy ? 0 : 1;
  }
  if (values.force) {
    process.stderr.write('anvil agent: --force only goes with --once\n');
    return 2;
  }
  await agent.start();
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      agent.log.info({ event: 'agent-stopping', signal }, 'stopping');
      agent.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
