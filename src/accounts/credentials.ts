// What follows a password change or reset: the new password holder owns the account. Every other
// session, every grant and its tokens, and every pending sign-in of the account end (a sign-in started
// with the old password, or by whoever registered the address, can't finish), and the user is told.
// No koa here: the routes call this after the change itself.
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import type { Origin } from '../notify/notices.ts';

export async function passwordReplaced(
  s: Pick<Services, 'store' | 'notices' | 'audit'>,
  account: AccountRecord,
  opts: { how: 'changed' | 'reset'; from: Origin; keepSessionUid?: string; via?: { channel: 'email' | 'sms'; destination: string } },
): Promise<void> {
  // A reset of an address that was never confirmed proves the mailbox for the first time: anything the
  // registrant set (a phone, factors, recovery codes) belonged to whoever registered, not to the owner.
  // (A reset by a code to the verified phone proves the phone, not the mailbox: nothing changes here.)
  if (opts.how === 'reset' && !account.emailVerified && opts.via?.channel !== 'sms') {
    await s.store.accounts.update(account.id, {
      emailVerified: true, name: account.email.split('@')[0], phoneNumber: null, phoneNumberVerified: false, factors: [], preferredMfa: null,
    });
    for (const purpose of ['phone-verify', 'sms-enable', 'sms-login', 'email-confirm'] as const) await s.store.challenges.voidOpen(account.id, purpose);
  }
  const ended = await s.store.oidc.revokeAccount(account.id, opts.keepSessionUid ? { keepSessionUid: opts.keepSessionUid } : undefined);
  // Every sign-in in progress of the account ends too: one started with the old password, or by whoever
  // registered the address, can't finish (the stamp in each would refuse it anyway).
  await s.store.signIns.deleteForAccount(account.id);
  await s.audit(opts.how === 'reset' ? 'password.reset' : 'password.changed', account.id, opts.from.ip, {
    ...ended, unconfirmed: !account.emailVerified || undefined, via: opts.via?.channel,
  });
  await s.notices.passwordChanged(account, opts.how, opts.from, opts.via);
}
