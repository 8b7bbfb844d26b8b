// One process owns the artifact log (its index lives in that process's memory): the server takes an
// exclusive SQLite lock on `<file>.lock`, held by a connection kept open in a transaction for the
// process's lifetime. It is an OS file lock, so it dies with the process (crash, kill -9, reboot):
// nothing stale is left to clear by hand, and no PID is trusted (a reused one blocked the start before).
// A second server, in this process or another, gets SQLITE_BUSY and InstanceLockedError.
import fs from 'node:fs';
import Database from 'libsql';
import type { SqliteDb } from '../index.ts';

export class InstanceLockedError extends Error {
  constructor(file: string, pid?: number) {
    super(
      `Another Tessera process${pid ? ` (pid ${pid})` : ''} is serving the embedded store ${file}. ` +
        'The embedded SQLite store serves one instance; to run several, use MongoDB (MONGODB_URI).',
    );
    this.name = 'InstanceLockedError';
  }
}

// Lock files claimed by store objects of this process: a second claim in one process is refused too.
const claimedHere = new Set<string>();

export class InstanceLock {
  private constructor(
    private readonly lockFile: string,
    private readonly holder: SqliteDb,
  ) {}

  static take(file: string): InstanceLock {
    const lockFile = `${file}.lock`;
    if (claimedHere.has(lockFile)) throw new InstanceLockedError(file, process.pid);
    // A lock file that is no SQLite file (a PID written by an earlier version, or anything else) holds no
    // lock: it goes.
    try {
      const head = fs.readFileSync(lockFile).subarray(0, 16).toString('latin1');
      if (head.length && head !== 'SQLite format 3\0') fs.rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const holder: SqliteDb = new Database(lockFile);
    try {
      holder.exec('PRAGMA busy_timeout = 0');
      holder.exec('PRAGMA locking_mode = EXCLUSIVE');
      holder.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      holder.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new InstanceLockedError(file);
      throw err;
    }
    claimedHere.add(lockFile);
    return new InstanceLock(lockFile, holder);
  }

  /** The file stays: removing it could let a third process lock a new file while a second waits on this one. */
  release(): void {
    this.holder.close();
    claimedHere.delete(this.lockFile);
  }
}
