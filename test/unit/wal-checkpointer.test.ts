/**
 * The serving connection does not checkpoint inside its commits; the background checkpointer's
 * own connection does, so the WAL stays bounded while writes go on.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { WalCheckpointer } from '../../src/store/sqlite/wal-checkpointer.js';

const dir = mkdtempSync(join(tmpdir(), 'anvil-wal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Two rounds of 1,000 commits of 4 KB each, yielding to the event loop every 100 (as a server does
 * between requests); returns how much the WAL file grew in the second round (its size is the
 * high-water mark: a fully checkpointed WAL is reused from the start).
 */
async function secondRoundGrowth(path: string): Promise<number> {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  // Its timer is out of the way: the test asks for each checkpoint, so the result is not a race.
  const checkpointer = path.includes('background') ? new WalCheckpointer(path, 3_600_000) : undefined;
  try {
    const round = async () => {
      for (let i = 0; i < 1_000; i++) {
        insert.run(Buffer.alloc(4096, i % 251));
        if (i % 100 === 99) await sleep(30);
      }
    };
    await round();
    const done = await checkpointer?.checkpoint();
    if (done) assert.ok(!('error' in done) && done.checkpointed === done.log, `a complete checkpoint: ${JSON.stringify(done)}`);
    const first = statSync(`${path}-wal`).size;
    await round();
    return statSync(`${path}-wal`).size - first;
  } finally {
    await checkpointer?.close();
    db.close();
  }
}

describe('WAL checkpoints off the serving thread', () => {
  it('with automatic checkpoints off and no checkpointer, the WAL grows with every commit', async () => {
    const growth = await secondRoundGrowth(join(dir, 'alone.db'));
    assert.ok(growth > 3 * 1024 * 1024, `WAL grew ${growth} bytes`);
  });

  it('after the background checkpointer has run, the next writes reuse the WAL from its start instead of growing it', async () => {
    const growth = await secondRoundGrowth(join(dir, 'background.db'));
    assert.ok(growth < 1024 * 1024, `WAL grew ${growth} bytes`);
  });

  it('closes its thread and connection, so the database can be removed', async () => {
    const path = join(dir, 'closed.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    const checkpointer = new WalCheckpointer(path, 10);
    await sleep(50);
    await checkpointer.close();
    db.close();
    rmSync(path);
  });
});
