// /account — self-service for a signed-in user: verify or change the phone, turn SMS sign-in on or
// off, recovery codes, password. Each of those needs a fresh proof first (reauth.ts). The page reads the IdP's own session; signing in goes through the normal OIDC
// flow of the built-in first-party client `tessera-account` (response_type=none).
import Router from '@koa/router';
import { pageLocale, rememberLocale } from '../http/locale.ts';
import { isSupported } from '../i18n/catalogue.ts';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import { parsePhone, maskPhone } from '../accounts/phone.ts';
import { field, clientIp, originOf } from '../interaction/context.ts';
import { CODE_ERRORS, startFailure, verifyFailure, resendFailure } from '../challenges/messages.ts';
import { ACCOUNT_CLIENT_ID } from './client.ts';
import { FieldErrors } from '../accounts/service.ts';
import { reauthRoutes, hasFreshProof, proofUrl, sessionUid } from './reauth.ts';
import { factorRoutes, factorOverview, FACTOR_NOTICES } from './factors.ts';
import { passwordReplaced } from '../accounts/credentials.ts';
import { appRoutes } from './apps.ts';
import { deviceRoutes, DEVICE_NOTICES } from './devices.ts';
import { removeAccount } from '../accounts/removal.ts';
import { emailRoutes } from './email.ts';

const CONTEXT = 'account'; // challenge context for codes started from these pages

async function signedIn(s: Services, ctx: Context): Promise<AccountRecord | null> {
  const session = await s.provider.Session.get(ctx as never);
  if (!session?.accountId) return null;
  const account = await s.store.accounts.findById(session.accountId);
  return account && !account.disabled ? account : null; // a disabled account is signed out everywhere
}

function signInUrl(s: Services): string {
  const q = new URLSearchParams({
    client_id: ACCOUNT_CLIENT_ID,
    response_type: 'none',
    scope: 'openid',
    redirect_uri: `${s.config.issuer}/account/callback`,
  });
  return `/auth?${q}`;
}

export function accountRouter(s: Services): Router {
  const r = new Router({ prefix: '/account' });

  // Every page below needs a signed-in account; GETs go to sign-in, POSTs get a 401 page.
  const withAccount = (handler: (ctx: Context, a: AccountRecord) => Promise<void> | void) => async (ctx: Context) => {
    const account = await signedIn(s, ctx);
    if (!account) {
      if (ctx.method === 'GET') return ctx.redirect(signInUrl(s));
      return s.render(ctx, 'error', { title: 'Signed out', message: 'Your session ended. Sign in again to continue.' }, 401);
    }
    return handler(ctx, account);
  };

  // Changing how the account signs in needs a fresh proof (account/reauth.ts); `page` is where the proof
  // leads back to.
  const withProof = (page: string, handler: (ctx: Context, a: AccountRecord) => Promise<void> | void) => withAccount(async (ctx, a) => {
    if (!(await hasFreshProof(s, ctx, a))) return ctx.redirect(proofUrl(page));
    return handler(ctx, a);
  });
  reauthRoutes(s, r, withAccount);

  const overview = (ctx: Context, a: AccountRecord, extra: Record<string, unknown> = {}, status = 200) =>
    s.render(ctx, 'account/overview', {
      account: a,
      phone: a.phoneNumber ? maskPhone(a.phoneNumber) : null,
      phoneFull: a.phoneNumber,
      ...factorOverview(s, a),
      ...extra,
    }, status);

  r.get('/', withAccount((ctx, a) => overview(ctx, a, { notice: typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined })));
  r.get('/callback', (ctx) => {
    if (typeof ctx.query.error === 'string') {
      return s.render(ctx, 'error', { title: 'Not signed in', message: 'Sign-in was cancelled or failed. You can try again.' }, 400);
    }
    ctx.redirect('/account');
  });

  // ---- phone number: add / change, verified by SMS before it replaces the old one ----
  r.get('/phone', withProof('/account/phone', (ctx, a) => s.render(ctx, 'account/phone', { account: a, values: { phone_number: '' } })));
  r.post('/phone', withProof('/account/phone', async (ctx, a) => {
    const input = field(ctx, 'phone_number', 64);
    const parsed = parsePhone(input, s.config.sms.defaultRegion, s.config.sms.allowedCountries, s.config.sms.deniedPrefixes);
    if (!parsed.ok) return s.render(ctx, 'account/phone', { account: a, values: { phone_number: input }, errors: { phone_number: parsed.error } }, 400);
    if (parsed.e164 === a.phoneNumber && a.phoneNumberVerified)
      return s.render(ctx, 'account/phone', { account: a, values: { phone_number: input }, errors: { phone_number: 'This number is already verified on your account.' } }, 400);
    const started = await s.challenges.start({ purpose: 'phone-verify', accountId: a.id, channel: 'sms', destination: parsed.e164, context: CONTEXT, ip: clientIp(ctx), locale: pageLocale(ctx) });
    if (!started.ok) return s.render(ctx, 'account/phone', { account: a, values: { phone_number: input }, errors: { phone_number: startFailure(started) } }, 503);
    ctx.redirect('/account/phone/verify');
  }));

  const verifyPage = async (ctx: Context, a: AccountRecord, purpose: 'phone-verify', errors: Record<string, string> = {}, status = 200, notice?: string) => {
    const open = await s.store.challenges.findActive(a.id, purpose, CONTEXT);
    if (!open) return ctx.redirect(purpose === 'phone-verify' ? '/account/phone' : '/account');
    s.render(ctx, 'account/verify-code', {
      account: a,
      title: 'Verify your phone',
      lead: 'We texted a 6-digit code to',
      destination: maskPhone(open.destination),
      label: 'Code from the text message',
      cooldown: s.challenges.cooldownLeft(open),
      action: '/account/phone/verify',
      resend: '/account/phone/resend',
      errors,
      notice,
    }, status);
  };

  const checkCode = async (ctx: Context, a: AccountRecord, purpose: 'phone-verify') => {
    const open = await s.store.challenges.findActive(a.id, purpose, CONTEXT);
    if (!open) return { ok: false as const, message: CODE_ERRORS.unknown, challenge: null };
    const res = await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: a.id, purpose });
    if (res.ok) return { ok: true as const, challenge: res.challenge };
    return { ok: false as const, message: verifyFailure(res), challenge: null };
  };

  const resend = (purpose: 'phone-verify') => withProof('/account/phone', async (ctx, a) => {
    const open = await s.store.challenges.findActive(a.id, purpose, CONTEXT);
    if (!open) return ctx.redirect(purpose === 'phone-verify' ? '/account/phone' : '/account');
    const res = await s.challenges.resend(open.id, { ip: clientIp(ctx), locale: pageLocale(ctx) });
    if (res.ok) return verifyPage(ctx, a, purpose, {}, 200, 'We sent a new code.');
    const failure = resendFailure(res);
    return verifyPage(ctx, a, purpose, { code: failure.message }, failure.status);
  });

  r.get('/phone/verify', withProof('/account/phone', (ctx, a) => verifyPage(ctx, a, 'phone-verify')));
  r.post('/phone/resend', resend('phone-verify'));
  r.post('/phone/verify', withProof('/account/phone', async (ctx, a) => {
    const res = await checkCode(ctx, a, 'phone-verify');
    if (!res.ok) {
      const still = await s.store.challenges.findActive(a.id, 'phone-verify', CONTEXT);
      if (!still) return s.render(ctx, 'account/phone', { account: a, values: { phone_number: '' }, errors: { phone_number: res.message } }, 400);
      return verifyPage(ctx, a, 'phone-verify', { code: res.message }, 400);
    }
    const oldPhone = a.phoneNumberVerified ? a.phoneNumber : null;
    await s.store.accounts.update(a.id, { phoneNumber: res.challenge.destination, phoneNumberVerified: true });
    await s.audit('phone.verified', a.id, clientIp(ctx), { inline: false, replaced: Boolean(oldPhone) });
    await s.notices.phoneChanged(a, oldPhone, res.challenge.destination, originOf(ctx));
    ctx.redirect('/account?done=phone');
  }));

  factorRoutes(s, r, { withAccount, withProof, overview });
  appRoutes(s, r, { withAccount });
  deviceRoutes(s, r, { withAccount });

  // ---- delete the account: fresh proof, then a confirmation naming the address ----
  r.get('/delete', withProof('/account/delete', (ctx, a) => s.render(ctx, 'account/delete', { account: a, values: {} })));
  r.post('/delete', withProof('/account/delete', async (ctx, a) => {
    const typed = field(ctx, 'confirm_email', 320).trim().toLowerCase();
    if (typed !== a.email)
      return s.render(ctx, 'account/delete', { account: a, values: { confirm_email: typed }, errors: { confirm_email: 'Type your email address exactly as shown to confirm.' } }, 400);
    // Audited first: the record must exist even if something below fails halfway.
    await s.audit('account.deleted', a.id, clientIp(ctx), { email: a.email, by: 'self' });
    await removeAccount(s.store, a.id);
    await s.notices.accountDeleted(a, originOf(ctx));
    s.render(ctx, 'message', { title: 'Your account was deleted', message: 'You were signed out everywhere, and the apps you used with it lost access. We sent a confirmation to your email address.' });
  }));
  emailRoutes(s, r, { withProof });

  // ---- profile and password ----
  r.get('/profile', withAccount((ctx, a) => s.render(ctx, 'account/profile', { account: a, values: { name: a.name } })));
  r.post('/profile', withAccount(async (ctx, a) => {
    const name = field(ctx, 'name', 200).trim();
    // The account's language (emails and texts follow it); the pages follow it too from now on.
    const locale = field(ctx, 'locale', 16);
    const chosen = isSupported(locale) ? locale : undefined;
    if (!name || name.length > 100)
      return s.render(ctx, 'account/profile', { account: a, values: { name, locale: chosen }, errors: { name: name ? 'Use at most 100 characters.' : 'Enter your name.' } }, 400);
    await s.store.accounts.update(a.id, { name, ...(chosen ? { locale: chosen } : {}) });
    if (chosen) rememberLocale(ctx, chosen);
    ctx.redirect('/account?done=profile');
  }));
  r.get('/password', withProof('/account/password', (ctx, a) => s.render(ctx, 'account/password', { account: a })));
  r.post('/password', withProof('/account/password', async (ctx, a) => {
    const again = (errors: Record<string, string>, status = 400) => s.render(ctx, 'account/password', { account: a, errors }, status);
    const next = field(ctx, 'password', 1024);
    if (next !== field(ctx, 'password_confirm', 1024)) return again({ password_confirm: 'The passwords don’t match.' });
    try {
      await s.accounts.setPassword(a.id, next);
    } catch (err) {
      if (err instanceof FieldErrors) return again(err.fields);
      throw err;
    }
    // Every other browser is signed out and every app's tokens are revoked; this browser stays signed in.
    const uid = await sessionUid(s, ctx);
    await passwordReplaced(s, a, { how: 'changed', from: originOf(ctx), keepSessionUid: uid ?? undefined });
    ctx.redirect('/account?done=password');
  }));

  return r;
}

const NOTICES: Record<string, string> = {
  ...FACTOR_NOTICES,
  ...DEVICE_NOTICES,
  phone: 'Your phone number is verified.',
  email: 'Your email address was changed.',
  profile: 'Your profile was saved.',
  password: 'Your password was changed.',
};
