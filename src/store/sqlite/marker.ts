// The marker beside the embedded database: `tessera.db.id` names the store kept in `tessera.db` (a
// random store id, also written inside the database, and when it was made).
//
// Why: a database deleted under a running server (or a volume that didn't get mounted) used to be
// replaced at the next start by a new, empty store with new signing keys, silently: every account,
// client and token gone. With the marker, a missing or empty database where one was kept, or a database
// of another store, stops the start with a message saying so. A new empty store is made there only when
// asked for by name: TESSERA_INIT_STORE=<the lost store's id>, so a setting left in place can't wipe a
// later store too. A fresh install (no marker, no database) starts as before, and a database of a
// version before markers gets its marker at its first start.
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { SqliteDb } from './index.ts';
import { StoreRefusedError } from './refused.ts';

export const INIT_STORE_ENV = 'TESSERA_INIT_STORE';
const STORE_ID_KEY = 'store-id';

interface Marker {
  storeId: string;
  createdAt: string;
}

export const markerPath = (file: string) => `${file}.id`;

/** The marker, null when there is none, 'unreadable' when the file isn't one. */
function readMarker(file: string): Marker | null | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(markerPath(file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const m = JSON.parse(text) as Partial<Marker>;
    if (typeof m.storeId === 'string' && m.storeId && typeof m.createdAt === 'string') return { storeId: m.storeId, createdAt: m.createdAt };
  } catch {
    // not JSON
  }
  return 'unreadable';
}

/** Written beside the database and renamed into place, so a crash leaves the old marker or the new one. */
function writeMarker(file: string, marker: Marker): void {
  const target = markerPath(file);
  const tmp = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(marker, null, 2)}\n`);
  fs.renameSync(tmp, target);
}

/** The store id kept in the database, or null (an empty database, or one of a version before markers). */
function storeIdIn(db: SqliteDb): string | null {
  const hasKeys = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'").get();
  if (!hasKeys) return null;
  const row = db.prepare('SELECT value FROM keys WHERE name = ?').get(STORE_ID_KEY) as { value: string } | undefined;
  return row ? (JSON.parse(row.value) as string) : null;
}

/** Whether the database holds anything (the signing keys are made at the first start of every store). */
function holdsData(db: SqliteDb): boolean {
  const hasKeys = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'").get();
  return Boolean(hasKeys && db.prepare('SELECT 1 FROM keys LIMIT 1').get());
}

function describe(marker: Marker | 'unreadable', file: string): string {
  return marker === 'unreadable'
    ? `${markerPath(file)} says a store was kept here (the marker itself is unreadable)`
    : `${markerPath(file)} says store ${marker.storeId} (made ${marker.createdAt}) was kept here`;
}

function howToStartOver(marker: Marker | 'unreadable', file: string): string {
  return marker === 'unreadable'
    ? `To start over with a new, empty store on purpose (every account, client, key and token of the old one is lost), delete ${markerPath(file)}.`
    : `To start over with a new, empty store on purpose (every account, client, key and token of the old one is lost), start once with ${INIT_STORE_ENV}=${marker.storeId}.`;
}

/**
 * Before the database is opened: refuses when the marker names a store but the database file is gone
 * or empty, unless TESSERA_INIT_STORE names that store.
 */
export function refuseMissingDatabase(file: string, databaseExists: boolean, initStore: string | null): void {
  if (databaseExists) return;
  const marker = readMarker(file);
  if (marker === null) return;
  if (marker !== 'unreadable' && initStore === marker.storeId) return;
  throw new StoreRefusedError(
    `The embedded store ${file} is missing or empty, but ${describe(marker, file)}. ` +
      'Every account, client, signing key and token was in that file: restore it (with its -wal file, if there is one) from a backup, ' +
      `or check that DATA_DIR points at the right directory or volume. ${howToStartOver(marker, file)}` +
      (initStore && marker !== 'unreadable' ? ` (${INIT_STORE_ENV} is set to ${initStore}, which isn't that store's id.)` : ''),
  );
}

export interface StoreIdentity {
  storeId: string;
  /** Set when TESSERA_INIT_STORE made a new store in place of the marked one. */
  replaced?: string;
  /** Set when TESSERA_INIT_STORE is set but had nothing to do. */
  initIgnored?: boolean;
  /** Writes the store id into the (now complete) database and the marker beside it. */
  commit(): void;
}

/**
 * With the database open (before the schema is created): checks that it is the store the marker names,
 * and decides the store id. Refuses an empty database or another store's where the marker names one.
 */
export function identifyStore(db: SqliteDb, file: string, initStore: string | null): StoreIdentity {
  const marker = readMarker(file);
  const inDb = storeIdIn(db);
  const save = (storeId: string, rewriteMarker: boolean) => () => {
    if (inDb !== storeId) {
      db.prepare('INSERT OR REPLACE INTO keys (name, value) VALUES (?, ?)').run(STORE_ID_KEY, JSON.stringify(storeId));
    }
    if (rewriteMarker) writeMarker(file, { storeId, createdAt: new Date().toISOString() });
  };
  if (marker === null) {
    // A fresh install, or a store of a version before markers: this store is the one kept here now.
    const storeId = inDb ?? randomUUID();
    return { storeId, commit: save(storeId, true) };
  }
  if (marker !== 'unreadable' && inDb === marker.storeId) {
    return { storeId: inDb, initIgnored: initStore !== null, commit: save(inDb, false) };
  }
  if (marker === 'unreadable' && inDb !== null) {
    // The database knows which store it is: the marker is made again from it.
    return { storeId: inDb, commit: save(inDb, true) };
  }
  if (marker !== 'unreadable' && initStore === marker.storeId && !holdsData(db)) {
    const storeId = randomUUID();
    return { storeId, replaced: marker.storeId, commit: save(storeId, true) };
  }
  if (inDb === null && !holdsData(db)) {
    // An empty database file where a store was kept (e.g. made by another program, or a start without the volume).
    refuseMissingDatabase(file, false, initStore);
  }
  throw new StoreRefusedError(
    `The embedded store ${file} is ${inDb ? `store ${inDb}` : 'a database without a store id'}, but ${describe(marker, file)}. ` +
      'A different database was put in its place: put the right one back (or restore it from a backup), or check that DATA_DIR points at the right directory or volume. ' +
      `If this database is the one to keep, delete ${markerPath(file)} and start again: it is marked as this directory's store then.`,
  );
}
