// Shared pieces of the interaction routes: loading the interaction, the client shown on the page,
// deciding the next step of a sign-in and finishing it.
import type { Context } from 'koa';
import type { AccountRecord } from '../store/ports.ts';
import type { Services } from '../services.ts';
import type { Origin } from '../notify/notices.ts';
import { KnownBrowsers } from '../notify/known-browsers.ts';
import { describeUserAgent } from '../notify/user-agent.ts';
import { browserId } from './browser-id.ts';
import { SessionExpired } from '../errors.ts';
import { useInteractionLocale, pageLocale } from '../http/locale.ts';
import { demandOf } from '../oidc/provider.ts';
import { AcrModel, AMR } from '../oidc/acr.ts';
import { decideStep, type Step } from '../factors/decide.ts';
import { clientMeta } from '../oidc/client-metadata.ts';
import { clientLogoUrl } from '../http/branding.ts';
import { loadProgress, saveProgress, clearProgress, SESSION_METHODS_MODEL, type LoginProgress } from './progress.ts';

export type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;

export interface Loaded {
  uid: string;
  details: Details;
  client: { id: string; name: string; meta: Record<string, unknown>; logo: string | null; policyUri: string | null; tosUri: string | null };
  expiresAt: Date;
  demand: ReturnType<typeof demandOf>;
}

export async function loadInteraction(s: Services, ctx: Context): Promise<Loaded> {
  let details: Details;
  try {
    details = await s.provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    throw new SessionExpired();
  }
  if (details.uid !== ctx.params.uid) throw new SessionExpired();
  const client = await s.provider.Client.find(String(details.params.client_id));
  if (!client) throw new SessionExpired();
  const meta = clientMeta(client);
  // The logo as Tessera serves it (fetched once and checked; none when that failed): pages stay img-src 'self'.
  const logo = typeof meta.logo_uri === 'string' ? await s.clientLogos.forPage(meta.logo_uri) : null;
  useInteractionLocale(ctx, details.params as Record<string, unknown>, (details as { iat?: number }).iat);
  return {
    uid: details.uid,
    details,
    client: {
      id: client.clientId, name: String(meta.client_name ?? client.clientId), meta,
      logo: logo ? clientLogoUrl(client.clientId, logo.version) : null,
      policyUri: webUrl(meta.policy_uri), tosUri: webUrl(meta.tos_uri),
    },
    expiresAt: new Date(details.exp * 1000),
    demand: demandOf(s.acr, details.params as Record<string, unknown>, parseClaims(details.params.claims), meta),
  };
}

/** An http(s) URL a page may link to, else null (never a javascript: or data: link). */
function webUrl(v: unknown): string | null {
  return typeof v === 'string' && /^https?:\/\/[^\s]+$/i.test(v) ? v : null;
}

function parseClaims(claims: unknown): unknown {
  if (typeof claims !== 'string') return claims;
  try {
    return JSON.parse(claims);
  } catch {
    return undefined;
  }
}

export function clientIp(ctx: Context): string {
  return ctx.ip || 'unknown';
}

/** Where a request came from, for security notices: the client's address and its browser's User-Agent. */
export function originOf(ctx: Context): Origin {
  return { ip: clientIp(ctx), userAgent: ctx.get('user-agent').slice(0, 512) || null, locale: pageLocale(ctx) };
}

export type NextStep = Step;

/**
 * The flow as data (factors/decide.ts): email confirmed → the second step the account's factors, the
 * user's pick and the relying party's demand call for → done.
 */
export function nextStep(s: Services, account: AccountRecord, progress: LoginProgress, demand: Loaded['demand'], remembered = false): NextStep {
  return decideStep({
    account, proved: progress.amr, passwordNow: !progress.stepUp && progress.amr.includes(AMR.password), demand, remembered,
    chosen: progress.chosen, enrolPhone: progress.enrolPhone, inlinePhoneEnrolment: s.config.mfa.inlinePhoneEnrolment,
  }, s.acr, s.factors.all());
}

/** A stamp of the account's current password: stored with a sign-in and with a re-authentication. */
export function credentialOf(s: Pick<Services, 'box'>, account: Pick<AccountRecord, 'passwordHash'>): string {
  return s.box.mac(`credential:${account.passwordHash}`).slice(0, 22);
}

/** Whether `stamp` is credentialOf() the account now, under any data key in use (one stored before a rotation holds). */
export function sameCredential(s: Pick<Services, 'box'>, account: Pick<AccountRecord, 'passwordHash'>, stamp: string): boolean {
  return s.box.macs(`credential:${account.passwordHash}`).some((m) => m.slice(0, 22) === stamp);
}

export async function startProgress(s: Services, l: Loaded, p: LoginProgress) {
  await saveProgress(s.store, l.uid, p, l.expiresAt);
}

export async function currentProgress(s: Services, l: Loaded): Promise<LoginProgress | null> {
  const p = await loadProgress(s.store, l.uid);
  if (p) return p;
  // Step-up: a signed-in session that only lacks the demanded factor is asked for that factor alone.
  const { session, prompt } = l.details;
  const reasons = prompt.reasons ?? [];
  if (session?.accountId && prompt.name === 'login' && reasons.length > 0 && reasons.every((r) => r === 'acr_unmet')) {
    const account = await s.store.accounts.findById(session.accountId);
    if (!account) return null;
    const methods = await sessionMethods(s, session.uid);
    const stepUp: LoginProgress = {
      accountId: session.accountId, amr: [...((session.amr as string[] | undefined) ?? [])], stepUp: true,
      methods, credential: credentialOf(s, account),
    };
    await saveProgress(s.store, l.uid, stepUp, l.expiresAt);
    return stepUp;
  }
  return null;
}

/**
 * The sign-in in progress and its account, or null when there is none or it no longer holds: the account
 * is gone, or its password changed since this sign-in proved it (a reset by the mailbox's owner ends
 * every pending sign-in of the account, whoever started it).
 */
export async function currentSignIn(s: Services, l: Loaded): Promise<{ p: LoginProgress; account: AccountRecord } | null> {
  const p = await currentProgress(s, l);
  if (!p || p.registration || p.switching) return null;
  const account = await s.store.accounts.findById(p.accountId);
  if (!account || (p.credential && !sameCredential(s, account, p.credential))) {
    await clearProgress(s.store, l.uid);
    return null;
  }
  return { p, account };
}

// Per-method times of a browser session (what was proved when), kept beside oidc-provider's session,
// which has one login time only.

export async function sessionMethods(s: Services, sessionUid: string | undefined): Promise<Record<string, number>> {
  if (!sessionUid) return {};
  const rec = (await s.store.oidc.find(SESSION_METHODS_MODEL, sessionUid)) as { methods?: Record<string, number> } | undefined;
  if (rec?.methods) return { ...rec.methods };
  const session = await s.provider.Session.findByUid(sessionUid);
  return session?.loginTs ? { [AMR.password]: session.loginTs } : {};
}

export async function finishLogin(s: Services, ctx: Context, l: Loaded, p: LoginProgress) {
  if (s.config.notify.newBrowser) await newBrowserCheck(s, ctx, p.accountId);
  const amr = AcrModel.withMfa(p.amr.length ? p.amr : [AMR.password]);
  const acr = s.acr.resultAcr(amr, l.demand);
  const now = Math.floor(Date.now() / 1000);
  const methods = { ...p.methods };
  for (const m of amr) methods[m] ??= now;
  // auth_time is about the password (max_age): a step-up keeps the time the password was entered.
  const ts = methods[AMR.password] ?? now;
  await clearProgress(s.store, l.uid);
  await s.audit('login.succeeded', p.accountId, clientIp(ctx), { client: l.client.id, acr, amr });
  s.metrics.signInCompleted(amr);
  await finishInteraction(s, ctx, { login: { accountId: p.accountId, acr, amr, remember: true, ts }, tessera: { methods } }, { mergeWithLastSubmission: false });
}

/** NOTIFY_NEW_BROWSER: a sign-in from a browser the account hasn't used before is audited and mailed. */
async function newBrowserCheck(s: Services, ctx: Context, accountId: string) {
  const verdict = await new KnownBrowsers(s.store, s.box).signedIn(accountId, browserId(ctx));
  if (verdict !== 'new') return;
  const from = originOf(ctx);
  await s.audit('login.new_browser', accountId, from.ip, { browser: describeUserAgent(from.userAgent) });
  const account = await s.store.accounts.findById(accountId);
  // Not awaited: a slow mail server never holds up a sign-in (the notice logs its own failure).
  if (account) void s.notices.newBrowser(account, from);
}

/**
 * Hands the result to oidc-provider and redirects back to it. Unlike interactionFinished (which ends the
 * response itself), the redirect goes out through koa, after the request's artifact writes are
 * committed (store.oidc.durably in app.ts).
 */
export async function finishInteraction(s: Services, ctx: Context, result: Parameters<Services['provider']['interactionResult']>[2], opts: { mergeWithLastSubmission: boolean }) {
  const returnTo = await s.provider.interactionResult(ctx.req, ctx.res, result, opts);
  ctx.status = 303;
  ctx.redirect(returnTo);
}

export async function finishUnmet(s: Services, ctx: Context, l: Loaded, description: string, accountId: string | null) {
  await clearProgress(s.store, l.uid);
  await s.audit('login.unmet', accountId, clientIp(ctx), { client: l.client.id });
  await finishInteraction(s, ctx, { error: 'unmet_authentication_requirements', error_description: description }, { mergeWithLastSubmission: false });
}

/** Reads a form field as a bounded string: malformed posts (arrays, objects, huge values) become ''. */
export function field(ctx: Context, name: string, max = 1024): string {
  const body = (ctx.request as { body?: Record<string, unknown> }).body;
  const v = body && typeof body === 'object' ? body[name] : undefined;
  return typeof v === 'string' && v.length <= max ? v : '';
}
