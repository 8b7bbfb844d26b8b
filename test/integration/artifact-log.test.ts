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
import type { Store } from '../../src/store/ports.ts';

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

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-log-'));
  file = path.join(dir, 'tessera.db');
});
afterEach(async () => {
  vi.useRealTimers();
  for (const s of open.splice(0)) await s.close();
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
