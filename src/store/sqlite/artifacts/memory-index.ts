// The lookups, all in memory: per model by id, uid and user code; every artifact of a grant (for
// revokeByGrantId); the sessions, grants, interactions and pending sign-ins of an account (for
// revokeAccount). Each change to them and to the rows' references is recorded in the journal, so a
// failed commit can take back exactly its own changes.
import { isOwnedModel } from '../../owners.ts';
import type { Journal } from './journal.ts';
import type { Row, RowRefs } from './rows.ts';
import type { Entry } from './entries.ts';
import { GrantGroup, TOMBSTONED_MODEL, Tombstones, type Tombstone } from './tombstones.ts';

/** The artifacts of one model: by id, and by uid and user code where they have one. */
export class ModelIndex {
  readonly byId = new Map<string, Entry>();
  readonly byUid = new Map<string, Entry>();
  readonly byUserCode = new Map<string, Entry>();
  /** Whether its entries are indexed by account (decided once per model, not per write). */
  readonly owned: boolean;
  /** Consumed artifacts kept compactly (refresh tokens only). */
  readonly tombstones: Tombstones | null;
  constructor(readonly model: string, hash?: (id: string) => number) {
    this.owned = isOwnedModel(model);
    this.tombstones = model === TOMBSTONED_MODEL ? new Tombstones(hash) : null;
  }
}

export class MemoryIndex {
  readonly models = new Map<string, ModelIndex>();
  readonly grants = new Map<string, GrantGroup>();
  readonly accounts = new Map<string, Set<Entry>>();

  constructor(
    private readonly journal: Journal,
    private readonly refs: RowRefs,
    /** The tombstones' id hash (tests pass a poor one to see collisions). */
    private readonly hash?: (id: string) => number,
  ) {}

  /** Forgets everything (a replay that failed half-way). */
  clear(): void {
    this.models.clear();
    this.grants.clear();
    this.accounts.clear();
  }

  model(name: string): ModelIndex {
    let index = this.models.get(name);
    if (!index) this.models.set(name, (index = new ModelIndex(name, this.hash)));
    return index;
  }

  /** Adds a new entry (its rows referenced). */
  link(index: ModelIndex, e: Entry): void {
    const displaced = e.uid || e.userCode ? [e.uid ? index.byUid.get(e.uid) : undefined, e.userCode ? index.byUserCode.get(e.userCode) : undefined] : undefined;
    this.attach(index, e);
    this.refs.ref(e.row);
    if (e.consumedRow) this.refs.ref(e.consumedRow);
    if (e.consumed !== undefined) index.tombstones?.queueConsumed(e, e.consumed);
    this.journal.record(undoLink, this, index, e, displaced);
  }

  /** Takes an entry out (replaced, expired or removed) and releases its rows. */
  forget(index: ModelIndex, e: Entry): void {
    const held = (e.uid && index.byUid.get(e.uid) === e ? 1 : 0) | (e.userCode && index.byUserCode.get(e.userCode) === e ? 2 : 0);
    this.journal.record(undoForget, this, index, e, held);
    this.detach(index, e);
    e.cached = undefined;
    if (e.consumedRow) this.refs.unref(e.consumedRow);
    this.refs.unref(e.row);
  }

  /** Marks consumed at `at` (seconds) by a record in `row`. */
  consume(index: ModelIndex, e: Entry | Tombstone, at: number, row: Row): void {
    this.journal.record(undoConsume, e, e.consumed, e.consumedRow);
    if (e.consumedRow) this.refs.unref(e.consumedRow);
    e.consumed = at;
    e.consumedRow = row;
    this.refs.ref(row);
    if ('id' in e) index.tombstones?.queueConsumed(e, at);
  }

  /** Takes a tombstone out (replaced, expired or removed) and releases its rows. */
  forgetTombstone(index: ModelIndex, t: Tombstone, hash: number): void {
    this.journal.record(undoForgetTombstone, this, index, t, hash);
    index.tombstones!.delete(hash, t);
    const group = t.group;
    if (group) {
      group.tombstones!.delete(t);
      if (group.empty) this.grants.delete(group.id);
    }
    if (t.consumedRow) this.refs.unref(t.consumedRow);
    this.refs.unref(t.row);
  }

  /**
   * Keeps the consumed entries of `index` whose reuse window has passed (consumed at or before `until`,
   * seconds) as tombstones. Only between commits (nothing to take back): the rows they reference stay.
   */
  bury(index: ModelIndex, until: number): void {
    const tombstones = index.tombstones;
    if (!tombstones) return;
    let e: Entry | undefined;
    while ((e = tombstones.takeDue(until)) !== undefined) {
      if (index.byId.get(e.id) !== e || e.start < 0 || e.uid || e.userCode) continue;
      index.byId.delete(e.id);
      e.cached = undefined;
      const group = e.grantId ? this.grants.get(e.grantId) : undefined;
      const t: Tombstone = { row: e.row, start: e.start, end: e.end, consumedRow: e.consumedRow, consumed: e.consumed!, exp: e.exp, group };
      if (group) {
        group.entries.delete(e);
        (group.tombstones ??= new Set()).add(t);
      }
      tombstones.add(tombstones.hash(e.id), t);
    }
  }

  private attach(index: ModelIndex, e: Entry) {
    index.byId.set(e.id, e);
    if (index.owned) {
      if (e.accountId) this.own(e.accountId, e);
      if (e.loginAccountId) this.own(e.loginAccountId, e);
    }
    if (e.grantId) {
      let group = this.grants.get(e.grantId);
      if (!group) this.grants.set(e.grantId, (group = new GrantGroup(e.grantId)));
      group.entries.add(e);
      e.grantId = group.id; // one string per grant
    }
    if (e.uid) index.byUid.set(e.uid, e);
    if (e.userCode) index.byUserCode.set(e.userCode, e);
  }

  private detach(index: ModelIndex, e: Entry) {
    index.byId.delete(e.id);
    if (index.owned) {
      if (e.accountId) this.disown(e.accountId, e);
      if (e.loginAccountId) this.disown(e.loginAccountId, e);
    }
    if (e.grantId) {
      const group = this.grants.get(e.grantId);
      if (group) {
        group.entries.delete(e);
        if (group.empty) this.grants.delete(e.grantId);
      }
    }
    if (e.uid && index.byUid.get(e.uid) === e) index.byUid.delete(e.uid);
    if (e.userCode && index.byUserCode.get(e.userCode) === e) index.byUserCode.delete(e.userCode);
  }

  private own(accountId: string, e: Entry) {
    let owned = this.accounts.get(accountId);
    if (!owned) this.accounts.set(accountId, (owned = new Set()));
    owned.add(e);
  }

  private disown(accountId: string, e: Entry) {
    const owned = this.accounts.get(accountId);
    owned?.delete(e);
    if (owned?.size === 0) this.accounts.delete(accountId);
  }

  // ---- what the journal calls to take a change back --------------------------------------------------

  /** @internal */
  static undoLink(self: MemoryIndex, index: ModelIndex, e: Entry, displaced: Array<Entry | undefined> | undefined) {
    self.detach(index, e);
    e.row.live--;
    if (e.consumedRow) e.consumedRow.live--;
    if (displaced?.[0]) index.byUid.set(e.uid!, displaced[0]);
    if (displaced?.[1]) index.byUserCode.set(e.userCode!, displaced[1]);
  }

  /** @internal */
  static undoForget(self: MemoryIndex, index: ModelIndex, e: Entry, held: number) {
    // attach() without the uid and user code maps: e gets back only the ones it held.
    const { uid, userCode } = e;
    e.uid = e.userCode = undefined;
    self.attach(index, e);
    e.uid = uid;
    e.userCode = userCode;
    if (held & 1) index.byUid.set(uid!, e);
    if (held & 2) index.byUserCode.set(userCode!, e);
    e.row.live++;
    if (e.consumedRow) e.consumedRow.live++;
  }

  /** @internal */
  static undoForgetTombstone(self: MemoryIndex, index: ModelIndex, t: Tombstone, hash: number) {
    index.tombstones!.add(hash, t);
    const group = t.group;
    if (group) {
      if (self.grants.get(group.id) !== group) self.grants.set(group.id, group);
      group.tombstones!.add(t);
    }
    t.row.live++;
    if (t.consumedRow) t.consumedRow.live++;
  }
}

const undoLink = MemoryIndex.undoLink;
const undoForget = MemoryIndex.undoForget;
const undoForgetTombstone = MemoryIndex.undoForgetTombstone;

/** Consumption taken back: the row the failed commit would have written is dropped whole, so only the previous one counts again. */
function undoConsume(e: Entry | Tombstone, consumed: number | undefined, consumedRow: Row | undefined) {
  e.consumed = consumed as number; // a tombstone's is never undefined
  e.consumedRow = consumedRow;
  if (consumedRow) consumedRow.live++;
}
