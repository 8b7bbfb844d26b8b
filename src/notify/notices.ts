// Security notices: the user hears of every change to how they sign in (password changed or reset, a
// second factor added or removed, sign-in phone or email replaced, recovery codes made anew or used, and,
// when turned on, a sign-in from a browser the account hasn't used before) on the channels they had
// before the change, so an attacker who made the change can't hide it. Each says what happened, when
// (UTC), from where (IP address, browser) and what to do if it wasn't them. Texts to a phone go through
// the same SMS caps as codes. A notice that can't go out never undoes the change: it is logged.
import type { MailSender } from './mail.ts';
import type { SmsSender } from './sms.ts';
import type { SmsGuard } from '../guard/limits.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord } from '../store/ports.ts';
import { describeUserAgent } from './user-agent.ts';
import { translator, isSupported } from '../i18n/catalogue.ts';
import { renderMail, type Brand } from './mail-render.ts';

type Audit = (type: string, accountId: string | null, ip: string | null, detail?: Record<string, unknown>) => Promise<void>;
type Recipient = Pick<AccountRecord, 'id' | 'email' | 'name'> & { locale?: string | null };

/** Where a change came from: the client's address and browser, or an administrator's tool. */
export interface Origin {
  ip: string | null;
  userAgent?: string | null;
  /** Made by an administrator (the CLI), not from a browser. */
  admin?: boolean;
  /** When it happened; now when absent. */
  at?: Date;
  /** The language of the page it was made on: used when the account has none stored. */
  locale?: string;
}

/** "2026-12-03 14:05 UTC" */
export function utcTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

type T = ReturnType<typeof translator>;

export class SecurityNotices {
  constructor(private readonly deps: { mail: MailSender; sms: SmsSender; smsGuard: SmsGuard; issuer: string; log: Logger; audit: Audit; brand?: Brand; defaultLocale?: string }) {}

  private get host() {
    return new URL(this.deps.issuer).host;
  }

  private get brand(): Brand {
    return this.deps.brand ?? { name: 'Tessera', primaryColor: '#3346d3', supportContact: null };
  }

  /** The account's stored language, else the page's, else the default. */
  private localeOf(account: Recipient, from: Origin): string {
    const pickable = (l: string | null | undefined): l is string => Boolean(l && isSupported(l));
    return pickable(account.locale) ? account.locale : pickable(from.locale) ? from.locale : this.deps.defaultLocale ?? 'en';
  }

  /** After a password change (signed in) or a reset (by a code to the mailbox or the verified phone). */
  async passwordChanged(account: Recipient, how: 'changed' | 'reset', from: Origin, via?: { channel: 'email' | 'sms'; destination: string }): Promise<void> {
    const host = this.host;
    await this.mail(account, from, 'password', (t) => ({
      subject: t('notice.password.subject'),
      what: [
        how === 'reset'
          ? via?.channel === 'sms' ? t('notice.password.resetSms', { host, last4: via.destination.slice(-4) }) : t('notice.password.resetEmail', { host })
          : t('notice.password.changed', { host }),
        t('notice.password.after'),
      ],
    }));
  }

  /** An administrator made the password unusable (forced reset): how to choose a new one. */
  async passwordResetForced(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, from, 'password-reset-forced', (t) => ({
      subject: t('notice.forcedReset.subject'),
      what: [t('notice.forcedReset.what', { host: this.host }), t('notice.forcedReset.how')],
    }));
  }

  /** The phone that receives sign-in codes was added or replaced: the mailbox and the old number hear of it. */
  async phoneChanged(account: Recipient, oldPhone: string | null, newPhone: string, from: Origin): Promise<void> {
    const last4 = newPhone.slice(-4);
    const host = this.host;
    await this.mail(account, from, 'phone', (t) => ({
      subject: oldPhone ? t('notice.phone.subjectChanged') : t('notice.phone.subjectAdded'),
      what: [oldPhone ? t('notice.phone.changed', { host, last4 }) : t('notice.phone.added', { host, last4 })],
    }));
    if (oldPhone && oldPhone !== newPhone) {
      const ip = from.ip ?? 'unknown';
      const verdict = await this.deps.smsGuard.allow({ to: oldPhone, accountId: account.id, ip });
      if (!verdict.ok) {
        await this.deps.audit('sms.refused', account.id, from.ip, { rule: verdict.reason, purpose: 'notice' });
        return;
      }
      try {
        const t = translator(this.localeOf(account, from));
        await this.deps.sms.send(oldPhone, t('sms.phoneChanged', { host, last4, product: this.brand.name }));
        await this.deps.audit('sms.sent', account.id, from.ip, { purpose: 'notice' });
      } catch (err) {
        this.deps.log.warn({ event: 'notice.failed', channel: 'sms', detail: (err as Error).message }, 'security notice could not be sent');
      }
    }
  }

  /** A second factor was turned on or off (or all were reset by an admin). `factorName`: the factor's (English) name. */
  async factorChanged(account: Recipient, factorName: string, change: 'on' | 'off' | 'reset', from: Origin): Promise<void> {
    const host = this.host;
    await this.mail(account, from, 'factor', (t) => {
      const factor = t(factorName);
      if (change === 'reset') return { subject: t('notice.factor.subjectReset'), what: [t('notice.factor.reset', { host })] };
      return {
        subject: t(change === 'on' ? 'notice.factor.subjectOn' : 'notice.factor.subjectOff', { factor }),
        what: [t(change === 'on' ? 'notice.factor.on' : 'notice.factor.off', { factor, host })],
      };
    });
  }

  /** The account was deleted by its owner (signed in, with a fresh proof). */
  async accountDeleted(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, from, 'account-deleted', (t) => ({ subject: t('notice.deleted.subject'), what: [t('notice.deleted.what', { host: this.host })] }));
  }

  /** The sign-in email was replaced: told at the OLD address (the new one proved itself with a code). */
  async emailChanged(account: Recipient, oldEmail: string, newEmail: string, from: Origin): Promise<void> {
    await this.mail({ ...account, email: oldEmail }, from, 'email', (t) => ({
      subject: t('notice.email.subject'),
      what: [t('notice.email.what', { host: this.host, old: oldEmail, new: maskAddress(newEmail) }), t('notice.email.after')],
    }));
  }

  /** A new set of recovery codes replaced the old ones. */
  async recoveryCodesRegenerated(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, from, 'recovery-regenerated', (t) => ({ subject: t('notice.recoveryNew.subject'), what: [t('notice.recoveryNew.what', { host: this.host })] }));
  }

  /** A recovery code stood in for the second factor (at sign-in or to confirm a change). */
  async recoveryCodeUsed(account: Recipient, left: number, from: Origin): Promise<void> {
    await this.mail(account, from, 'recovery-used', (t) => ({
      subject: t('notice.recoveryUsed.subject'),
      what: [
        t('notice.recoveryUsed.what', { host: this.host, count: left }),
        left <= 3 ? t('notice.recoveryUsed.soon', { url: `${this.deps.issuer}/account` }) : '',
      ].filter(Boolean),
    }));
  }

  /** A sign-in from a browser this account hadn't used before (NOTIFY_NEW_BROWSER). */
  async newBrowser(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, from, 'new-browser', (t) => ({
      subject: t('notice.newBrowser.subject'),
      what: [t('notice.newBrowser.what', { host: this.host }), t('notice.newBrowser.fine')],
    }));
  }

  private async mail(account: Recipient, from: Origin, about: string, says: (t: T) => { subject: string; what: string[] }) {
    const locale = this.localeOf(account, from);
    const t = translator(locale);
    const { subject, what } = says(t);
    const browser = describeUserAgent(from.userAgent);
    const where = from.admin
      ? t('notice.whereAdmin')
      : [from.ip ? t('notice.ip', { ip: from.ip }) : t('notice.unknownIp'), browser].filter(Boolean).join(', ');
    const message = renderMail({
      subject,
      greeting: t('mail.hello', { name: account.name }),
      paragraphs: what,
      facts: [t('notice.when', { time: utcTime(from.at ?? new Date()) }), t('notice.where', { where })],
      closing: [t('notice.advice', { url: `${this.deps.issuer}/account` })],
    }, { locale, brand: this.brand, host: this.host });
    try {
      await this.deps.mail.send({ to: account.email, ...message });
      await this.deps.audit('notice.sent', account.id, from.ip, { about });
    } catch (err) {
      // A notice that can't go out doesn't undo the change; it is logged for the operator.
      this.deps.log.warn({ event: 'notice.failed', channel: 'email', about, detail: (err as Error).message }, 'security notice could not be sent');
    }
  }
}

/** n•••@example.com: the old mailbox (perhaps no longer the owner's) learns of the change, not the new address. */
function maskAddress(email: string): string {
  const at = email.lastIndexOf('@');
  return at > 0 ? `${email[0]}•••${email.slice(at)}` : '•••';
}
