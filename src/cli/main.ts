#!/usr/bin/env node
/**
 * The `anvil` command. Subcommands are registered in a table; `serve` runs the CA.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type FlagValues } from '../config/load.js';
import { CONFIG_FLAG, SETTINGS } from '../config/settings.js';
import { createLogger, startServer } from '../server.js';
import { revokeCommand } from './revoke.js';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the ACME CA server', run: serve },
  revoke: { summary: 'revoke a certificate by serial (operator)', run: revokeCommand },
};

function serveHelp(): string {
  const lines = [
    'Usage: anvil serve [options]',
    '',
    'Every option is also an environment variable and a config-file key.',
    'Precedence: flag > environment > config file > default.',
    '',
    `  ${CONFIG_FLAG.flag} <file>  (${CONFIG_FLAG.env})`,
    `      ${CONFIG_FLAG.doc}`,
  ];
  for (const s of SETTINGS) {
    const value = s.kind === 'bool' ? '' : ' <value>';
    lines.push(`  ${s.flag}${value}  (${s.env}; file key ${s.key}${'default' in s ? `; default ${s.default}` : ''})`);
    lines.push(`      ${s.doc}`);
  }
  return lines.join('\n');
}

async function serve(args: string[]): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' }, help: { type: 'boolean' } };
  for (const s of SETTINGS) options[s.flag.slice(2)] = { type: s.kind === 'bool' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, allowPositionals: false, strict: true }));
  } catch (e) {
    process.stderr.write(`anvil serve: ${(e as Error).message}\n\n${serveHelp()}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(serveHelp() + '\n');
    return 0;
  }
  const flags: FlagValues = {};
  for (const [name, value] of Object.entries(values)) flags[`--${name}`] = value;

  let config;
  try {
    config = loadConfig({ flags, env: process.env });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`anvil: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, process.env, log);
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'anvil could not start');
    process.stderr.write(`anvil: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(
    `\nAnvil is running.\n  ACME directory:   ${server.directoryUrl}\n  Root certificate: ${server.rootPemPath}\n\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const list = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n');
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
