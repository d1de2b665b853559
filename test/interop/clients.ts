/**
 * certbot and lego as the interop tests run them: against one server, trusting its root, with
 * their state in the test's temp dir, and never through a proxy (every server is on loopback).
 */
import path from 'node:path';
import { run, type AcmeServer, type RunResult } from './harness.js';

export const CLIENT_TIMEOUT_MS = 120_000;
export const NO_PROXY_ENV = { NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };

/** `certbot certonly` for `names` with certbot's own http-01 server on `port`, registering without an email. */
export function standaloneCertonly(port: number, names: readonly string[], extra: readonly string[] = []): string[] {
  return ['certonly', '--standalone', '--http-01-port', String(port), '--http-01-address', '127.0.0.1', ...names.flatMap((n) => ['-d', n]), '--agree-tos', '--register-unsafely-without-email', ...extra];
}

export interface Certbot {
  /** `withServer: false` leaves out --server, so certbot must take it from the lineage's renewal configuration. */
  run(args: readonly string[], withServer?: boolean): Promise<RunResult>;
  /** certbot's --config-dir, which holds live/ and archive/. */
  readonly configDir: string;
  /** The debug log of the latest run: each run gets its own logs dir, so this is that run's alone. */
  readonly lastLog: string;
}

/** certbot with its config, work and logs dirs under `dir`. */
export function certbotIn(dir: string, server: AcmeServer, timeoutMs = CLIENT_TIMEOUT_MS): Certbot {
  const configDir = path.join(dir, 'conf');
  let runs = 0;
  let lastLog = '';
  return {
    configDir,
    get lastLog() {
      return lastLog;
    },
    run(args, withServer = true) {
      runs += 1;
      const logsDir = path.join(dir, 'logs', `${runs}-${args[0]}`);
      lastLog = path.join(logsDir, 'letsencrypt.log');
      const dirs = ['--config-dir', configDir, '--work-dir', path.join(dir, 'work'), '--logs-dir', logsDir];
      return run('certbot', [...args, ...dirs, '--non-interactive', ...(withServer ? ['--server', server.directoryUrl] : [])], {
        env: { REQUESTS_CA_BUNDLE: server.rootPemPath, ...NO_PROXY_ENV },
        timeoutMs,
      });
    },
  };
}

export interface LegoOptions {
  email: string;
  /** lego's --path: its accounts and certificates. */
  path: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** lego against `server`; `args` are what follows the account options: domains, challenge, command. */
export function runLego(server: AcmeServer, o: LegoOptions, args: readonly string[]): Promise<RunResult> {
  return run('lego', ['--server', server.directoryUrl, '--accept-tos', '--email', o.email, '--path', o.path, ...args], {
    env: { LEGO_CA_CERTIFICATES: server.rootPemPath, ...NO_PROXY_ENV, ...o.env },
    timeoutMs: o.timeoutMs ?? CLIENT_TIMEOUT_MS,
  });
}

/** lego's own http-01 server on `port`. */
export const legoHttp = (port: number): string[] => ['--http', '--http.port', `127.0.0.1:${port}`];
