// The classifier of store failures (src/store/unavailable.ts), on errors the real drivers throw: SQLite
// (libsql) over real files, MongoDB's driver classes, mongoose without a connection.
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'libsql';
import mongoose from 'mongoose';
import { MongoNetworkError, MongoServerError, MongoNetworkTimeoutError } from 'mongodb';
import { isStoreUnavailable, isStoreCorrupt, describeStoreError } from '../../src/store/unavailable.ts';
import { StoreUnavailableError, StoreConflictError } from '../../src/store/ports.ts';
import { ProviderUnavailable } from '../../src/oidc/store-errors.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-unavailable-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('nothing was thrown');
}

describe('SQLite errors', () => {
  it('a full database (SQLITE_FULL) and a read-only one (SQLITE_READONLY) are unavailable; a constraint is not', () => {
    const file = path.join(dir, 'full.db');
    const db = new Database(file);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT UNIQUE)');
    db.prepare('INSERT INTO t (x) VALUES (?)').run('taken');
    const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    db.exec(`PRAGMA max_page_count = ${pages}`);
    const full = thrown(() => db.prepare('INSERT INTO t (x) VALUES (?)').run('y'.repeat(100_000)));
    expect((full as { code: string }).code).toBe('SQLITE_FULL');
    expect(isStoreUnavailable(full)).toBe(true);
    expect(isStoreCorrupt(full)).toBe(false);
    expect(describeStoreError(full)).toMatch(/^SQLITE_FULL: /);
    const duplicate = thrown(() => db.prepare('INSERT INTO t (x) VALUES (?)').run('taken'));
    expect(isStoreUnavailable(duplicate)).toBe(false);
    db.close();

    const ro = new Database(file);
    ro.exec('PRAGMA query_only = 1');
    const readonly = thrown(() => ro.prepare('DELETE FROM t').run());
    expect((readonly as { code: string }).code).toMatch(/^SQLITE_READONLY/);
    expect(isStoreUnavailable(readonly)).toBe(true);
    ro.close();
  });

  it('a file that is not a database (SQLITE_NOTADB) is unavailable and corrupt', () => {
    const file = path.join(dir, 'junk.db');
    fs.writeFileSync(file, Buffer.alloc(8192, 0x41));
    const db = new Database(file);
    const err = thrown(() => db.exec('SELECT * FROM sqlite_master'));
    db.close();
    expect((err as { code: string }).code).toBe('SQLITE_NOTADB');
    expect(isStoreUnavailable(err)).toBe(true);
    expect(isStoreCorrupt(err)).toBe(true);
  });
});

describe('MongoDB errors', () => {
  it('network errors and a replica set in transition are unavailable; a duplicate key is not', () => {
    expect(isStoreUnavailable(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'))).toBe(true);
    expect(isStoreUnavailable(new MongoNetworkTimeoutError('connection timed out'))).toBe(true);
    expect(isStoreUnavailable(new MongoServerError({ code: 10107, errmsg: 'not primary' }))).toBe(true);
    expect(isStoreUnavailable(new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key error' }))).toBe(false);
    expect(isStoreCorrupt(new MongoNetworkError('x'))).toBe(false);
  });

  it("mongoose's buffering timeout (no connection) is unavailable", async () => {
    const conn = mongoose.createConnection();
    const Thing = conn.model('Thing', new mongoose.Schema({ x: String }, { bufferTimeoutMS: 50 }));
    const err = await Thing.findOne({ x: 'y' }).then(() => null, (e: unknown) => e);
    await conn.close();
    expect(String((err as Error).message)).toMatch(/buffering timed out/);
    expect(isStoreUnavailable(err)).toBe(true);
  });
});

describe('wrapped errors', () => {
  it('StoreUnavailableError and errors carrying one as their cause are unavailable; the description names the driver error', () => {
    const driver = new MongoNetworkError('connection reset');
    const wrapped = new StoreUnavailableError('MongoDB unreachable', { cause: driver });
    expect(isStoreUnavailable(wrapped)).toBe(true);
    expect(isStoreUnavailable(new ProviderUnavailable(wrapped))).toBe(true);
    expect(describeStoreError(new ProviderUnavailable(wrapped))).toBe('MongoNetworkError: connection reset');
    expect(isStoreUnavailable(new StoreUnavailableError('disk full'))).toBe(true);
  });

  it('file-system errors of the store (ENOSPC, EROFS) are unavailable; other errors are not', () => {
    expect(isStoreUnavailable(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }))).toBe(true);
    expect(isStoreUnavailable(Object.assign(new Error('read-only file system'), { code: 'EROFS' }))).toBe(true);
    expect(isStoreUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false); // SMTP, Vonage: not the store
    expect(isStoreUnavailable(new StoreConflictError())).toBe(false);
    expect(isStoreUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isStoreUnavailable(undefined)).toBe(false);
    const cyclic: Error & { cause?: unknown } = new Error('loop');
    cyclic.cause = cyclic;
    expect(isStoreUnavailable(cyclic)).toBe(false);
  });
});
