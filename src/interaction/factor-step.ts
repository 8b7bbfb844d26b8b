// The sign-in's second step, for whichever factor the decision picked (factors/decide.ts): start it
// (send a code, or nothing), check the answer, resend, "try another way", cancel. Every factor is reached
// through the registry; this file knows no factor by name but for its page's words.
import type { Context } from 'koa';
import type { AccountRecord } from '../store/ports.ts';
import type { Services } from '../services.ts';
import type { Factor, FactorContext, Started } from '../factors/factor.ts';
import type { FactorType } from '../factors/records.ts';
import { recoveryCodesLeft } from '../factors/records.ts';
import { loadInteraction, nextStep, field, clientIp, originOf, startProgress, type Loaded, type NextStep } from './context.ts';
import type { LoginProgress } from './progress.ts';
import { pageLocals } from './login.ts';
import { progressOrExpire, submitPhoneCode, resendPhoneCode } from './second-factor.ts';
import { rememberBrowser, isRemembered } from '../factors/remember.ts';
import { maskPhone } from '../accounts/phone.ts';
import { maskEmail } from '../factors/email/factor.ts';
import { pageLocale } from '../http/locale.ts';

type FactorStep = Extract<NextStep, { step: 'factor' }>;

const ctxOf = (ctx: Context, l: Loaded): FactorContext => ({ ip: clientIp(ctx), context: l.uid, locale: pageLocale(ctx) });

/** Opens the step (a code goes out once; a reload sends nothing new) and shows it. */
export async function showFactorStep(s: Services, ctx: Context, l: Loaded, account: AccountRecord, p: LoginProgress, next: FactorStep) {
  const factor = s.factors.get(next.factor);
  const started = await factor.start(account, ctxOf(ctx, l));
  return renderStep(s, ctx, l, account, p, next, factor, shownAs(started), {}, started.ok ? 200 : started.status);
}

/** What the page says after start(): where the code went, or why none could go (never a false "we texted"). */
function shownAs(started: Started): StepState {
  return started.ok ? { sent: true, destination: started.destination, cooldown: started.cooldown } : { unavailable: started.message };
}

interface StepState {
  sent?: boolean;
  destination?: string | null;
  cooldown?: number;
  /** Why the code couldn't go out (caps, an outage): said instead of "we sent", with the other ways. */
  unavailable?: string;
  notice?: string;
}

function renderStep(s: Services, ctx: Context, l: Loaded, account: AccountRecord, p: LoginProgress, next: FactorStep, factor: Factor, state: StepState, errors: Record<string, string>, status: number) {
  const words = factor.words;
  const others = next.others.map((t) => ({ type: t, offer: s.factors.get(t).offer }));
  s.render(ctx, 'interaction/second-step', pageLocals(l, {
    factor: factor.type,
    // Never a heading that implies a code is on its way when none could be sent.
    title: state.unavailable && (factor.type === 'sms' || factor.type === 'email') ? `We couldn’t ${factor.type === 'sms' ? 'text' : 'email'} you a code` : words.title,
    lead: state.unavailable ? null : words.lead(state.destination ?? null),
    answerField: words.field,
    answerLabel: words.label,
    unavailable: state.unavailable,
    notice: state.notice,
    resendable: (factor.type === 'sms' || factor.type === 'email') && !state.unavailable,
    cooldown: state.cooldown ?? 0,
    others: others.filter((o) => o.type !== 'recovery'),
    recoveryOffered: next.others.includes('recovery'),
    recoveryLeft: recoveryCodesLeft(account.factors),
    demandsSms: s.acr.hint(l.demand) === 2,
    stepUp: Boolean(p.stepUp),
    rememberDays: next.rememberable && factor.type !== 'recovery' ? s.config.mfa.rememberBrowserDays : 0,
    errors,
  }), status);
}

/** The current step, when it is a factor step; anything else sends the browser to the dispatcher. */
async function current(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const { p, account } = await progressOrExpire(s, l);
  const next = nextStep(s, account, p, l.demand, await isRemembered(ctx, { keys: s.cookieKeys, browsers: s.store.browsers }, account));
  return { l, p, account, next };
}

/** POST /interaction/:uid/factor/:type — an answer to the current step's factor, or to one of its "other ways". */
export async function submitFactor(s: Services, ctx: Context, type: string) {
  const { l, p, account, next } = await current(s, ctx);
  if (next.step === 'phone-verify' && type === 'sms') return submitPhoneCode(s, ctx, l, account, p, next.destination);
  if (next.step !== 'factor' || (type !== next.factor && !next.others.includes(type as FactorType))) return ctx.redirect(`/interaction/${l.uid}`);
  const factor = s.factors.get(type as FactorType);
  const words = factor.words;
  const checked = await factor.verify(account, field(ctx, words.field, 40), ctxOf(ctx, l));
  s.metrics.signInStep(factor.amr, checked.ok ? 'success' : checked.status === 429 ? 'throttled' : 'failure');
  if (!checked.ok) {
    await s.audit('mfa.failed', account.id, clientIp(ctx), { factor: factor.type, client: l.client.id });
    // The same step again, the error next to the field that was used (a recovery code's inside its open section).
    const main = s.factors.get(next.factor);
    if (main.type === factor.type) {
      const cooldown = 'cooldown' in main ? await (main as unknown as { cooldown(a: AccountRecord, c: FactorContext): Promise<number> }).cooldown(account, ctxOf(ctx, l)) : 0;
      return renderStep(s, ctx, l, account, p, next, main, { sent: true, cooldown, destination: destinationOf(s, main, account) }, { [words.field]: checked.message }, checked.status);
    }
    // Another way was tried on this page (a recovery code): the main step is shown as a reload shows it, so
    // a code that couldn't go out (a cap, an outage) is still said so, not turned into "we texted".
    const shown = await main.start(account, ctxOf(ctx, l));
    return renderStep(s, ctx, l, account, p, next, main, shownAs(shown), { [words.field]: checked.message }, checked.status);
  }
  await s.audit(factor.type === 'recovery' ? 'mfa.recovery_code_used' : 'mfa.succeeded', account.id, clientIp(ctx), { factor: factor.type });
  // Not awaited: a slow mail server never holds up a sign-in (the notice logs its own failure).
  if (factor.type === 'recovery') void s.notices.recoveryCodeUsed(account, recoveryCodesLeft(account.factors) - 1, originOf(ctx));
  if (field(ctx, 'remember_browser') === 'yes' && next.rememberable && factor.type !== 'recovery' && s.config.mfa.rememberBrowserDays > 0) {
    await rememberBrowser(ctx, { keys: s.cookieKeys, browsers: s.store.browsers, ip: clientIp(ctx) }, account, s.config.mfa.rememberBrowserDays);
  }
  await startProgress(s, l, { ...p, chosen: undefined, amr: [...p.amr, factor.amr], methods: { ...p.methods, [factor.amr]: Math.floor(Date.now() / 1000) } });
  ctx.redirect(`/interaction/${l.uid}`);
}

/** POST /interaction/:uid/factor/:type/resend */
export async function resendFactor(s: Services, ctx: Context, type: string) {
  const { l, p, account, next } = await current(s, ctx);
  if (next.step === 'phone-verify' && type === 'sms') return resendPhoneCode(s, ctx, l, account, next.destination);
  if (next.step !== 'factor' || next.factor !== type) return ctx.redirect(`/interaction/${l.uid}`);
  const factor = s.factors.get(next.factor);
  const r = await factor.resend(account, ctxOf(ctx, l));
  if (r.ok) return renderStep(s, ctx, l, account, p, next, factor, { sent: true, destination: r.destination, cooldown: r.cooldown, notice: 'We sent a new code.' }, {}, 200);
  // The step as a reload shows it (the open code and its real cooldown, or why none could go out), with
  // why the resend was refused next to the field: never "we texted" for a code that doesn't exist.
  const shown = shownAs(await factor.start(account, ctxOf(ctx, l)));
  return renderStep(s, ctx, l, account, p, next, factor, shown, shown.unavailable ? {} : { code: r.message }, r.status);
}

/** POST /interaction/:uid/another-way — the user picks another of the methods that meet this sign-in. */
export async function anotherWay(s: Services, ctx: Context) {
  const { l, p, next } = await current(s, ctx);
  const type = field(ctx, 'factor', 20) as FactorType;
  if (next.step === 'factor' && next.others.includes(type)) await startProgress(s, l, { ...p, chosen: type });
  ctx.redirect(`/interaction/${l.uid}`);
}

function destinationOf(_s: Services, factor: Factor, a: AccountRecord): string | null {
  if (factor.type === 'sms' && a.phoneNumber) return maskPhone(a.phoneNumber);
  if (factor.type === 'email') return maskEmail(a.email);
  return null;
}
