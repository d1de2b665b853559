/**
 * Group commit for SQLite in WAL mode. Commits run with `synchronous = NORMAL` (no fsync on the
 * event loop); before a write is acknowledged, `flush()` fsyncs the WAL file on libuv's thread
 * pool, and every write that finished before that fsync started shares it. An acknowledged
 * write is therefore on disk, as with `synchronous = FULL`, while concurrent requests pay for
 * one fsync between them instead of one each. (Checkpoints keep SQLite's own NORMAL-mode syncs.)
 */
import { closeSync, fsync, openSync } from 'node:fs';

export class WalGroupCommit {
  private fd: number | undefined;
  /** The fsync that will start next; every caller arriving before it starts shares it. */
  private next: Promise<void> | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly walPath: string) {}

  /** Resolves once everything committed before this call is on disk. */
  flush(): Promise<void> {
    this.next ??= this.inFlight.then(() => {
      this.next = undefined;
      const run = this.fsyncWal();
      this.inFlight = run.catch(() => undefined);
      return run;
    });
    return this.next;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private fsyncWal(): Promise<void> {
    // The WAL keeps its inode for as long as the database is open (reset and truncation reuse it).
    this.fd ??= openSync(this.walPath, 'r');
    const fd = this.fd;
    return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
  }
}
