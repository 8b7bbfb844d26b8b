// The embedded store's artifact log (src/store/sqlite/artifacts/): what the store contract can't see
// from one open store — reads from rows once the recent commits' bytes and the read cache have let go,
// copies handed out from it, non-ASCII records in byte-addressed rows, replaying the log after a
// restart, rows freed once nothing in them is current, removal records kept exactly as long as needed,
// the group commit's failure path, and the lock that keeps a second server off the file.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'libsql';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { SCHEMA } from '../../src/store/sqlite/schema.ts';
import { SqliteArtifactLog, type ArtifactLogOptions } from '../../src/store/sqlite/artifacts/repo.ts';
import { StoreUnavailableError, type Store } from '../../src/store/ports.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const later = () => new Date(Date.now() + HOUR);

let dir: string;
let file: string;
const open: Store[] = [];
async function store(): Promise<Store> {
  const s = await openSqliteStore({ file });
  open.push(s);
  return s;
}
async function reopen(s: Store): Promise<Store> {
  await s.close();
  open.splice(open.indexOf(s), 1);
  return store();
}
function rows(): number {
  const db = new Database(file);
  try {
    return (db.prepare('SELECT count(*) AS n FROM artifact_log').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** The artifact log on a connection of the test's own (to reach it as a full disk would). */
interface Direct {
  db: InstanceType<typeof Database>;
  log: SqliteArtifactLog;
  close(): void;
}
const directs: Direct[] = [];
function direct(opts: ArtifactLogOptions = {}): Direct {
  const db = new Database(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  db.exec(SCHEMA);
  const log = new SqliteArtifactLog(db, file, opts);
  log.claim();
  const d: Direct = {
    db,
    log,
    close() {
      directs.splice(directs.indexOf(d), 1);
      log.close();
      db.close();
    },
  };
  directs.push(d);
  return d;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-log-'));
  file = path.join(dir, 'tessera.db');
});
afterEach(async () => {
  vi.useRealTimers();
  for (const s of open.splice(0)) await s.close();
  for (const d of [...directs]) d.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('artifact log', () => {
  it('reads what fell out of the recent commits and the read cache from its row, and hands out copies', async () => {
    const s = await store();
    await s.claimForServer(); // the server's mode: writes return at once, commits run at the end of the next turn
    await s.oidc.upsert('RefreshToken', 'rt-old', { jti: 'rt-old', grantId: 'g1', amr: ['pwd'] }, later());
    await s.oidc.upsert('Grant', 'g1', { jti: 'g1', openid: { scope: 'openid' } }, later());
    await s.oidc.consume('RefreshToken', 'rt-old');
    // Thousands of later writes (several commits, 5 MB) push both out of the recent commits (4 MB) and the
    // read cache (two generations of 1,024). Each hundred waits for its commit, as a request does.
    const pad = 'p'.repeat(1000);
    for (let chunk = 0; chunk < 50; chunk++) {
      await s.oidc.durably(async () => {
        for (let i = chunk * 100; i < (chunk + 1) * 100; i++) await s.oidc.upsert('AccessToken', `at-${i}`, { jti: `at-${i}`, grantId: 'g2', pad }, later());
      });
    }
    expect(rows()).toBeGreaterThan(1);
    expect(await s.oidc.find('RefreshToken', 'rt-old')).toMatchObject({ jti: 'rt-old', grantId: 'g1', amr: ['pwd'], consumed: expect.any(Number) });
    // A payload read several times is cached as an object: what a caller does to its copy stays there.
    for (let i = 0; i < 4; i++) {
      const grant = (await s.oidc.find('Grant', 'g1')) as { openid: { scope: string }; extra?: string };
      expect(grant).toEqual({ jti: 'g1', openid: { scope: 'openid' } });
      grant.openid.scope = 'changed';
      grant.extra = 'changed';
    }
    expect(await s.oidc.find('AccessToken', 'at-0')).toEqual({ jti: 'at-0', grantId: 'g2', pad });
    expect(await s.oidc.find('AccessToken', 'at-4999')).toEqual({ jti: 'at-4999', grantId: 'g2', pad });
  });

  it('finds each record of a row by its bytes when records hold non-ASCII text', async () => {
    const names = ['Zoë Ærø', 'ascii', '名前 😀 𝄞', 'é'.repeat(300)];
    let s = await store();
    await s.claimForServer();
    // One commit holding ASCII and non-ASCII records side by side: a record's place in bytes differs from
    // its place in characters.
    await s.oidc.durably(async () => {
      await Promise.all(names.map((name, i) => s.oidc.upsert('Session', `new-${i}`, { jti: `new-${i}`, name }, later())));
    });
    const all = async () => {
      const found: unknown[] = [];
      for (let i = 0; i < names.length; i++) found.push(await s.oidc.find('Session', `new-${i}`));
      return found;
    };
    const expected = names.map((name, i) => ({ jti: `new-${i}`, name }));
    expect(await all()).toEqual(expected); // from the recent commit's bytes
    s = await reopen(s); // replayed, and then each record read from its row in the file
    expect(await all()).toEqual(expected);
    const raw = new Database(file);
    const kinds = raw.prepare('SELECT typeof(lines) AS t FROM artifact_log ORDER BY seq').all() as Array<{ t: string }>;
    raw.close();
    expect(kinds.map((k) => k.t)).toEqual(['blob']);
  });

  it('replays upserts, consumptions, removals, replacements and grant links after a restart', async () => {
    let s = await store();
    await s.oidc.upsert('RefreshToken', 'rt-a', { jti: 'rt-a', grantId: 'g1' }, later());
    await s.oidc.upsert('AccessToken', 'at-b', { jti: 'at-b', grantId: 'g1' }, later());
    await s.oidc.upsert('Session', 's-c', { jti: 's-c', uid: 'u1' }, later());
    await s.oidc.upsert('Grant', 'g-d', { jti: 'g-d', v: 1 }, null);
    await s.oidc.consume('RefreshToken', 'rt-a');
    await s.oidc.destroy('Session', 's-c');
    await s.oidc.upsert('Grant', 'g-d', { jti: 'g-d', v: 2 }, null);

    s = await reopen(s);
    const a = await s.oidc.find('RefreshToken', 'rt-a');
    expect(a).toMatchObject({ jti: 'rt-a', grantId: 'g1' });
    expect(typeof a?.consumed).toBe('number');
    expect(await s.oidc.find('AccessToken', 'at-b')).toEqual({ jti: 'at-b', grantId: 'g1' });
    expect(await s.oidc.find('Session', 's-c')).toBeUndefined();
    expect(await s.oidc.findByUid('Session', 'u1')).toBeUndefined();
    expect(await s.oidc.find('Grant', 'g-d')).toEqual({ jti: 'g-d', v: 2 });

    await s.oidc.revokeByGrantId('g1');
    s = await reopen(s);
    expect(await s.oidc.find('RefreshToken', 'rt-a')).toBeUndefined();
    expect(await s.oidc.find('AccessToken', 'at-b')).toBeUndefined();
    expect(await s.oidc.find('Grant', 'g-d')).toEqual({ jti: 'g-d', v: 2 });
  });

  it('keeps a removal only while the row it cancels exists, and frees every row once nothing is current', async () => {
    let s = await store();
    // Both upserts share one commit row.
    await Promise.all([s.oidc.upsert('AccessToken', 'x', { jti: 'x' }, later()), s.oidc.upsert('AccessToken', 'y', { jti: 'y' }, later())]);
    expect(rows()).toBe(1);
    await s.oidc.destroy('AccessToken', 'x'); // row 1 still holds y: the removal must stay
    expect(rows()).toBe(2);
    s = await reopen(s);
    expect(await s.oidc.find('AccessToken', 'x')).toBeUndefined();
    expect(await s.oidc.find('AccessToken', 'y')).toEqual({ jti: 'y' });
    await s.oidc.destroy('AccessToken', 'y'); // row 1 goes, so the removal of x is no longer needed either
    expect(rows()).toBe(0);
    s = await reopen(s);
    expect(await s.oidc.find('AccessToken', 'x')).toBeUndefined();
    expect(await s.oidc.find('AccessToken', 'y')).toBeUndefined();
  });

  it('drops what expired, at replay and at purge', async () => {
    let s = await store();
    await s.oidc.upsert('AuthorizationCode', 'soon', { jti: 'soon' }, new Date(Date.now() + MINUTE));
    await s.oidc.upsert('AuthorizationCode', 'hour', { jti: 'hour' }, later());
    expect(await s.oidc.find('AuthorizationCode', 'soon')).toEqual({ jti: 'soon' });
    // The clock moves two minutes on (Date only: the commits' setImmediate stays real); nothing sleeps.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2 * MINUTE);
    expect(await s.oidc.find('AuthorizationCode', 'soon')).toBeUndefined(); // checked on read
    expect(rows()).toBe(2); // one commit each
    s = await reopen(s);
    expect(await s.oidc.find('AuthorizationCode', 'hour')).toEqual({ jti: 'hour' }); // first use replays the log
    expect(rows()).toBe(1); // and the replay dropped the expired one's row
    await s.purgeExpired(new Date(Date.now() + 2 * HOUR));
    expect(await s.oidc.find('AuthorizationCode', 'hour')).toBeUndefined();
    expect(rows()).toBe(0);
  });

  it('in the server, writes return at once and durably() waits for their commit, or fails with it', async () => {
    const s = await store();
    await s.claimForServer();
    const write = s.oidc.upsert('AccessToken', 'd1', { jti: 'd1' }, later());
    expect(await write).toBeUndefined();
    expect(rows()).toBe(0); // not committed yet: the next turn hasn't ended
    await s.oidc.durably(async () => {
      await s.oidc.upsert('AccessToken', 'd2', { jti: 'd2' }, later());
    });
    expect(rows()).toBe(1); // d1 and d2, one commit

    // A commit that fails: the request waiting for it fails, and the index forgets the write.
    const db = new Database(file);
    db.exec("CREATE TRIGGER full BEFORE INSERT ON artifact_log BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    await expect(s.oidc.durably(() => s.oidc.upsert('AccessToken', 'd3', { jti: 'd3' }, later()))).rejects.toThrow(/disk full/);
    expect(await s.oidc.find('AccessToken', 'd3')).toBeUndefined();
    expect(await s.oidc.find('AccessToken', 'd1')).toEqual({ jti: 'd1' });
    db.exec('DROP TRIGGER full');
    db.close();
    await s.oidc.durably(() => s.oidc.upsert('AccessToken', 'd4', { jti: 'd4' }, later()));
    expect(await s.oidc.find('AccessToken', 'd4')).toEqual({ jti: 'd4' });
  });

  it('keeps a removed artifact removed across restarts when the row of an older version of it lives on', async () => {
    let s = await store();
    // Version 1 shares its row with a token that stays; version 2 has a row of its own; then it is removed.
    await Promise.all([s.oidc.upsert('Session', 's1', { jti: 's1', v: 1 }, later()), s.oidc.upsert('AccessToken', 'stays', { jti: 'stays' }, later())]);
    await s.oidc.upsert('Session', 's1', { jti: 's1', v: 2 }, later());
    await s.oidc.destroy('Session', 's1');
    // The same within one commit: a new version and its removal together.
    await Promise.all([s.oidc.upsert('Session', 's2', { jti: 's2', v: 1 }, later()), s.oidc.upsert('AccessToken', 'stays-2', { jti: 'stays-2' }, later())]);
    await Promise.all([s.oidc.upsert('Session', 's2', { jti: 's2', v: 2 }, later()), s.oidc.destroy('Session', 's2')]);
    for (let restart = 0; restart < 3; restart++) {
      expect(await s.oidc.find('Session', 's1')).toBeUndefined();
      expect(await s.oidc.find('Session', 's2')).toBeUndefined();
      expect(await s.oidc.find('AccessToken', 'stays')).toEqual({ jti: 'stays' });
      s = await reopen(s); // each replay must keep what the next one needs
    }
    await s.oidc.destroy('AccessToken', 'stays');
    await s.oidc.destroy('AccessToken', 'stays-2');
    expect(rows()).toBe(0); // and once nothing is current, every row goes
  });

  it('a commit SQLite refuses (the file may not grow) fails only the requests that wrote into it, is taken back in memory alone, and later commits go through', async () => {
    let { db, log, close } = direct();
    const grant = { jti: 'g1', accountId: 'a1' };
    const rt1 = { jti: 'rt1', grantId: 'g1' };
    const session = { jti: 's1', uid: 'u1', accountId: 'a1' };
    await log.durably(async () => {
      await log.upsert('Grant', 'g1', grant, later());
      await log.upsert('RefreshToken', 'rt1', rt1, later());
      await log.upsert('Session', 's1', session, later());
    });
    // Not one page more for this connection (as on a full disk), and a record needing many.
    const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[0];
    db.exec(`PRAGMA max_page_count = ${pragma('page_count')}`);
    const pad = 'x'.repeat((pragma('freelist_count') + 16) * pragma('page_size'));
    const rotation = async () => {
      await log.upsert('AccessToken', 'at-big', { jti: 'at-big', grantId: 'g1', pad }, later());
      await log.consume('RefreshToken', 'rt1');
      await log.upsert('RefreshToken', 'rt2', { jti: 'rt2', grantId: 'g1' }, later());
      await log.destroy('Session', 's1');
    };
    const writer = log.durably(rotation);
    const reader = log.durably(async () => log.find('Grant', 'g1')); // in the same commit's turn
    await expect(writer).rejects.toThrow(StoreUnavailableError);
    await expect(writer).rejects.toThrow(/full/);
    expect(await reader).toEqual(grant);
    // Memory holds what the file holds: none of the failed writes.
    expect(await log.find('AccessToken', 'at-big')).toBeUndefined();
    expect(await log.find('RefreshToken', 'rt1')).toEqual(rt1); // not consumed
    expect(await log.find('RefreshToken', 'rt2')).toBeUndefined();
    expect(await log.findByUid('Session', 'u1')).toEqual(session);
    expect(await log.findByGrantId('RefreshToken', 'g1')).toEqual([rt1]);
    // The cause gone, the same writes go through.
    db.exec('PRAGMA max_page_count = 1073741823');
    await log.durably(rotation);
    const now = async () => [
      await log.find('AccessToken', 'at-big'), await log.find('RefreshToken', 'rt1'), await log.find('RefreshToken', 'rt2'),
      await log.find('Session', 's1'), await log.find('Grant', 'g1'),
    ];
    const before = await now();
    expect(before.map((p) => p?.jti)).toEqual(['at-big', 'rt1', 'rt2', undefined, 'g1']);
    expect(before[1]).toMatchObject({ consumed: expect.any(Number) });
    close();
    ({ db, log, close } = direct());
    expect(await now()).toEqual(before);
  });

  it('keeps a rotated refresh token as a tombstone once its reuse window has passed: still found consumed, with its grant and client, until revoked', async () => {
    vi.useFakeTimers({ toFake: ['Date'] }); // the clock moves on; commits' setImmediate stays real
    let { log, close } = direct({ refreshReuseSeconds: 10 });
    const exp = () => Math.floor(Date.now() / 1000) + 3600;
    const rt = (id: string, rotations: number) => ({ jti: id, kind: 'RefreshToken', grantId: 'g1', clientId: 'client-1', accountId: 'a1', rotations, exp: exp(), scope: 'openid offline_access' });
    const rt1 = rt('rt1', 0);
    const rt2 = rt('rt2', 1);
    const commit = () => log.durably(() => log.upsert('AccessToken', `at-${Date.now()}`, { jti: 'at', grantId: 'g0' }, later()));
    await log.durably(async () => {
      await log.upsert('Grant', 'g1', { jti: 'g1', accountId: 'a1' }, null);
      await log.upsert('RefreshToken', 'rt1', rt1, later());
    });
    // A rotation, as oidc-provider makes it: the presented token consumed, its successor saved.
    await log.durably(async () => {
      await log.consume('RefreshToken', 'rt1');
      await log.upsert('RefreshToken', 'rt2', rt2, later());
    });
    vi.setSystemTime(Date.now() + 9_000);
    await commit();
    expect(log.memoryCounts().tombstones).toBe(0); // within its reuse window: whole
    vi.setSystemTime(Date.now() + 2_000);
    await commit();
    expect(log.memoryCounts().tombstones).toBe(1);
    const consumed = { ...rt1, consumed: expect.any(Number) };
    expect(await log.find('RefreshToken', 'rt1')).toEqual(consumed);
    const byJti = (xs: Record<string, unknown>[]) => xs.sort((a, b) => String(a.jti).localeCompare(String(b.jti)));
    expect(byJti(await log.findByGrantId('RefreshToken', 'g1'))).toEqual([consumed, rt2]);
    close();
    ({ log, close } = direct({ refreshReuseSeconds: 10 }));
    expect(log.memoryCounts().tombstones).toBe(1); // long consumed: a tombstone from the replay on
    expect(await log.find('RefreshToken', 'rt1')).toEqual(consumed);
    // Presented again: oidc-provider destroys it and revokes the grant.
    await log.durably(async () => {
      await log.destroy('RefreshToken', 'rt1');
      await log.revokeByGrantId('g1');
    });
    expect(log.memoryCounts().tombstones).toBe(0);
    expect(await log.find('RefreshToken', 'rt1')).toBeUndefined();
    expect(await log.find('RefreshToken', 'rt2')).toBeUndefined();
    close();
    ({ log, close } = direct({ refreshReuseSeconds: 10 }));
    expect(await log.find('RefreshToken', 'rt1')).toBeUndefined();
    expect(await log.findByGrantId('RefreshToken', 'g1')).toEqual([]);
  });

  it('lets one server claim the file: a second is refused with a clear message; a dead holder’s lock is taken over', async () => {
    const first = await store();
    await first.claimForServer();
    const second = await store();
    await expect(second.claimForServer()).rejects.toThrow(/serves one instance.*MONGODB_URI/);
    await first.close();
    open.splice(open.indexOf(first), 1);
    await second.claimForServer(); // released on close
    await second.close();
    open.splice(open.indexOf(second), 1);

    fs.writeFileSync(`${file}.lock`, '999999999'); // an earlier version's lock file naming a pid that isn't running
    const third = await store();
    await third.claimForServer();
  });

  it('a lock file naming a live, unrelated pid (reused after a reboot) does not block the start', async () => {
    // The lock is the OS's, on the file, not a pid written in it: this process's parent is alive and isn't Tessera.
    fs.writeFileSync(`${file}.lock`, String(process.ppid));
    const s = await store();
    await s.claimForServer();
    const second = await store();
    await expect(second.claimForServer()).rejects.toThrow(/serves one instance.*MONGODB_URI/);
  });

  it('the lock dies with its process: a server killed with SIGKILL leaves nothing that blocks the next', async () => {
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import Database from 'libsql';
      const lock = new Database(${JSON.stringify(`${file}.lock`)});
      lock.exec('PRAGMA locking_mode = EXCLUSIVE');
      lock.exec('BEGIN EXCLUSIVE');
      process.stdout.write('locked');
      setInterval(() => {}, 1000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    const gone = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      const blocked = await store();
      await expect(blocked.claimForServer()).rejects.toThrow(/serves one instance/); // another process holds it
    } finally {
      holder.kill('SIGKILL');
      await gone;
    }
    const next = await store();
    await next.claimForServer();
  });
});
