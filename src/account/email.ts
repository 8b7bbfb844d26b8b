// /account/email — replacing the account's email address. The new address proves itself with a code
// (the challenge engine, purpose 'email-change') before it replaces the old one: until then the old
// address stays the account's email, confirmed as it was (`email_verified` never describes an address
// nobody proved), and ID tokens and userinfo say the new one only after. The old address hears of the
// change. An address another account has gets the same page and the same work: its owner gets a notice
// instead of a code (as registration does), so no code exists that could finish the change, and the
// page never tells who has an account. Behind the fresh proof, like every change to how one signs in.
import type Router from '@koa/router';
import { pageLocale } from '../http/locale.ts';
import { addressInUseMessage, type TextOptions } from '../notify/templates.ts';
import { isSupported } from '../i18n/catalogue.ts';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { StoreConflictError, type AccountRecord } from '../store/ports.ts';
import { EmailSchema } from '../accounts/service.ts';
import { field, clientIp, originOf } from '../interaction/context.ts';
import { CODE_ERRORS, startFailure, verifyFailure, resendFailure } from '../challenges/messages.ts';

type Handler = (ctx: Context, a: AccountRecord) => Promise<void> | void;
interface Wrappers {
  withProof(page: string, h: Handler): (ctx: Context) => Promise<void>;
}

const PAGE = '/account/email';
const CONTEXT = 'account'; // challenge context for codes started from /account
/** Codes that went to the old address: they stop working once it is no longer the account's. */
const OLD_ADDRESS_PURPOSES = ['password-reset', 'email-login', 'email-enable', 'email-confirm'] as const;

export function emailRoutes(s: Services, r: Router, w: Wrappers) {
  const form = (ctx: Context, a: AccountRecord, value = '', errors: Record<string, string> = {}, status = 200) =>
    s.render(ctx, 'account/email', { account: a, values: { email: value }, errors }, status);

  /** What the owner of a taken address receives instead of a code (in the owner's language when stored). */
  const noticeFor = async (email: string) => {
    const owner = await s.store.accounts.findByEmail(email);
    if (!owner) return undefined;
    return (o: TextOptions) => addressInUseMessage('email-change', email, { ...o, locale: owner.locale && isSupported(owner.locale) ? owner.locale : o.locale });
  };

  const verifyPage = async (ctx: Context, a: AccountRecord, errors: Record<string, string> = {}, status = 200, notice?: string) => {
    const open = await s.store.challenges.findActive(a.id, 'email-change', CONTEXT);
    if (!open) return ctx.redirect(PAGE);
    s.render(ctx, 'account/verify-code', {
      account: a,
      title: 'Confirm your new email',
      lead: 'We emailed a 6-digit code to',
      destination: open.destination,
      label: 'Code from the email',
      cooldown: s.challenges.cooldownLeft(open),
      action: `${PAGE}/verify`,
      resend: `${PAGE}/resend`,
      errors,
      notice,
    }, status);
  };

  r.get('/email', w.withProof(PAGE, (ctx, a) => form(ctx, a)));

  r.post('/email', w.withProof(PAGE, async (ctx, a) => {
    const input = field(ctx, 'email', 1024);
    if (!input.trim()) return form(ctx, a, '', { email: 'Enter your new email address.' }, 400);
    const parsed = EmailSchema.safeParse(input);
    const shown = input.slice(0, 254);
    if (!parsed.success) return form(ctx, a, shown, { email: parsed.error.issues[0]?.message ?? 'Enter a valid email address.' }, 400);
    const email = parsed.data;
    if (email === a.email) return form(ctx, a, shown, { email: 'This is already your email address.' }, 400);
    // A free address gets the code; a taken one its owner's notice. Same page, same work, same caps.
    const started = await s.challenges.start({
      purpose: 'email-change', accountId: a.id, channel: 'email', destination: email, context: CONTEXT, ip: clientIp(ctx), locale: pageLocale(ctx), name: a.name,
      notice: await noticeFor(email),
    });
    if (!started.ok) return form(ctx, a, shown, { email: startFailure(started) }, started.reason === 'limited' ? 429 : 503);
    await s.audit('email.change_started', a.id, clientIp(ctx));
    ctx.redirect(`${PAGE}/verify`);
  }));

  r.get('/email/verify', w.withProof(PAGE, (ctx, a) => verifyPage(ctx, a)));

  r.post('/email/resend', w.withProof(PAGE, async (ctx, a) => {
    const open = await s.store.challenges.findActive(a.id, 'email-change', CONTEXT);
    if (!open) return ctx.redirect(PAGE);
    const res = await s.challenges.resend(open.id, { ip: clientIp(ctx), locale: pageLocale(ctx), name: a.name, notice: await noticeFor(open.destination) });
    if (res.ok) return verifyPage(ctx, a, {}, 200, 'We sent a new code.');
    const failure = resendFailure(res);
    return verifyPage(ctx, a, { code: failure.message }, failure.status);
  }));

  r.post('/email/verify', w.withProof(PAGE, async (ctx, a) => {
    const open = await s.store.challenges.findActive(a.id, 'email-change', CONTEXT);
    if (!open) return form(ctx, a, '', { email: CODE_ERRORS.unknown }, 400);
    const res = await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: a.id, purpose: 'email-change' });
    if (!res.ok) {
      const still = await s.store.challenges.findActive(a.id, 'email-change', CONTEXT);
      if (!still) return form(ctx, a, '', { email: verifyFailure(res) }, 400);
      return verifyPage(ctx, a, { code: verifyFailure(res) }, 400);
    }
    const email = res.challenge.destination;
    try {
      // The store refuses an address taken meanwhile (a registration finished between code and answer).
      await s.store.accounts.update(a.id, { email, emailVerified: true });
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      return form(ctx, a, email, { email: 'We couldn’t change your email to this address. Try another one.' }, 409);
    }
    for (const purpose of OLD_ADDRESS_PURPOSES) await s.store.challenges.voidOpen(a.id, purpose);
    await s.audit('email.changed', a.id, clientIp(ctx), { wasConfirmed: a.emailVerified });
    await s.notices.emailChanged(a, a.email, email, originOf(ctx));
    ctx.redirect('/account?done=email');
  }));
}
