// What `npm run cli -- keys ...` does: list, rotate, re-encrypt and prune keys in the store that every
// instance reads (src/keys/live.ts). Keys given in configuration are rotated there; for those the
// commands explain how instead of changing anything.
import type { Config } from '../config.ts';
import type { Store } from '../store/ports.ts';
import { INTERACTION_TTL_SECONDS } from '../oidc/provider.ts';
import { COOKIE, DATA, SIGNING, type KeyKind } from './kinds.ts';
import { KeyRings } from './rings.ts';
import { pruned, type Keys, type KeyView } from './live.ts';
import { currentIndex, prune, retiredAt, rotate, type Ring } from './ring.ts';
import { reencryptSecrets, type ReencryptReport } from './reencrypt.ts';

export class KeyAdminError extends Error {}

export interface Rotation {
  kind: 'signing' | 'cookie' | 'data';
  /** The new key's id (kid for signing keys): published / accepted now. */
  id: string;
  /** When it starts signing / encrypting: once every instance has read it (2 × KEYS_REFRESH_SECONDS). */
  activates: string;
  /** The key it replaces, which stays published / accepted. */
  replaces: string;
  /** When the replaced key is dropped (null: data keys, dropped by `keys prune` once nothing needs them). */
  replacedDropAfter: string | null;
  /** Retired keys this write dropped (everything they signed had expired). */
  dropped: string[];
}

const CONFIG_COOKIES =
  'Cookie keys come from COOKIE_SECRETS here, so they are rotated there: put a new secret (32+ characters) FIRST in the ' +
  'comma-separated list and keep the old ones after it until every session signed with them has expired ' +
  '(the session lifetime, or the remember-this-browser days if longer), then remove them. With several instances, first ' +
  'add the new secret LAST on every instance, then move it first: no instance then meets a cookie it cannot check.';
const CONFIG_DATA =
  'The data key comes from DATA_KEY here, so it is rotated there: set DATA_KEY to a new key (32+ characters) and put the ' +
  'old one in DATA_KEYS_PREVIOUS (with several instances, first add the new key to DATA_KEYS_PREVIOUS everywhere), restart, ' +
  'then run `keys reencrypt`; remove the old key from DATA_KEYS_PREVIOUS once `keys reencrypt` says no older key is needed.';

const iso = (ms: number) => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class KeyAdmin {
  private readonly rings: KeyRings;
  constructor(private readonly store: Store, private readonly config: Config, private readonly keys: Keys) {
    this.rings = new KeyRings(store.keys);
  }

  list(): KeyView[] {
    return this.keys.view();
  }

  /** A new signing key, first in the set: published at once, signing once every instance has it. */
  rotateSigning(now = Date.now()): Promise<Rotation> {
    return this.rotate(SIGNING, now);
  }

  rotateCookie(now = Date.now()): Promise<Rotation> {
    if (this.keys.cookieSource === 'config') throw new KeyAdminError(CONFIG_COOKIES);
    return this.rotate(COOKIE, now);
  }

  /**
   * A new data key in the store; once it encrypts (every instance has it by then: this waits), every
   * stored secret is re-encrypted under it.
   */
  async rotateData(opts: { now?: number; wait?: (ms: number) => Promise<void>; onWait?: (ms: number) => void } = {}): Promise<Rotation & { reencrypt: ReencryptReport }> {
    if (this.keys.dataSource === 'config') throw new KeyAdminError(CONFIG_DATA);
    const rotation = await this.rotate(DATA, opts.now ?? Date.now());
    const waitMs = Date.parse(rotation.activates) - Date.now();
    if (waitMs > 0) {
      opts.onWait?.(waitMs);
      await (opts.wait ?? sleep)(waitMs);
    }
    await this.keys.refresh();
    return { ...rotation, reencrypt: await this.reencrypt() };
  }

  /** Re-encrypts stored secrets under the data key that encrypts now. */
  reencrypt(opts: { dryRun?: boolean } = {}): Promise<ReencryptReport> {
    return reencryptSecrets(this.store, this.keys.box, opts);
  }

  /**
   * Drops retired keys no longer needed: signing and cookie keys once everything they signed has
   * expired; store-kept data keys once nothing stored needs them (checked here) and the short-lived
   * things made under them (codes, sign-ins in progress) have expired.
   */
  async prune(now = Date.now()): Promise<{ dropped: { kind: string; ids: string[] }[]; dataKeys: ReencryptReport; note: string | null }> {
    const dropped: { kind: string; ids: string[] }[] = [];
    const signing = await pruned(this.rings, SIGNING, this.config, now);
    if (signing.dropped.length) dropped.push({ kind: 'signing', ids: signing.dropped });
    if (this.keys.cookieSource === 'store') {
      const cookie = await pruned(this.rings, COOKIE, this.config, now);
      if (cookie.dropped.length) dropped.push({ kind: 'cookie', ids: cookie.dropped });
    }
    const dataKeys = await this.reencrypt({ dryRun: true });
    let note: string | null = null;
    if (this.keys.dataSource === 'store') {
      if (dataKeys.olderKeysNeeded) note = 'Older data keys are kept: stored secrets or recovery codes still need them (run `keys reencrypt`; recovery codes stay under their key until their users make new ones).';
      else {
        const graceMs = Math.max(INTERACTION_TTL_SECONDS, this.config.codes.ttlSeconds) * 1000;
        let ids: string[] = [];
        await this.rings.change(DATA, now, (ring) => {
          const kept = prune(ring, now, graceMs);
          ids = ring.filter((e) => !kept.includes(e)).map((e) => e.id);
          return ids.length ? kept : null;
        });
        if (ids.length) dropped.push({ kind: 'data', ids });
      }
    } else if (this.config.secrets.previousDataKeys.length) {
      note = dataKeys.olderKeysNeeded
        ? 'DATA_KEYS_PREVIOUS is still needed: stored secrets or recovery codes are under those keys (run `keys reencrypt`).'
        : 'Nothing stored needs DATA_KEYS_PREVIOUS any more: remove it once the last hour’s sign-ins and codes have expired.';
    }
    await this.keys.refresh(now);
    return { dropped, dataKeys, note };
  }

  private async rotate<M>(kind: KeyKind<M>, now: number): Promise<Rotation> {
    const { id, material } = kind.make();
    const delayMs = 2 * this.config.keys.refreshSeconds * 1000;
    const retention = kind.retentionSeconds(this.config);
    let before: Ring<M> = [];
    let dropped: string[] = [];
    const { ring } = await this.rings.change(kind, now, (current) => {
      before = current;
      const next = rotate(current, id, material, now, delayMs);
      const kept = retention === null ? next : prune(next, now, retention * 1000);
      dropped = next.filter((e) => !kept.includes(e)).map((e) => e.id);
      return kept;
    });
    await this.keys.refresh(now);
    const replaced = before[currentIndex(before, now)];
    const replacedRetired = retiredAt(ring, ring.findIndex((e) => e.id === replaced.id));
    return {
      kind: kind.name, id, activates: iso(now + delayMs), replaces: replaced.id,
      replacedDropAfter: retention !== null && replacedRetired !== null ? iso(replacedRetired + retention * 1000) : null,
      dropped,
    };
  }
}
