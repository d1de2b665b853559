/**
 * Reload actions: a signal to the process named by a pid file, or a shell command bounded by a
 * timeout (its whole process group is killed when it overruns). The caller runs an action once
 * per installed version and retries a failure; the failure message carries the command's exit
 * status and the tail of its stderr, never the environment.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ReloadAction } from './config.js';

const MAX_OUTPUT = 2000;

/** Runs a reload action; resolves on success, rejects with a message saying what failed. */
export async function runReload(action: ReloadAction, env: Record<string, string> = {}): Promise<void> {
  if (action.kind === 'signal') {
    let pid: number;
    try {
      pid = Number(readFileSync(action.pidFile, 'utf8').trim());
    } catch (error) {
      throw new Error(`reload: cannot read pid file ${action.pidFile}: ${(error as Error).message}`);
    }
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`reload: pid file ${action.pidFile} holds no usable pid`);
    try {
      process.kill(pid, action.signal);
    } catch (error) {
      throw new Error(`reload: cannot send ${action.signal} to pid ${pid}: ${(error as Error).message}`);
    }
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', action.command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-MAX_OUTPUT);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, action.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`reload: cannot run command: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`reload: command timed out after ${action.timeoutMs} ms`));
      else if (code === 0) resolve();
      else reject(new Error(`reload: command exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}
