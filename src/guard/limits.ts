// Abuse guards on rate-limiter-flexible, with counters in the store so every instance shares them.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Store } from '../store/ports.ts';
import type { Config } from '../config.ts';

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
      ['ip_hour', limits.perIpHourly, HOUR, (w) => w.ip],
      ['ip_day', limits.perIpDaily, DAY, (w) => w.ip],
      ['global_day', limits.globalDaily, DAY, () => 'all'],
    ]));
  }
}

/**
 * Caps on code emails (confirmation, password reset): registering with someone else's address or
 * hammering "forgot password" must not turn Tessera into a mail cannon.
 */
export class EmailGuard extends DeliveryGuard {
  constructor(store: Store) {
    super(rules(store, 'mail', [
      ['address_hour', 5, HOUR, (w) => w.to],
      ['address_day', 20, DAY, (w) => w.to],
      ['ip_hour', 30, HOUR, (w) => w.ip],
    ]));
  }
}

/** Failed password attempts per account and per IP; over the cap, sign-in is refused until the window ends. */
export class LoginGuard {
  private readonly perAccount: RateLimiterAbstract;
  private readonly perIp: RateLimiterAbstract;
  constructor(store: Store, cfg: Config['login']) {
    this.perAccount = store.rateLimiter({ keyPrefix: 'login_fail_account', points: cfg.maxFailuresPerAccount, duration: cfg.lockoutSeconds });
    this.perIp = store.rateLimiter({ keyPrefix: 'login_fail_ip', points: cfg.maxFailuresPerIp, duration: cfg.lockoutSeconds });
  }

  /** Seconds until another try is allowed, or 0. */
  async blockedFor(email: string, ip: string): Promise<number> {
    const [a, i] = await Promise.all([this.perAccount.get(email), this.perIp.get(ip)]);
    const over = [
      a && a.consumedPoints >= this.perAccount.points ? a.msBeforeNext : 0,
      i && i.consumedPoints >= this.perIp.points ? i.msBeforeNext : 0,
    ];
    return Math.ceil(Math.max(...over) / 1000);
  }

  async failed(email: string, ip: string): Promise<void> {
    await Promise.all([this.perAccount.penalty(email, 1), this.perIp.penalty(ip, 1)]);
  }

  async succeeded(email: string): Promise<void> {
    await this.perAccount.delete(email);
  }
}
