// The sign-in page, registration, and the dispatcher that shows whichever step comes next.
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { FieldErrors } from '../accounts/service.ts';
import { AMR } from '../oidc/acr.ts';
import {
  loadInteraction, currentProgress, currentSignIn, startProgress, nextStep, finishLogin, finishUnmet, finishInteraction, field, clientIp,
  credentialOf, type Loaded,
} from './context.ts';
import { showEmailConfirm, showEnrolPhone, showRegistrationConfirm, showPhoneVerify } from './second-factor.ts';
import { showFactorStep } from './factor-step.ts';
import { randomId } from '../secrets.ts';
import { showConsent } from './consent.ts';
import { SessionExpired } from '../errors.ts';
import { isRemembered } from '../factors/remember.ts';

const ACCOUNT_LOCKED =
  'Sign-in to this account is paused after many wrong passwords. We emailed you a link to unlock it; you can also reset your password.';
const GENERIC_FAILURE = 'That email and password don’t match an account. Check them and try again.';
const ACCOUNT_DISABLED = 'This account is disabled. Contact the administrator of this service.';

export function pageLocals(l: Loaded, extra: Record<string, unknown> = {}) {
  return { uid: l.uid, clientName: l.client.name, clientId: l.client.id, clientLogo: l.client.logo, clientPolicy: l.client.policyUri, clientTos: l.client.tosUri, ...extra };
}

/** GET /interaction/:uid — shows the step this sign-in is at. */
export async function showInteraction(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  if (l.details.prompt.name === 'consent') return showConsent(s, ctx, l);
  if (l.details.prompt.name !== 'login') throw new SessionExpired();
  const progress = await currentProgress(s, l);
  if (progress?.registration) return showRegistrationConfirm(s, ctx, l, progress);
  const signIn = progress ? await currentSignIn(s, l) : null;
  if (!signIn) return showLogin(s, ctx, l);
  const { p, account } = signIn;
  const next = nextStep(s, account, p, l.demand, await isRemembered(ctx, { keys: s.cookieKeys, browsers: s.store.browsers }, account));
  switch (next.step) {
    case 'done':
      return finishLogin(s, ctx, l, p);
    case 'password':
      return showLogin(s, ctx, l, { email: account.email, notice: next.reason });
    case 'unmet':
      return finishUnmet(s, ctx, l, next.reason, account.id);
    case 'email-confirm':
      return showEmailConfirm(s, ctx, l, account);
    case 'enrol-phone':
      return showEnrolPhone(s, ctx, l, account);
    case 'factor':
      return showFactorStep(s, ctx, l, account, p, next);
    case 'phone-verify':
      return showPhoneVerify(s, ctx, l, account, next.destination);
  }
}

function showLogin(s: Services, ctx: Context, l: Loaded, opts: { email?: string; notice?: string } = {}) {
  const hint = opts.email ?? (typeof l.details.params.login_hint === 'string' ? l.details.params.login_hint.slice(0, 254) : '');
  s.render(ctx, 'interaction/login', pageLocals(l, { values: { email: hint }, notice: opts.notice, demand: s.acr.hint(l.demand) }));
}

/** POST /interaction/:uid/login — the password step. */
export async function submitPassword(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const email = field(ctx, 'email', 254);
  const password = field(ctx, 'password', 1024);
  const render = (errors: Record<string, string>, status: number) =>
    s.render(ctx, 'interaction/login', pageLocals(l, { values: { email }, errors, demand: s.acr.hint(l.demand) }), status);
  if (!email || !password) {
    return render({ ...(!email && { email: 'Enter your email address.' }), ...(!password && { password: 'Enter your password.' }) }, 400);
  }
  const result = await s.accounts.signIn(email, password, clientIp(ctx));
  s.metrics.signInStep(AMR.password, result.ok ? 'success' : result.reason === 'throttled' ? 'throttled' : 'failure');
  if (!result.ok) {
    await s.audit('login.failed', null, clientIp(ctx), { reason: result.reason });
    if (result.reason === 'throttled') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      // The account-wide lock reads the same whether or not the address has an account (src/guard/unlock.ts).
      if (result.scope === 'account') return render({ form: ACCOUNT_LOCKED }, 429);
      return render({ form: `Too many failed attempts. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minutes.` }, 429);
    }
    if (result.reason === 'disabled') return render({ form: ACCOUNT_DISABLED }, 403);
    return render({ form: GENERIC_FAILURE }, 401);
  }
  // A different account than the signed-in session's starts from scratch (no step-up carried over).
  const now = Math.floor(Date.now() / 1000);
  await startProgress(s, l, {
    accountId: result.account.id, amr: [AMR.password], methods: { [AMR.password]: now }, credential: credentialOf(s, result.account),
  });
  ctx.redirect(`/interaction/${l.uid}`);
}

/** GET /interaction/:uid/register */
export async function showRegister(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  s.render(ctx, 'interaction/register', pageLocals(l));
}

/**
 * POST /interaction/:uid/register — checks the form and mails a code; the account is created only when
 * the code comes back to this sign-in. A taken address gets the same page (and the same work: a hash
 * and one mail), and its owner a notice instead of a code: the page never tells who has an account.
 */
export async function submitRegister(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const values = {
    name: field(ctx, 'name', 200),
    email: field(ctx, 'email', 300),
    phone_number: field(ctx, 'phone_number', 64),
  };
  const password = field(ctx, 'password', 1024);
  const confirm = field(ctx, 'password_confirm', 1024);
  const allowed = await s.guards.registration(clientIp(ctx));
  if (!allowed.ok) {
    ctx.set('Retry-After', String(allowed.retryAfterSeconds));
    const form = `Too many accounts are being created from here or right now. Try again in ${Math.max(1, Math.ceil(allowed.retryAfterSeconds / 60))} minutes.`;
    return s.render(ctx, 'interaction/register', pageLocals(l, { values, errors: { form } }), 429);
  }
  try {
    // Every bad field at once, each next to its field (the mismatch too, not first and alone).
    const mismatch: Record<string, string> = password && confirm !== password ? { password_confirm: 'The passwords don’t match.' } : {};
    try {
      s.accounts.checkRegistration({ ...values, password });
    } catch (err) {
      if (err instanceof FieldErrors) throw new FieldErrors({ ...err.fields, ...mismatch });
      throw err;
    }
    if (Object.keys(mismatch).length) throw new FieldErrors(mismatch);
    const pending = await s.accounts.prepareRegistration({ ...values, password });
    const accountId = randomId(16);
    await startProgress(s, l, { accountId, amr: [], registration: pending });
    await s.audit(pending.taken ? 'account.register_taken' : 'account.register_started', pending.taken ? null : accountId, clientIp(ctx), { client: l.client.id });
    ctx.redirect(`/interaction/${l.uid}`);
  } catch (err) {
    if (!(err instanceof FieldErrors)) throw err;
    s.render(ctx, 'interaction/register', pageLocals(l, { values, errors: err.fields }), 400);
  }
}

/**
 * POST /interaction/:uid/switch-account — from any step back to the password page: whatever this sign-in
 * proved is dropped (a different account starts from scratch).
 */
export async function switchAccount(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  await startProgress(s, l, { accountId: '', amr: [], switching: true });
  ctx.redirect(`/interaction/${l.uid}`);
}

/** POST /interaction/:uid/abort — the user cancels; the app gets access_denied. */
export async function abort(s: Services, ctx: Context) {
  await loadInteraction(s, ctx); // an unknown or finished interaction gets the expired page
  await finishInteraction(s, ctx, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, { mergeWithLastSubmission: false });
}
