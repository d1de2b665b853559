/**
 * Ways the agent proves control of its names:
 * - http-01 on a listener the agent runs (one shared listener per address in a process, so many
 *   embedded agents can answer on port 80 together), or files in a web server's webroot;
 * - tkauth-01 with a workload token printed by an operator command (`{thumbprint}` substituted).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseHostPort } from '../config/settings.js';
import type { ChallengeSolver } from './acme-session.js';

const PREFIX = '/.well-known/acme-challenge/';

interface SharedResponder {
  server: http.Server;
  tokens: Map<string, string>;
  users: number;
  listening: Promise<void>;
}

const responders = new Map<string, SharedResponder>();

/** The http-01 responder on `listen` (host:port), started on first use and shared in the process. */
export function acquireHttp01Responder(listen: string): { solver: ChallengeSolver; release(): Promise<void> } {
  let shared = responders.get(listen);
  if (!shared) {
    const { host, port } = parseHostPort(listen)!;
    const tokens = new Map<string, string>();
    const server = http.createServer((req, res) => {
      const token = req.url?.startsWith(PREFIX) ? req.url.slice(PREFIX.length) : undefined;
      const answer = token ? tokens.get(token) : undefined;
      if (req.method !== 'GET' || answer === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(answer);
    });
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    shared = { server, tokens, users: 0, listening };
    responders.set(listen, shared);
  }
  const s = shared;
  s.users++;
  return {
    solver: {
      type: 'http-01',
      async present(token, keyAuthorization) {
        await s.listening;
        s.tokens.set(token, keyAuthorization);
        return { cleanup: async () => void s.tokens.delete(token) };
      },
    },
    async release() {
      s.users--;
      if (s.users > 0) return;
      responders.delete(listen);
      await new Promise<void>((resolve) => s.server.close(() => resolve()));
    },
  };
}

/** http-01 through files in `<webroot>/.well-known/acme-challenge/`. */
export function webrootSolver(webroot: string): ChallengeSolver {
  return {
    type: 'http-01',
    async present(token, keyAuthorization) {
      const dir = join(webroot, '.well-known', 'acme-challenge');
      await mkdir(dir, { recursive: true });
      const file = join(dir, token);
      await writeFile(file, keyAuthorization, { mode: 0o644 });
      return { cleanup: () => rm(file, { force: true }) };
    },
  };
}

/** tkauth-01: runs `command` (with `{thumbprint}` replaced) and posts what it prints as the token. */
export function tokenCommandSolver(command: string, thumbprint: () => Promise<string>, timeoutMs: number): ChallengeSolver {
  return {
    type: 'tkauth-01',
    async present() {
      const cmd = command.replaceAll('{thumbprint}', await thumbprint());
      const token = await new Promise<string>((resolve, reject) => {
        execFile('/bin/sh', ['-c', cmd], { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (error, stdout) => {
          // The token is a credential: the error says the command failed, never what it printed.
          if (error) reject(new Error(`token command failed (${error.code ?? error.signal ?? 'error'})`));
          else resolve(String(stdout).trim());
        });
      });
      if (!token) throw new Error('token command printed nothing');
      return { cleanup: async () => undefined, payload: { tkauth: token } };
    },
  };
}
