// Security notices: the user hears of every change to how they sign in (password changed or reset,
// sign-in phone added or replaced) on the channels they had before the change, so an attacker who
// made the change can't hide it. Texts to a phone go through the same SMS caps as codes.
import type { MailSender } from './mail.ts';
import type { SmsSender } from './sms.ts';
import type { SmsGuard } from '../guard/limits.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord } from '../store/ports.ts';

type Audit = (type: string, accountId: string | null, ip: string | null, detail?: Record<string, unknown>) => Promise<void>;

export class SecurityNotices {
  constructor(private readonly deps: { mail: MailSender; sms: SmsSender; smsGuard: SmsGuard; issuer: string; log: Logger; audit: Audit }) {}

  private get host() {
    return new URL(this.deps.issuer).host;
  }

  /** After a password change (signed in) or a reset (by email code). */
  async passwordChanged(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, how: 'changed' | 'reset', ip: string): Promise<void> {
    await this.mail(account, 'Your password was changed', [
      `Hello ${account.name},`,
      '',
      how === 'reset'
        ? `The password of your account at ${this.host} was reset with a code sent to this address.`
        : `The password of your account at ${this.host} was changed.`,
      'You were signed out everywhere else, and apps you use will ask you to sign in again.',
      '',
      'If this wasn’t you, reset your password now with “Forgot your password?” on the sign-in page.',
    ], ip, 'password');
  }

  /** An administrator made the password unusable (forced reset): how to choose a new one. */
  async passwordResetForced(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, ip: string): Promise<void> {
    await this.mail(account, 'Choose a new password', [
      `Hello ${account.name},`,
      '',
      `An administrator of ${this.host} asked you to choose a new password. Your old password no longer works,`,
      'and you were signed out everywhere.',
      '',
      'To choose a new one, open the sign-in page of any app that uses this account, choose “Forgot your password?”',
      'and enter the code we then send to this address.',
    ], ip, 'password-reset-forced');
  }

  /** The phone that receives sign-in codes was added or replaced: the mailbox and the old number hear of it. */
  async phoneChanged(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, oldPhone: string | null, newPhone: string, ip: string): Promise<void> {
    const last4 = newPhone.slice(-4);
    await this.mail(account, oldPhone ? 'Your sign-in phone number was changed' : 'A phone number was added to your account', [
      `Hello ${account.name},`,
      '',
      oldPhone
        ? `The phone number that receives your sign-in codes at ${this.host} was changed to a number ending in ${last4}.`
        : `A phone number ending in ${last4} was added to your account at ${this.host}.`,
      '',
      'If this wasn’t you, reset your password now with “Forgot your password?” on the sign-in page.',
    ], ip, 'phone');
    if (oldPhone && oldPhone !== newPhone) {
      const verdict = await this.deps.smsGuard.allow({ to: oldPhone, accountId: account.id, ip });
      if (!verdict.ok) {
        await this.deps.audit('sms.refused', account.id, ip, { rule: verdict.reason, purpose: 'notice' });
        return;
      }
      try {
        await this.deps.sms.send(oldPhone, `Your ${this.host} sign-in number was changed to one ending in ${last4}. If this wasn't you, reset your password.`);
        await this.deps.audit('sms.sent', account.id, ip, { purpose: 'notice' });
      } catch (err) {
        this.deps.log.warn({ event: 'notice.failed', channel: 'sms', detail: (err as Error).message }, 'security notice could not be sent');
      }
    }
  }

  /** A second factor was turned on or off (or all were reset by an admin). */
  async factorChanged(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, factorName: string, change: 'on' | 'off' | 'reset', ip: string): Promise<void> {
    const what = change === 'reset'
      ? `An administrator removed every two-step sign-in method and recovery code of your account at ${this.host}. Sign in with your password and set them up again.`
      : `${factorName} was turned ${change} for two-step sign-in to your account at ${this.host}.`;
    await this.mail(account, change === 'reset' ? 'Your two-step sign-in was reset' : `Two-step sign-in: ${factorName} turned ${change}`, [
      `Hello ${account.name},`,
      '',
      what,
      '',
      'If this wasn’t you, reset your password now with “Forgot your password?” on the sign-in page.',
    ], ip, 'factor');
  }

  /** The account was deleted by its owner (signed in, with a fresh proof). */
  async accountDeleted(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, ip: string): Promise<void> {
    await this.mail(account, 'Your account was deleted', [
      `Hello ${account.name},`,
      '',
      `Your account at ${this.host} was deleted: you were signed out everywhere, and apps you used with it lost access.`,
      '',
      'If this wasn’t you, contact the administrator of this service at once.',
    ], ip, 'account-deleted');
  }

  private async mail(account: Pick<AccountRecord, 'id' | 'email'>, subject: string, lines: string[], ip: string, about: string) {
    try {
      await this.deps.mail.send({ to: account.email, subject, text: lines.join('\n') });
      await this.deps.audit('notice.sent', account.id, ip, { about });
    } catch (err) {
      // A notice that can't go out doesn't undo the change; it is logged for the operator.
      this.deps.log.warn({ event: 'notice.failed', channel: 'email', about, detail: (err as Error).message }, 'security notice could not be sent');
    }
  }
}
