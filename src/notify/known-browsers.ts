// Which browsers an account has signed in from, for the "new sign-in" notice (NOTIFY_NEW_BROWSER). A
// browser is a long-lived random id in a cookie (interaction/browser-id.ts); the account keeps one small
// record of keyed hashes of the ids it has seen (never the ids themselves: a copy of the store can't be
// turned into cookies), the most recent KEEP of them, each with when it was last seen. One read per
// sign-in, and a write only for a new browser or once a day. No koa here.
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';

export const KNOWN_BROWSERS_MODEL = 'TesseraBrowsers';
const MODEL = KNOWN_BROWSERS_MODEL;
const KEEP = 20;
const DAY = 86_400;
/** A record unused this long is dropped (and the next sign-in counts as the account's first again). */
const TTL_DAYS = 400;

/** 'first': the account had no record (just registered, or the feature was just turned on): no notice. */
export type BrowserVerdict = 'first' | 'known' | 'new';

export class KnownBrowsers {
  constructor(private readonly store: Store, private readonly box: SecretBox) {}

  /** Records that `browserId` signed in to the account, and says whether the account had seen it before. */
  async signedIn(accountId: string, browserId: string, now = Date.now()): Promise<BrowserVerdict> {
    const tag = this.box.mac(`browser:${browserId}`).slice(0, 22);
    const rec = (await this.store.oidc.find(MODEL, accountId)) as { seen?: Record<string, number> } | undefined;
    const seen = { ...(rec?.seen ?? {}) };
    const verdict: BrowserVerdict = !rec ? 'first' : tag in seen ? 'known' : 'new';
    const at = Math.floor(now / 1000);
    if (verdict === 'known' && at - seen[tag] < DAY) return verdict;
    seen[tag] = at;
    const kept = Object.entries(seen).sort((a, b) => b[1] - a[1]).slice(0, KEEP);
    await this.store.oidc.upsert(MODEL, accountId, { seen: Object.fromEntries(kept) }, new Date(now + TTL_DAYS * DAY * 1000));
    return verdict;
  }

  /** Forgets every browser of the account (e.g. when the account is deleted). */
  async forget(accountId: string): Promise<void> {
    await this.store.oidc.destroy(MODEL, accountId);
  }
}
