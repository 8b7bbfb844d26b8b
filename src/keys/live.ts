// The keys a running Tessera (or the CLI) uses, kept current: signing keys always come from the store;
// cookie keys from COOKIE_SECRETS or the store; data keys from DATA_KEY (+ DATA_KEYS_PREVIOUS) or the
// store. Every KEYS_REFRESH_SECONDS the store is read again, so a rotation made by the CLI or another
// instance is taken up without a restart: its key is published / accepted at once and used once it
// activates; retired keys whose tokens and sessions have all expired are dropped from the store.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/ports.ts';
import { SecretBox } from '../secrets.ts';
import { COOKIE, DATA, SIGNING, configRing, type Jwk, type KeyKind } from './kinds.ts';
import { KeyRings } from './rings.ts';
import { currentIndex, inUse, prune, retiredAt, sameOrder, type KeyEntry, type Ring } from './ring.ts';

export type KeySource = 'store' | 'config';

/** One key as `keys list` shows it: never the key itself. */
export interface KeyView {
  kind: 'signing' | 'cookie' | 'data';
  id: string;
  source: KeySource;
  alg: string | null;
  /** current: signs / encrypts now; next: published or accepted, signs from `activates`; retired: accepted only. */
  status: 'current' | 'next' | 'retired';
  created: string | null;
  activates: string | null;
  retired: string | null;
  /** When a retired key is dropped (null: kept until `keys prune` finds nothing needs it, or given in config). */
  dropAfter: string | null;
}

const iso = (ms: number | null) => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

export class Keys {
  /** The cookie keys in use, current first: ONE array, changed in place, shared by koa, oidc-provider, CSRF and remember-me. */
  readonly cookieKeys: string[] = [];
  readonly box: SecretBox;
  private signing: Ring<Jwk>;
  private signingOrder: KeyEntry<Jwk>[] = [];
  private cookie: Ring<string>;
  private data: Ring<string>;
  private readonly rings: KeyRings;
  private readonly listeners: ((jwks: { keys: Jwk[] }) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  private constructor(
    private readonly config: Config,
    private readonly log: Logger | undefined,
    rings: KeyRings,
    state: { signing: Ring<Jwk>; cookie: Ring<string>; data: Ring<string> },
    readonly cookieSource: KeySource,
    readonly dataSource: KeySource,
    now: number,
  ) {
    this.rings = rings;
    this.signing = state.signing;
    this.cookie = state.cookie;
    this.data = state.data;
    this.box = new SecretBox(inUse(this.data, now).map((e) => e.material));
    this.apply(now);
  }

  /** Reads (or makes, on a new store) every key; drops retired keys whose tokens have all expired. */
  static async load(store: Store, config: Config, opts: { log?: Logger; now?: number } = {}): Promise<Keys> {
    const now = opts.now ?? Date.now();
    const rings = new KeyRings(store.keys);
    const fromConfigCookies = config.secrets.cookieKeys.length > 0;
    const fromConfigData = Boolean(config.secrets.dataKey);
    const state = {
      signing: (await pruned(rings, SIGNING, config, now)).ring,
      cookie: fromConfigCookies ? configRing(config.secrets.cookieKeys) : (await pruned(rings, COOKIE, config, now)).ring,
      data: fromConfigData ? configRing([config.secrets.dataKey!, ...config.secrets.previousDataKeys]) : await rings.ensure(DATA, now),
    };
    return new Keys(config, opts.log, rings, state, fromConfigCookies ? 'config' : 'store', fromConfigData ? 'config' : 'store', now);
  }

  /** The signing keys as oidc-provider takes them (private JWKs), the one that signs first. */
  get jwks(): { keys: Jwk[] } {
    return { keys: this.signingOrder.map((e) => e.material) };
  }

  /** `fn` gets the new JWKS whenever the signing keys or their order change. */
  onSigningKeys(fn: (jwks: { keys: Jwk[] }) => void): void {
    this.listeners.push(fn);
  }

  /** Reads the store again, drops expired retired keys, and applies what changed (also what activated meanwhile). */
  refresh(now = Date.now()): Promise<void> {
    // One at a time: a slow store must not stack up reads.
    this.refreshing ??= this.reload(now).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async reload(now: number) {
    try {
      this.signing = (await pruned(this.rings, SIGNING, this.config, now, this.log)).ring;
      if (this.cookieSource === 'store') this.cookie = (await pruned(this.rings, COOKIE, this.config, now, this.log)).ring;
      if (this.dataSource === 'store') this.data = (await this.rings.read(DATA))?.ring ?? this.data;
    } finally {
      // Activation is a matter of time alone: apply it even when the store couldn't be read.
      this.apply(now);
    }
  }

  /** Refreshes every KEYS_REFRESH_SECONDS until stop(); failures are logged and the keys in use kept. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.refresh().catch((err) => this.log?.warn({ event: 'keys.refresh_failed', err }, 'reading the keys from the store failed; the keys in use stay'));
    }, this.config.keys.refreshSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private apply(now: number) {
    const signing = inUse(this.signing, now);
    if (!sameOrder(signing, this.signingOrder)) {
      const before = this.signingOrder[0]?.id;
      this.signingOrder = signing;
      if (before !== undefined && before !== signing[0].id)
        this.log?.info({ event: 'keys.signing_key_changed', kid: signing[0].id, previous: before }, `signing with key ${signing[0].id} now`);
      for (const fn of this.listeners) fn(this.jwks);
    }
    const cookies = inUse(this.cookie, now).map((e) => e.material);
    if (cookies.join('\n') !== this.cookieKeys.join('\n')) this.cookieKeys.splice(0, this.cookieKeys.length, ...cookies);
    const data = inUse(this.data, now);
    if (data.map((e) => e.id).join() !== this.box.keyIds.join()) this.box.setKeys(data.map((e) => e.material));
  }

  /** Every key in use, for `keys list`. */
  view(now = Date.now()): KeyView[] {
    const rows = <M>(kind: KeyKind<M>, ring: Ring<M>, source: KeySource, alg: (m: M) => string | null): KeyView[] => {
      const current = currentIndex(ring, now);
      const retention = source === 'config' ? null : kind.retentionSeconds(this.config);
      return ring.map((e, i) => {
        const retired = i > current ? retiredAt(ring, i) : null;
        return {
          kind: kind.name, id: e.id, source, alg: alg(e.material),
          status: i === current ? 'current' : i < current ? 'next' : 'retired',
          created: iso(e.created), activates: iso(e.activates), retired: iso(retired),
          dropAfter: retired !== null && retention !== null ? iso(retired + retention * 1000) : null,
        };
      });
    };
    return [
      ...rows(SIGNING, this.signing, 'store', (j) => (typeof j.alg === 'string' ? j.alg : null)),
      ...rows(COOKIE, this.cookie, this.cookieSource, () => null),
      ...rows(DATA, this.data, this.dataSource, () => null),
    ];
  }
}

/** The kind's ring from the store (made when absent), with retired keys past their retention dropped (stored). */
export async function pruned<M>(rings: KeyRings, kind: KeyKind<M>, config: Config, now: number, log?: Logger) {
  const retention = kind.retentionSeconds(config);
  let dropped: string[] = [];
  const result = await rings.change(kind, now, (ring) => {
    if (retention === null) return null;
    const kept = prune(ring, now, retention * 1000);
    dropped = ring.filter((e) => !kept.includes(e)).map((e) => e.id);
    return dropped.length ? kept : null;
  });
  if (result.changed) log?.info({ event: 'keys.dropped', kind: kind.name, ids: dropped }, `dropped retired ${kind.name} key(s) ${dropped.join(', ')}: everything they signed has expired`);
  return { ...result, dropped: result.changed ? dropped : [] };
}
