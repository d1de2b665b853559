/** `anvil serve`: run the CA. SIGHUP reloads profiles; SIGTERM/SIGINT shut down gracefully. */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/load.js';
import { createLogger } from '../ops/logger.js';
import { startServer } from '../server.js';
import { isClusterWorker, startPrimary, startWorker } from '../cluster.js';
import type { Config } from '../config/load.js';
import type { Logger } from 'pino';
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
  if (config.workers > 1 || isClusterWorker()) return serveClustered(config, log);
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
  process.stderr.write(`\nAnvil is running.\n  ACME directory:   ${server.directoryUrl}\n  Root certificate: ${server.rootPemPath}\n\n`);
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

/** `--workers N`: the primary forks the workers and serves the admin address; each worker serves ACME. */
async function serveClustered(config: Config, log: Logger): Promise<number> {
  const worker = isClusterWorker();
  let running: { close(): Promise<void>; reload(): void; directoryUrl: string; rootPemPath: string };
  try {
    if (worker) {
      const s = await startWorker(config, process.env, log);
      running = { close: () => s.close(), reload: () => (s.reloadProfiles(), void s.reloadCa()), directoryUrl: s.directoryUrl, rootPemPath: s.rootPemPath };
    } else {
      running = await startPrimary(config, process.env, log);
    }
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'anvil could not start');
    process.stderr.write(`anvil: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  const pidFile = join(config.dataDir, PID_FILE);
  if (!worker) {
    writeFileSync(pidFile, `${process.pid}\n`);
    process.stderr.write(`\nAnvil is running (${config.workers} workers).\n  ACME directory:   ${running.directoryUrl}\n  Root certificate: ${running.rootPemPath}\n\n`);
  }
  process.on('SIGHUP', () => running.reload());
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void running.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  if (!worker) rmSync(pidFile, { force: true });
  // A worker's IPC channel to the primary would keep it alive after a clean stop.
  else process.disconnect?.();
  return 0;
}
