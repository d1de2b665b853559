/**
 * HAProxy in front of several Anvil instances on loopback (/work/shared/INTEROP.md "HAProxy in
 * front of several instances"): TCP passthrough, so each instance terminates TLS itself and every
 * instance serves the one base URL; a server leaves the rotation once its admin listener's
 * /healthz stops answering, and a refused connect is retried on another server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { findExecutable, freePort, run, describeRun, waitFor } from '../interop/harness.js';

/** One backend server: its ACME (TLS) port and the admin port its health check asks. */
export interface BackendServer {
  name: string;
  port: number;
  adminPort: number;
}

export interface Balancer {
  /** The frontend port on 127.0.0.1. */
  readonly port: number;
  readonly baseUrl: string;
  readonly configPath: string;
  /** What HAProxy printed (alerts, health-check transitions). */
  logs(): string;
  /** SIGTERM (then SIGKILL after 5 s) and wait for the exit. */
  stop(): Promise<void>;
}

/** The HAProxy binary (Debian installs it in /usr/sbin, which a non-root PATH may lack), or undefined. */
export function haproxyBinary(): string | undefined {
  return findExecutable('haproxy') ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : undefined);
}

/**
 * Why HAProxy tests cannot run here, or null when they can. With CI=true a missing HAProxy is a
 * failure, not a skip: this throws.
 */
export function haproxyUnavailable(): string | null {
  if (haproxyBinary()) return null;
  const why = 'haproxy is not installed (apt-get install haproxy)';
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true makes this a failure`);
  return why;
}

/** The configuration: roundrobin over `servers`, health-checked every 300 ms on their admin /healthz. */
export function haproxyConfig(port: number, servers: readonly BackendServer[]): string {
  return [
    'global',
    '  maxconn 2048',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout check 1s',
    // A refused connect (a dead instance not yet marked down) is retried, on another server.
    '  retries 3',
    '  option redispatch 1',
    'frontend acme',
    `  bind 127.0.0.1:${port}`,
    '  default_backend anvil',
    'backend anvil',
    '  balance roundrobin',
    // Liveness, not readiness: with the store down every instance must still answer (503s with
    // Retry-After) rather than vanish from the balancer.
    '  option httpchk GET /healthz',
    '  http-check expect status 200',
    '  default-server inter 300ms fastinter 300ms downinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions',
    ...servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check port ${s.adminPort}`),
    '',
  ].join('\n');
}

/** Writes the configuration into `dir`, checks it with `haproxy -c`, and runs HAProxy in the foreground until stop(). */
export async function startHaproxy(dir: string, servers: readonly BackendServer[], port?: number): Promise<Balancer> {
  const binary = haproxyBinary();
  if (!binary) throw new Error(haproxyUnavailable() ?? 'haproxy is not installed');
  const frontPort = port ?? (await freePort());
  const configPath = path.join(dir, 'haproxy.cfg');
  await writeFile(configPath, haproxyConfig(frontPort, servers));
  const check = await run(binary, ['-c', '-f', configPath], { timeoutMs: 10_000 });
  if (check.code !== 0) throw new Error(`haproxy refused its configuration\n${describeRun(check)}`);
  // -db: stay in the foreground, so the child is HAProxy itself and stop() ends exactly it.
  const child: ChildProcess = spawn(binary, ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (output = (output + c).slice(-200_000)));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (output = (output + c).slice(-200_000)));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  };
  try {
    await waitFor(`haproxy listening on 127.0.0.1:${frontPort}`, async () => {
      if (exited) throw new Error(`haproxy exited during startup\n${output}`);
      return accepts(frontPort);
    }, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port: frontPort, baseUrl: `https://127.0.0.1:${frontPort}`, configPath, logs: () => output, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
