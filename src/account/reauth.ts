// A fresh proof before anything that changes how the account signs in (phone, password, second factors,
// recovery codes): the password entered now, plus the account's second factor when it has one. A session
// alone, however old, is never enough. The proof is kept server-side for this browser session only
// (keyed by its uid), for a few minutes, and is void once the password changes.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import { field, clientIp, credentialOf } from '../interaction/context.ts';
import { startFailure, verifyFailure, resendFailure, CODE_ERRORS } from '../interaction/second-factor.ts';
import { maskPhone } from '../accounts/phone.ts';
import { AMR } from '../oidc/acr.ts';

const MODEL = 'TesseraReauth';
/** How long a proof lets the user act (long enough to receive and type an SMS code for a new number). */
export const PROOF_SECONDS = 600;

/** The pages a proof leads on to (no open redirect: anything else goes to /account). */
const NEXT = ['/account/phone', '/account/password', '/account/mfa/sms/enable', '/account/mfa/sms/disable', '/account/recovery'];

interface Proof {
  accountId: string;
  credential: string;
  /** When the password was entered, epoch seconds. */
  passwordAt: number;
  /** Second factors proved after it (empty while one is still owed). */
  factors: string[];
}

/**
 * Whether the account has a second factor that a proof must include. A verified phone is one whether or
 * not SMS sign-in is on: it receives codes, and apps demanding mfa:sms trust it, so swapping it must not
 * take the password alone.
 */
function secondFactorOf(a: AccountRecord): 'sms' | null {
  return a.phoneNumber && a.phoneNumberVerified ? 'sms' : null;
}

export async function sessionUid(s: Services, ctx: Context): Promise<string | null> {
  const session = await s.provider.Session.get(ctx as never);
  return session?.accountId ? session.uid : null;
}

async function loadProof(s: Services, uid: string): Promise<Proof | null> {
  return ((await s.store.oidc.find(MODEL, uid)) as Proof | undefined) ?? null;
}

/** True when this browser proved, within PROOF_SECONDS, the password (and the second factor if any) of `a` as it is now. */
export async function hasFreshProof(s: Services, ctx: Context, a: AccountRecord): Promise<boolean> {
  const uid = await sessionUid(s, ctx);
  const proof = uid ? await loadProof(s, uid) : null;
  if (!proof || proof.accountId !== a.id || proof.credential !== credentialOf(s, a)) return false;
  if (Date.now() / 1000 - proof.passwordAt > PROOF_SECONDS) return false;
  const factor = secondFactorOf(a);
  return !factor || proof.factors.includes(factor);
}

export function proofUrl(next: string): string {
  return `/account/confirm?next=${encodeURIComponent(next)}`;
}

function nextOf(ctx: Context): string {
  const body = (ctx.request as { body?: Record<string, unknown> }).body;
  const raw = typeof ctx.query.next === 'string' ? ctx.query.next : typeof body?.next === 'string' ? body.next : '';
  return NEXT.includes(raw) ? raw : '/account';
}

export function reauthRoutes(s: Services, r: Router, withAccount: (h: (ctx: Context, a: AccountRecord) => Promise<void> | void) => (ctx: Context) => Promise<void>) {
  const CONTEXT = (uid: string) => `reauth:${uid}`;
  const save = async (uid: string, proof: Proof) => s.store.oidc.upsert(MODEL, uid, proof as unknown as Record<string, unknown>, new Date((proof.passwordAt + PROOF_SECONDS) * 1000));

  const passwordPage = (ctx: Context, a: AccountRecord, errors: Record<string, string> = {}, status = 200) =>
    s.render(ctx, 'account/reauth', { account: a, next: nextOf(ctx), step: 'password', errors }, status);
  const codePage = async (ctx: Context, a: AccountRecord, uid: string, errors: Record<string, string> = {}, status = 200, notice?: string) => {
    const open = await s.store.challenges.findActive(a.id, 'sms-login', CONTEXT(uid));
    s.render(ctx, 'account/reauth', {
      account: a, next: nextOf(ctx), step: 'code', phone: maskPhone(a.phoneNumber!), cooldown: open ? s.challenges.cooldownLeft(open) : 0,
      canUseRecovery: a.recoveryCodes.length > 0, errors, notice,
    }, status);
  };
  const pending = async (ctx: Context, a: AccountRecord) => {
    const uid = await sessionUid(s, ctx);
    const proof = uid ? await loadProof(s, uid) : null;
    const fresh = proof && proof.accountId === a.id && proof.credential === credentialOf(s, a) && Date.now() / 1000 - proof.passwordAt <= PROOF_SECONDS;
    return { uid, proof: fresh ? proof : null };
  };

  // Always the password first: the code page is the answer to it (and to a wrong code or a resend).
  r.get('/confirm', withAccount((ctx, a) => passwordPage(ctx, a)));

  r.post('/confirm', withAccount(async (ctx, a) => {
    const uid = await sessionUid(s, ctx);
    if (!uid) return passwordPage(ctx, a, { password: 'Your session ended. Sign in again.' }, 401);
    if (!(await s.accounts.checkPassword(a, field(ctx, 'password'), clientIp(ctx)))) {
      await s.audit('reauth.failed', a.id, clientIp(ctx), { factor: 'pwd' });
      return passwordPage(ctx, a, { password: 'That password isn’t right.' }, 400);
    }
    const proof: Proof = { accountId: a.id, credential: credentialOf(s, a), passwordAt: Math.floor(Date.now() / 1000), factors: [] };
    await save(uid, proof);
    if (!secondFactorOf(a)) {
      await s.audit('reauth.succeeded', a.id, clientIp(ctx), { amr: [AMR.password] });
      return ctx.redirect(nextOf(ctx));
    }
    // The second factor now: a fresh code to the verified number on file.
    const started = await s.challenges.start({ purpose: 'sms-login', accountId: a.id, channel: 'sms', destination: a.phoneNumber!, context: CONTEXT(uid), ip: clientIp(ctx) });
    return codePage(ctx, a, uid, started.ok ? {} : { code: startFailure(started) }, started.ok ? 200 : 503);
  }));

  r.post('/confirm/code', withAccount(async (ctx, a) => {
    const { uid, proof } = await pending(ctx, a);
    if (!uid || !proof) return passwordPage(ctx, a, { password: 'Enter your password again.' }, 400);
    const recovery = field(ctx, 'recovery_code', 40);
    let factor: string;
    if (recovery) {
      const outcome = await s.accounts.guarded(a, clientIp(ctx), () => s.recovery.use(a.id, recovery));
      if (outcome !== 'ok') {
        await s.audit('reauth.failed', a.id, clientIp(ctx), { factor: 'recovery', outcome });
        return codePage(ctx, a, uid, { recovery_code: outcome === 'throttled' ? 'Too many failed attempts. Try again later.' : 'That recovery code isn’t valid or was already used.' }, outcome === 'throttled' ? 429 : 400);
      }
      factor = AMR.recovery;
    } else {
      const open = await s.store.challenges.findActive(a.id, 'sms-login', CONTEXT(uid));
      const res = open ? await s.challenges.verify(open.id, field(ctx, 'code', 20), { accountId: a.id, purpose: 'sms-login' }) : ({ ok: false, reason: 'unknown' } as const);
      if (!res.ok) {
        await s.audit('reauth.failed', a.id, clientIp(ctx), { factor: 'sms', reason: res.reason });
        return codePage(ctx, a, uid, { code: verifyFailure(res) }, 400);
      }
      factor = AMR.sms;
    }
    // A recovery code stands in for the SMS factor it backs up.
    await save(uid, { ...proof, factors: [...proof.factors, factor, ...(factor === AMR.recovery ? ['sms'] : [])] });
    await s.audit('reauth.succeeded', a.id, clientIp(ctx), { amr: [AMR.password, factor] });
    ctx.redirect(nextOf(ctx));
  }));

  r.post('/confirm/resend', withAccount(async (ctx, a) => {
    const { uid, proof } = await pending(ctx, a);
    if (!uid || !proof) return passwordPage(ctx, a);
    const open = await s.store.challenges.findActive(a.id, 'sms-login', CONTEXT(uid));
    if (!open) {
      const started = await s.challenges.start({ purpose: 'sms-login', accountId: a.id, channel: 'sms', destination: a.phoneNumber!, context: CONTEXT(uid), ip: clientIp(ctx) });
      return codePage(ctx, a, uid, started.ok ? {} : { code: startFailure(started) }, started.ok ? 200 : 503);
    }
    const res = await s.challenges.resend(open.id, { ip: clientIp(ctx) });
    if (res.ok) return codePage(ctx, a, uid, {}, 200, 'We sent a new code.');
    const failure = res.reason === 'gone' ? { message: CODE_ERRORS.unknown, status: 400 } : resendFailure(res);
    return codePage(ctx, a, uid, { code: failure.message }, failure.status);
  }));
}
