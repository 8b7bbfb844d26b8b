// /account/mfa/:type — turning second factors on and off, the preferred method and recovery codes, for
// every factor through the registry (factors/registry.ts). Every change needs the fresh proof first
// (reauth.ts), is audited, and the user gets a notice.
import type Router from '@koa/router';
import { pageLocale } from '../http/locale.ts';
import { translator } from '../i18n/catalogue.ts';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import type { Factor, FactorContext, EnrolStarted } from '../factors/factor.ts';
import { afterRemoving, hasFactor, recoveryCodesLeft, secondFactors, withFactor, type SecondFactorType } from '../factors/records.ts';
import { field, clientIp, originOf } from '../interaction/context.ts';
import { sessionUid } from './reauth.ts';

type Handler = (ctx: Context, a: AccountRecord) => Promise<void> | void;
interface Wrappers {
  withAccount(h: Handler): (ctx: Context) => Promise<void>;
  withProof(page: string, h: Handler): (ctx: Context) => Promise<void>;
  overview(ctx: Context, a: AccountRecord, extra?: Record<string, unknown>, status?: number): void;
}

export const FACTOR_NOTICES: Record<string, string> = {
  'sms-on': 'SMS sign-in is on.',
  'sms-off': 'SMS sign-in is off.',
  'email-on': 'Sign-in codes by email are on.',
  'email-off': 'Sign-in codes by email are off.',
  'totp-on': 'Your authenticator app is set up.',
  'totp-off': 'Your authenticator app was removed.',
  preferred: 'Your preferred sign-in method was saved.',
};

/** The overview's two-step section: each factor's state, the preferred one, recovery codes, a checkup line. */
export function factorOverview(s: Services, a: AccountRecord) {
  const enabled = secondFactors(a.factors).filter((t) => s.factors.get(t).enabled(a));
  const rows = (['totp', 'sms', 'email'] as const).map((t) => {
    const f = s.factors.get(t);
    const rec = a.factors.find((x) => x.type === t);
    return { type: t, name: f.name, on: f.enabled(a), lastUsed: rec?.lastUsedAt ?? null, blocked: f.enrolment?.blocked(a) ?? null };
  });
  const checkup = enabled.length === 0
    ? 'Your account is protected by your password alone. Turn on two-step sign-in: an authenticator app is the safest choice.'
    : enabled.length === 1 && enabled[0] === 'sms'
    ? 'Text messages can be intercepted or redirected. An authenticator app is safer: add one, and keep SMS as a backup.'
    : null;
  return { factorRows: rows, enabledCount: enabled.length, preferred: a.preferredMfa, recoveryLeft: recoveryCodesLeft(a.factors), checkup };
}

function isSecondFactor(type: string): type is SecondFactorType {
  return type === 'sms' || type === 'email' || type === 'totp';
}

export function factorRoutes(s: Services, r: Router, w: Wrappers) {
  const words = (type: SecondFactorType) => s.factors.get(type).enrolment!.words;
  const fctx = async (ctx: Context): Promise<FactorContext> => ({ ip: clientIp(ctx), context: `account:${(await sessionUid(s, ctx)) ?? 'none'}`, locale: pageLocale(ctx) });

  /** The enrolment step's page: a code to type, or a QR code to scan. */
  const enrolPage = (ctx: Context, a: AccountRecord, type: SecondFactorType, started: Extract<EnrolStarted, { ok: true }>, errors: Record<string, string> = {}, status = 200, notice?: string) => {
    if (started.kind === 'secret') {
    return s.render(ctx, 'account/enrol-totp', { account: a, qr: started.qr, secretGroups: started.secret.replace(/(.{4})/g, '$1 ').trim(), errors }, status);
    }
    return s.render(ctx, 'account/verify-code', {
    account: a, title: words(type).on, lead: words(type).lead, destination: started.destination, label: words(type).label,
    cooldown: started.cooldown, action: `/account/mfa/${type}/confirm`, resend: `/account/mfa/${type}/resend`, errors, notice,
    }, status);
  };

  /** A route for one factor (from the path), behind the fresh proof that leads back to its page. */
  const forFactor = (page: 'enable' | 'disable', h: (ctx: Context, a: AccountRecord, type: SecondFactorType, factor: Factor) => Promise<void> | void) =>
    async (ctx: Context) => {
    const type = String(ctx.params.type);
    if (!isSecondFactor(type)) return ctx.redirect('/account');
    return w.withProof(`/account/mfa/${type}/${page}`, (ctx2, a) => h(ctx2, a, type, s.factors.get(type)))(ctx);
    };

  // GET: the step in progress (a reload), or the page that starts it.
  r.get('/mfa/:type/enable', forFactor('enable', async (ctx2, a2, type, factor) => {
    if (factor.enabled(a2) || !factor.enrolment) return ctx2.redirect('/account');
    const blocked = factor.enrolment.blocked(a2);
    if (blocked) return w.overview(ctx2, a2, { errors: { mfa: blocked } }, 400);
    const again = await factor.enrolment.again(a2, await fctx(ctx2));
    if (again.ok) return enrolPage(ctx2, a2, type, again);
    s.render(ctx2, 'account/confirm-action', { account: a2, title: words(type).on, action: `/account/mfa/${type}/enable`, button: words(type).button, text: words(type).start });
  }));

  r.post('/mfa/:type/enable', forFactor('enable', async (ctx2, a2, type, factor) => {
    if (factor.enabled(a2) || !factor.enrolment) return ctx2.redirect('/account');
    // Always the destination on file: anything typed into this form is ignored by design.
    const started = await factor.enrolment.begin(a2, await fctx(ctx2));
    if (!started.ok) return w.overview(ctx2, a2, { errors: { mfa: started.message } }, started.status);
    return enrolPage(ctx2, a2, type, started);
  }));

  r.post('/mfa/:type/resend', forFactor('enable', async (ctx2, a2, type, factor) => {
    if (!factor.enrolment) return ctx2.redirect('/account');
    const c = await fctx(ctx2);
    const r2 = await factor.enrolment.resend(a2, c);
    if (r2.ok) return enrolPage(ctx2, a2, type, r2, {}, 200, 'We sent a new code.');
    const shown = await factor.enrolment.again(a2, c);
    if (!shown.ok) return w.overview(ctx2, a2, { errors: { mfa: r2.message } }, r2.status);
    return enrolPage(ctx2, a2, type, shown, { code: r2.message }, r2.status);
  }));

  r.post('/mfa/:type/confirm', forFactor('enable', async (ctx2, a2, type, factor) => {
    if (!factor.enrolment) return ctx2.redirect('/account');
    const c = await fctx(ctx2);
    const done = await factor.enrolment.finish(a2, field(ctx2, 'code', 20), c);
    if (!done.ok) {
      const shown = await factor.enrolment.again(a2, c);
      if (!shown.ok || done.status === 409) return w.overview(ctx2, a2, { errors: { mfa: done.message } }, done.status);
      return enrolPage(ctx2, a2, type, shown, { code: done.message }, done.status);
    }
    const firstFactor = secondFactors(a2.factors).length === 0;
    // From the account as it is now, not as the request began: a recovery code or authenticator step used
    // meanwhile must not come back.
    const now = (await s.store.accounts.findById(a2.id)) ?? a2;
    const updated = await s.store.accounts.update(a2.id, { factors: withFactor(now.factors, done.record) });
    await s.audit('mfa.enabled', a2.id, clientIp(ctx2), { factor: type });
    await s.notices.factorChanged(a2, factor.name, 'on', originOf(ctx2));
    if (firstFactor || recoveryCodesLeft(a2.factors) === 0) {
      const codes = await s.recovery.generate(a2.id);
      return s.render(ctx2, 'account/recovery-codes', { account: updated, codes, reason: 'enabled', factorName: factor.name, download: recoveryText(codes, translator(pageLocale(ctx2))('recovery.fileHeading', { product: s.config.brand.name })) });
    }
    ctx2.redirect(`/account?done=${type}-on`);
  }));

  // Turning a factor off: the fresh proof (with that factor, or another) first.
  r.get('/mfa/:type/disable', forFactor('disable', (ctx2, a2, type) => {
    const last = secondFactors(a2.factors).length <= 1;
    s.render(ctx2, 'account/confirm-action', {
    account: a2, title: words(type).off, action: `/account/mfa/${type}/disable`, button: words(type).off,
    text: last ? 'Your sign-in will need only your password. Your recovery codes stop working.' : 'Your other two-step methods stay on.',
    });
  }));

  r.post('/mfa/:type/disable', forFactor('disable', async (ctx2, a2, type, factor) => {
    if (!hasFactor(a2.factors, type)) return ctx2.redirect('/account');
    const now = (await s.store.accounts.findById(a2.id)) ?? a2;
    await s.store.accounts.update(a2.id, { factors: afterRemoving(now.factors, type), ...(now.preferredMfa === type ? { preferredMfa: null } : {}) });
    await s.audit('mfa.disabled', a2.id, clientIp(ctx2), { factor: type });
    await s.notices.factorChanged(a2, factor.name, 'off', originOf(ctx2));
    ctx2.redirect(`/account?done=${type}-off`);
  }));

  // Which enabled method the sign-in shows first (a relying party's demand still overrides it).
  r.post('/mfa/preferred', w.withAccount(async (ctx, a) => {
    const type = field(ctx, 'preferred', 20);
    if (!isSecondFactor(type) || !s.factors.get(type).enabled(a)) return w.overview(ctx, a, { errors: { mfa: 'Choose one of the methods that are on.' } }, 400);
    await s.store.accounts.update(a.id, { preferredMfa: type });
    await s.audit('mfa.preferred', a.id, clientIp(ctx), { factor: type });
    ctx.redirect('/account?done=preferred');
  }));

  // New recovery codes: the old ones stop working.
  r.get('/recovery', w.withProof('/account/recovery', (ctx, a) => s.render(ctx, 'account/confirm-action', {
    account: a, title: 'New recovery codes', action: '/account/recovery', button: 'Create new codes',
    text: 'Your current recovery codes stop working, and you get 10 new ones.',
  })));
  r.post('/recovery', w.withProof('/account/recovery', async (ctx, a) => {
    if (!secondFactors(a.factors).length) return ctx.redirect('/account');
    const codes = await s.recovery.generate(a.id);
    await s.audit('mfa.recovery_regenerated', a.id, clientIp(ctx));
    await s.notices.recoveryCodesRegenerated(a, originOf(ctx));
    s.render(ctx, 'account/recovery-codes', { account: a, codes, reason: 'regenerated', download: recoveryText(codes, translator(pageLocale(ctx))('recovery.fileHeading', { product: s.config.brand.name })) });
  }));
}

/** The codes as a text file's data: URL, for the page's download link (nothing is sent anywhere). */
function recoveryText(codes: string[], heading: string): string {
  const text = [heading, '', ...codes, ''].join('\n');
  return `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`;
}
