// A MongoDB for tests. With MONGODB_URI set, that real server is used (each call gets its own database,
// dropped by stop()). Otherwise test/support/mongo-wire-server.py is started: a MongoDB-wire-compatible
// server built from Debian's python3-mockupdb (protocol) and python3-mongomock (in-memory engine), so
// mongoose is exercised over the real wire protocol, not against mongod. See ../shared/docs/storage.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mongoose from 'mongoose';

export interface MongoTestServer {
  uri: string;
  stop(): Promise<void>;
}

const PYTHON = '/usr/bin/python3'; // Debian's python: the apt modules are not on pyenv's path
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mongo-wire-server.py');
const MISSING =
  'MongoDB wire test server needs Debian packages python3-mockupdb and python3-mongomock ' +
  '(apt-get install python3-mockupdb python3-mongomock), or set MONGODB_URI to a real MongoDB';
const STARTUP_TIMEOUT_MS = 15_000;

/** A fresh database name for one test or suite. */
export function testDatabaseName(): string {
  return `tessera_test_${randomBytes(6).toString('hex')}`;
}

/** The same connection string pointing at another database (options kept). */
export function mongoUriWithDatabase(uri: string, database: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`not a MongoDB connection string: ${uri}`);
  return `${m[1]}/${database}${m[3] ?? ''}`;
}

/** Drops the database the connection string names. */
export async function dropMongoDatabase(uri: string): Promise<void> {
  const connection = mongoose.createConnection(uri, { autoIndex: false, autoCreate: false });
  try {
    await connection.asPromise();
    await connection.dropDatabase();
  } finally {
    await connection.close();
  }
}

export async function startMongoTestServer(): Promise<MongoTestServer> {
  const external = process.env.MONGODB_URI;
  if (external) {
    const uri = mongoUriWithDatabase(external, testDatabaseName());
    return { uri, stop: () => dropMongoDatabase(uri) };
  }
  if (!fs.existsSync(PYTHON)) throw new Error(`${MISSING}: ${PYTHON} not found`);
  const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  const port = await waitForPort(child);
  const uri =
    `mongodb://127.0.0.1:${port}/${testDatabaseName()}` +
    '?directConnection=true&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000&maxPoolSize=20';
  return { uri, stop: () => stopChild(child) };
}

function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error(`MongoDB wire test server did not start in time. ${err}`)), STARTUP_TIMEOUT_MS);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (process.env.MONGO_WIRE_DEBUG) process.stderr.write(d);
    });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^PORT (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? new Error(`${MISSING}: ${PYTHON} not found`) : e),
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 3 || /ImportError|ModuleNotFoundError/.test(err)) reject(new Error(`${MISSING}. ${err.trim()}`));
      else reject(new Error(`MongoDB wire test server exited (${code}) before listening: ${err.trim()}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin!.end();
    child.kill('SIGTERM');
  });
}
