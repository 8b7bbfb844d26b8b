// An artifact in the memory index, and how one is made from an upsert record.
import { ownersOf } from '../../owners.ts';
import type { Row } from './rows.ts';

/**
 * An artifact in the index. Its payload comes from what it has cached, or else from its row. Entries
 * are the values of every map: no (model, id) string key is built and hashed on each call.
 */
export interface Entry {
  model: string;
  id: string;
  row: Row; // the commit row holding the current upsert record
  start: number; // where its record is in the row, in bytes (-1 until its commit)
  end: number;
  exp: number; // epoch ms; Infinity = no expiry
  grantId?: string; // the grant group's own string (one per grant, however many artifacts carry it)
  uid?: string;
  userCode?: string;
  // Only on the models an account owns (OWNED_MODELS, ../../owners.ts; never tokens, so the token path
  // pays nothing): the account(s) it belongs to, and its browser session (uid) for revokeAccount's keepSessionUid.
  accountId?: string;
  loginAccountId?: string; // an Interaction whose login result names another account than its session
  sessionUid?: string;
  consumed?: number; // epoch seconds
  consumedRow?: Row; // the row holding the consumption record
  /**
   * Until its commit, the upsert record (the row doesn't exist yet). Else, while the entry is among the
   * recently read: the record as read from its row, or, once read twice, its payload as parsed (a copy is
   * cheaper than a parse: measured ~0.8 against ~1.6 µs).
   */
  cached?: string | Record<string, unknown>;
  cachedIn?: number; // the cache generation that holds it
  readBefore: boolean;
}

const str = (v: unknown) => (typeof v === 'string' && v.length ? v : undefined);

/** The index entry for an upsert record (the record's own `consumed`, if it has one, counts as consumed). */
export function entryFor(model: string, id: string, row: Row, start: number, end: number, exp: number | null, payload: Record<string, unknown>): Entry {
  // Every field set here, so that all entries share one shape.
  return {
    model, id, row, start, end, exp: exp ?? Infinity,
    grantId: str(payload.grantId), uid: str(payload.uid), userCode: str(payload.userCode),
    accountId: undefined, loginAccountId: undefined, sessionUid: undefined,
    consumed: typeof payload.consumed === 'number' ? payload.consumed : undefined, consumedRow: undefined,
    cached: undefined, cachedIn: undefined, readBefore: false,
  };
}

/** Sets who owns an artifact of OWNED_MODELS (../../owners.ts) on its entry. */
export function setOwners(e: Entry, payload: Record<string, unknown>): void {
  const { accountIds, sessionUid } = ownersOf(e.model, payload);
  e.accountId = accountIds[0];
  e.loginAccountId = accountIds[1];
  e.sessionUid = sessionUid;
}
