// The one code-challenge engine: every one-time code Tessera sends (email confirmation, phone
// verification, SMS sign-in, turning SMS on) is issued, delivered, resent and checked here.
// Codes are stored as keyed hashes, compared in constant time, single-use, expire, and a challenge is
// void after maxAttempts wrong answers.
import type { ChallengePurpose, ChallengeRecord, Store } from '../store/ports.ts';
import type { Brand } from '../notify/mail-render.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { MailSender } from '../notify/mail.ts';
import type { SmsSender } from '../notify/sms.ts';
import { SmsDeliveryError } from '../notify/sms.ts';
import { smsText, emailMessage, type TextOptions } from '../notify/templates.ts';
import { isSupported } from '../i18n/catalogue.ts';
import { smsRefusal } from '../accounts/phone.ts';
import { CodeGuard, type SmsGuard, type EmailGuard } from '../guard/limits.ts';
import { SecretBox, constantTimeEqual, numericCode, randomId } from '../secrets.ts';
import type { CodeMetrics } from '../ops/metrics.ts';

export interface StartRequest {
  purpose: ChallengePurpose;
  accountId: string;
  channel: 'sms' | 'email';
  destination: string;
  context?: string | null;
  ip: string;
  /** Recipient's name for email greetings. */
  name?: string;
  /** For email: builds a one-click link carrying the challenge id and code. */
  link?: (challengeId: string, code: string) => string;
  /**
   * For email: send this message instead of the code (the code is never delivered, so it can't be
   * answered). Registration uses it for an address that already has an account: the page and the work
   * stay the same as for a new address, and the owner learns of the attempt.
   */
  notice?: (o: TextOptions) => { subject: string; text: string; html?: string };
  /**
   * The language of the page that asked (a fallback): texts go out in the account's stored language,
   * else this one, else the configured default.
   */
  locale?: string;
  /**
   * For email: the caller caps these mails itself, so EmailGuard's per-address and per-IP caps don't
   * apply. The unlock link uses it (one per lockout window): an attacker who used up the address's mail
   * budget with forgot-password requests must not also stop the owner's way back from a lockout.
   */
  ownBudget?: boolean;
}

export type StartResult =
  | { ok: true; challenge: ChallengeRecord; sent: boolean }
  | { ok: false; reason: 'limited'; retryAfterSeconds: number; rule: string }
  | { ok: false; reason: 'delivery_failed' };

export type ResendResult =
  | { ok: true; challenge: ChallengeRecord }
  | { ok: false; reason: 'cooldown' | 'limited'; retryAfterSeconds: number }
  | { ok: false; reason: 'delivery_failed' | 'gone' };

export type VerifyResult =
  | { ok: true; challenge: ChallengeRecord }
  | { ok: false; reason: 'invalid'; attemptsLeft: number }
  | { ok: false; reason: 'expired' | 'exhausted' | 'used' | 'unknown' }
  /** Too many wrong codes of this kind for the account today (CODE_MAX_WRONG_PER_ACCOUNT_DAILY): not checked. */
  | { ok: false; reason: 'locked' };

export interface Audit {
  (type: string, accountId: string | null, ip: string | null, detail?: Record<string, unknown>): Promise<void>;
}

export class ChallengeEngine {
  constructor(
    private readonly deps: {
      store: Store;
      box: SecretBox;
      mail: MailSender;
      sms: SmsSender;
      smsGuard: SmsGuard;
      emailGuard: EmailGuard;
      config: Config;
      log: Logger;
      audit: Audit;
      /** Codes sent, refused (by rule) and failed, for /metrics. */
      metrics?: CodeMetrics;
      /** The brand as mail shows it (http/branding.ts mailBrand: with the logo's address). */
      brand: Brand;
    },
  ) {}

  private get codes() {
    return this.deps.config.codes;
  }

  /** Cooldown left before this challenge's code may be sent again, in seconds. */
  cooldownLeft(c: ChallengeRecord, now = Date.now()): number {
    if (!c.lastSentAt) return 0;
    const wait = this.deps.config.sms.limits.cooldownSeconds * 1000 - (now - c.lastSentAt.getTime());
    return Math.max(0, Math.ceil(wait / 1000));
  }

  /**
   * Opens a challenge, or returns the open one for the same account, purpose, context and destination
   * without sending again: reloading a page never sends another code.
   */
  async start(req: StartRequest): Promise<StartResult> {
    const context = req.context ?? null;
    const open = await this.deps.store.challenges.findActive(req.accountId, req.purpose, context);
    if (open && open.destination === req.destination && open.channel === req.channel) return this.reopened(open);
    if (open) await this.deps.store.challenges.voidOpen(req.accountId, req.purpose);

    const code = numericCode(this.codes.length);
    const now = new Date();
    const challenge: ChallengeRecord = {
      id: randomId(18),
      purpose: req.purpose,
      accountId: req.accountId,
      channel: req.channel,
      destination: req.destination,
      codeHash: this.deps.box.mac(code),
      attempts: 0,
      maxAttempts: this.codes.maxAttempts,
      sends: 0,
      lastSentAt: null,
      expiresAt: new Date(now.getTime() + this.codes.ttlSeconds * 1000),
      consumedAt: null,
      createdAt: now,
      context,
    };
    // Stored before it is sent, so a reload during a slow send finds it and sends nothing more; marked
    // sent once the provider took it, voided if it didn't (its code never reached anyone, and the next
    // try starts afresh).
    await this.deps.store.challenges.create(challenge);
    const sending = (async (): Promise<StartResult> => {
      let delivered: Awaited<ReturnType<ChallengeEngine['deliver']>>;
      try {
        delivered = await this.deliver(challenge, code, req);
      } catch (err) {
        // Not the provider (the senders' failures are answers): the store or the audit log. No code stays open.
        await this.deps.store.challenges.consume(challenge.id, new Date()).catch(() => {});
        throw err;
      }
      if (!delivered.ok) {
        await this.deps.store.challenges.consume(challenge.id, new Date());
        return delivered;
      }
      const at = new Date();
      await this.deps.store.challenges.markSent(challenge.id, at);
      return { ok: true, challenge: { ...challenge, sends: 1, lastSentAt: at }, sent: true };
    })();
    this.inFlight.set(challenge.id, sending);
    try {
      return await sending;
    } finally {
      this.inFlight.delete(challenge.id);
    }
  }

  /** start()'s deliveries still waiting for the provider, by challenge id (this process's). */
  private readonly inFlight = new Map<string, Promise<StartResult>>();

  /**
   * start() for a challenge that is already open. One still being delivered (stored, not yet marked
   * sent) is waited for, so a reload never says a code was sent when its delivery then fails: here
   * through the sending call itself, for another instance's send by watching the record, up to the
   * providers' timeout. Past that the step is shown (the code is in flight).
   */
  private async reopened(open: ChallengeRecord): Promise<StartResult> {
    if (open.lastSentAt || open.sends > 0) return { ok: true, challenge: open, sent: false };
    const sending = this.inFlight.get(open.id);
    if (sending) {
      const r = await sending;
      return r.ok ? { ok: true, challenge: r.challenge, sent: false } : r;
    }
    const { sms, mail } = this.deps.config;
    const end = Date.now() + (Math.max(sms.timeoutSeconds, mail.timeoutSeconds) + 2) * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await this.deps.store.challenges.find(open.id);
      if (!now || now.consumedAt) return { ok: false, reason: 'delivery_failed' };
      if (now.lastSentAt) return { ok: true, challenge: now, sent: false };
    }
    return { ok: true, challenge: open, sent: false };
  }

  /**
   * start() for a code a page must not wait for (password reset: the response's timing and the next
   * step must not tell whether an account exists, or whether it has a phone). Everything the next step can
   * observe happens now and is the same work as decoy(): the open challenge is found, or the address's
   * mail caps are counted and the challenge is stored. The mail caps of `destination` (the email address)
   * count every such request, whichever way the code then goes, so the work done here never depends on
   * the account. Only the delivery is left: the returned job, for the caller to run after the response.
   * `sms`: the account's verified phone, to text the code to instead of mailing it (the SMS caps and the
   * costly-range refusal apply when it is sent). A delivery that fails voids the challenge (its code never
   * reached anyone).
   */
  async startDeferred(req: Omit<StartRequest, 'channel'> & { sms?: string | null }): Promise<() => Promise<void>> {
    const code = numericCode(this.codes.length);
    const way = req.sms ? { channel: 'sms' as const, destination: req.sms } : { channel: 'email' as const, destination: req.destination };
    const opened = await this.openDeferred(req, way, this.deps.box.mac(code));
    if (opened.state === 'refused') return () => this.deps.audit('mail.refused', req.accountId, req.ip, { rule: opened.rule, purpose: req.purpose });
    if (opened.state === 'open') return async () => {}; // as start(): a resubmitted form sends nothing more
    const challenge = opened.challenge;
    return async () => {
      // A text goes past the costly-range refusal and the SMS caps (deliver); the mail caps were counted above.
      const sent = challenge.channel === 'sms' ? (await this.deliver(challenge, code, req)).ok : await this.sendEmail(challenge, code, req);
      if (!sent) await this.deps.store.challenges.consume(challenge.id, new Date());
    };
  }

  /**
   * A challenge that looks like startDeferred()'s to whoever answers it but is never delivered and can't
   * be met (password reset for an unknown address): the same caps are counted, the same record is kept,
   * and a wrong answer gets the same words as for a real one.
   */
  async decoy(req: Pick<StartRequest, 'purpose' | 'accountId' | 'destination' | 'context' | 'ip'>): Promise<void> {
    await this.openDeferred(req, { channel: 'email', destination: req.destination }, this.deps.box.mac(`decoy:${randomId(24)}`));
  }

  /** The part of a deferred challenge that happens before delivery: the open one, or the address's mail caps counted and a record stored. */
  private async openDeferred(
    req: Pick<StartRequest, 'purpose' | 'accountId' | 'destination' | 'context' | 'ip'>,
    way: { channel: 'sms' | 'email'; destination: string },
    codeHash: string,
  ): Promise<{ state: 'open' } | { state: 'refused'; rule: string } | { state: 'new'; challenge: ChallengeRecord }> {
    const context = req.context ?? null;
    const open = await this.deps.store.challenges.findActive(req.accountId, req.purpose, context);
    if (open) return { state: 'open' };
    const verdict = await this.deps.emailGuard.allow({ to: req.destination, accountId: req.accountId, ip: req.ip });
    if (!verdict.ok) {
      this.deps.metrics?.codeRefused('email', verdict.reason);
      return { state: 'refused', rule: verdict.reason };
    }
    const now = new Date();
    const challenge: ChallengeRecord = {
      id: randomId(18), purpose: req.purpose, accountId: req.accountId, channel: way.channel, destination: way.destination,
      codeHash, attempts: 0, maxAttempts: this.codes.maxAttempts, sends: 1, lastSentAt: now,
      expiresAt: new Date(now.getTime() + this.codes.ttlSeconds * 1000), consumedAt: null, createdAt: now, context,
    };
    await this.deps.store.challenges.create(challenge);
    return { state: 'new', challenge };
  }

  /**
   * Sends a new code for the same challenge after the cooldown. Earlier codes stay valid (a late first
   * SMS is still useful), the expiry is not extended, and the attempt counter is not reset.
   */
  async resend(challengeId: string, req: Pick<StartRequest, 'ip' | 'name' | 'link' | 'notice' | 'locale'>): Promise<ResendResult> {
    const c = await this.deps.store.challenges.find(challengeId);
    if (!c || c.consumedAt || c.expiresAt.getTime() <= Date.now() || c.attempts >= c.maxAttempts) return { ok: false, reason: 'gone' };
    // Its first code is still on its way (start() marks it sent once delivered): as good as just sent.
    const wait = c.lastSentAt ? this.cooldownLeft(c) : this.deps.config.sms.limits.cooldownSeconds;
    if (wait > 0) {
      this.deps.metrics?.codeRefused(c.channel, 'cooldown');
      await this.deps.audit('code.resend_refused', c.accountId, req.ip, { purpose: c.purpose, reason: 'cooldown' });
      return { ok: false, reason: 'cooldown', retryAfterSeconds: wait };
    }
    const code = numericCode(this.codes.length);
    const delivered = await this.deliver(c, code, { ...req, accountId: c.accountId });
    if (!delivered.ok) return delivered.reason === 'limited' ? { ok: false, reason: 'limited', retryAfterSeconds: delivered.retryAfterSeconds } : delivered;
    const hashes = `${c.codeHash} ${this.deps.box.mac(code)}`.split(' ').slice(-5).join(' ');
    const now = new Date();
    await this.deps.store.challenges.markSent(c.id, now, hashes);
    return { ok: true, challenge: { ...c, codeHash: hashes, sends: c.sends + 1, lastSentAt: now } };
  }

  private codeGuard?: CodeGuard;

  /** `expect.ip`: the answering client's address, which keys the wrong-code cap of password-reset codes (CodeGuard). */
  async verify(challengeId: string, answer: string, expect?: { accountId: string; purpose: ChallengePurpose; ip?: string }): Promise<VerifyResult> {
    const guard = (this.codeGuard ??= new CodeGuard(this.deps.store, this.deps.config.codes));
    const c = await this.deps.store.challenges.find(challengeId);
    if (!c || (expect && (c.accountId !== expect.accountId || c.purpose !== expect.purpose))) return { ok: false, reason: 'unknown' };
    if (c.consumedAt) return { ok: false, reason: 'used' };
    if (c.attempts >= c.maxAttempts) return { ok: false, reason: 'exhausted' };
    if (c.expiresAt.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
    // The unlock link's secret is its challenge id (144 random bits, only in the mailbox): nothing to
    // guess, and it must keep working as the way back while codes are capped.
    const counted = c.purpose !== 'account-unlock';
    const ip = expect?.ip ?? null;
    if (counted && !(await guard.take(c.accountId, c.purpose, ip))) {
      await this.deps.audit('code.refused', c.accountId, ip, { purpose: c.purpose, reason: 'account_cap' });
      return { ok: false, reason: 'locked' };
    }
    // The answer's hash under every data key in use: a code sent before a data key rotation still counts.
    const given = this.deps.box.macs(answer.replace(/\s+/g, ''));
    // Check every stored hash so the time taken doesn't depend on which one matched.
    const match = c.codeHash.split(' ').reduce((hit, h) => given.reduce((m, g) => constantTimeEqual(h, g) || m, false) || hit, false);
    if (match) {
      if (counted) await guard.giveBack(c.accountId, c.purpose, ip); // only wrong answers count
      const won = await this.deps.store.challenges.consume(c.id, new Date());
      return won ? { ok: true, challenge: c } : { ok: false, reason: 'used' };
    }
    const after = await this.deps.store.challenges.addAttempt(c.id);
    const left = after ? after.maxAttempts - after.attempts : 0;
    await this.deps.audit('code.wrong', c.accountId, null, { purpose: c.purpose, attemptsLeft: left });
    return left > 0 ? { ok: false, reason: 'invalid', attemptsLeft: left } : { ok: false, reason: 'exhausted' };
  }

  private async deliver(
    c: ChallengeRecord,
    code: string,
    req: Pick<StartRequest, 'ip' | 'name' | 'link' | 'accountId' | 'notice' | 'ownBudget' | 'locale'>,
  ): Promise<{ ok: true } | { ok: false; reason: 'limited'; retryAfterSeconds: number; rule: string } | { ok: false; reason: 'delivery_failed' }> {
    const ttlMinutes = Math.round(this.codes.ttlSeconds / 60);
    const { audit, metrics } = this.deps;
    if (c.channel === 'sms') {
      // Toll fraud: a costly or non-SMS range is never texted, whichever path stored or typed the number.
      const refused = smsRefusal(c.destination, this.deps.config.sms.deniedPrefixes);
      if (refused) {
        metrics?.codeRefused('sms', refused);
        await audit('sms.refused', c.accountId, req.ip, { rule: refused, purpose: c.purpose });
        return { ok: false, reason: 'delivery_failed' };
      }
      const verdict = await this.deps.smsGuard.allow({ to: c.destination, accountId: c.accountId, ip: req.ip });
      if (!verdict.ok) {
        metrics?.codeRefused('sms', verdict.reason);
        await audit('sms.refused', c.accountId, req.ip, { rule: verdict.reason, purpose: c.purpose });
        return { ok: false, reason: 'limited', retryAfterSeconds: verdict.retryAfterSeconds, rule: verdict.reason };
      }
      try {
        await this.deps.sms.send(c.destination, smsText(c.purpose, code, ttlMinutes, await this.textOptions(c.accountId, req.locale)));
      } catch (err) {
        const detail = err instanceof SmsDeliveryError ? err.message : 'network error';
        metrics?.codeDeliveryFailed('sms');
        this.deps.log.warn({ event: 'sms.delivery_failed', purpose: c.purpose, detail }, 'SMS could not be sent');
        await audit('sms.delivery_failed', c.accountId, req.ip, { purpose: c.purpose, detail });
        return { ok: false, reason: 'delivery_failed' };
      }
      metrics?.codeSent('sms', c.purpose);
      await audit('sms.sent', c.accountId, req.ip, { purpose: c.purpose });
      return { ok: true };
    }
    const verdict = req.ownBudget ? ({ ok: true } as const) : await this.deps.emailGuard.allow({ to: c.destination, accountId: c.accountId, ip: req.ip });
    if (!verdict.ok) {
      metrics?.codeRefused('email', verdict.reason);
      await audit('mail.refused', c.accountId, req.ip, { rule: verdict.reason, purpose: c.purpose });
      return { ok: false, reason: 'limited', retryAfterSeconds: verdict.retryAfterSeconds, rule: verdict.reason };
    }
    return (await this.sendEmail(c, code, req)) ? { ok: true } : { ok: false, reason: 'delivery_failed' };
  }

  /** The recipient's language (the account's stored one, else the asking page's, else the default) and the brand. */
  private async textOptions(accountId: string, requested: string | undefined): Promise<TextOptions> {
    const account = await this.deps.store.accounts.findById(accountId).catch(() => null);
    const stored = account?.locale && isSupported(account.locale) ? account.locale : null;
    const locale = stored ?? (requested && isSupported(requested) ? requested : this.deps.config.i18n.defaultLocale);
    return { locale, brand: this.deps.brand, host: new URL(this.deps.config.issuer).host };
  }

  /** The code (or the notice) by email, past every cap; false when the mail server refused it. */
  private async sendEmail(c: ChallengeRecord, code: string, req: Pick<StartRequest, 'name' | 'link' | 'notice' | 'locale'>): Promise<boolean> {
    const ttlMinutes = Math.round(this.codes.ttlSeconds / 60);
    const o = await this.textOptions(c.accountId, req.locale);
    const msg = req.notice ? req.notice(o) : emailMessage(c.purpose, code, req.link ? req.link(c.id, code) : null, req.name ?? null, ttlMinutes, o);
    try {
      await this.deps.mail.send({ to: c.destination, ...msg });
      this.deps.metrics?.codeSent('email', c.purpose);
      return true;
    } catch (err) {
      this.deps.metrics?.codeDeliveryFailed('email');
      this.deps.log.warn({ event: 'mail.delivery_failed', purpose: c.purpose, detail: (err as Error).message }, 'mail could not be sent');
      return false;
    }
  }
}
