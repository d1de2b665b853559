/** `anvil serve`: run the CA. SIGHUP reloads profiles; SIGTERM/SIGINT shut down gracefully. */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/load.js';
import { createLogger } from '../ops/logger.js';
import { startServer } from '../server.js';
import { isClusterWorker, startPrimary, startWorker, type Primary } from '../cluster.js';
import type { Config } from '../config/load.js';
import type { Logger } from 'pino';
import { parseCommand, settingsHelp } from './settings-args.js';

export const PID_FILE = 'anvil.pid';

/** What `anvil serve` prints once it serves: where clients, relying parties and operators go. */
function banner(first: string, at: { directoryUrl: string; rootPemPath: string; revocationBaseUrl: string; adminUrl: string }): string {
  return `
${first}
  ACME directory:   ${at.directoryUrl}
  Root certificate: ${at.rootPemPath}
  OCSP and CRLs:    ${at.revocationBaseUrl}
  Dashboard:        ${at.adminUrl}/ui/  (sign in with a token from: anvil admin-token create --role operator --name <you>)

`;
}

/** `anvil serve --help`: every setting with its flag, variable, file key and default. */
export function serveHelp(): string {
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
  const parsed = parseCommand(args, {});
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
  const pidFile = join(config.dataDir, PID_FILE);
  // A cluster worker runs under its primary, which holds the data directory.
  const worker = isClusterWorker();
  if (!config.extraInstance && !worker) {
    const other = claimDataDir(config.dataDir, pidFile);
    if (other !== undefined) {
      process.stderr.write(
        `anvil serve: another Anvil server (pid ${other}) is running on the data directory ${config.dataDir}; stop it first ` +
          `(kill ${other}), use another --data-dir, or start this one with --extra-instance if it is meant to be a further instance on the same store\n`,
      );
      return 1;
    }
  }
  const log = createLogger(config.logLevel, config.logFormat);
  if (config.workers > 1 || worker) return serveClustered(config, log, pidFile, !config.extraInstance && !worker);
  let server;
  try {
    server = await startServer(config, process.env, log);
  } catch (e) {
    if (!config.extraInstance) rmSync(pidFile, { force: true });
    log.fatal({ err: (e as Error).message }, 'anvil could not start');
    process.stderr.write(`anvil: cannot start: ${(e as Error).message}\n`);
    // The IPC channel would keep a worker that could not start alive, holding nothing.
    if (worker) process.disconnect?.();
    return 1;
  }
  process.stderr.write(banner('Anvil is running.', server));
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
  if (!config.extraInstance) rmSync(pidFile, { force: true });
  return 0;
}

/** `--workers N`: the primary forks the workers and serves the admin address; each worker serves ACME. */
async function serveClustered(config: Config, log: Logger, pidFile: string, ownsPidFile: boolean): Promise<number> {
  const worker = isClusterWorker();
  let running: { close(): Promise<void>; reload(): void };
  let primary: Primary | undefined;
  try {
    if (worker) {
      const s = await startWorker(config, process.env, log);
      running = { close: () => s.close(), reload: () => (s.reloadProfiles(), void s.reloadCa()) };
    } else {
      running = primary = await startPrimary(config, process.env, log);
    }
  } catch (e) {
    if (ownsPidFile) rmSync(pidFile, { force: true });
    log.fatal({ err: (e as Error).message }, 'anvil could not start');
    process.stderr.write(`anvil: cannot start: ${(e as Error).message}\n`);
    // The IPC channel would keep a worker that could not start alive, holding nothing.
    if (worker) process.disconnect?.();
    return 1;
  }
  if (primary) process.stderr.write(banner(`Anvil is running (${config.workers} workers).`, primary));
  process.on('SIGHUP', () => running.reload());
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void running.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  if (ownsPidFile) rmSync(pidFile, { force: true });
  // A worker's IPC channel to the primary would keep it alive after a clean stop.
  if (worker) process.disconnect?.();
  return 0;
}

/**
 * Takes the data directory for this process by creating its pid file exclusively. A pid file left
 * by a process that is gone (a crash, SIGKILL) is taken over. Returns the pid of a live server
 * that holds the directory, or undefined when this process now holds it.
 */
function claimDataDir(dataDir: string, pidFile: string): number | undefined {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(pidFile, `${process.pid}\n`, { flag: 'wx' });
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) return pid;
    rmSync(pidFile, { force: true });
  }
  throw new Error(`cannot take ${pidFile}: it keeps reappearing`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
