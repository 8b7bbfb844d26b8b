// One contract for the store port (src/store/ports.ts), run against both adapters: SQLite in a temp
// file and MongoDB through mongoose (over the MongoDB-wire test server unless MONGODB_URI is set).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RateLimiterRes } from 'rate-limiter-flexible';
import Database from 'libsql';
import mongoose from 'mongoose';
import { StoreConflictError, type AccountRecord, type ChallengeRecord, type FactorRecord, type Store } from '../../src/store/ports.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { instrumentStore } from '../../src/ops/store-metrics.ts';
import { Metrics } from '../../src/ops/metrics.ts';
import { factorData, factorOf, newFactor } from '../../src/factors/records.ts';
import {
  dropMongoDatabase,
  mongoUriWithDatabase,
  startMongoTestServer,
  testDatabaseName,
  type MongoTestServer,
} from '../support/mongo-test-server.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ago = (ms: number) => new Date(Date.now() - ms);
const fromNow = (ms: number) => new Date(Date.now() + ms);

/** SMS, an authenticator app (last used at step 100) and recovery codes, as the factor records keep them. */
function factorList(opts: { codes?: string[]; totp?: boolean } = {}): FactorRecord[] {
  const at = ago(2 * HOUR);
  const list: FactorRecord[] = [{ id: `sms-${randomUUID()}`, type: 'sms', createdAt: at, lastUsedAt: null, data: {} }];
  if (opts.totp !== false)
    list.push({ id: `totp-${randomUUID()}`, type: 'totp', createdAt: at, lastUsedAt: ago(MINUTE), data: { secret: 'v1.iv.ciphertext.tag', lastStep: 100, label: 'My phone' } });
  list.push({ id: `rec-${randomUUID()}`, type: 'recovery', createdAt: at, lastUsedAt: null, data: { codes: opts.codes ?? ['h1', 'h2', 'h3'] } });
  return list;
}

const codesOf = (a: AccountRecord | null) => factorData(a!.factors, 'recovery')?.codes;
const lastStepOf = (a: AccountRecord | null) => factorData(a!.factors, 'totp')?.lastStep;

/** An account as a version before factor records stored it: `mfa` and `recoveryCodes`, no `factors`. */
interface LegacyAccount {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  passwordHash: string;
  phoneNumber: string | null;
  phoneNumberVerified: boolean;
  mfa: string[];
  recoveryCodes: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** What the migration test needs beyond the port: writing and reading the stored documents as they are. */
interface RawAccess {
  insertLegacyAccount(store: Store, doc: LegacyAccount): Promise<void>;
  /** The stored document (SQLite: the doc column parsed; MongoDB: the collection's document). */
  storedAccount(store: Store, id: string): Promise<Record<string, unknown> | null>;
  /** Closes the store and opens the same data again (the migration runs at open). */
  reopen(store: Store): Promise<Store>;
  /** A key row / document as versions before compare-and-set wrote it (no version). */
  insertLegacyKey(store: Store, name: string, value: unknown): Promise<void>;
}

function account(over: Partial<AccountRecord> = {}): AccountRecord {
  const id = over.id ?? randomUUID();
  const at = ago(HOUR);
  return {
    id,
    email: `${id.slice(0, 8)}@example.test`,
    emailVerified: false,
    name: 'Ada Lovelace',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    phoneNumber: '+447700900123',
    phoneNumberVerified: true,
    factors: factorList(),
    preferredMfa: 'totp',
    roles: [],
    disabled: false,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

function challenge(over: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return {
    id: randomUUID(),
    purpose: 'sms-login',
    accountId: 'acct-1',
    channel: 'sms',
    destination: '+447700900123',
    codeHash: 'hmac-of-code',
    attempts: 0,
    maxAttempts: 3,
    sends: 1,
    lastSentAt: ago(MINUTE),
    expiresAt: fromNow(10 * MINUTE),
    consumedAt: null,
    createdAt: ago(MINUTE),
    context: 'interaction-1',
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

function describeStoreContract(
  name: string,
  open: () => Promise<Store>,
  cleanup: (store: Store) => Promise<void>,
  /** Closes the store and opens the same data again (the embedded store: a restart replays its log). */
  reopen: ((store: Store) => Promise<Store>) | undefined,
  raw: RawAccess,
) {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await cleanup(store);
    });

    describe('accounts', () => {
      it('creates and finds by id and by email, with Dates and plain arrays', async () => {
        const a = account();
        await store.accounts.create(a);
        const byId = await store.accounts.findById(a.id);
        expect(byId).toEqual(a);
        expect(byId!.createdAt).toBeInstanceOf(Date);
        expect(Object.getPrototypeOf(byId!.factors)).toBe(Array.prototype);
        expect(Object.getPrototypeOf(codesOf(byId))).toBe(Array.prototype);
        expect(await store.accounts.findByEmail(a.email)).toEqual(a);
        expect(await store.accounts.findById('nobody')).toBeNull();
        expect(await store.accounts.findByEmail('nobody@example.test')).toBeNull();
      });

      it('gives a read-only view by id that a caller cannot change under other readers', async () => {
        const a = account();
        await store.accounts.create(a);
        const view = await store.accounts.viewById(a.id);
        expect(view).toEqual(a);
        expect(await store.accounts.viewById('nobody')).toBeNull();
        // A view may be shared (the embedded store's cache): then it is frozen through and through, and
        // changing it throws. Otherwise it is the caller's own copy, and changing it changes nothing stored.
        const mutable = view as AccountRecord;
        const codes = factorOf(mutable.factors, 'recovery')!.data.codes as string[];
        if (Object.isFrozen(view)) {
          expect(Object.isFrozen(view!.factors)).toBe(true);
          expect(Object.isFrozen(codes)).toBe(true);
          expect(() => codes.push('tampered')).toThrow(TypeError);
          expect(() => mutable.factors.pop()).toThrow(TypeError);
          expect(() => {
            mutable.name = 'tampered';
          }).toThrow(TypeError);
        } else {
          codes.push('tampered');
          mutable.factors.shift();
          mutable.name = 'tampered';
        }
        expect(await store.accounts.findById(a.id)).toEqual(a);
        expect(await store.accounts.viewById(a.id)).toEqual(a);
      });

      it('rejects a taken email or id with StoreConflictError', async () => {
        const a = account();
        await store.accounts.create(a);
        const byEmail = await rejection(store.accounts.create(account({ email: a.email })));
        expect(byEmail).toBeInstanceOf(StoreConflictError);
        const byId = await rejection(store.accounts.create(account({ id: a.id, email: 'other@example.test' })));
        expect(byId).toBeInstanceOf(StoreConflictError);
        expect(await store.accounts.findByEmail('other@example.test')).toBeNull();
        expect(await store.accounts.list()).toHaveLength(1);
      });

      it('updates: applies the patch, bumps updatedAt, keeps id and createdAt', async () => {
        const a = account();
        await store.accounts.create(a);
        const email = newFactor('email', {}, () => 'f-email', ago(MINUTE));
        const next = await store.accounts.update(a.id, {
          email: 'new@example.test',
          emailVerified: true,
          phoneNumber: null,
          phoneNumberVerified: false,
          factors: [email],
          preferredMfa: 'email',
        });
        expect(next).not.toBeNull();
        expect(next!.id).toBe(a.id);
        expect(next!.createdAt.getTime()).toBe(a.createdAt.getTime());
        expect(next!.updatedAt.getTime()).toBeGreaterThan(a.updatedAt.getTime());
        expect(next).toMatchObject({ email: 'new@example.test', emailVerified: true, phoneNumber: null, factors: [email], preferredMfa: 'email' });
        expect(next!.name).toBe(a.name);
        expect(next!.factors[0].createdAt).toBeInstanceOf(Date);
        expect(await store.accounts.findById(a.id)).toEqual(next);
        expect(await store.accounts.viewById(a.id)).toEqual(next); // a cached view is never stale
        expect(await store.accounts.findByEmail('new@example.test')).toEqual(next);
        expect(await store.accounts.findByEmail(a.email)).toBeNull();
        const renamed = await store.accounts.update(a.id, { name: 'Renamed' }); // a patch without factors keeps them
        expect(renamed).toMatchObject({ name: 'Renamed', factors: [email], preferredMfa: 'email' });
        expect(await store.accounts.findById(a.id)).toEqual(renamed);
        expect(await store.accounts.update('nobody', { name: 'x' })).toBeNull();
      });

      it('refuses to update to a taken email and leaves the record unchanged', async () => {
        const a = account();
        const b = account();
        await store.accounts.create(a);
        await store.accounts.create(b);
        expect(await rejection(store.accounts.update(b.id, { email: a.email, name: 'Changed' }))).toBeInstanceOf(
          StoreConflictError,
        );
        expect(await store.accounts.findById(b.id)).toEqual(b);
        expect((await store.accounts.findByEmail(a.email))!.id).toBe(a.id);
      });

      it('keeps the account\'s language: set at creation, changed by update, absent when never chosen', async () => {
        const spanish = account({ locale: 'es' });
        await store.accounts.create(spanish);
        for (const read of [await store.accounts.findById(spanish.id), await store.accounts.findByEmail(spanish.email), await store.accounts.viewById(spanish.id)]) {
          expect(read!.locale).toBe('es');
        }
        expect((await store.accounts.update(spanish.id, { locale: 'fr' }))!.locale).toBe('fr');
        expect((await store.accounts.findById(spanish.id))!.locale).toBe('fr');
        const unset = account();
        await store.accounts.create(unset);
        expect((await store.accounts.findById(unset.id))!.locale ?? null).toBeNull();
        expect((await store.accounts.update(unset.id, { locale: 'de' }))!.locale).toBe('de');
        expect((await store.accounts.findById(unset.id))!.locale).toBe('de');
      });

      it('keeps factor records: types, Dates revived, each factor\'s data as it was', async () => {
        const a = account({ factors: factorList({ codes: ['c1', 'c2'] }), preferredMfa: 'sms' });
        await store.accounts.create(a);
        for (const read of [await store.accounts.findById(a.id), await store.accounts.findByEmail(a.email), (await store.accounts.list())[0]]) {
          expect(read!.factors).toEqual(a.factors);
          expect(read!.factors.map((f) => f.type)).toEqual(['sms', 'totp', 'recovery']);
          for (const f of read!.factors) expect(f.createdAt).toBeInstanceOf(Date);
          expect(factorOf(read!.factors, 'totp')!.lastUsedAt).toBeInstanceOf(Date);
          expect(factorOf(read!.factors, 'sms')!.lastUsedAt).toBeNull();
          expect(factorData(read!.factors, 'totp')).toEqual({ secret: 'v1.iv.ciphertext.tag', lastStep: 100, label: 'My phone' });
          expect(codesOf(read)).toEqual(['c1', 'c2']);
          expect(read!.preferredMfa).toBe('sms');
        }
        const none = account({ factors: [], preferredMfa: null });
        await store.accounts.create(none);
        expect(await store.accounts.findById(none.id)).toMatchObject({ factors: [], preferredMfa: null });
      });

      it('uses a recovery code once, inside the recovery factor', async () => {
        const a = account({ factors: factorList({ codes: ['h1', 'h2', 'h3'] }) });
        await store.accounts.create(a);
        const before = Date.now();
        expect(await store.accounts.useRecoveryCode(a.id, 'h2')).toBe(true);
        expect(await store.accounts.useRecoveryCode(a.id, 'h2')).toBe(false);
        expect(await store.accounts.useRecoveryCode(a.id, 'nope')).toBe(false);
        expect(await store.accounts.useRecoveryCode('nobody', 'h1')).toBe(false);
        const after = await store.accounts.findById(a.id);
        expect(codesOf(after)).toEqual(['h1', 'h3']);
        const recovery = factorOf(after!.factors, 'recovery')!;
        expect(recovery.id).toBe(factorOf(a.factors, 'recovery')!.id);
        expect(recovery.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before - 1);
        expect(after!.updatedAt.getTime()).toBeGreaterThan(a.updatedAt.getTime());
        // The other factors are untouched.
        expect(after!.factors.filter((f) => f.type !== 'recovery')).toEqual(a.factors.filter((f) => f.type !== 'recovery'));
        expect(await store.accounts.viewById(a.id)).toEqual(after);
        // A code of no recovery factor (an account without one, or a hash kept elsewhere) is no code.
        const bare = account({ factors: [factorList()[0]] });
        await store.accounts.create(bare);
        expect(await store.accounts.useRecoveryCode(bare.id, 'h1')).toBe(false);
        expect(await store.accounts.findById(bare.id)).toEqual(bare);
      });

      it('lets exactly one of several parallel callers use the same recovery code', async () => {
        const a = account({ factors: factorList({ codes: ['h1', 'h2'] }) });
        await store.accounts.create(a);
        const results = await Promise.all(Array.from({ length: 6 }, () => store.accounts.useRecoveryCode(a.id, 'h1')));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(codesOf(await store.accounts.findById(a.id))).toEqual(['h2']);
        // Two different codes at once: both are used, neither write loses the other's.
        const b = account({ factors: factorList({ codes: ['x1', 'x2', 'x3'] }) });
        await store.accounts.create(b);
        expect(await Promise.all([store.accounts.useRecoveryCode(b.id, 'x1'), store.accounts.useRecoveryCode(b.id, 'x3')])).toEqual([true, true]);
        expect(codesOf(await store.accounts.findById(b.id))).toEqual(['x2']);
      });

      it('advances the authenticator step only forwards', async () => {
        const a = account(); // last used at step 100
        await store.accounts.create(a);
        const before = Date.now();
        expect(await store.accounts.advanceTotpStep(a.id, 100)).toBe(false); // the same code again
        expect(await store.accounts.advanceTotpStep(a.id, 99)).toBe(false); // an older one
        expect(await store.accounts.advanceTotpStep(a.id, 101)).toBe(true);
        expect(await store.accounts.advanceTotpStep(a.id, 101)).toBe(false);
        expect(await store.accounts.advanceTotpStep(a.id, 100)).toBe(false);
        expect(await store.accounts.advanceTotpStep(a.id, 103)).toBe(true);
        const after = await store.accounts.findById(a.id);
        expect(lastStepOf(after)).toBe(103);
        const totp = factorOf(after!.factors, 'totp')!;
        expect(totp.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before - 1);
        expect(factorData(after!.factors, 'totp')).toMatchObject({ secret: 'v1.iv.ciphertext.tag', label: 'My phone' });
        expect(after!.factors.filter((f) => f.type !== 'totp')).toEqual(a.factors.filter((f) => f.type !== 'totp'));
        expect(await store.accounts.viewById(a.id)).toEqual(after);
        expect(await store.accounts.advanceTotpStep('nobody', 200)).toBe(false);
      });

      it('refuses to advance the step of an account without an authenticator', async () => {
        const a = account({ factors: factorList({ totp: false }) });
        await store.accounts.create(a);
        expect(await store.accounts.advanceTotpStep(a.id, 1)).toBe(false);
        expect(await store.accounts.advanceTotpStep(a.id, 10_000_000)).toBe(false);
        expect(await store.accounts.findById(a.id)).toEqual(a);
      });

      it('lets exactly one of several parallel uses of the same authenticator step win', async () => {
        const a = account();
        await store.accounts.create(a);
        const results = await Promise.all(Array.from({ length: 6 }, () => store.accounts.advanceTotpStep(a.id, 150)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(lastStepOf(await store.accounts.findById(a.id))).toBe(150);
        // A recovery code used at the same moment is not lost by the step's write, nor the step by the code's.
        const both = await Promise.all([store.accounts.advanceTotpStep(a.id, 151), store.accounts.useRecoveryCode(a.id, 'h1')]);
        expect(both).toEqual([true, true]);
        const after = await store.accounts.findById(a.id);
        expect(lastStepOf(after)).toBe(151);
        expect(codesOf(after)).toEqual(['h2', 'h3']);
      });

      it('keeps what else the recovery factor holds when a code is used (the data key it was made under)', async () => {
        const a = account({ factors: factorList({ codes: ['h1', 'h2'] }) });
        a.factors = a.factors.map((f) => (f.type === 'recovery' ? { ...f, data: { ...f.data, key: 'k-current' } } : f));
        await store.accounts.create(a);
        expect(await store.accounts.useRecoveryCode(a.id, 'h1')).toBe(true);
        expect(factorOf((await store.accounts.findById(a.id))!.factors, 'recovery')!.data).toEqual({ codes: ['h2'], key: 'k-current' });
      });

      it('replaces the authenticator secret only while it is still the one re-encrypted', async () => {
        const a = account(); // secret 'v1.iv.ciphertext.tag', last step 100
        await store.accounts.create(a);
        expect(await store.accounts.replaceTotpSecret(a.id, 'v1.other', 'v1.new')).toBe(false);
        expect(await store.accounts.replaceTotpSecret('nobody', 'v1.iv.ciphertext.tag', 'v1.new')).toBe(false);
        expect(await store.accounts.replaceTotpSecret(a.id, 'v1.iv.ciphertext.tag', 'v1.new')).toBe(true);
        const after = await store.accounts.findById(a.id);
        expect(factorData(after!.factors, 'totp')).toEqual({ secret: 'v1.new', lastStep: 100, label: 'My phone' });
        const totp = factorOf(after!.factors, 'totp')!;
        expect({ ...totp, data: {} }).toEqual({ ...factorOf(a.factors, 'totp')!, data: {} });
        expect(after!.factors.filter((f) => f.type !== 'totp')).toEqual(a.factors.filter((f) => f.type !== 'totp'));
        expect(await store.accounts.viewById(a.id)).toEqual(after);
        // A second re-encryption from the old ciphertext lost the race: it changes nothing.
        expect(await store.accounts.replaceTotpSecret(a.id, 'v1.iv.ciphertext.tag', 'v1.newer')).toBe(false);
        // A step used meanwhile and the swap both stay.
        expect(await Promise.all([store.accounts.advanceTotpStep(a.id, 101), store.accounts.replaceTotpSecret(a.id, 'v1.new', 'v1.third')])).toEqual([true, true]);
        expect(factorData((await store.accounts.findById(a.id))!.factors, 'totp')).toMatchObject({ secret: 'v1.third', lastStep: 101 });
        const none = account({ factors: factorList({ totp: false }) });
        await store.accounts.create(none);
        expect(await store.accounts.replaceTotpSecret(none.id, 'v1.iv.ciphertext.tag', 'v1.new')).toBe(false);
      });

      it('migrates accounts stored before factor records when it opens', async () => {
        const at = ago(30 * 24 * HOUR);
        const changed = ago(24 * HOUR);
        const legacy = (over: Partial<LegacyAccount>): LegacyAccount => {
          const id = over.id ?? randomUUID();
          return {
            id, email: `${id.slice(0, 8)}@legacy.test`, emailVerified: true, name: 'Old Timer', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
            phoneNumber: '+447700900123', phoneNumberVerified: true, mfa: [], recoveryCodes: [], createdAt: at, updatedAt: changed, ...over,
          };
        };
        const withSms = legacy({ mfa: ['sms'], recoveryCodes: ['hash-a', 'hash-b', 'hash-c'] });
        const smsOnly = legacy({ mfa: ['sms'], recoveryCodes: [] });
        const without = legacy({ phoneNumber: null, phoneNumberVerified: false });
        for (const d of [withSms, smsOnly, without]) await raw.insertLegacyAccount(store, d);
        const current = account();
        await store.accounts.create(current);
        // Written as the old version wrote it.
        expect(await raw.storedAccount(store, withSms.id)).toMatchObject({ mfa: ['sms'], recoveryCodes: ['hash-a', 'hash-b', 'hash-c'] });
        expect(await raw.storedAccount(store, withSms.id)).not.toHaveProperty('factors');

        store = await raw.reopen(store);

        const migrated = await store.accounts.findById(withSms.id);
        expect(migrated).toMatchObject({ id: withSms.id, email: withSms.email, phoneNumber: '+447700900123', phoneNumberVerified: true, preferredMfa: null });
        expect(migrated!.createdAt.getTime()).toBe(at.getTime());
        expect(migrated!.factors.map((f) => f.type)).toEqual(['sms', 'recovery']);
        expect(factorData(migrated!.factors, 'sms')).toEqual({});
        expect(codesOf(migrated)).toEqual(['hash-a', 'hash-b', 'hash-c']);
        for (const f of migrated!.factors) {
          expect(f.id).toEqual(expect.any(String));
          expect(f.createdAt).toBeInstanceOf(Date);
          expect(f.lastUsedAt).toBeNull();
        }
        expect(migrated).not.toHaveProperty('mfa');
        expect(migrated).not.toHaveProperty('recoveryCodes');
        expect((await store.accounts.findById(smsOnly.id))!.factors.map((f) => f.type)).toEqual(['sms']);
        expect(await store.accounts.findById(without.id)).toMatchObject({ factors: [], preferredMfa: null });
        expect(await store.accounts.findById(current.id)).toEqual(current); // already in the new shape: untouched

        // Rewritten in the store, not only read in the new shape: the legacy fields are gone.
        for (const d of [withSms, smsOnly, without]) {
          const stored = await raw.storedAccount(store, d.id);
          expect(stored, d.id).not.toHaveProperty('mfa');
          expect(stored, d.id).not.toHaveProperty('recoveryCodes');
          expect(Array.isArray(stored!.factors), d.id).toBe(true);
        }
        expect((await raw.storedAccount(store, withSms.id))!.factors).toHaveLength(2);

        // Once: opening again changes nothing (the same factor ids).
        store = await raw.reopen(store);
        expect((await store.accounts.findById(withSms.id))!.factors).toEqual(migrated!.factors);

        // The migrated codes work, once each.
        expect(await store.accounts.useRecoveryCode(withSms.id, 'hash-b')).toBe(true);
        expect(await store.accounts.useRecoveryCode(withSms.id, 'hash-b')).toBe(false);
        expect(codesOf(await store.accounts.findById(withSms.id))).toEqual(['hash-a', 'hash-c']);
        expect(await store.accounts.useRecoveryCode(smsOnly.id, 'hash-a')).toBe(false);
      });

      it('lists in creation order with limit and offset', async () => {
        const t = Date.now() - 10 * HOUR;
        const second = account({ createdAt: new Date(t + 2000), updatedAt: new Date(t + 2000) });
        const first = account({ createdAt: new Date(t + 1000), updatedAt: new Date(t + 1000) });
        const third = account({ createdAt: new Date(t + 3000), updatedAt: new Date(t + 3000) });
        for (const a of [second, third, first]) await store.accounts.create(a);
        expect((await store.accounts.list()).map((a) => a.id)).toEqual([first.id, second.id, third.id]);
        expect((await store.accounts.list({ limit: 2 })).map((a) => a.id)).toEqual([first.id, second.id]);
        expect((await store.accounts.list({ limit: 2, offset: 2 })).map((a) => a.id)).toEqual([third.id]);
        expect(await store.accounts.list({ offset: 3 })).toEqual([]);
        expect((await store.accounts.list())[0]).toEqual(first);
      });

      it('searches email and name (any case, wildcards as typed) and phone digits, in creation order, with a limit', async () => {
        const t = Date.now() - 10 * HOUR;
        const at = (n: number) => ({ createdAt: new Date(t + n * 1000), updatedAt: new Date(t + n * 1000) });
        const ada = account({ ...at(1), email: 'ada.lovelace@example.test', name: 'Ada Lovelace', phoneNumber: '+447700900123' });
        const grace = account({ ...at(2), email: 'grace@navy.example', name: 'Grace Hopper', phoneNumber: '+12015550142' });
        const pct = account({ ...at(3), email: 'percent_sign@example.test', name: '100% Sure (test)', phoneNumber: null, phoneNumberVerified: false });
        for (const a of [pct, grace, ada]) await store.accounts.create(a);
        const ids = async (text: string, limit?: number) => (await store.accounts.search(text, limit ? { limit } : undefined)).map((a) => a.id);
        expect(await ids('LOVELACE')).toEqual([ada.id]); // the name, any case
        expect(await ids('Navy.Example')).toEqual([grace.id]); // the email
        expect(await ids('example')).toEqual([ada.id, grace.id, pct.id]); // creation order
        expect(await ids('example', 2)).toEqual([ada.id, grace.id]);
        expect(await ids('+1 (201) 555-0142')).toEqual([grace.id]); // the digits of a phone number
        expect(await ids('0900123')).toEqual([ada.id]);
        expect(await ids('100%')).toEqual([pct.id]); // no wildcards: % and _ and regex characters as typed
        expect(await ids('a_l')).toEqual([]); // (LIKE would read "_" as any character: ada.lovelace)
        expect(await ids('t_s')).toEqual([pct.id]);
        expect(await ids('(test)')).toEqual([pct.id]);
        expect(await ids('.*')).toEqual([]);
        expect(await ids('   ')).toEqual([]);
        expect((await store.accounts.search('grace'))[0]).toEqual(grace);
      });

      it('deletes, and frees the email', async () => {
        const a = account();
        await store.accounts.create(a);
        expect(await store.accounts.delete(a.id)).toBe(true);
        expect(await store.accounts.delete(a.id)).toBe(false);
        expect(await store.accounts.findById(a.id)).toBeNull();
        expect(await store.accounts.findByEmail(a.email)).toBeNull();
        await store.accounts.create(account({ email: a.email }));
        expect(await store.accounts.findByEmail(a.email)).not.toBeNull();
      });
    });

    describe('clients', () => {
      const client = (clientId: string, createdAt = ago(HOUR)) => ({
        clientId,
        metadata: {
          redirect_uris: ['https://rp.example/cb', 'https://rp.example/cb2'],
          grant_types: ['authorization_code', 'refresh_token'],
          token_endpoint_auth_method: 'client_secret_basic',
          tessera_min_acr: 'urn:tessera:acr:mfa',
          nested: { a: { b: [1, 2, { c: null }] }, empty: {} },
        },
        secretEncrypted: 'v1.iv.ciphertext.tag',
        createdAt,
        updatedAt: createdAt,
      });

      it('creates, finds, lists and rejects a duplicate client_id', async () => {
        const c = client('rp-1');
        await store.clients.create(c);
        expect(await store.clients.find('rp-1')).toEqual(c);
        expect(await store.clients.find('rp-unknown')).toBeNull();
        expect(await rejection(store.clients.create(client('rp-1')))).toBeInstanceOf(StoreConflictError);
        const pub = { ...client('rp-0', ago(2 * HOUR)), secretEncrypted: null, metadata: {} };
        await store.clients.create(pub);
        expect(await store.clients.list()).toEqual([pub, c]);
      });

      it('updates metadata and secret independently and deletes', async () => {
        const c = client('rp-2');
        await store.clients.create(c);
        const m = await store.clients.update('rp-2', { metadata: { redirect_uris: ['https://x.example/cb'] } });
        expect(m).toMatchObject({ clientId: 'rp-2', metadata: { redirect_uris: ['https://x.example/cb'] }, secretEncrypted: c.secretEncrypted });
        expect(m!.metadata).not.toHaveProperty('grant_types');
        expect(m!.updatedAt.getTime()).toBeGreaterThan(c.updatedAt.getTime());
        expect(m!.createdAt.getTime()).toBe(c.createdAt.getTime());
        const s = await store.clients.update('rp-2', { secretEncrypted: null });
        expect(s).toMatchObject({ metadata: { redirect_uris: ['https://x.example/cb'] }, secretEncrypted: null });
        expect(await store.clients.find('rp-2')).toEqual(s);
        expect(await store.clients.update('rp-unknown', { secretEncrypted: null })).toBeNull();
        expect(await store.clients.delete('rp-2')).toBe(true);
        expect(await store.clients.delete('rp-2')).toBe(false);
        expect(await store.clients.find('rp-2')).toBeNull();
        expect(await store.clients.list()).toEqual([]);
      });
      it('replaces the encrypted secret only while it is still the one re-encrypted, keeping updatedAt', async () => {
        const c = client('rp-3');
        await store.clients.create(c);
        expect(await store.clients.replaceSecret('rp-3', 'v1.not-it', 'v1.new')).toBe(false);
        expect(await store.clients.replaceSecret('rp-unknown', c.secretEncrypted, 'v1.new')).toBe(false);
        expect(await store.clients.replaceSecret('rp-3', c.secretEncrypted, 'v1.new')).toBe(true);
        expect(await store.clients.find('rp-3')).toEqual({ ...c, secretEncrypted: 'v1.new' });
        // Rotated by an admin meanwhile: the re-encryption of the old one must not bring it back.
        await store.clients.update('rp-3', { secretEncrypted: 'v1.rotated' });
        expect(await store.clients.replaceSecret('rp-3', 'v1.new', 'v1.reencrypted-old')).toBe(false);
        expect((await store.clients.find('rp-3'))!.secretEncrypted).toBe('v1.rotated');
        const pub = { ...client('rp-4'), secretEncrypted: null };
        await store.clients.create(pub);
        expect(await store.clients.replaceSecret('rp-4', 'v1.iv.ciphertext.tag', 'v1.new')).toBe(false);
        expect(await store.clients.find('rp-4')).toEqual(pub);
      });

      it('keeps the previous secret of a rotation with its expiry, and drops it when cleared', async () => {
        const c = client('rp-3');
        await store.clients.create(c);
        const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);
        const rotated = await store.clients.update('rp-3', { secretEncrypted: 'v1.new.secret.tag', previousSecret: { encrypted: c.secretEncrypted, expiresAt } });
        expect(rotated).toMatchObject({ secretEncrypted: 'v1.new.secret.tag', previousSecret: { encrypted: c.secretEncrypted, expiresAt } });
        expect(await store.clients.find('rp-3')).toEqual(rotated);
        // Other changes keep it.
        const renamed = await store.clients.update('rp-3', { metadata: { client_name: 'Renamed' } });
        expect(renamed!.previousSecret).toEqual({ encrypted: c.secretEncrypted, expiresAt });
        const cleared = await store.clients.update('rp-3', { previousSecret: null });
        expect(cleared!.previousSecret ?? null).toBeNull();
        expect((await store.clients.find('rp-3'))!.previousSecret ?? null).toBeNull();
        expect((await store.clients.find('rp-3'))!.secretEncrypted).toBe('v1.new.secret.tag');
        await store.clients.delete('rp-3');
      });
    });

    describe('oidc artifacts', () => {
      const payload = (over: Record<string, unknown> = {}) => ({
        jti: 'x',
        kind: 'AuthorizationCode',
        accountId: 'acct-1',
        claims: { id_token: { acr: { essential: true } } },
        scope: 'openid email',
        grantId: 'grant-1',
        exp: Math.floor(Date.now() / 1000) + 600,
        ...over,
      });

      it('upserts and finds by model and id; replaces on a second upsert', async () => {
        const p = payload();
        await store.oidc.upsert('AuthorizationCode', 'code-1', p, fromNow(10 * MINUTE));
        expect(await store.oidc.find('AuthorizationCode', 'code-1')).toEqual(p);
        expect(await store.oidc.find('RefreshToken', 'code-1')).toBeUndefined();
        expect(await store.oidc.find('AuthorizationCode', 'code-2')).toBeUndefined();
        const p2 = payload({ scope: 'openid', grantId: 'grant-2' });
        await store.oidc.upsert('AuthorizationCode', 'code-1', p2, fromNow(10 * MINUTE));
        expect(await store.oidc.find('AuthorizationCode', 'code-1')).toEqual(p2);
        await store.oidc.revokeByGrantId('grant-1'); // the old grantId no longer refers to it
        expect(await store.oidc.find('AuthorizationCode', 'code-1')).toEqual(p2);
      });

      it('keeps artifacts without expiry and hides expired ones on every read', async () => {
        await store.oidc.upsert('Grant', 'g-forever', { jti: 'g', accountId: 'a' }, null);
        expect(await store.oidc.find('Grant', 'g-forever')).toEqual({ jti: 'g', accountId: 'a' });
        await store.oidc.upsert('Interaction', 'i-old', payload({ uid: 'uid-old' }), ago(1000));
        await store.oidc.upsert('DeviceCode', 'd-old', payload({ userCode: 'OLD-CODE' }), ago(1000));
        expect(await store.oidc.find('Interaction', 'i-old')).toBeUndefined();
        expect(await store.oidc.findByUid('Interaction', 'uid-old')).toBeUndefined();
        expect(await store.oidc.findByUserCode('DeviceCode', 'OLD-CODE')).toBeUndefined();
      });

      it('finds by uid and by user code within the model', async () => {
        const s = payload({ uid: 'uid-1', kind: 'Session' });
        const d = payload({ userCode: 'ABCD-EFGH', kind: 'DeviceCode' });
        await store.oidc.upsert('Session', 's-1', s, fromNow(HOUR));
        await store.oidc.upsert('DeviceCode', 'd-1', d, fromNow(HOUR));
        expect(await store.oidc.findByUid('Session', 'uid-1')).toEqual(s);
        expect(await store.oidc.findByUid('Interaction', 'uid-1')).toBeUndefined();
        expect(await store.oidc.findByUid('Session', 'uid-2')).toBeUndefined();
        expect(await store.oidc.findByUserCode('DeviceCode', 'ABCD-EFGH')).toEqual(d);
        expect(await store.oidc.findByUserCode('Session', 'ABCD-EFGH')).toBeUndefined();
      });

      it('consumes (payload.consumed in epoch seconds) and destroys', async () => {
        const p = payload();
        await store.oidc.upsert('AuthorizationCode', 'c-1', p, fromNow(HOUR));
        const before = Math.floor(Date.now() / 1000);
        await store.oidc.consume('AuthorizationCode', 'c-1');
        const after = Math.ceil(Date.now() / 1000);
        const consumed = await store.oidc.find('AuthorizationCode', 'c-1');
        expect(consumed).toMatchObject(p);
        expect(typeof consumed!.consumed).toBe('number');
        expect(consumed!.consumed).toBeGreaterThanOrEqual(before);
        expect(consumed!.consumed).toBeLessThanOrEqual(after);
        await store.oidc.destroy('AuthorizationCode', 'c-1');
        expect(await store.oidc.find('AuthorizationCode', 'c-1')).toBeUndefined();
        await store.oidc.destroy('AuthorizationCode', 'c-1'); // idempotent
      });

      it('revokes every artifact of any model carrying a grantId', async () => {
        await store.oidc.upsert('AuthorizationCode', 'c-1', payload({ grantId: 'g-1' }), fromNow(HOUR));
        await store.oidc.upsert('AccessToken', 'at-1', payload({ grantId: 'g-1' }), fromNow(HOUR));
        await store.oidc.upsert('RefreshToken', 'rt-1', payload({ grantId: 'g-1' }), null);
        await store.oidc.upsert('RefreshToken', 'rt-2', payload({ grantId: 'g-2' }), fromNow(HOUR));
        await store.oidc.upsert('Session', 's-1', { uid: 'u' }, fromNow(HOUR));
        await store.oidc.revokeByGrantId('g-1');
        expect(await store.oidc.find('AuthorizationCode', 'c-1')).toBeUndefined();
        expect(await store.oidc.find('AccessToken', 'at-1')).toBeUndefined();
        expect(await store.oidc.find('RefreshToken', 'rt-1')).toBeUndefined();
        expect(await store.oidc.find('RefreshToken', 'rt-2')).toBeDefined();
        expect(await store.oidc.find('Session', 's-1')).toEqual({ uid: 'u' });
      });

      it('findByAccount lists one account\'s current sessions or grants, nobody else\'s, nothing expired', async () => {
        const put = (model: string, id: string, p: Record<string, unknown>, exp: Date | null = fromNow(HOUR)) => store.oidc.upsert(model, id, { jti: id, ...p }, exp);
        await Promise.all([
          put('Session', 's-1', { uid: 'b-1', accountId: 'acct-l', loginTs: 1 }),
          put('Session', 's-2', { uid: 'b-2', accountId: 'acct-l', loginTs: 2 }),
          put('Session', 's-old', { uid: 'b-old', accountId: 'acct-l' }, ago(1000)),
          put('Session', 's-x', { uid: 'b-x', accountId: 'acct-other' }),
          put('Grant', 'g-1', { accountId: 'acct-l', clientId: 'rp' }, null),
          put('Grant', 'g-x', { accountId: 'acct-other', clientId: 'rp' }),
          put('AccessToken', 'at-1', { accountId: 'acct-l', grantId: 'g-1' }),
        ]);
        const uids = (await store.oidc.findByAccount('Session', 'acct-l')).map((p) => p.uid).sort();
        expect(uids).toEqual(['b-1', 'b-2']);
        expect((await store.oidc.findByAccount('Grant', 'acct-l')).map((p) => p.jti)).toEqual(['g-1']);
        await store.oidc.destroy('Session', 's-1');
        expect((await store.oidc.findByAccount('Session', 'acct-l')).map((p) => p.uid)).toEqual(['b-2']);
        expect(await store.oidc.findByAccount('Grant', 'nobody')).toEqual([]);
      });

      it('finds the current artifacts of one model by grantId, consumed ones included', async () => {
        await store.oidc.upsert('RefreshToken', 'rt-a', payload({ grantId: 'g-f', rotations: 1 }), fromNow(HOUR));
        await store.oidc.upsert('RefreshToken', 'rt-b', payload({ grantId: 'g-f', rotations: 2 }), null);
        await store.oidc.upsert('RefreshToken', 'rt-old', payload({ grantId: 'g-f' }), ago(1000));
        await store.oidc.upsert('RefreshToken', 'rt-other', payload({ grantId: 'g-other' }), fromNow(HOUR));
        await store.oidc.upsert('AccessToken', 'at-f', payload({ grantId: 'g-f' }), fromNow(HOUR));
        await store.oidc.consume('RefreshToken', 'rt-a');
        const found = await store.oidc.findByGrantId('RefreshToken', 'g-f');
        expect(found.map((p) => p.rotations).sort()).toEqual([1, 2]);
        expect(typeof found.find((p) => p.rotations === 1)!.consumed).toBe('number');
        expect(found.find((p) => p.rotations === 2)!.consumed).toBeUndefined();
        expect(await store.oidc.findByGrantId('RefreshToken', 'g-none')).toEqual([]);
        if (reopen) {
          store = await reopen(store); // the embedded store's grant index is rebuilt from its log
          expect((await store.oidc.findByGrantId('RefreshToken', 'g-f')).map((p) => [p.rotations, typeof p.consumed]).sort()).toEqual([[1, 'number'], [2, 'undefined']]);
        }
        await store.oidc.revokeByGrantId('g-f');
        expect(await store.oidc.findByGrantId('RefreshToken', 'g-f')).toEqual([]);
      });

      it('revokeAccount ends the sessions (but the kept one), grants with their tokens, pending sign-ins and interactions of one account', async () => {
        const later = fromNow(HOUR);
        const put = (model: string, id: string, p: Record<string, unknown>, exp: Date | null = later) => store.oidc.upsert(model, id, { jti: id, ...p }, exp);
        // Signed in as A once, then signed out (below): no longer A's.
        await put('Session', 's-out', { uid: 'browser-out', accountId: 'acct-a' });
        // Written together (in the embedded store: one commit row, so a removal must be a record of its own,
        // not the row's deletion).
        await Promise.all([
          // Account A: three browsers (one to keep), one expired session, two grants with their tokens.
          put('Session', 's-keep', { uid: 'browser-keep', accountId: 'acct-a', authorizations: { rp: { grantId: 'g-a1' } } }),
          put('Session', 's-other', { uid: 'browser-other', accountId: 'acct-a' }),
          put('Session', 's-old', { uid: 'browser-old', accountId: 'acct-a' }, ago(1000)),
          put('Session', 's-out', { uid: 'browser-out' }),
          put('Grant', 'g-a1', { accountId: 'acct-a', clientId: 'rp' }, null),
          put('Grant', 'g-a2', { accountId: 'acct-a', clientId: 'rp2' }),
          put('AccessToken', 'at-a1', { accountId: 'acct-a', grantId: 'g-a1' }),
          put('RefreshToken', 'rt-a1', { accountId: 'acct-a', grantId: 'g-a1' }, null),
          put('RefreshToken', 'rt-a2', { accountId: 'acct-a', grantId: 'g-a2' }),
          put('AuthorizationCode', 'code-a2', { accountId: 'acct-a', grantId: 'g-a2' }),
          put('TesseraLogin', 'ix-pending', { accountId: 'acct-a', amr: ['pwd'] }),
          put('Interaction', 'ix-pending', { session: { accountId: 'acct-a', uid: 'browser-other', cookie: 's-other' } }),
          put('Interaction', 'ix-fresh', { result: { login: { accountId: 'acct-a', amr: ['pwd'] } } }),
          put('Interaction', 'ix-switch', { session: { accountId: 'acct-b', uid: 'browser-b' }, result: { login: { accountId: 'acct-a' } } }),
          put('Interaction', 'ix-keep', { session: { accountId: 'acct-a', uid: 'browser-keep' } }),
          // Account B and artifacts of nobody.
          put('Session', 's-b', { uid: 'browser-b', accountId: 'acct-b' }),
          put('Grant', 'g-b', { accountId: 'acct-b', clientId: 'rp' }),
          put('AccessToken', 'at-b', { accountId: 'acct-b', grantId: 'g-b' }),
          put('RefreshToken', 'rt-b', { accountId: 'acct-b', grantId: 'g-b' }),
          put('TesseraLogin', 'ix-b', { accountId: 'acct-b', amr: [] }),
          put('Interaction', 'ix-b', { session: { accountId: 'acct-b', uid: 'browser-b' } }),
          put('ClientCredentials', 'cc-1', { clientId: 'rp' }),
        ]);

        expect(await store.oidc.revokeAccount('acct-a', { keepSessionUid: 'browser-keep' })).toEqual({ sessions: 1, grants: 2 });

        const gone = [
          ['Session', 's-other'], ['Grant', 'g-a1'], ['Grant', 'g-a2'], ['AccessToken', 'at-a1'], ['RefreshToken', 'rt-a1'],
          ['RefreshToken', 'rt-a2'], ['AuthorizationCode', 'code-a2'], ['TesseraLogin', 'ix-pending'],
          ['Interaction', 'ix-pending'], ['Interaction', 'ix-fresh'], ['Interaction', 'ix-switch'],
        ];
        const kept = [
          ['Session', 's-keep'], ['Interaction', 'ix-keep'], ['Session', 's-out'], ['Session', 's-b'], ['Grant', 'g-b'],
          ['AccessToken', 'at-b'], ['RefreshToken', 'rt-b'], ['TesseraLogin', 'ix-b'], ['Interaction', 'ix-b'], ['ClientCredentials', 'cc-1'],
        ];
        const check = async () => {
          for (const [model, id] of gone) expect(await store.oidc.find(model, id), `${model} ${id}`).toBeUndefined();
          for (const [model, id] of kept) expect(await store.oidc.find(model, id), `${model} ${id}`).toMatchObject({ jti: id });
          expect(await store.oidc.findByUid('Session', 'browser-other')).toBeUndefined();
          expect(await store.oidc.findByUid('Session', 'browser-keep')).toMatchObject({ accountId: 'acct-a' });
        };
        await check();
        if (reopen) {
          store = await reopen(store); // the removals are in the log: a restart doesn't bring anything back
          await check();
        }

        // Without a session to keep, the last one goes too; what is gone isn't counted twice.
        expect(await store.oidc.revokeAccount('acct-a')).toEqual({ sessions: 1, grants: 0 });
        expect(await store.oidc.find('Session', 's-keep')).toBeUndefined();
        expect(await store.oidc.find('Interaction', 'ix-keep')).toBeUndefined();
        expect(await store.oidc.find('Session', 's-b')).toBeDefined();
        expect(await store.oidc.revokeAccount('nobody')).toEqual({ sessions: 0, grants: 0 });
        // A new sign-in of the account afterwards is its own again.
        await put('Session', 's-new', { uid: 'browser-new', accountId: 'acct-a' });
        expect(await store.oidc.revokeAccount('acct-a', { keepSessionUid: 'browser-keep' })).toEqual({ sessions: 1, grants: 0 });
        if (reopen) {
          store = await reopen(store);
          expect(await store.oidc.find('Session', 's-keep')).toBeUndefined();
          expect(await store.oidc.find('Session', 's-new')).toBeUndefined();
          expect(await store.oidc.find('Grant', 'g-b')).toBeDefined();
        }
      });
    });

    describe('challenges', () => {
      it('creates and finds, also when expired or consumed', async () => {
        const c = challenge();
        const expired = challenge({ expiresAt: ago(MINUTE), createdAt: ago(20 * MINUTE), lastSentAt: null, context: null });
        const consumed = challenge({ consumedAt: ago(1000) });
        for (const x of [c, expired, consumed]) await store.challenges.create(x);
        expect(await store.challenges.find(c.id)).toEqual(c);
        expect(await store.challenges.find(expired.id)).toEqual(expired);
        expect(await store.challenges.find(consumed.id)).toEqual(consumed);
        expect((await store.challenges.find(c.id))!.expiresAt).toBeInstanceOf(Date);
        expect(await store.challenges.find('nope')).toBeNull();
      });

      it('findActive returns the newest usable one and ignores consumed, expired and out-of-attempts', async () => {
        const base = { accountId: 'acct-9', purpose: 'sms-login' as const, context: 'ix-1' };
        const older = challenge({ ...base, createdAt: ago(5 * MINUTE) });
        const newer = challenge({ ...base, createdAt: ago(2 * MINUTE) });
        const noise = [
          challenge({ ...base, createdAt: ago(MINUTE), consumedAt: ago(1000) }),
          challenge({ ...base, createdAt: ago(MINUTE), expiresAt: ago(1000) }),
          challenge({ ...base, createdAt: ago(MINUTE), attempts: 3, maxAttempts: 3 }),
          challenge({ ...base, createdAt: ago(MINUTE), context: 'ix-2' }),
          challenge({ ...base, createdAt: ago(MINUTE), purpose: 'sms-enable' }),
          challenge({ ...base, createdAt: ago(MINUTE), accountId: 'acct-8' }),
        ];
        for (const x of [older, newer, ...noise]) await store.challenges.create(x);
        expect(await store.challenges.findActive('acct-9', 'sms-login', 'ix-1')).toEqual(newer);
        expect(await store.challenges.findActive('acct-9', 'sms-login', null)).toBeNull();
        expect(await store.challenges.findActive('acct-9', 'email-login', 'ix-1')).toBeNull();
        const nullCtx = challenge({ accountId: 'acct-9', purpose: 'phone-verify', context: null });
        await store.challenges.create(nullCtx);
        expect(await store.challenges.findActive('acct-9', 'phone-verify', null)).toEqual(nullCtx);
        expect(await store.challenges.findActive('acct-9', 'phone-verify', 'ix-1')).toBeNull();
      });

      it('addAttempt counts wrong answers until consumed', async () => {
        const c = challenge({ maxAttempts: 2 });
        await store.challenges.create(c);
        expect((await store.challenges.addAttempt(c.id))!.attempts).toBe(1);
        const two = await store.challenges.addAttempt(c.id);
        expect(two).toEqual({ ...c, attempts: 2 });
        expect(await store.challenges.findActive(c.accountId, c.purpose, c.context)).toBeNull();
        expect(await store.challenges.consume(c.id, new Date())).toBe(false); // out of attempts
        expect(await store.challenges.addAttempt('nope')).toBeNull();
        const d = challenge();
        await store.challenges.create(d);
        expect(await store.challenges.consume(d.id, new Date())).toBe(true);
        expect(await store.challenges.addAttempt(d.id)).toBeNull();
        expect((await store.challenges.find(d.id))!.attempts).toBe(0);
      });

      it('consumes once only, recording consumedAt', async () => {
        const c = challenge();
        await store.challenges.create(c);
        const now = new Date();
        expect(await store.challenges.consume(c.id, now)).toBe(true);
        expect(await store.challenges.consume(c.id, new Date())).toBe(false);
        expect((await store.challenges.find(c.id))!.consumedAt!.getTime()).toBe(now.getTime());
        expect(await store.challenges.consume('nope', new Date())).toBe(false);
      });

      it('lets exactly one of several parallel consumers win', async () => {
        const c = challenge();
        await store.challenges.create(c);
        const results = await Promise.all(Array.from({ length: 8 }, () => store.challenges.consume(c.id, new Date())));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('refuses to consume after expiry or with attempts used up', async () => {
        const c = challenge({ expiresAt: fromNow(MINUTE) });
        await store.challenges.create(c);
        expect(await store.challenges.consume(c.id, fromNow(2 * MINUTE))).toBe(false);
        expect((await store.challenges.find(c.id))!.consumedAt).toBeNull();
        const expired = challenge({ expiresAt: ago(1000) });
        await store.challenges.create(expired);
        expect(await store.challenges.consume(expired.id, new Date())).toBe(false);
        const spent = challenge({ attempts: 2, maxAttempts: 3 });
        await store.challenges.create(spent);
        await store.challenges.addAttempt(spent.id);
        expect(await store.challenges.consume(spent.id, new Date())).toBe(false);
        expect(await store.challenges.consume(c.id, new Date())).toBe(true); // still valid now
      });

      it('markSent counts deliveries', async () => {
        const c = challenge({ sends: 1, lastSentAt: null });
        await store.challenges.create(c);
        const at = new Date(Date.now() - 5000);
        await store.challenges.markSent(c.id, at);
        await store.challenges.markSent(c.id, at);
        const found = await store.challenges.find(c.id);
        expect(found!.sends).toBe(3);
        expect(found!.lastSentAt!.getTime()).toBe(at.getTime());
      });

      it('markSent with a code hash stores the new hash list (a resend), where the code check reads it', async () => {
        const c = challenge({ codeHash: 'hash-first', sends: 1 });
        await store.challenges.create(c);
        const at = new Date(Date.now() - 5000);
        await store.challenges.markSent(c.id, at, 'hash-first hash-second');
        const found = await store.challenges.find(c.id);
        expect(found).toEqual({ ...c, codeHash: 'hash-first hash-second', sends: 2, lastSentAt: at });
        expect((await store.challenges.findActive(c.accountId, c.purpose, c.context))!.codeHash).toBe('hash-first hash-second');
        await store.challenges.markSent(c.id, at); // a delivery without a new code keeps the list
        expect((await store.challenges.find(c.id))!.codeHash).toBe('hash-first hash-second');
      });

      it('voidOpen consumes every open challenge of (account, purpose) only', async () => {
        const a = challenge({ accountId: 'acct-v', purpose: 'sms-enable', context: null });
        const b = challenge({ accountId: 'acct-v', purpose: 'sms-enable', context: 'x' });
        const otherPurpose = challenge({ accountId: 'acct-v', purpose: 'phone-verify' });
        const otherAccount = challenge({ accountId: 'acct-w', purpose: 'sms-enable' });
        for (const x of [a, b, otherPurpose, otherAccount]) await store.challenges.create(x);
        await store.challenges.voidOpen('acct-v', 'sms-enable');
        expect((await store.challenges.find(a.id))!.consumedAt).toBeInstanceOf(Date);
        expect((await store.challenges.find(b.id))!.consumedAt).toBeInstanceOf(Date);
        expect(await store.challenges.consume(a.id, new Date())).toBe(false);
        expect(await store.challenges.findActive('acct-v', 'sms-enable', 'x')).toBeNull();
        expect((await store.challenges.find(otherPurpose.id))!.consumedAt).toBeNull();
        expect((await store.challenges.find(otherAccount.id))!.consumedAt).toBeNull();
      });
    });

    describe('keys', () => {
      it('creates once and returns the stored value afterwards', async () => {
        let calls = 0;
        const jwks = { keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'k1', x: 'abc', d: 'def' }] };
        expect(await store.keys.getOrCreate('jwks', () => (calls++, jwks))).toEqual(jwks);
        expect(await store.keys.getOrCreate('jwks', () => (calls++, { other: true }))).toEqual(jwks);
        expect(calls).toBe(1);
        expect(await store.keys.getOrCreate('cookie-keys', async () => ['a', 'b'])).toEqual(['a', 'b']);
      });

      it('gives parallel callers the same value', async () => {
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            store.keys.getOrCreate('data-key', async () => {
              await new Promise((r) => setTimeout(r, 5 * (5 - i)));
              return { secret: randomUUID(), i };
            }),
          ),
        );
        for (const r of results) expect(r).toEqual(results[0]);
        expect(await store.keys.getOrCreate('data-key', () => ({ secret: 'late', i: -1 }))).toEqual(results[0]);
      });
    });

    describe('consents', () => {
      it('remembers what an account allowed a client, adds to it, lists, revokes', async () => {
        expect(await store.consents.find('acct-c', 'rp')).toBeNull();
        const first = await store.consents.allow('acct-c', 'rp', ['openid', 'email'], []);
        expect(first.scopes.sort()).toEqual(['email', 'openid']);
        const more = await store.consents.allow('acct-c', 'rp', ['openid', 'profile'], ['nickname']);
        expect(more.scopes.sort()).toEqual(['email', 'openid', 'profile']);
        expect(more.claims).toEqual(['nickname']);
        expect(more.createdAt.getTime()).toBe(first.createdAt.getTime());
        await store.consents.allow('acct-c', 'rp2', ['openid'], []);
        await store.consents.allow('acct-other', 'rp', ['openid'], []);
        expect((await store.consents.listForAccount('acct-c')).map((c) => c.clientId).sort()).toEqual(['rp', 'rp2']);
        expect(await store.consents.revoke('acct-c', 'rp')).toBe(true);
        expect(await store.consents.revoke('acct-c', 'rp')).toBe(false);
        expect(await store.consents.find('acct-c', 'rp')).toBeNull();
        expect(await store.consents.find('acct-other', 'rp')).not.toBeNull();
        expect(await store.consents.deleteForAccount('acct-c')).toBe(1);
        expect(await store.consents.listForAccount('acct-c')).toEqual([]);
      });
    });

    describe('browsers', () => {
      it('keeps the first sighting, refreshes the last, lists per kind without expired ones, forgets', async () => {
        const rec = (id: string, over: Partial<import('../../src/store/ports.ts').BrowserRecord> = {}) => ({
          id, accountId: 'acct-br', kind: 'session' as const, userAgent: 'Firefox', ip: '192.0.2.1',
          createdAt: ago(HOUR), lastSeenAt: ago(HOUR), expiresAt: fromNow(HOUR), ...over,
        });
        await store.browsers.seen(rec('b1'));
        await store.browsers.seen(rec('b1', { createdAt: new Date(), lastSeenAt: ago(MINUTE), ip: '192.0.2.9' }));
        const b1 = await store.browsers.find('b1');
        expect(b1?.ip).toBe('192.0.2.9');
        expect(Math.abs(b1!.createdAt.getTime() - ago(HOUR).getTime())).toBeLessThan(5000);
        await store.browsers.seen(rec('b2', { lastSeenAt: new Date() }));
        await store.browsers.seen(rec('b-old', { expiresAt: ago(1000) }));
        await store.browsers.seen(rec('r1', { kind: 'remembered' }));
        expect((await store.browsers.listForAccount('acct-br', 'session')).map((b) => b.id)).toEqual(['b2', 'b1']);
        expect(await store.browsers.find('b-old')).toBeUndefined();
        expect((await store.browsers.listForAccount('acct-br', 'remembered')).map((b) => b.id)).toEqual(['r1']);
        await store.browsers.delete('b2');
        expect(await store.browsers.find('b2')).toBeUndefined();
        expect(await store.browsers.deleteForAccount('acct-br', 'remembered')).toBe(1);
        expect((await store.browsers.listForAccount('acct-br', 'session')).map((b) => b.id)).toEqual(['b1']);
      });
    });

    describe('keys: compare-and-set', () => {
      it('creates only when absent, then writes only over the version it read', async () => {
        expect(await store.keys.get('jwks')).toBeNull();
        expect(await store.keys.set('jwks', { entries: ['a'] }, 1)).toBe(false); // nothing to update
        expect(await store.keys.set('jwks', { entries: ['a'] }, null)).toBe(true);
        expect(await store.keys.set('jwks', { entries: ['b'] }, null)).toBe(false); // exists now
        const first = await store.keys.get<{ entries: string[] }>('jwks');
        expect(first!.value).toEqual({ entries: ['a'] });
        expect(await store.keys.set('jwks', { entries: ['b', 'a'] }, first!.version)).toBe(true);
        // A writer that read the first version loses: its change would undo the one just made.
        expect(await store.keys.set('jwks', { entries: ['c', 'a'] }, first!.version)).toBe(false);
        const second = await store.keys.get('jwks');
        expect(second).toEqual({ value: { entries: ['b', 'a'] }, version: first!.version + 1 });
        expect(await store.keys.getOrCreate('jwks', () => ({ other: true }))).toEqual({ entries: ['b', 'a'] });
        // A value made by getOrCreate has a version too.
        await store.keys.getOrCreate('cookie-keys', () => ['k1']);
        const cookies = await store.keys.get<string[]>('cookie-keys');
        expect(cookies!.value).toEqual(['k1']);
        expect(await store.keys.set('cookie-keys', ['k2', 'k1'], cookies!.version)).toBe(true);
        expect((await store.keys.get('cookie-keys'))!.value).toEqual(['k2', 'k1']);
      });

      it('lets exactly one of several writers of the same version win', async () => {
        await store.keys.set('data-key', { n: 0 }, null);
        const { version } = (await store.keys.get('data-key'))!;
        const results = await Promise.all(Array.from({ length: 5 }, (_, i) => store.keys.set('data-key', { n: i + 1 }, version)));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true) + 1;
        expect(await store.keys.get('data-key')).toEqual({ value: { n: winner }, version: version + 1 });
        const creators = await Promise.all(Array.from({ length: 4 }, (_, i) => store.keys.set('fresh', { i }, null)));
        expect(creators.filter(Boolean)).toHaveLength(1);
      });

      it('reads and updates a key stored before versions existed', async () => {
        await raw.insertLegacyKey(store, 'jwks', { keys: [{ kid: 'old' }] });
        const legacy = await store.keys.get('jwks');
        expect(legacy!.value).toEqual({ keys: [{ kid: 'old' }] });
        expect(await store.keys.set('jwks', { keys: [{ kid: 'new' }, { kid: 'old' }] }, legacy!.version + 1)).toBe(false);
        expect(await store.keys.set('jwks', { keys: [{ kid: 'new' }, { kid: 'old' }] }, legacy!.version)).toBe(true);
        expect(await store.keys.set('jwks', { keys: [] }, legacy!.version)).toBe(false);
        expect((await store.keys.get('jwks'))!.value).toEqual({ keys: [{ kid: 'new' }, { kid: 'old' }] });
      });
    });

    describe('audit', () => {
      it('records and lists newest first with filters and limit', async () => {
        const t = Date.now() - HOUR;
        await store.audit.record({ at: new Date(t + 1000), type: 'login.failed', accountId: 'a1', ip: '192.0.2.1', detail: { reason: 'password' } });
        await store.audit.record({ at: new Date(t + 2000), type: 'sms.sent', accountId: 'a1', ip: null, detail: { to: '+447700900123' } });
        await store.audit.record({ at: new Date(t + 3000), type: 'login.failed', accountId: 'a2', ip: '192.0.2.2', detail: {} });
        const before = Date.now();
        await store.audit.record({ type: 'sms.refused', accountId: null, ip: null, detail: { nested: { n: 1 } } });
        const all = await store.audit.list();
        expect(all.map((e) => e.type)).toEqual(['sms.refused', 'login.failed', 'sms.sent', 'login.failed']);
        expect(all[0].at).toBeInstanceOf(Date);
        expect(all[0].at.getTime()).toBeGreaterThanOrEqual(before - 1);
        expect(all[0]).toMatchObject({ accountId: null, ip: null, detail: { nested: { n: 1 } } });
        expect(all[3]).toEqual({ at: new Date(t + 1000), type: 'login.failed', accountId: 'a1', ip: '192.0.2.1', detail: { reason: 'password' } });
        expect((await store.audit.list({ type: 'login.failed' })).map((e) => e.accountId)).toEqual(['a2', 'a1']);
        expect((await store.audit.list({ accountId: 'a1' })).map((e) => e.type)).toEqual(['sms.sent', 'login.failed']);
        expect((await store.audit.list({ type: 'login.failed', accountId: 'a1' })).map((e) => e.ip)).toEqual(['192.0.2.1']);
        expect((await store.audit.list({ limit: 2 })).map((e) => e.type)).toEqual(['sms.refused', 'login.failed']);
        expect(await store.audit.list({ type: 'nothing' })).toEqual([]);
      });

      it('orders by event time, not by insertion order', async () => {
        const t = Date.now() - HOUR;
        await store.audit.record({ at: new Date(t + 2000), type: 'b', accountId: null, ip: null, detail: {} });
        await store.audit.record({ at: new Date(t + 1000), type: 'a', accountId: null, ip: null, detail: {} });
        await store.audit.record({ at: new Date(t + 3000), type: 'c', accountId: null, ip: null, detail: {} });
        expect((await store.audit.list()).map((e) => e.type)).toEqual(['c', 'b', 'a']);
      });
    });

    describe('rate limiter', () => {
      it('rejects consumption beyond its points, per key and per prefix', async () => {
        const limiter = store.rateLimiter({ keyPrefix: 'contract-sms', points: 2, duration: 60 });
        const first = await limiter.consume('+447700900123');
        expect(first.remainingPoints).toBe(1);
        expect((await limiter.consume('+447700900123')).remainingPoints).toBe(0);
        const refused = await rejection(limiter.consume('+447700900123'));
        expect(refused).toBeInstanceOf(RateLimiterRes);
        expect((refused as RateLimiterRes).remainingPoints).toBe(0);
        expect((refused as RateLimiterRes).msBeforeNext).toBeGreaterThan(0);
        expect((await limiter.consume('+447700900999')).remainingPoints).toBe(1);
        const other = store.rateLimiter({ keyPrefix: 'contract-login', points: 1, duration: 60 });
        expect((await other.consume('+447700900123')).remainingPoints).toBe(0);
        await expect(other.consume('+447700900123')).rejects.toBeInstanceOf(RateLimiterRes);
      });
    });

    describe('purgeExpired', () => {
      it('deletes artifacts and challenges expired at the given time, and nothing else', async () => {
        const soon = fromNow(HOUR);
        await store.oidc.upsert('AccessToken', 'at-soon', { jti: 'at-soon' }, soon);
        await store.oidc.upsert('AccessToken', 'at-later', { jti: 'at-later' }, fromNow(100 * HOUR));
        await store.oidc.upsert('Grant', 'g-forever', { jti: 'g' }, null);
        const c = challenge({ expiresAt: soon });
        const later = challenge({ expiresAt: fromNow(100 * HOUR) });
        await store.challenges.create(c);
        await store.challenges.create(later);
        await store.purgeExpired(); // nothing has expired yet
        expect(await store.oidc.find('AccessToken', 'at-soon')).toBeDefined();
        expect(await store.challenges.find(c.id)).not.toBeNull();
        // Both expire within the hour; a day and more later (challenge records may be kept for a grace
        // period so the engine can explain why a code stopped working) both are gone.
        await store.purgeExpired(new Date(soon.getTime() + 26 * HOUR));
        expect(await store.oidc.find('AccessToken', 'at-soon')).toBeUndefined();
        expect(await store.challenges.find(c.id)).toBeNull();
        expect(await store.oidc.find('AccessToken', 'at-later')).toEqual({ jti: 'at-later' });
        expect(await store.oidc.find('Grant', 'g-forever')).toEqual({ jti: 'g' });
        expect(await store.challenges.find(later.id)).toEqual(later);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------

const sqliteDirs = new Map<Store, string>();
const sqliteReopen = async (store: Store) => {
  const dir = sqliteDirs.get(store)!;
  await store.close();
  sqliteDirs.delete(store);
  const again = await openSqliteStore({ file: path.join(dir, 'tessera.db') });
  sqliteDirs.set(again, dir);
  return again;
};
/** A second connection to the store's file, as another process (an older version, the CLI) would have. */
function withSqliteFile<T>(store: Store, fn: (db: InstanceType<typeof Database>) => T): T {
  const db = new Database(path.join(sqliteDirs.get(store)!, 'tessera.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
const sqliteRawAccess: Omit<RawAccess, 'reopen'> = {
  async insertLegacyAccount(store, d) {
    // The row as the version before factor records wrote it: Dates as {"$date": ms} in the JSON document.
    const doc = { ...d, createdAt: { $date: d.createdAt.getTime() }, updatedAt: { $date: d.updatedAt.getTime() } };
    withSqliteFile(store, (db) =>
      db.prepare('INSERT INTO accounts (id, email, created_at, doc) VALUES (?, ?, ?, ?)').run(d.id, d.email, d.createdAt.getTime(), JSON.stringify(doc)),
    );
  },
  async storedAccount(store, id) {
    const row = withSqliteFile(store, (db) => db.prepare('SELECT doc FROM accounts WHERE id = ?').get(id)) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Record<string, unknown>) : null;
  },
  async insertLegacyKey(store, name, value) {
    // Older files have no version column at all; the open store has added it, so this writes the row
    // as an older version would have left it: with the default version.
    withSqliteFile(store, (db) => db.prepare('INSERT INTO keys (name, value) VALUES (?, ?)').run(name, JSON.stringify(value)));
  },
};
const sqliteCleanup = async (store: Store) => {
  await store.close();
  fs.rmSync(sqliteDirs.get(store)!, { recursive: true, force: true });
  sqliteDirs.delete(store);
};
describeStoreContract(
  'sqlite',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-store-'));
    const store = await openSqliteStore({ file: path.join(dir, 'tessera.db') });
    sqliteDirs.set(store, dir);
    return store;
  },
  sqliteCleanup,
  sqliteReopen,
  { ...sqliteRawAccess, reopen: sqliteReopen },
);

// The same contract through the wrapper that measures store operations for /metrics
// (src/ops/store-metrics.ts), timing every other token-path call so both of its paths run.
const measured = async (dir: string) => {
  const store = instrumentStore(await openSqliteStore({ file: path.join(dir, 'tessera.db') }), new Metrics(), 2);
  sqliteDirs.set(store, dir);
  return store;
};
const measuredReopen = async (store: Store) => {
  const dir = sqliteDirs.get(store)!;
  await store.close();
  sqliteDirs.delete(store);
  return measured(dir);
};
describeStoreContract(
  'sqlite, measured for /metrics',
  () => measured(fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-store-'))),
  sqliteCleanup,
  measuredReopen,
  { ...sqliteRawAccess, reopen: measuredReopen },
);

describe('sqlite: a file made before key versions', () => {
  it('gains the version column at open, its keys at version 1, and compare-and-set works on them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-store-'));
    const file = path.join(dir, 'tessera.db');
    try {
      const old = new Database(file);
      old.exec('CREATE TABLE keys (name TEXT PRIMARY KEY, value TEXT NOT NULL)');
      old.prepare('INSERT INTO keys (name, value) VALUES (?, ?)').run('data-key', JSON.stringify('an-old-data-key'));
      old.close();
      const store = await openSqliteStore({ file });
      try {
        expect(await store.keys.get('data-key')).toEqual({ value: 'an-old-data-key', version: 1 });
        expect(await store.keys.set('data-key', 'rotated', 1)).toBe(true);
        expect(await store.keys.get('data-key')).toEqual({ value: 'rotated', version: 2 });
      } finally {
        await store.close();
      }
      // Opening it again (the column is there now) changes nothing.
      const again = await openSqliteStore({ file });
      expect(await again.keys.get('data-key')).toEqual({ value: 'rotated', version: 2 });
      await again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mongo (wire test server unless MONGODB_URI is set)', () => {
  let server: MongoTestServer;
  const uris = new Map<Store, string>();
  beforeAll(async () => {
    server = await startMongoTestServer();
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });
  /** A connection of its own to the store's database, as another process (an older version) would have. */
  async function withMongo<T>(store: Store, fn: (db: mongoose.Connection) => Promise<T>): Promise<T> {
    const connection = mongoose.createConnection(uris.get(store)!, { autoIndex: false, autoCreate: false });
    try {
      await connection.asPromise();
      return await fn(connection);
    } finally {
      await connection.close();
    }
  }
  describeStoreContract(
    'mongo',
    async () => {
      const uri = mongoUriWithDatabase(server.uri, testDatabaseName());
      const store = await openMongoStore({ uri });
      uris.set(store, uri);
      return store;
    },
    async (store) => {
      await store.close();
      await dropMongoDatabase(uris.get(store)!);
      uris.delete(store);
    },
    undefined,
    {
      async insertLegacyAccount(store, d) {
        const { id, ...rest } = d;
        await withMongo(store, (db) => db.collection<{ _id: string }>('accounts').insertOne({ _id: id, ...rest }));
      },
      async storedAccount(store, id) {
        return withMongo(store, (db) => db.collection<{ _id: string }>('accounts').findOne({ _id: id }));
      },
      async insertLegacyKey(store, name, value) {
        await withMongo(store, (db) => db.collection<{ _id: string; value: unknown }>('keys').insertOne({ _id: name, value }));
      },
      async reopen(store) {
        const uri = uris.get(store)!;
        await store.close();
        uris.delete(store);
        const again = await openMongoStore({ uri });
        uris.set(again, uri);
        return again;
      },
    },
  );
});
