// "Forgot your password?" inside a sign-in: a code by email (the same challenge engine), then a new
// password. The page never says whether an account exists, and afterwards the user signs in normally
// (so a second factor still applies).
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { FieldErrors } from '../accounts/service.ts';
import { loadInteraction, field, clientIp } from './context.ts';
import { pageLocals } from './login.ts';
import { CODE_ERRORS, verifyFailure } from './second-factor.ts';

export async function showForgot(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  s.render(ctx, 'interaction/forgot', pageLocals(l, { values: { email: typeof ctx.query.email === 'string' ? ctx.query.email.slice(0, 254) : '' } }));
}

export async function submitForgot(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254).trim().toLowerCase();
  if (!email) return s.render(ctx, 'interaction/forgot', pageLocals(l, { errors: { email: 'Enter your email address.' } }), 400);
  const account = await s.store.accounts.findByEmail(email);
  if (account) {
    await s.challenges.start({ purpose: 'password-reset', accountId: account.id, channel: 'email', destination: account.email, context: l.uid, ip: clientIp(ctx), name: account.name });
    await s.audit('password.reset_requested', account.id, clientIp(ctx));
  }
  // Same page whether or not the account exists.
  s.render(ctx, 'interaction/reset', pageLocals(l, { values: { email } }));
}

export async function submitReset(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254).trim().toLowerCase();
  const password = field(ctx, 'password', 1024);
  const again = (errors: Record<string, string>, status = 400) => s.render(ctx, 'interaction/reset', pageLocals(l, { values: { email }, errors }), status);
  const account = email ? await s.store.accounts.findByEmail(email) : null;
  const open = account ? await s.store.challenges.findActive(account.id, 'password-reset', l.uid) : null;
  if (!account || !open) return again({ code: CODE_ERRORS.unknown });
  if (password !== field(ctx, 'password_confirm', 1024)) return again({ password_confirm: 'The passwords don’t match.' });
  try {
    await s.accounts.setPassword(account.id, password, { checkOnly: true });
  } catch (err) {
    if (err instanceof FieldErrors) return again(err.fields);
    throw err;
  }
  const res = await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: account.id, purpose: 'password-reset' });
  if (!res.ok) return again({ code: verifyFailure(res) });
  await s.accounts.setPassword(account.id, password);
  // Receiving the code proves the mailbox, so the address counts as confirmed.
  if (!account.emailVerified) await s.store.accounts.update(account.id, { emailVerified: true });
  await s.audit('password.reset', account.id, clientIp(ctx));
  s.render(ctx, 'interaction/login', pageLocals(l, { values: { email }, notice: 'Your password was changed. Sign in with the new one.', demand: l.demand?.level ?? 0 }));
}
