/** `anvil serve`: run the CA. SIGHUP reloads profiles; SIGTERM/SIGINT shut down gracefully. */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/load.js';
import { createLogger } from '../ops/logger.js';
import { startServer } from '../server.js';
import { parseCommand, settingsHelp } from './settings-args.js';

export const PID_FILE = 'anvil.pid';

function help(): string {
  return [
    'Usage: anvil serve [options]',
    '',
    'Every option is also an environment variable and a config-file key.',
    'Precedence: flag > environment > config file > default.',
    '',
    settingsHelp(),
  ].join('\n');
}

export async function serveCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(args, {});
  } catch (e) {
    process.stderr.write(`anvil serve: ${(e as Error).message}\n\n${help()}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(help() + '\n');
    return 0;
  }
  let config;
  try {
    config = parsed.config();
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
  const pidFile = join(config.dataDir, PID_FILE);
  writeFileSync(pidFile, `${process.pid}\n`);
  process.stderr.write(
    `\nAnvil is running.\n  ACME directory:   ${server.directoryUrl}\n  Root certificate: ${server.rootPemPath}\n` +
      `  Dashboard:        ${server.adminUrl}/ui/  (sign in with a token from: anvil admin-token create --role operator --name <you>)\n\n`,
  );
  process.on('SIGHUP', () => {
    server.reloadProfiles();
    void server.reloadCa();
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  rmSync(pidFile, { force: true });
  return 0;
}
