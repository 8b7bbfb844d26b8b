// "Forgot your password?" inside a sign-in: a code by email, or by text to the account's verified phone
// (the same challenge engine and caps), then a new password. The page never says whether an account
// exists or has a phone, and afterwards the user signs in normally (so a second factor still applies).
import { pageLocale } from '../http/locale.ts';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { passwordProblem } from '../accounts/passwords.ts';
import { passwordReplaced } from '../accounts/credentials.ts';
import { loadInteraction, field, clientIp, originOf } from './context.ts';
import { pageLocals } from './login.ts';
import { CODE_ERRORS, verifyFailure } from '../challenges/messages.ts';

/** How the code goes: by email (the default), or by text to the account's verified phone when it has one. */
type Way = 'email' | 'sms';
const wayOf = (ctx: Context): Way => (field(ctx, 'via', 10) === 'sms' ? 'sms' : 'email');
/** Each way keeps its own challenge in this sign-in, so asking the other way is a fresh start, not "already sent". */
const contextOf = (uid: string, way: Way) => (way === 'sms' ? `${uid}:sms` : uid);

export async function showForgot(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  s.render(ctx, 'interaction/forgot', pageLocals(l, { values: { email: typeof ctx.query.email === 'string' ? ctx.query.email.slice(0, 254) : '', via: 'email' } }));
}

/**
 * Before the page answers, every case does the same work and leaves the same state: the address's mail
 * caps are counted and a challenge is stored for this sign-in (a real one for an account, a decoy that is
 * never sent and never met for an unknown address), so the reset step answers a code alike at once. Only
 * the real delivery waits until after the response: its duration would tell whether the account exists.
 *
 * Text message: the page offers it to everyone and says the same thing whatever the account: "we texted
 * the phone on the account, or emailed the code if it has no verified phone". An account without a
 * verified phone gets the code by email, an unknown address gets the decoy, and the page, its timing and
 * the reset step can't tell these apart from an account with a phone; the choice is made before the
 * account is looked up, and the phone (even masked) is never shown.
 */
export async function submitForgot(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254).trim().toLowerCase();
  const via = wayOf(ctx);
  if (!email) return s.render(ctx, 'interaction/forgot', pageLocals(l, { values: { via }, errors: { email: 'Enter your email address.' } }), 400);
  const allowed = await s.guards.passwordReset(clientIp(ctx));
  if (!allowed.ok) {
    ctx.set('Retry-After', String(allowed.retryAfterSeconds));
    const message = `Too many password resets were asked for from here or right now. Try again in ${Math.max(1, Math.ceil(allowed.retryAfterSeconds / 60))} minutes.`;
    return s.render(ctx, 'interaction/forgot', pageLocals(l, { values: { email, via }, errors: { email: message } }), 429);
  }
  const ip = clientIp(ctx);
  const account = await s.store.accounts.findByEmail(email);
  const key = account ? account.id : unknownAccountKey(s, email);
  // Asking the other way in this sign-in: that way's code stops working (the same work for every address).
  const other = await s.store.challenges.findActive(key, 'password-reset', contextOf(l.uid, via === 'sms' ? 'email' : 'sms'));
  if (other) await s.store.challenges.consume(other.id, new Date());
  const context = contextOf(l.uid, via);
  if (account) {
    const phone = via === 'sms' && account.phoneNumberVerified ? account.phoneNumber : null;
    const deliver = await s.challenges.startDeferred({ purpose: 'password-reset', accountId: account.id, destination: account.email, sms: phone, context, ip, name: account.name, locale: pageLocale(ctx) });
    afterResponse(s, async () => {
      await deliver();
      await s.audit('password.reset_requested', account.id, ip, { via: phone ? 'sms' : 'email' });
    });
  } else {
    await s.challenges.decoy({ purpose: 'password-reset', accountId: key, destination: email, context, ip });
  }
  s.render(ctx, 'interaction/reset', pageLocals(l, { values: { email, via } }));
}

export async function submitReset(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254).trim().toLowerCase();
  const via = wayOf(ctx);
  const password = field(ctx, 'password', 1024);
  const again = (errors: Record<string, string>, status = 400) => s.render(ctx, 'interaction/reset', pageLocals(l, { values: { email, via }, errors }), status);
  const account = email ? await s.store.accounts.findByEmail(email) : null;
  const key = account ? account.id : unknownAccountKey(s, email);
  const open = email ? await s.store.challenges.findActive(key, 'password-reset', contextOf(l.uid, via)) : null;
  if (!open) return again({ code: CODE_ERRORS.unknown });
  if (password !== field(ctx, 'password_confirm', 1024)) return again({ password_confirm: 'The passwords don’t match.' });
  const weak = passwordProblem(password, { email });
  if (weak) return again({ password: weak });
  const res = await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: key, purpose: 'password-reset', ip: clientIp(ctx) });
  if (!res.ok || !account) return again({ code: res.ok ? CODE_ERRORS.unknown : verifyFailure(res) });
  await s.accounts.setPassword(account.id, password);
  // Every session and pending sign-in of the account ends, but for this browser's own session (whose
  // sign-in continues here, with the new password and then the account's second factor as usual).
  await passwordReplaced(s, account, {
    how: 'reset', from: originOf(ctx), keepSessionUid: l.details.session?.uid, via: { channel: res.challenge.channel, destination: res.challenge.destination },
  });
  s.render(ctx, 'interaction/login', pageLocals(l, { values: { email }, notice: 'Your password was changed. Sign in with the new one.', demand: s.acr.hint(l.demand) }));
}

/** The challenge key of an address without an account: stable per address, never an account id. */
function unknownAccountKey(s: Services, email: string): string {
  return `unknown:${s.box.mac(`reset:${email}`).slice(0, 22)}`;
}

/** Work the response must not wait for (its duration would tell whether the account exists). */
function afterResponse(s: Services, job: () => Promise<void>) {
  setImmediate(() => job().catch((err) => s.log.warn({ err }, 'password reset mail failed')));
}
