// The sign-in page, registration, and the dispatcher that shows whichever step comes next.
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { FieldErrors } from '../accounts/service.ts';
import { AMR } from '../oidc/acr.ts';
import {
  loadInteraction, currentProgress, startProgress, nextStep, finishLogin, finishUnmet, finishInteraction, field, clientIp, type Loaded,
} from './context.ts';
import { showEmailConfirm, showSmsStep, showEnrolPhone } from './second-factor.ts';
import { showConsent } from './consent.ts';
import { SessionExpired } from '../errors.ts';
import { isRemembered } from '../factors/remember.ts';

const GENERIC_FAILURE = 'That email and password don’t match an account. Check them and try again.';

export function pageLocals(l: Loaded, extra: Record<string, unknown> = {}) {
  return { uid: l.uid, clientName: l.client.name, clientId: l.client.id, ...extra };
}

/** GET /interaction/:uid — shows the step this sign-in is at. */
export async function showInteraction(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  if (l.details.prompt.name === 'consent') return showConsent(s, ctx, l);
  if (l.details.prompt.name !== 'login') throw new SessionExpired();
  const progress = await currentProgress(s, l);
  if (!progress) {
    const hint = typeof l.details.params.login_hint === 'string' ? l.details.params.login_hint.slice(0, 254) : '';
    return s.render(ctx, 'interaction/login', pageLocals(l, { values: { email: hint }, demand: l.demand?.level ?? 0 }));
  }
  const account = await s.store.accounts.findById(progress.accountId);
  if (!account) throw new SessionExpired();
  const next = nextStep(s, account, progress, l.demand, isRemembered(ctx, s.rememberKey, account));
  switch (next.step) {
    case 'done':
      return finishLogin(s, ctx, l, progress);
    case 'unmet':
      return finishUnmet(s, ctx, l, next.reason, account.id);
    case 'email-confirm':
      return showEmailConfirm(s, ctx, l, account);
    case 'enrol-phone':
      return showEnrolPhone(s, ctx, l, account);
    case 'sms':
      return showSmsStep(s, ctx, l, account, progress, next);
  }
}

/** POST /interaction/:uid/login — the password step. */
export async function submitPassword(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254);
  const password = field(ctx, 'password', 1024);
  const render = (errors: Record<string, string>, status: number) =>
    s.render(ctx, 'interaction/login', pageLocals(l, { values: { email }, errors, demand: l.demand?.level ?? 0 }), status);
  if (!email || !password) {
    return render({ ...(!email && { email: 'Enter your email address.' }), ...(!password && { password: 'Enter your password.' }) }, 400);
  }
  const result = await s.accounts.signIn(email, password, clientIp(ctx));
  if (!result.ok) {
    await s.audit('login.failed', null, clientIp(ctx), { reason: result.reason });
    if (result.reason === 'throttled') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      return render({ form: `Too many failed attempts. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minutes.` }, 429);
    }
    return render({ form: GENERIC_FAILURE }, 401);
  }
  // A different account than the signed-in session's starts from scratch (no step-up carried over).
  await startProgress(s, l, { accountId: result.account.id, amr: [AMR.password] });
  ctx.redirect(`/interaction/${l.uid}`);
}

/** GET /interaction/:uid/register */
export async function showRegister(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  s.render(ctx, 'interaction/register', pageLocals(l));
}

/** POST /interaction/:uid/register — create the account, then confirm the email inside the same sign-in. */
export async function submitRegister(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const values = {
    name: field(ctx, 'name', 200),
    email: field(ctx, 'email', 300),
    phone_number: field(ctx, 'phone_number', 64),
  };
  const password = field(ctx, 'password', 1024);
  const confirm = field(ctx, 'password_confirm', 1024);
  try {
    if (password && confirm !== password) throw new FieldErrors({ password_confirm: 'The passwords don’t match.' });
    const account = await s.accounts.register({ ...values, password });
    await s.audit('account.registered', account.id, clientIp(ctx), { client: l.client.id });
    await startProgress(s, l, { accountId: account.id, amr: [AMR.password] });
    ctx.redirect(`/interaction/${l.uid}`);
  } catch (err) {
    if (!(err instanceof FieldErrors)) throw err;
    s.render(ctx, 'interaction/register', pageLocals(l, { values, errors: err.fields }), 400);
  }
}

/** POST /interaction/:uid/abort — the user cancels; the app gets access_denied. */
export async function abort(s: Services, ctx: Context) {
  await loadInteraction(s, ctx); // an unknown or finished interaction gets the expired page
  await finishInteraction(s, ctx, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, { mergeWithLastSubmission: false });
}
