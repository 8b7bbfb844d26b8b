// Steps after the password: confirm the email, the SMS code (sign-in or inline phone enrolment),
// a recovery code instead, and adding a phone when a relying party demands SMS.
import { pageLocale } from '../http/locale.ts';
import { addressInUseMessage, type TextOptions } from '../notify/templates.ts';
import type { Context } from 'koa';
import type { AccountRecord } from '../store/ports.ts';
import type { Services } from '../services.ts';
import { AMR } from '../oidc/acr.ts';
import { maskPhone, parsePhone } from '../accounts/phone.ts';
import { SessionExpired } from '../errors.ts';
import {
  loadInteraction, currentProgress, currentSignIn, nextStep, finishUnmet, field, clientIp, originOf, startProgress, credentialOf, type Loaded,
} from './context.ts';
import { clearProgress } from './progress.ts';
import { pageLocals } from './login.ts';
import type { LoginProgress } from './progress.ts';

import { startFailure, verifyFailure, resendFailure } from '../challenges/messages.ts';

/**
 * The link in a confirmation mail leads back into the same sign-in: it works only in the browser that
 * holds the sign-in (its interaction cookie), and only by a click on a button (a POST), so neither a mail
 * scanner nor someone else's browser can confirm an address and finish another person's sign-in.
 */
export function emailLink(s: Services, uid: string) {
  return (_challengeId: string, code: string) => `${s.config.issuer}/interaction/${encodeURIComponent(uid)}/email/link?code=${code}`;
}

export async function progressOrExpire(s: Services, l: Loaded) {
  const signIn = await currentSignIn(s, l);
  if (!signIn) throw new SessionExpired();
  return signIn;
}

// ---- email confirmation -------------------------------------------------------------------------

/** The address being confirmed in this sign-in: a pending registration's, or an existing account's. */
interface Confirming {
  accountId: string;
  email: string;
  name: string;
  notice?: (o: TextOptions) => { subject: string; text: string; html?: string };
}

function confirmingOf(s: Services, p: LoginProgress | null, account: AccountRecord | null): Confirming | null {
  if (p?.registration) {
    const r = p.registration;
    return { accountId: p.accountId, email: r.email, name: r.name, notice: r.taken ? registrationAttemptNotice(r.email) : undefined };
  }
  return account ? { accountId: account.id, email: account.email, name: account.name } : null;
}

async function renderEmailConfirm(s: Services, ctx: Context, l: Loaded, c: Confirming, extra: Record<string, unknown> = {}, status = 200) {
  const started = await s.challenges.start({
    purpose: 'email-confirm', accountId: c.accountId, channel: 'email', destination: c.email, context: l.uid,
    ip: clientIp(ctx), locale: pageLocale(ctx), name: c.name, link: emailLink(s, l.uid), notice: c.notice,
  });
  const errors = started.ok ? {} : { code: startFailure(started) };
  s.render(ctx, 'interaction/email-confirm', pageLocals(l, { email: c.email, errors, sent: started.ok, ...extra }), started.ok ? status : 503);
}

export async function showEmailConfirm(s: Services, ctx: Context, l: Loaded, account: AccountRecord, extra: Record<string, unknown> = {}, status = 200) {
  return renderEmailConfirm(s, ctx, l, confirmingOf(s, null, account)!, extra, status);
}

export async function showRegistrationConfirm(s: Services, ctx: Context, l: Loaded, p: LoginProgress, extra: Record<string, unknown> = {}, status = 200) {
  return renderEmailConfirm(s, ctx, l, confirmingOf(s, p, null)!, extra, status);
}

/** The sign-in's address being confirmed, from a pending registration or the signed-in account. */
async function confirmingNow(s: Services, l: Loaded): Promise<{ c: Confirming; p: LoginProgress } > {
  const p = await currentProgress(s, l);
  if (p?.registration) return { c: confirmingOf(s, p, null)!, p };
  const signIn = await progressOrExpire(s, l);
  return { c: confirmingOf(s, null, signIn.account)!, p: signIn.p };
}

export async function submitEmailCode(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const { c, p } = await confirmingNow(s, l);
  const open = await s.store.challenges.findActive(c.accountId, 'email-confirm', l.uid);
  const result = open ? await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: c.accountId, purpose: 'email-confirm' }) : ({ ok: false, reason: 'unknown' } as const);
  if (!result.ok) return renderEmailConfirm(s, ctx, l, c, { errors: { code: verifyFailure(result) } }, 400);
  if (p.registration) {
    const account = await s.accounts.completeRegistration(p.accountId, p.registration, { locale: pageLocale(ctx) });
    if (!account) {
      await clearProgress(s.store, l.uid);
      return s.render(ctx, 'interaction/register', pageLocals(l, { values: { email: p.registration.email, name: p.registration.name }, errors: { form: 'We couldn’t create this account. If you already have one, sign in or reset your password.' } }), 409);
    }
    await s.audit('account.registered', account.id, clientIp(ctx), { client: l.client.id });
    const now = Math.floor(Date.now() / 1000);
    await startProgress(s, l, { accountId: account.id, amr: [AMR.password], methods: { [AMR.password]: now }, credential: credentialOf(s, account) });
  } else {
    await s.store.accounts.update(c.accountId, { emailVerified: true });
  }
  await s.audit('email.confirmed', c.accountId, clientIp(ctx));
  ctx.redirect(`/interaction/${l.uid}`);
}

/** GET /interaction/:uid/email/link — from the mail: a button that confirms here (POST), nothing on GET. */
export async function showEmailLink(s: Services, ctx: Context) {
  let l: Loaded;
  try {
    l = await loadInteraction(s, ctx);
  } catch {
    return s.render(ctx, 'message', {
      title: 'Open this link where you signed up',
      message: 'This link only works in the browser where you started creating your account. Go back to that window and type the code from the email there.',
    }, 400);
  }
  const { c } = await confirmingNow(s, l);
  const code = typeof ctx.query.code === 'string' ? ctx.query.code.replace(/\D/g, '').slice(0, 10) : '';
  s.render(ctx, 'interaction/email-link', pageLocals(l, { email: c.email, code }));
}

export async function resendEmailCode(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const { c } = await confirmingNow(s, l);
  const open = await s.store.challenges.findActive(c.accountId, 'email-confirm', l.uid);
  if (open) {
    const r = await s.challenges.resend(open.id, { ip: clientIp(ctx), locale: pageLocale(ctx), name: c.name, link: emailLink(s, l.uid), notice: c.notice });
    if (!r.ok && r.reason !== 'gone') {
      const failure = resendFailure(r);
      return renderEmailConfirm(s, ctx, l, c, { errors: { code: failure.message } }, failure.status);
    }
  }
  return renderEmailConfirm(s, ctx, l, c, { notice: 'We sent a new code.' });
}

/** What the owner of a taken address receives when someone tries to register it. */
function registrationAttemptNotice(email: string) {
  return (o: TextOptions) => addressInUseMessage('registration', email, o);
}

// ---- SMS ----------------------------------------------------------------------------------------

// A phone being added inside the sign-in is verified here (the sign-in's factor steps are factor-step.ts).

export async function showPhoneVerify(s: Services, ctx: Context, l: Loaded, account: AccountRecord, destination: string, extra: Record<string, unknown> = {}, status = 200) {
  // Sent once when the step opens: a reload finds the open challenge and sends nothing.
  const started = await s.challenges.start({ purpose: 'phone-verify', accountId: account.id, channel: 'sms', destination, context: l.uid, ip: clientIp(ctx), locale: pageLocale(ctx) });
  const errors = started.ok ? {} : { code: startFailure(started) };
  const cooldown = started.ok ? s.challenges.cooldownLeft(started.challenge) : 0;
  s.render(ctx, 'interaction/sms', phoneLocals(l, destination, cooldown, started.ok, { errors, ...extra }), started.ok ? status : 503);
}

function phoneLocals(l: Loaded, destination: string, cooldown: number, sent: boolean, extra: Record<string, unknown>) {
  return pageLocals(l, { phone: maskPhone(destination), enrolling: true, sent, cooldown, rememberDays: 0, ...extra });
}

async function renderPhoneAgain(s: Services, ctx: Context, l: Loaded, account: AccountRecord, destination: string, errors: Record<string, string>, status: number) {
  const open = await s.store.challenges.findActive(account.id, 'phone-verify', l.uid);
  s.render(ctx, 'interaction/sms', phoneLocals(l, destination, open ? s.challenges.cooldownLeft(open) : 0, Boolean(open), { errors }), status);
}

/** POST /interaction/:uid/sms while a phone is being added: its code. */
export async function submitPhoneCode(s: Services, ctx: Context, l: Loaded, account: AccountRecord, p: LoginProgress, destination: string) {
  const open = await s.store.challenges.findActive(account.id, 'phone-verify', l.uid);
  const result = open && open.destination === destination ? await s.challenges.verify(open.id, field(ctx, 'code', 20)) : ({ ok: false, reason: 'unknown' } as const);
  s.metrics.signInStep(AMR.sms, result.ok ? 'success' : result.reason === 'locked' ? 'throttled' : 'failure');
  if (!result.ok) {
    await s.audit('mfa.failed', account.id, clientIp(ctx), { factor: 'sms', reason: result.reason, inline: true });
    return renderPhoneAgain(s, ctx, l, account, destination, { code: verifyFailure(result) }, 400);
  }
  await s.store.accounts.update(account.id, { phoneNumber: destination, phoneNumberVerified: true });
  await s.audit('phone.verified', account.id, clientIp(ctx), { inline: true });
  await s.notices.phoneChanged(account, account.phoneNumberVerified ? account.phoneNumber : null, destination, originOf(ctx));
  await startProgress(s, l, { ...p, enrolPhone: undefined, amr: [...p.amr, AMR.sms], methods: { ...p.methods, [AMR.sms]: Math.floor(Date.now() / 1000) } });
  ctx.redirect(`/interaction/${l.uid}`);
}

export async function resendPhoneCode(s: Services, ctx: Context, l: Loaded, account: AccountRecord, destination: string) {
  const open = await s.store.challenges.findActive(account.id, 'phone-verify', l.uid);
  if (!open) return showPhoneVerify(s, ctx, l, account, destination);
  const r = await s.challenges.resend(open.id, { ip: clientIp(ctx), locale: pageLocale(ctx) });
  if (r.ok) return renderPhoneAgain(s, ctx, l, account, destination, {}, 200);
  if (r.reason === 'gone') return showPhoneVerify(s, ctx, l, account, destination);
  const failure = resendFailure(r);
  return renderPhoneAgain(s, ctx, l, account, destination, { code: failure.message }, failure.status);
}

// ---- adding a phone inside the sign-in (a relying party demands SMS, the account has no phone) --------

export async function showEnrolPhone(s: Services, ctx: Context, l: Loaded, account: AccountRecord, extra: Record<string, unknown> = {}, status = 200) {
  s.render(ctx, 'interaction/enrol-phone', pageLocals(l, { values: { phone_number: account.phoneNumber ?? '' }, ...extra }), status);
}

export async function submitEnrolPhone(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const { p, account } = await progressOrExpire(s, l);
  if (nextStep(s, account, p, l.demand).step !== 'enrol-phone') return ctx.redirect(`/interaction/${l.uid}`);
  const input = field(ctx, 'phone_number', 64);
  const parsed = parsePhone(input, s.config.sms.defaultRegion, s.config.sms.allowedCountries, s.config.sms.deniedPrefixes);
  if (!parsed.ok) return showEnrolPhone(s, ctx, l, account, { values: { phone_number: input }, errors: { phone_number: parsed.error } }, 400);
  await startProgress(s, l, { ...p, enrolPhone: parsed.e164 });
  ctx.redirect(`/interaction/${l.uid}`);
}

/** POST /interaction/:uid/enrol-phone/decline — the RP gets unmet_authentication_requirements. */
export async function declineEnrolPhone(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const p = await currentProgress(s, l);
  await finishUnmet(s, ctx, l, 'The user has no verified phone for the SMS sign-in the app requires.', p?.accountId ?? null);
}

/** POST /interaction/:uid/enrol-phone/change — back to the number form (typo in the number). */
export async function changeEnrolPhone(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const { p } = await progressOrExpire(s, l);
  if (p.enrolPhone) {
    await s.store.challenges.voidOpen(p.accountId, 'phone-verify');
    await startProgress(s, l, { ...p, enrolPhone: undefined });
  }
  ctx.redirect(`/interaction/${l.uid}`);
}
