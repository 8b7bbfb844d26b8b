// The way back from an account-wide password lockout (LoginGuard's per-account cap): the owner is
// mailed a single-use link through the challenge engine; opening it shows a button, and pressing it
// (a POST: mail scanners that fetch links change nothing) lifts the lock.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Store } from '../store/ports.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ChallengeEngine, Audit } from '../challenges/engine.ts';
import type { LoginGuard } from './limits.ts';

export class AccountUnlock {
  private readonly mailed: RateLimiterAbstract;
  constructor(
    private readonly deps: { store: Store; config: Config; challenges: ChallengeEngine; loginGuard: LoginGuard; audit: Audit; log: Logger },
  ) {
    // One mail per lockout window, however many refused attempts an attacker makes meanwhile.
    this.mailed = deps.store.rateLimiter({ keyPrefix: 'login_unlock_mail', points: 1, duration: deps.config.login.lockoutSeconds });
  }

  /**
   * The account cap refused a sign-in for `email`. Works after the response, never awaited by the page:
   * known and unknown addresses get the same answer in the same time, and a slow mail server delays nobody.
   */
  offer(email: string, ip: string): void {
    this.send(email, ip).catch((err: unknown) => this.deps.log.warn({ err, event: 'login.unlock_mail_failed' }, 'unlock mail failed'));
  }

  /**
   * For tests and callers that must know the mail went (or was skipped). The mail has its own budget,
   * one per account per lockout window, and not EmailGuard's address caps (an attacker can use those up
   * with forgot-password requests). The window's one mail is reserved before sending, so parallel refusals
   * send one, and given back when the mail didn't go out: the next refused attempt tries again.
   */
  async send(email: string, ip: string): Promise<void> {
    const account = await this.deps.store.accounts.findByEmail(email);
    if (!account) return;
    try {
      await this.mailed.consume(account.id, 1);
    } catch (err) {
      if (err instanceof Error) throw err;
      return; // mailed already in this window
    }
    const issuer = this.deps.config.issuer;
    let started: Awaited<ReturnType<ChallengeEngine['start']>> | null = null;
    try {
      started = await this.deps.challenges.start({
        purpose: 'account-unlock', accountId: account.id, channel: 'email', destination: account.email, ip, name: account.name, ownBudget: true,
        link: (id, code) => `${issuer}/unlock?c=${encodeURIComponent(id)}&code=${encodeURIComponent(code)}`,
      });
    } finally {
      if (!started?.ok) await this.mailed.delete(account.id);
    }
    if (!started.ok) await this.deps.audit('login.unlock_mail_failed', account.id, ip, { reason: started.reason });
    else if (started.sent) await this.deps.audit('login.unlock_mailed', account.id, ip);
  }

  /**
   * The link's button was pressed: the challenge is consumed (single use), the account's lock and every
   * account+IP delay are cleared, and this browser's address may sign in even if the lock comes back.
   */
  async redeem(challengeId: string, code: string, ip: string): Promise<boolean> {
    const c = challengeId ? await this.deps.store.challenges.find(challengeId) : null;
    if (!c || c.purpose !== 'account-unlock') return false;
    const res = await this.deps.challenges.verify(c.id, code, { accountId: c.accountId, purpose: 'account-unlock' });
    if (!res.ok) return false;
    const account = await this.deps.store.accounts.findById(c.accountId);
    if (!account) return false;
    await this.deps.loginGuard.unlock(account.email);
    await this.deps.loginGuard.exemptAddress(account.email, ip);
    await this.deps.audit('login.unlocked', account.id, ip, { via: 'email' });
    return true;
  }
}
