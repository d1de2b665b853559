/**
 * The WAL checkpointer's thread (see wal-checkpointer.ts): its own connection to the database,
 * running a PASSIVE checkpoint whenever asked. A checkpoint copies pages into the database file and
 * fsyncs it; here that costs the serving event loop nothing.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path } = workerData as { path: string };
const db = new Database(path, { fileMustExist: true });
// Another process's checkpoint holds the lock: this one is skipped, not waited for.
db.pragma('busy_timeout = 0');

parentPort!.on('message', (message: 'checkpoint' | 'close') => {
  if (message === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    parentPort!.postMessage(row);
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
