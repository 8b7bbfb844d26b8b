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

type Audit = (type: string, accountId: string | null, ip: string | null, detail?: Record<string, unknown>) => Promise<void>;
type Recipient = Pick<AccountRecord, 'id' | 'email' | 'name'>;

/** Where a change came from: the client's address and browser, or an administrator's tool. */
export interface Origin {
  ip: string | null;
  userAgent?: string | null;
  /** Made by an administrator (the CLI), not from a browser. */
  admin?: boolean;
  /** When it happened; now when absent. */
  at?: Date;
}

/** "2026-12-03 14:05 UTC" */
export function utcTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export class SecurityNotices {
  constructor(private readonly deps: { mail: MailSender; sms: SmsSender; smsGuard: SmsGuard; issuer: string; log: Logger; audit: Audit }) {}

  private get host() {
    return new URL(this.deps.issuer).host;
  }

  /** What to do if it wasn't them: the way back in, and where to look. */
  private get advice() {
    return `If this wasn’t you, someone else may have your password: open ${this.deps.issuer}/account, choose “Forgot your password?” on the sign-in page to set a new one, and check your sign-in methods there.`;
  }

  /** After a password change (signed in) or a reset (by a code to the mailbox or the verified phone). */
  async passwordChanged(account: Recipient, how: 'changed' | 'reset', from: Origin, via?: { channel: 'email' | 'sms'; destination: string }): Promise<void> {
    const by = via?.channel === 'sms' ? `a code texted to your phone number ending in ${via.destination.slice(-4)}` : 'a code sent to this address';
    await this.mail(account, 'Your password was changed', [
      how === 'reset'
        ? `The password of your account at ${this.host} was reset with ${by}.`
        : `The password of your account at ${this.host} was changed.`,
      'You were signed out everywhere else, and apps you use will ask you to sign in again.',
    ], from, 'password');
  }

  /** An administrator made the password unusable (forced reset): how to choose a new one. */
  async passwordResetForced(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, from: Origin): Promise<void> {
    await this.mail(account, 'Choose a new password', [
      `Hello ${account.name},`,
      '',
      `An administrator of ${this.host} asked you to choose a new password. Your old password no longer works,`,
      'and you were signed out everywhere.',
      '',
      'To choose a new one, open the sign-in page of any app that uses this account, choose “Forgot your password?”',
      'and enter the code we then send to this address.',
    ], from, 'password-reset-forced');
  }

  /** The phone that receives sign-in codes was added or replaced: the mailbox and the old number hear of it. */
  async phoneChanged(account: Recipient, oldPhone: string | null, newPhone: string, from: Origin): Promise<void> {
    const last4 = newPhone.slice(-4);
    await this.mail(account, oldPhone ? 'Your sign-in phone number was changed' : 'A phone number was added to your account', [
      oldPhone
        ? `The phone number that receives your sign-in codes at ${this.host} was changed to a number ending in ${last4}.`
        : `A phone number ending in ${last4} was added to your account at ${this.host}.`,
    ], from, 'phone');
    if (oldPhone && oldPhone !== newPhone) {
      const ip = from.ip ?? 'unknown';
      const verdict = await this.deps.smsGuard.allow({ to: oldPhone, accountId: account.id, ip });
      if (!verdict.ok) {
        await this.deps.audit('sms.refused', account.id, from.ip, { rule: verdict.reason, purpose: 'notice' });
        return;
      }
      try {
        await this.deps.sms.send(oldPhone, `Your ${this.host} sign-in number was changed to one ending in ${last4}. If this wasn't you, reset your password.`);
        await this.deps.audit('sms.sent', account.id, from.ip, { purpose: 'notice' });
      } catch (err) {
        this.deps.log.warn({ event: 'notice.failed', channel: 'sms', detail: (err as Error).message }, 'security notice could not be sent');
      }
    }
  }

  /** A second factor was turned on or off (or all were reset by an admin). */
  async factorChanged(account: Recipient, factorName: string, change: 'on' | 'off' | 'reset', from: Origin): Promise<void> {
    const what = change === 'reset'
      ? `An administrator removed every two-step sign-in method and recovery code of your account at ${this.host}. Sign in with your password and set them up again.`
      : `${factorName} was turned ${change} for two-step sign-in to your account at ${this.host}.`;
    await this.mail(account, change === 'reset' ? 'Your two-step sign-in was reset' : `Two-step sign-in: ${factorName} turned ${change}`, [what], from, 'factor');
  }

  /** The account was deleted by its owner (signed in, with a fresh proof). */
  async accountDeleted(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, 'Your account was deleted', [
      `Your account at ${this.host} was deleted: you were signed out everywhere, and apps you used with it lost access.`,
    ], from, 'account-deleted');
  }

  /** The sign-in email was replaced: told at the OLD address (the new one proved itself with a code). */
  async emailChanged(account: Recipient, oldEmail: string, newEmail: string, from: Origin): Promise<void> {
    await this.mail({ ...account, email: oldEmail }, 'Your sign-in email address was changed', [
      `The email address of your account at ${this.host} was changed from ${oldEmail} to ${maskAddress(newEmail)}.`,
      'Codes, password resets and notices now go to the new address; this one no longer signs you in.',
    ], from, 'email');
  }

  /** A new set of recovery codes replaced the old ones. */
  async recoveryCodesRegenerated(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, 'New recovery codes were created', [
      `New recovery codes were created for your account at ${this.host}. The codes you had before no longer work.`,
    ], from, 'recovery-regenerated');
  }

  /** A recovery code stood in for the second factor (at sign-in or to confirm a change). */
  async recoveryCodeUsed(account: Recipient, left: number, from: Origin): Promise<void> {
    await this.mail(account, 'A recovery code was used', [
      `One of your recovery codes was used in place of your two-step sign-in, for your account at ${this.host}. ${left} ${left === 1 ? 'code is' : 'codes are'} left.`,
      left <= 3 ? `Create new codes soon at ${this.deps.issuer}/account.` : '',
    ].filter(Boolean), from, 'recovery-used');
  }

  /** A sign-in from a browser this account hadn't used before (NOTIFY_NEW_BROWSER). */
  async newBrowser(account: Recipient, from: Origin): Promise<void> {
    await this.mail(account, 'New sign-in to your account', [
      `Your account at ${this.host} was just signed in to from a browser it hadn’t used before.`,
      'If this was you, there is nothing to do.',
    ], from, 'new-browser');
  }

  private async mail(account: Pick<AccountRecord, 'id' | 'email' | 'name'>, subject: string, what: string[], from: Origin, about: string) {
    const browser = describeUserAgent(from.userAgent);
    const where = from.admin
      ? 'an administrator, with the command-line tool'
      : [from.ip ? `IP address ${from.ip}` : 'an unknown address', browser].filter(Boolean).join(', ');
    const text = [
      `Hello ${account.name},`,
      '',
      ...what,
      '',
      `When: ${utcTime(from.at ?? new Date())}`,
      `Where: ${where}`,
      '',
      this.advice,
    ].join('\n');
    try {
      await this.deps.mail.send({ to: account.email, subject, text });
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
