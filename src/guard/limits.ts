// Abuse guards on rate-limiter-flexible, with counters in the store so every instance shares them.
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { ChallengePurpose, Store } from '../store/ports.ts';
import type { Config } from '../config.ts';
import { limitKeyOfIp } from './ip-key.ts';

export type Refusal = { ok: false; reason: string; retryAfterSeconds: number };
export type Verdict = { ok: true } | Refusal;

interface Rule {
  name: string;
  limiter: RateLimiterAbstract;
  key: (who: DeliveryRequest) => string;
}

export interface DeliveryRequest {
  to: string;
  accountId: string;
  ip: string;
}

const HOUR = 3600;
const DAY = 86400;

/** Counts deliveries against a set of caps; checks every cap first so a refusal costs no allowance. */
class DeliveryGuard {
  constructor(private readonly rules: Rule[]) {}

  async allow(req: DeliveryRequest): Promise<Verdict> {
    for (const r of this.rules) {
      const res = await r.limiter.get(r.key(req));
      if (res && res.consumedPoints >= r.limiter.points)
        return { ok: false, reason: r.name, retryAfterSeconds: Math.ceil(res.msBeforeNext / 1000) };
    }
    for (const r of this.rules) await r.limiter.penalty(r.key(req), 1);
    return { ok: true };
  }
}

function rules(store: Store, prefix: string, list: [string, number, number, Rule['key']][]): Rule[] {
  return list.map(([name, points, duration, key]) => ({ name, key, limiter: store.rateLimiter({ keyPrefix: `${prefix}_${name}`, points, duration }) }));
}

/** Caps on texts per destination number, per account, per IP (hourly and daily) and globally per day. */
export class SmsGuard extends DeliveryGuard {
  constructor(store: Store, limits: Config['sms']['limits']) {
    super(rules(store, 'sms', [
      ['number_hour', limits.perNumberHourly, HOUR, (w) => w.to],
      ['number_day', limits.perNumberDaily, DAY, (w) => w.to],
      ['account_hour', limits.perAccountHourly, HOUR, (w) => w.accountId],
      ['account_day', limits.perAccountDaily, DAY, (w) => w.accountId],
      ['ip_hour', limits.perIpHourly, HOUR, (w) => limitKeyOfIp(w.ip)],
      ['ip_day', limits.perIpDaily, DAY, (w) => limitKeyOfIp(w.ip)],
      ['global_day', limits.globalDaily, DAY, () => 'all'],
    ]));
  }
}

/**
 * Caps on code emails (confirmation, password reset): registering with someone else's address or
 * hammering "forgot password" must not turn Tessera into a mail cannon.
 */
export class EmailGuard extends DeliveryGuard {
  constructor(store: Store, limits: Config['mail']['limits'] = { perAddressHourly: 5, perAddressDaily: 20, perIpHourly: 30 }) {
    super(rules(store, 'mail', [
      ['address_hour', limits.perAddressHourly, HOUR, (w) => w.to],
      ['address_day', limits.perAddressDaily, DAY, (w) => w.to],
      ['ip_hour', limits.perIpHourly, HOUR, (w) => limitKeyOfIp(w.ip)],
    ]));
  }
}

/**
 * Failed password attempts, arranged so that nobody can lock a user out by guessing wrong:
 * - per account+IP pair: `delayAfterFailures` free failures, then that pair alone waits a growing time
 *   (delaySeconds, doubling, at most lockoutSeconds) before its next try;
 * - per IP: over maxFailuresPerIp in lockoutSeconds that address is refused for every account;
 * - per account, from all addresses: over maxFailuresPerAccount in accountWindowSeconds the account is
 *   refused everywhere (stops distributed guessing); the owner gets an unlock link by email (see
 *   unlock.ts), a password reset or an admin clears it, and the browser's address that used the link is
 *   exempt from this cap for the rest of the window, so re-locking doesn't shut the owner out again.
 * Pair counters are keyed under a per-account epoch: unlocking bumps it, which voids them all at once.
 * "IP" here, as in every per-IP limit, is limitKeyOfIp's key: an IPv6 client counts by its /64.
 */
export type LoginVerdict = { ok: true } | { ok: false; scope: 'ip' | 'pair' | 'account'; retryAfterSeconds: number };

export class LoginGuard {
  private readonly perAccount: RateLimiterAbstract;
  private readonly perIp: RateLimiterAbstract;
  private readonly perPair: RateLimiterAbstract;
  private readonly pairWait: RateLimiterAbstract;
  private readonly epochs: RateLimiterAbstract;
  private readonly exempt: RateLimiterAbstract;
  constructor(store: Store, private readonly cfg: Config['login']) {
    const window = cfg.accountWindowSeconds;
    this.perAccount = store.rateLimiter({ keyPrefix: 'login_fail_account', points: cfg.maxFailuresPerAccount, duration: window });
    this.perIp = store.rateLimiter({ keyPrefix: 'login_fail_ip', points: cfg.maxFailuresPerIp, duration: cfg.lockoutSeconds });
    this.perPair = store.rateLimiter({ keyPrefix: 'login_fail_pair', points: cfg.delayAfterFailures, duration: window });
    this.pairWait = store.rateLimiter({ keyPrefix: 'login_wait_pair', points: 1, duration: cfg.lockoutSeconds });
    // Epochs outlive every pair counter they key (same window, set later), so an expired epoch never revives old counters.
    this.epochs = store.rateLimiter({ keyPrefix: 'login_epoch', points: 1_000_000, duration: window });
    this.exempt = store.rateLimiter({ keyPrefix: 'login_unlocked', points: 1, duration: window });
  }

  private async pairKey(email: string, ip: string): Promise<string> {
    const epoch = await this.epochs.get(email);
    return `${email}|${epoch?.consumedPoints ?? 0}|${ip}`;
  }

  async check(email: string, clientIp: string): Promise<LoginVerdict> {
    const ip = limitKeyOfIp(clientIp);
    const pair = await this.pairKey(email, ip);
    const [i, w, a, x] = await Promise.all([this.perIp.get(ip), this.pairWait.get(pair), this.perAccount.get(email), this.exempt.get(`${email}|${ip}`)]);
    const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
    if (i && i.consumedPoints >= this.perIp.points) return { ok: false, scope: 'ip', retryAfterSeconds: secs(i.msBeforeNext) };
    if (w && w.consumedPoints > 0) return { ok: false, scope: 'pair', retryAfterSeconds: secs(w.msBeforeNext) };
    if (a && a.consumedPoints >= this.perAccount.points && !(x && x.consumedPoints > 0))
      return { ok: false, scope: 'account', retryAfterSeconds: secs(a.msBeforeNext) };
    return { ok: true };
  }

  /** Seconds until another try is allowed, or 0. */
  async blockedFor(email: string, ip: string): Promise<number> {
    const v = await this.check(email, ip);
    return v.ok ? 0 : v.retryAfterSeconds;
  }

  async failed(email: string, clientIp: string): Promise<void> {
    const ip = limitKeyOfIp(clientIp);
    const pair = await this.pairKey(email, ip);
    const [n] = await Promise.all([this.perPair.penalty(pair, 1), this.perIp.penalty(ip, 1), this.perAccount.penalty(email, 1)]);
    const over = n.consumedPoints - this.cfg.delayAfterFailures;
    if (over >= 0) await this.pairWait.block(pair, Math.min(this.cfg.delaySeconds * 2 ** Math.min(over, 30), this.cfg.lockoutSeconds));
  }

  /** The right password: this pair and the account start again from zero (the per-IP count stays). */
  async succeeded(email: string, clientIp?: string): Promise<void> {
    const tasks: Promise<unknown>[] = [this.perAccount.delete(email)];
    if (clientIp) {
      const pair = await this.pairKey(email, limitKeyOfIp(clientIp));
      tasks.push(this.perPair.delete(pair), this.pairWait.delete(pair));
    }
    await Promise.all(tasks);
  }

  /** Wrong passwords counted against the account in the current window, and whether it is locked (admin console). */
  async accountFailures(email: string): Promise<{ failures: number; locked: boolean }> {
    const a = await this.perAccount.get(email);
    const failures = a?.consumedPoints ?? 0;
    return { failures, locked: failures >= this.perAccount.points };
  }

  /** Clears the account's lock and every account+IP delay (admin, unlock link, new password). */
  async unlock(email: string): Promise<void> {
    await Promise.all([this.perAccount.delete(email), this.epochs.penalty(email, 1)]);
  }

  /** After an unlock link: this address may try the account's password even while the account cap is reached. */
  async exemptAddress(email: string, ip: string): Promise<void> {
    await this.exempt.set(`${email}|${limitKeyOfIp(ip)}`, 1, this.cfg.accountWindowSeconds);
  }
}

/**
 * Wrong one-time codes per account and kind of code, across challenges: a challenge allows
 * codes.maxAttempts, but new ones can be opened, so without this only the send caps bound guessing.
 * Keyed by purpose too, so someone guessing password-reset codes (which needs only the address) can't
 * also shut the owner out of SMS sign-in. Every check takes a point up front (atomic, so parallel
 * guesses can't slip past the cap) and a right answer gives it back.
 */
export const COUNTED_PURPOSES = ['phone-verify', 'sms-enable', 'sms-login', 'email-confirm', 'email-login', 'email-enable', 'password-reset', 'email-change'] as const satisfies readonly ChallengePurpose[];
// Fails to compile when a purpose is added to the store's list but not here (or to the exception below).
const everyPurpose: [Exclude<ChallengePurpose, (typeof COUNTED_PURPOSES)[number] | 'account-unlock'>] extends [never] ? true : false = true;
void everyPurpose;

export class CodeGuard {
  private readonly wrong: RateLimiterAbstract;
  constructor(store: Store, cfg: Config['codes']) {
    this.wrong = store.rateLimiter({ keyPrefix: 'code_wrong_account', points: cfg.maxWrongPerAccountDaily, duration: DAY });
  }

  /**
   * Anyone who knows an address can have reset codes sent to it and guess them: counted per account
   * alone, those wrong guesses would shut the owner out of resetting the password for a day. So
   * password-reset codes are counted per account and answering client (its limitKeyOfIp key); guessing
   * them stays bounded by each challenge's attempts times the address's mail caps.
   */
  private key(accountId: string, purpose: ChallengePurpose, ip: string | null): string {
    return purpose === 'password-reset' ? `${accountId}|${purpose}|${limitKeyOfIp(ip ?? 'unknown')}` : `${accountId}|${purpose}`;
  }

  /** False when the account is over its cap for this kind of code: the answer must not be checked. */
  async take(accountId: string, purpose: ChallengePurpose, ip: string | null = null): Promise<boolean> {
    try {
      await this.wrong.consume(this.key(accountId, purpose, ip), 1);
      return true;
    } catch (err) {
      if (err instanceof Error) throw err; // the store failed; a refusal is a RateLimiterRes
      return false;
    }
  }

  async giveBack(accountId: string, purpose: ChallengePurpose, ip: string | null = null): Promise<void> {
    await this.wrong.reward(this.key(accountId, purpose, ip), 1);
  }

  /** Clears the account's caps (admin unlock). Password-reset counts, kept per client address, run out on their own. */
  async clear(accountId: string): Promise<void> {
    await Promise.all(COUNTED_PURPOSES.map((p) => this.wrong.delete(`${accountId}|${p}`)));
  }
}

/**
 * Forms that cost a password hash, a stored record or an email per submission (registration,
 * forgot-password): per client IP and globally per hour. The per-IP cap is taken first, so one address
 * over its cap doesn't use up everyone's allowance.
 */
type Form = 'registration' | 'passwordReset';

export class FormGuard {
  private readonly rules: Record<Form, { perIp: RateLimiterAbstract; global: RateLimiterAbstract }>;
  constructor(store: Store, limits: Config['limits']) {
    const pair = (name: string, l: { perIpHourly: number; globalHourly: number }) => ({
      perIp: store.rateLimiter({ keyPrefix: `form_${name}_ip`, points: l.perIpHourly, duration: HOUR }),
      global: store.rateLimiter({ keyPrefix: `form_${name}_all`, points: l.globalHourly, duration: HOUR }),
    });
    this.rules = { registration: pair('register', limits.registration), passwordReset: pair('reset', limits.passwordReset) };
  }

  registration(ip: string): Promise<Verdict> {
    return this.take('registration', ip);
  }

  passwordReset(ip: string): Promise<Verdict> {
    return this.take('passwordReset', ip);
  }

  private async take(form: Form, ip: string): Promise<Verdict> {
    const r = this.rules[form];
    for (const [name, limiter, key] of [['ip', r.perIp, limitKeyOfIp(ip)], ['global', r.global, 'all']] as const) {
      try {
        await limiter.consume(key, 1);
      } catch (err) {
        if (err instanceof Error) throw err;
        return { ok: false, reason: `${form}_${name}`, retryAfterSeconds: Math.max(1, Math.ceil((err as RateLimiterRes).msBeforeNext / 1000)) };
      }
    }
    return { ok: true };
  }
}
