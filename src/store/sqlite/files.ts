// The embedded database's files (tessera.db, its -wal and -shm, the directory): checked at start and
// watched while running.
//
// SQLite maps the -shm file (the WAL index) into memory. If that file can't be written at start, SQLite
// fails with "attempt to write a readonly database", naming no file; if it shrinks under the running
// process (truncated by hand or by a tool), the next access to the mapping kills the process with
// SIGBUS, before any log line can be written. So: at start, every file and the directory must be
// writable by this process, or the start stops with a message naming the file. While running, the
// watch (readiness, every few seconds) notices a file deleted, replaced or made unwritable, and a -shm
// that shrank is grown back to its size before SQLite touches it again (SQLite rebuilds the WAL index
// from the WAL, as after a crash). Under traffic a truncation can still win that race: nothing in a
// process can catch SIGBUS. A database file deleted while running is written back from the open
// connection when the server stops (closeWritingBack), so a clean restart finds it.
//
// Closing needs care too (closeDatabase): libsql's close() leaves the SQLite connection open while any
// statement prepared on it is alive, and the store keeps its statements for its whole life. The real
// close then comes later, whenever the garbage collector finalizes them, with the -shm still mapped:
// a -shm truncated or recreated meanwhile (by the next server on these files, the CLI, a tool) kills
// the process that had closed it with SIGBUS at that late close, and that close, as the last
// connection, also checkpoints and removes the -wal by its path.
import fs from 'node:fs';
import path from 'node:path';
import type { SqliteDb } from './index.ts';
import type { Logger } from '../../log.ts';
import { StoreRefusedError } from './refused.ts';

const SUFFIXES = ['', '-wal', '-shm'] as const;

/** Whether a database file exists and isn't empty. */
export function databaseExists(file: string): boolean {
  try {
    return fs.statSync(file).size > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function whoAmI(): string {
  return typeof process.getuid === 'function' ? `uid ${process.getuid()}` : 'this user';
}

/** Refuses (StoreRefusedError) unless the directory and each existing database file can be read and written. */
export function assertWritable(file: string): void {
  const dir = path.dirname(path.resolve(file));
  const problems: string[] = [];
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    problems.push(`${dir} (the directory: ${(err as NodeJS.ErrnoException).code})`);
  }
  for (const suffix of SUFFIXES) {
    const f = `${file}${suffix}`;
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      problems.push(`${f} (${(err as NodeJS.ErrnoException).code})`);
      continue;
    }
    if (!st.isFile()) {
      problems.push(`${f} (not a regular file)`);
      continue;
    }
    try {
      fs.accessSync(f, fs.constants.R_OK | fs.constants.W_OK);
    } catch (err) {
      problems.push(`${f} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  if (problems.length)
    throw new StoreRefusedError(
      `The embedded store can't be written by this process (${whoAmI()}): ${problems.join(', ')}. ` +
        'Tessera needs to read and write the database, its -wal and -shm files and their directory: give them to the user Tessera runs as ' +
        '(e.g. chown, or run the CLI as that same user), make them writable, or check the file system is not read-only or full.',
    );
}

interface Seen {
  dev: number;
  ino: number;
  size: number;
}

/** Watches the database's files while the server runs: check() says what is wrong, or null. */
export class DatabaseFiles {
  private readonly seen = new Map<string, Seen>();
  private deleted = false;

  constructor(private readonly file: string) {
    this.check();
  }

  /** Whether the database file was found deleted while running (close() writes it back). */
  get databaseDeleted(): boolean {
    return this.deleted;
  }

  check(): string | null {
    const problems: string[] = [];
    for (const suffix of SUFFIXES) {
      const f = `${this.file}${suffix}`;
      const before = this.seen.get(suffix);
      let st: fs.Stats;
      try {
        st = fs.statSync(f);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') problems.push(`${f}: ${code}`);
        else if (before) {
          if (suffix === '') {
            this.deleted = true;
            problems.push(`${f} was deleted while running (this process still has it open: stop Tessera with SIGTERM and it is written back; a crash or kill -9 now loses it)`);
          } else problems.push(`${f} was deleted while running`);
        }
        continue;
      }
      if (before && (st.ino !== before.ino || st.dev !== before.dev)) {
        problems.push(`${f} was replaced while running`);
        continue;
      }
      if (suffix === '-shm' && before && st.size < before.size) {
        // Grown back (zeros) before SQLite maps past the end: SQLite rebuilds the index from the WAL.
        regrow(f, before.size);
        problems.push(`${f} was truncated while running (from ${before.size} to ${st.size} bytes; grown back)`);
        continue;
      }
      try {
        fs.accessSync(f, fs.constants.W_OK);
      } catch (err) {
        problems.push(`${f} is not writable (${(err as NodeJS.ErrnoException).code})`);
      }
      this.seen.set(suffix, { dev: st.dev, ino: st.ino, size: Math.max(st.size, before?.size ?? 0) });
    }
    return problems.length ? problems.join('; ') : null;
  }
}

function regrow(file: string, size: number) {
  const fd = fs.openSync(file, 'r+');
  try {
    const have = fs.fstatSync(fd).size;
    if (have < size) fs.writeSync(fd, Buffer.alloc(size - have), 0, size - have, have); // written, not sparse
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Closes the connection so that nothing of it stays on the files: leaving WAL mode does now what the last
 * connection's close would do (checkpoint, remove the -wal and -shm, unmap the -shm), so the late close
 * that libsql leaves to the garbage collector has nothing left to touch. With another connection open
 * (the CLI beside the server) SQLite refuses at once (busy_timeout 0): this one wasn't the last, the WAL
 * stays theirs, and only its mapping of the -shm lingers until the collector closes it.
 */
export function closeDatabase(db: SqliteDb): void {
  try {
    db.exec('PRAGMA busy_timeout = 0');
    db.exec('PRAGMA journal_mode = DELETE');
  } catch {
    // SQLITE_BUSY: not the last connection (see above).
  }
  db.close();
}

/**
 * Closes a database whose file was deleted while it ran, writing it back to its path first: a copy of
 * the open database (VACUUM INTO, through this connection, so it holds every commit) is renamed into
 * place once the connection is closed. Nothing is written over a file that appeared there meanwhile.
 */
export function closeWritingBack(db: SqliteDb, file: string, log?: Logger): void {
  if (fs.existsSync(file)) {
    closeDatabase(db);
    return;
  }
  const copy = `${file}.restored-${process.pid}`;
  try {
    fs.rmSync(copy, { force: true });
    db.prepare('VACUUM INTO ?').run(copy);
  } catch (err) {
    closeDatabase(db);
    fs.rmSync(copy, { force: true });
    log?.error({ event: 'store.write_back_failed', err }, `${file} was deleted while running and could not be written back: its data is lost`);
    return;
  }
  closeDatabase(db); // the last connection: SQLite checkpoints into the deleted file and removes the -wal path
  if (fs.existsSync(file)) {
    log?.error({ event: 'store.write_back_skipped', copy }, `${file} was deleted while running; another file is there now, so the data is left in ${copy}`);
    return;
  }
  // A -wal or -shm left at the path belongs to the deleted file, never to the copy.
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  fs.renameSync(copy, file);
  log?.warn({ event: 'store.written_back' }, `${file} was deleted while running: written back from the open database`);
}
