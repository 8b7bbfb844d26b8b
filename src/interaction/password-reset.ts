// "Forgot your password?" inside a sign-in: a code by email (the same challenge engine), then a new
// password. The page never says whether an account exists, and afterwards the user signs in normally
// (so a second factor still applies).
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { passwordProblem } from '../accounts/passwords.ts';
import { passwordReplaced } from '../accounts/credentials.ts';
import { loadInteraction, field, clientIp } from './context.ts';
import { pageLocals } from './login.ts';
import { CODE_ERRORS, verifyFailure } from '../challenges/messages.ts';

export async function showForgot(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  s.render(ctx, 'interaction/forgot', pageLocals(l, { values: { email: typeof ctx.query.email === 'string' ? ctx.query.email.slice(0, 254) : '' } }));
}

/**
 * Before the page answers, both cases do the same work and leave the same state: the address's mail caps
 * are counted and a challenge is stored for this sign-in (a real one for an account, a decoy that is
 * never sent and never met for an unknown address), so the reset step answers a code alike at once. Only
 * the real mail waits until after the response: its duration would tell whether the account exists.
 */
export async function submitForgot(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254).trim().toLowerCase();
  if (!email) return s.render(ctx, 'interaction/forgot', pageLocals(l, { errors: { email: 'Enter your email address.' } }), 400);
  const allowed = await s.guards.passwordReset(clientIp(ctx));
  if (!allowed.ok) {
    ctx.set('Retry-After', String(allowed.retryAfterSeconds));
    const message = `Too many password resets were asked for from here or right now. Try again in ${Math.max(1, Math.ceil(allowed.retryAfterSeconds / 60))} minutes.`;
    return s.render(ctx, 'interaction/forgot', pageLocals(l, { values: { email }, errors: { email: message } }), 429);
  }
  const ip = clientIp(ctx);
  const account = await s.store.accounts.findByEmail(email);
  if (account) {
    const deliver = await s.challenges.startDeferred({ purpose: 'password-reset', accountId: account.id, destination: account.email, context: l.uid, ip, name: account.name });
    afterResponse(s, async () => {
      await deliver();
      await s.audit('password.reset_requested', account.id, ip);
    });
  } else {
    await s.challenges.decoy({ purpose: 'password-reset', accountId: unknownAccountKey(s, email), destination: email, context: l.uid, ip });
  }
  s.render(ctx, 'interaction/reset', pageLocals(l, { values: { email } }));
}

export async function submitReset(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254).trim().toLowerCase();
  const password = field(ctx, 'password', 1024);
  const again = (errors: Record<string, string>, status = 400) => s.render(ctx, 'interaction/reset', pageLocals(l, { values: { email }, errors }), status);
  const account = email ? await s.store.accounts.findByEmail(email) : null;
  const key = account ? account.id : unknownAccountKey(s, email);
  const open = email ? await s.store.challenges.findActive(key, 'password-reset', l.uid) : null;
  if (!open) return again({ code: CODE_ERRORS.unknown });
  if (password !== field(ctx, 'password_confirm', 1024)) return again({ password_confirm: 'The passwords don’t match.' });
  const weak = passwordProblem(password, { email });
  if (weak) return again({ password: weak });
  const res = await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: key, purpose: 'password-reset', ip: clientIp(ctx) });
  if (!res.ok || !account) return again({ code: res.ok ? CODE_ERRORS.unknown : verifyFailure(res) });
  await s.accounts.setPassword(account.id, password);
  // Every session and pending sign-in of the account ends, but for this browser's own session (whose
  // sign-in continues here, with the new password).
  await passwordReplaced(s, account, { how: 'reset', ip: clientIp(ctx), keepSessionUid: l.details.session?.uid });
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
