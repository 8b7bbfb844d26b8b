// Abuse guards on rate-limiter-flexible, with counters in the store so every instance shares them.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Store } from '../store/ports.ts';
import type { Config } from '../config.ts';

export type Refusal = { ok: false; reason: string; retryAfterSeconds: number };
export type Verdict = { ok: true } | Refusal;

interface Rule {
  name: string;
  limiter: RateLimiterAbstract;
  key: (who: SmsRequest) => string;
}

export interface SmsRequest {
  to: string;
  accountId: string;
  ip: string;
}

/** Caps on texts per destination number, per account, per IP (hourly and daily) and globally per day. */
export class SmsGuard {
  private readonly rules: Rule[];
  constructor(store: Store, limits: Config['sms']['limits']) {
    const hour = 3600;
    const day = 86400;
    const rule = (name: string, points: number, duration: number, key: Rule['key']): Rule => ({
      name,
      key,
      limiter: store.rateLimiter({ keyPrefix: `sms_${name}`, points, duration }),
    });
    this.rules = [
      rule('number_hour', limits.perNumberHourly, hour, (w) => w.to),
      rule('number_day', limits.perNumberDaily, day, (w) => w.to),
      rule('account_hour', limits.perAccountHourly, hour, (w) => w.accountId),
      rule('account_day', limits.perAccountDaily, day, (w) => w.accountId),
      rule('ip_hour', limits.perIpHourly, hour, (w) => w.ip),
      rule('ip_day', limits.perIpDaily, day, (w) => w.ip),
      rule('global_day', limits.globalDaily, day, () => 'all'),
    ];
  }

  /** Checks every cap first and only then counts the text, so a refusal costs no allowance. */
  async allow(req: SmsRequest): Promise<Verdict> {
    for (const r of this.rules) {
      const res = await r.limiter.get(r.key(req));
      if (res && res.consumedPoints >= r.limiter.points)
        return { ok: false, reason: r.name, retryAfterSeconds: Math.ceil(res.msBeforeNext / 1000) };
    }
    for (const r of this.rules) await r.limiter.penalty(r.key(req), 1);
    return { ok: true };
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
