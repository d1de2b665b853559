/**
 * SQLite's automatic checkpoint runs inside whichever commit crosses 1000 WAL pages, on that
 * connection's thread: for a serving process, the event loop, where it writes the pages back and
 * fsyncs the database file (hundreds of milliseconds on a large store under load). The serving
 * connection therefore turns it off, and this runs PASSIVE checkpoints on a worker thread with its
 * own connection: every `intervalMs`, one at a time. PASSIVE never blocks readers or writers; a
 * checkpoint another process (a `--workers` sibling) is running makes this one skip its turn.
 */
import { Worker } from 'node:worker_threads';

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;
  private running = false;
  private closed = false;

  constructor(path: string, intervalMs = 1_000) {
    this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path } });
    this.worker.unref();
    this.worker.on('message', () => (this.running = false));
    this.worker.on('error', () => (this.running = false));
    this.timer = setInterval(() => this.checkpoint(), intervalMs);
    this.timer.unref();
  }

  private checkpoint(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.worker.postMessage('checkpoint');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // Held open while it finishes, or a process with nothing else to do would exit first.
    this.worker.ref();
    this.worker.postMessage('close');
    await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref())]);
    await this.worker.terminate();
  }
}
