// The integrity check at start: PRAGMA quick_check on the database, so a damaged file stops the start
// with a clear message instead of failing requests later (or only at the next start). It runs in a
// worker thread on its own connection (query_only), so its time is bounded (STORE_CHECK_SECONDS): a
// database too large to check in time starts anyway, with a warning.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

export type IntegrityResult =
  | { ok: true }
  | { ok: false; problem: string } // the file is damaged
  | { ok: 'unknown'; reason: string }; // the check didn't finish in time, or couldn't run

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.libsql);
let db;
try {
  db = new Database(workerData.file);
  db.exec('PRAGMA query_only = 1'); // libsql has no read-only open; this connection never writes
  const rows = db.prepare('PRAGMA quick_check(5)').all();
  parentPort.postMessage({ problems: rows.map((r) => String(r.quick_check)).filter((v) => v !== 'ok') });
} catch (err) {
  parentPort.postMessage({ error: { code: String(err && err.code), message: String(err && err.message) } });
} finally {
  try { if (db) db.close(); } catch {}
}
`;

const CORRUPT = /^SQLITE_(CORRUPT|NOTADB)/;

export function checkIntegrity(file: string, timeoutMs: number): Promise<IntegrityResult> {
  return new Promise((resolve) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { file, libsql: createRequire(import.meta.url).resolve('libsql') } });
    let done = false;
    const finish = (result: IntegrityResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // A worker stuck in a long native call ends when the call returns; nothing waits for it.
      void worker.terminate();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: 'unknown', reason: `it didn't finish within ${Math.round(timeoutMs / 1000)} s` }), timeoutMs);
    worker.unref();
    worker.on('message', (m: { problems?: string[]; error?: { code: string; message: string } }) => {
      if (m.problems) finish(m.problems.length ? { ok: false, problem: m.problems.join('; ') } : { ok: true });
      else if (m.error && CORRUPT.test(m.error.code)) finish({ ok: false, problem: `${m.error.code}: ${m.error.message}` });
      else finish({ ok: 'unknown', reason: m.error ? `${m.error.code}: ${m.error.message}` : 'no answer' });
    });
    worker.on('error', (err) => finish({ ok: 'unknown', reason: err.message }));
    worker.on('exit', () => finish({ ok: 'unknown', reason: 'the check ended without an answer' }));
  });
}
