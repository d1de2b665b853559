/**
 * SQLite's automatic checkpoint runs inside whichever commit crosses 1000 WAL pages, on that
 * connection's thread: for a serving process, the event loop, where it writes the pages back and
 * fsyncs the database file (hundreds of milliseconds on a large store under load). The serving
 * connection therefore turns it off, and this runs PASSIVE checkpoints on a worker thread with its
 * own connection: every `intervalMs`, one at a time. PASSIVE never blocks readers or writers; a
 * checkpoint another process (a `--workers` sibling) is running makes this one skip its turn.
 */
import { Worker } from 'node:worker_threads';

/** `log`: frames in the WAL; `checkpointed`: frames now in the database file. */
export type CheckpointResult = { busy: number; log: number; checkpointed: number } | { error: string };

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;
  /** The checkpoint in progress: at most one at a time. */
  private running: Promise<CheckpointResult> | undefined;
  private closed = false;

  constructor(path: string, intervalMs = 1_000) {
    this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path } });
    this.worker.unref();
    this.timer = setInterval(() => void this.checkpoint(), intervalMs);
    this.timer.unref();
  }

  /** Runs a checkpoint now (or joins the one running); resolves with SQLite's answer. */
  checkpoint(): Promise<CheckpointResult> {
    if (this.closed) return Promise.resolve({ error: 'closed' });
    this.running ??= new Promise<CheckpointResult>((resolve) => {
      const done = (result: CheckpointResult) => {
        this.worker.off('message', done);
        this.worker.off('error', failed);
        this.running = undefined;
        resolve(result);
      };
      const failed = (e: Error) => done({ error: e.message });
      this.worker.on('message', done);
      this.worker.on('error', failed);
      this.worker.postMessage('checkpoint');
    });
    return this.running;
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
