// Model-based test of the embedded store's artifact log (src/store/sqlite/artifacts/, issue 12): random
// sequences of every operation of the port — upsert, find, findByUid, findByUserCode, findByGrantId,
// consume, destroy, revokeByGrantId, revokeAccount — with the clock moving on (expiry, refresh tokens
// turning into tombstones once their reuse window has passed), purges, restarts on the same file, and
// commits that fail, checked against a plain Map after every step. In the server's mode several
// "requests" run side by side in one commit, and a failed commit must fail exactly the requests that
// wrote into it and leave the index as the file is.
//
// Each run draws a new seed (printed when it fails); ARTIFACT_MODEL_SEED=<n> replays one, and
// ARTIFACT_MODEL_TRAIL=1 prints all its steps instead of the last 40.
import { describe, it, expect, afterEach, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'libsql';
import { SCHEMA } from '../../src/store/sqlite/schema.ts';
import { SqliteArtifactLog } from '../../src/store/sqlite/artifacts/repo.ts';
import { StoreUnavailableError } from '../../src/store/ports.ts';

const SEED = process.env.ARTIFACT_MODEL_SEED ? Number(process.env.ARTIFACT_MODEL_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
const SEQUENCES = Number(process.env.ARTIFACT_MODEL_SEQUENCES ?? 16); // more for a long search
const STEPS = 150;
const REUSE_SECONDS = 2;
// A poor id hash, so that tombstones share hashes and every lookup must check the id in the file.
const poorHash = (id: string) => id.charCodeAt(id.length - 1) % 3;

/** mulberry32: small, seedable. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T,>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof random>;

// ---- what is generated ---------------------------------------------------------------------------

const MODELS = ['RefreshToken', 'AccessToken', 'Grant', 'Session', 'Interaction', 'TesseraLogin', 'DeviceCode'] as const;
type ModelName = (typeof MODELS)[number];
const IDS: Record<ModelName, string[]> = {
  RefreshToken: Array.from({ length: 10 }, (_, i) => `rt-${i}`),
  AccessToken: Array.from({ length: 6 }, (_, i) => `at-${i}`),
  Grant: ['g-0', 'g-1', 'g-2', 'g-3'],
  Session: ['s-0', 's-1', 's-2', 's-3'],
  Interaction: ['i-0', 'i-1', 'i-2'],
  TesseraLogin: ['l-0', 'l-1'],
  DeviceCode: ['d-0', 'd-1', 'd-2'],
};
const GRANTS = IDS.Grant;
const ACCOUNTS = ['a-0', 'a-1', 'a-2'];
const UIDS = IDS.Session.map((id) => `u-${id}`);
const USER_CODES = IDS.DeviceCode.map((id) => `uc-${id}`);
const TEXTS = ['', 'plain', 'Zoë Ærø', '名前 😀 𝄞', 'quote " and \\ backslash', 'line\nbreak'];

function payloadFor(r: Rng, model: ModelName, id: string): Record<string, unknown> {
  const p: Record<string, unknown> = { jti: id, kind: model, n: r.int(1_000_000), text: r.pick(TEXTS) };
  if (r.chance(0.05)) p.pad = 'p'.repeat(3000 + r.int(3000));
  switch (model) {
    case 'RefreshToken':
    case 'AccessToken':
      p.grantId = r.pick(GRANTS);
      p.clientId = 'client-1';
      break;
    case 'DeviceCode':
      p.grantId = r.pick(GRANTS);
      p.userCode = `uc-${id}`;
      break;
    case 'Grant':
      p.accountId = r.pick(ACCOUNTS);
      break;
    case 'Session':
      p.uid = `u-${id}`;
      p.accountId = r.pick(ACCOUNTS);
      break;
    case 'Interaction':
      p.uid = `ui-${id}`;
      p.session = { accountId: r.pick(ACCOUNTS), uid: r.pick(UIDS) };
      if (r.chance(0.4)) p.result = { login: { accountId: r.pick(ACCOUNTS) } };
      if (r.chance(0.3)) p.grantId = r.pick(GRANTS);
      break;
    case 'TesseraLogin':
      p.accountId = r.pick(ACCOUNTS);
      break;
  }
  return p;
}

// ---- the model -----------------------------------------------------------------------------------

interface Artifact {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  exp: number | null;
  consumed?: number;
}

type Payload = Record<string, unknown>;

/** What the port promises, as plainly as it can be said. */
class Model {
  arts = new Map<string, Artifact>();

  snapshot(): Map<string, Artifact> {
    return new Map([...this.arts].map(([k, a]) => [k, { ...a }]));
  }

  private visible = (a: Artifact | undefined, now: number): a is Artifact => a !== undefined && (a.exp === null || a.exp > now);
  private read = (a: Artifact): Payload => {
    const p = structuredClone(a.payload);
    if (a.consumed !== undefined) p.consumed = a.consumed;
    return p;
  };
  private find1 = (now: number, test: (a: Artifact) => boolean) => {
    for (const a of this.arts.values()) if (test(a) && this.visible(a, now)) return this.read(a);
    return undefined;
  };

  upsert(model: string, id: string, payload: Payload, exp: number | null) {
    this.arts.set(`${model}/${id}`, { model, id, payload: structuredClone(payload), exp });
  }
  find(model: string, id: string, now: number) {
    const a = this.arts.get(`${model}/${id}`);
    return this.visible(a, now) ? this.read(a) : undefined;
  }
  findByUid = (model: string, uid: string, now: number) => this.find1(now, (a) => a.model === model && a.payload.uid === uid);
  findByUserCode = (model: string, code: string, now: number) => this.find1(now, (a) => a.model === model && a.payload.userCode === code);
  findByGrantId(model: string, grantId: string, now: number) {
    return [...this.arts.values()].filter((a) => a.model === model && a.payload.grantId === grantId && this.visible(a, now)).map(this.read);
  }
  /** Each write says whether it changed anything (then it writes a record). */
  consume(model: string, id: string, now: number): boolean {
    const a = this.arts.get(`${model}/${id}`);
    if (a) a.consumed = Math.floor(now / 1000);
    return a !== undefined;
  }
  destroy(model: string, id: string): boolean {
    return this.arts.delete(`${model}/${id}`);
  }
  revokeByGrantId(grantId: string): boolean {
    let any = false;
    for (const [k, a] of this.arts) if (a.payload.grantId === grantId) any = this.arts.delete(k);
    return any;
  }
  revokeAccount(accountId: string, keep: string | undefined, now: number) {
    const counts = { sessions: 0, grants: 0 };
    const doomed = new Set<string>();
    const sessionUid = (a: Artifact) => (a.model === 'Session' ? a.payload.uid : (a.payload.session as { uid?: string } | undefined)?.uid);
    const kept = (a: Artifact) => keep !== undefined && sessionUid(a) === keep;
    for (const [k, a] of this.arts) {
      if (a.model === 'Session' && a.payload.accountId === accountId && !kept(a)) {
        doomed.add(k);
        if (this.visible(a, now)) counts.sessions++;
      } else if (a.model === 'Interaction' && !kept(a)) {
        const s = a.payload.session as { accountId?: string } | undefined;
        const login = (a.payload.result as { login?: { accountId?: string } } | undefined)?.login;
        if (s?.accountId === accountId || login?.accountId === accountId) doomed.add(k);
      } else if (a.model === 'TesseraLogin' && a.payload.accountId === accountId) doomed.add(k);
      else if (a.model === 'Grant' && a.payload.accountId === accountId) {
        doomed.add(k);
        if (this.visible(a, now)) counts.grants++;
        for (const [k2, m] of this.arts) if (m.payload.grantId === a.id && (m.model !== 'Interaction' || !kept(m))) doomed.add(k2);
      }
    }
    for (const k of doomed) this.arts.delete(k);
    return { counts, changed: doomed.size > 0 };
  }
  purge(now: number) {
    for (const [k, a] of this.arts) if (a.exp !== null && a.exp <= now) this.arts.delete(k);
  }
}

// ---- the store under test ------------------------------------------------------------------------

class Subject {
  db!: InstanceType<typeof Database>;
  repo!: SqliteArtifactLog;
  constructor(
    readonly file: string,
    readonly server: boolean,
  ) {
    this.open();
  }
  open() {
    this.db = new Database(this.file);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    this.db.exec(SCHEMA);
    this.repo = new SqliteArtifactLog(this.db, this.file, { refreshReuseSeconds: REUSE_SECONDS, tombstoneHash: poorHash });
    if (this.server) this.repo.claim();
  }
  close() {
    this.repo.close();
    this.db.close();
  }
  /** Every commit from now on fails inside SQLite (the new row's INSERT and dead rows' DELETEs). */
  failCommits() {
    this.db.exec(`CREATE TRIGGER fail_insert BEFORE INSERT ON artifact_log BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
      CREATE TRIGGER fail_delete BEFORE DELETE ON artifact_log BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`);
  }
  heal() {
    this.db.exec('DROP TRIGGER IF EXISTS fail_insert; DROP TRIGGER IF EXISTS fail_delete;');
  }
}

// ---- one run -------------------------------------------------------------------------------------

const byJti = (xs: Payload[]) => [...xs].sort((a, b) => String(a.jti).localeCompare(String(b.jti)));
const seen = { tombstones: 0, failedRequests: 0, readersUnharmed: 0, restarts: 0 };

/** One operation on both sides: whether it wrote, and its check (awaited in the request). */
interface Step {
  wrote: boolean;
  done: Promise<void>;
}

async function sequence(seed: number, trail: string[]) {
  const r = random(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-model-'));
  const server = r.chance(0.6);
  const s = new Subject(path.join(dir, 'tessera.db'), server);
  const model = new Model();
  const now = () => Date.now();
  const note = (what: string) => trail.push(what);
  note(`sequence seed=${seed} ${server ? 'server' : 'plain'} mode`);

  /** Starts one random operation (synchronously on both sides). */
  const operation = (): Step => {
    const m = r.pick(MODELS);
    const id = r.pick(IDS[m]);
    const t = now();
    const x = r.next();
    const check = <T,>(actual: Promise<T>, expected: T, what: string) => actual.then((got) => void expect(got, what).toEqual(expected));
    if (x < 0.32) {
      const payload = payloadFor(r, m, id);
      const exp = r.chance(0.15) ? null : r.chance(0.05) ? t - 1000 : t + 1000 + r.int(30_000);
      note(`upsert ${m} ${id} exp=${exp === null ? 'never' : `+${exp - t}ms`}`);
      model.upsert(m, id, payload, exp);
      return { wrote: true, done: s.repo.upsert(m, id, payload, exp === null ? null : new Date(exp)) };
    }
    if (x < 0.5) {
      const target = r.chance(0.6) ? 'RefreshToken' : m;
      const tid = r.pick(IDS[target]);
      note(`find ${target} ${tid}`);
      return { wrote: false, done: check(s.repo.find(target, tid), model.find(target, tid, t), `find ${target} ${tid}`) };
    }
    if (x < 0.54) {
      const model_ = r.pick(['Session', 'Interaction'] as const);
      const uid = model_ === 'Session' ? r.pick(UIDS) : `ui-${r.pick(IDS.Interaction)}`;
      note(`findByUid ${model_} ${uid}`);
      return { wrote: false, done: check(s.repo.findByUid(model_, uid), model.findByUid(model_, uid, t), `findByUid ${uid}`) };
    }
    if (x < 0.56) {
      const code = r.pick(USER_CODES);
      note(`findByUserCode ${code}`);
      return { wrote: false, done: check(s.repo.findByUserCode('DeviceCode', code), model.findByUserCode('DeviceCode', code, t), `findByUserCode ${code}`) };
    }
    if (x < 0.61) {
      const target = r.pick(['RefreshToken', 'AccessToken', 'DeviceCode', 'Interaction'] as const);
      const g = r.pick(GRANTS);
      note(`findByGrantId ${target} ${g}`);
      const expected = byJti(model.findByGrantId(target, g, t));
      return { wrote: false, done: s.repo.findByGrantId(target, g).then((got) => void expect(byJti(got), `findByGrantId ${target} ${g}`).toEqual(expected)) };
    }
    if (x < 0.78) {
      const target = r.chance(0.8) ? 'RefreshToken' : m;
      const tid = r.pick(IDS[target]);
      note(`consume ${target} ${tid}`);
      return { wrote: model.consume(target, tid, t), done: s.repo.consume(target, tid) };
    }
    if (x < 0.88) {
      note(`destroy ${m} ${id}`);
      return { wrote: model.destroy(m, id), done: s.repo.destroy(m, id) };
    }
    if (x < 0.94) {
      const g = r.pick(GRANTS);
      note(`revokeByGrantId ${g}`);
      return { wrote: model.revokeByGrantId(g), done: s.repo.revokeByGrantId(g) };
    }
    const account = r.pick(ACCOUNTS);
    const keep = r.chance(0.5) ? r.pick(UIDS) : undefined;
    note(`revokeAccount ${account} keep=${keep}`);
    const { counts, changed } = model.revokeAccount(account, keep, t);
    return { wrote: changed, done: check(s.repo.revokeAccount(account, keep === undefined ? {} : { keepSessionUid: keep }), counts, `revokeAccount ${account}`) };
  };

  /** Every lookup of every possible key, against the model. */
  const checkAll = async (when: string) => {
    const t = now();
    for (const m of MODELS) {
      for (const id of IDS[m]) expect(await s.repo.find(m, id), `${when}: find ${m} ${id}`).toEqual(model.find(m, id, t));
      for (const g of GRANTS) expect(byJti(await s.repo.findByGrantId(m, g)), `${when}: findByGrantId ${m} ${g}`).toEqual(byJti(model.findByGrantId(m, g, t)));
    }
    for (const uid of UIDS) expect(await s.repo.findByUid('Session', uid), `${when}: findByUid ${uid}`).toEqual(model.findByUid('Session', uid, t));
    for (const code of USER_CODES) expect(await s.repo.findByUserCode('DeviceCode', code), `${when}: findByUserCode ${code}`).toEqual(model.findByUserCode('DeviceCode', code, t));
    seen.tombstones = Math.max(seen.tombstones, s.repo.memoryCounts().tombstones);
  };

  /** After a commit that may have failed: either every writer failed (the model goes back) or none did. */
  const settle = (outcomes: Array<{ wrote: boolean; result: PromiseSettledResult<unknown> }>, before: Map<string, Artifact>, failing: boolean) => {
    for (const o of outcomes) {
      if (o.result.status === 'rejected' && !(o.result.reason instanceof StoreUnavailableError)) throw o.result.reason;
    }
    const writers = outcomes.filter((o) => o.wrote);
    const failed = writers.filter((o) => o.result.status === 'rejected');
    if (!failing) expect(failed.length, 'a commit failed with nothing injected').toBe(0);
    expect(failed.length === 0 || failed.length === writers.length, 'the writers of one commit share its outcome').toBe(true);
    for (const o of outcomes) if (!o.wrote) expect(o.result.status, 'a request that wrote nothing is not failed by others').toBe('fulfilled');
    if (failed.length) {
      model.arts = before;
      seen.failedRequests += failed.length;
      seen.readersUnharmed += outcomes.length - writers.length;
      note(`  -> commit failed: ${failed.length} request(s) failed`);
    }
  };

  try {
    for (let step = 0; step < STEPS; step++) {
      const x = r.next();
      if (x < 0.07) {
        const by = r.int(8000);
        note(`clock +${by}ms`);
        vi.setSystemTime(now() + by);
      } else if (x < 0.09) {
        note('purgeExpired');
        s.repo.purgeExpired(now());
        model.purge(now());
      } else if (x < 0.11) {
        note('restart');
        s.close();
        s.open();
        model.purge(now()); // the replay drops what expired
        seen.restarts++;
        await checkAll('after restart');
      } else {
        const failing = r.chance(0.08);
        const before = model.snapshot();
        if (failing) {
          note('(commits fail from here)');
          s.failCommits();
        }
        try {
          if (server) {
            // Requests side by side, each a few operations: one commit for all of them.
            const requests = Array.from({ length: 1 + r.int(3) }, () => 1 + r.int(3));
            const wrote = requests.map(() => false);
            const results = await Promise.allSettled(
              requests.map((n, i) =>
                s.repo.durably(async () => {
                  note(` request ${i}:`);
                  for (let k = 0; k < n; k++) {
                    const op = operation();
                    if (op.wrote) wrote[i] = true;
                    await op.done;
                  }
                }),
              ),
            );
            settle(results.map((result, i) => ({ wrote: wrote[i], result })), before, failing);
          } else {
            // A write's promise is its commit.
            const op = operation();
            const [result] = await Promise.allSettled([op.done]);
            settle([{ wrote: op.wrote, result }], before, failing);
          }
        } finally {
          s.heal();
        }
        if (failing || r.chance(0.1)) await checkAll(failing ? 'after a failed commit' : 'after a step');
      }
    }
    await checkAll('at the end');
    s.close();
    s.open();
    model.purge(now());
    await checkAll('after the last restart');
  } finally {
    s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

afterEach(() => vi.useRealTimers());

describe('artifact log against a Map (model-based)', () => {
  it(`agrees with the model over random sequences of every operation, restarts and failed commits (seed ${SEED})`, async () => {
    // The clock is Date only (the commits' setImmediate stays real), starting anywhere in a year.
    vi.useFakeTimers({ toFake: ['Date'] });
    const seeds = random(SEED);
    for (let i = 0; i < SEQUENCES; i++) {
      const seed = Math.floor(seeds.next() * 2 ** 32);
      vi.setSystemTime(Date.UTC(2031, 0, 1) + Math.floor(seeds.next() * 365 * 86400_000));
      const trail: string[] = [];
      try {
        await sequence(seed, trail);
      } catch (err) {
        const message = `artifact model test failed: ARTIFACT_MODEL_SEED=${SEED} (sequence ${i}, seed ${seed}); last steps:\n  ${trail.slice(process.env.ARTIFACT_MODEL_TRAIL ? 0 : -40).join('\n  ')}`;
        console.error(message);
        (err as Error).message = `${message}\n${(err as Error).message}`;
        throw err;
      }
    }
    // The runs went where they should: tombstones were made and read, commits failed and readers were spared.
    expect(seen.tombstones).toBeGreaterThan(0);
    expect(seen.failedRequests).toBeGreaterThan(0);
    expect(seen.restarts).toBeGreaterThan(0);
  }, 60_000 + SEQUENCES * 2000);
});
