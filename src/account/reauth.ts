// A fresh proof before anything that changes how the account signs in (phone, password, second factors,
// recovery codes): the password entered now, plus the account's second factor when it has one. A session
// alone, however old, is never enough. The proof is kept server-side for this browser session only
// (keyed by its uid), for a few minutes, and is void once the password changes.
import Router from '@koa/router';
import { pageLocale } from '../http/locale.ts';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import { field, clientIp, credentialOf, sameCredential, originOf } from '../interaction/context.ts';
import { recoveryCodesLeft } from '../factors/records.ts';
import type { Factor, FactorContext } from '../factors/factor.ts';
import { AMR } from '../oidc/acr.ts';

const MODEL = 'TesseraReauth';
/** How long a proof lets the user act (long enough to receive and type an SMS code for a new number). */
export const PROOF_SECONDS = 600;

/** The pages a proof leads on to (no open redirect: anything else goes to /account). */
const NEXT = ['/account/phone', '/account/password', '/account/recovery', '/account/email'];
const NEXT_FACTOR_PAGE = /^\/account\/mfa\/(sms|email|totp)\/(enable|disable)$/;

interface Proof {
  accountId: string;
  credential: string;
  /** When the password was entered, epoch seconds. */
  passwordAt: number;
  /** Second factors proved after it (empty while one is still owed). */
  factors: string[];
}

/**
 * The second factors a proof may use, in the default order: the account's own, and a verified phone
 * even when SMS sign-in is off (relying parties that demand SMS trust any verified phone, so replacing it
 * must take a code to it), and recovery codes. Empty: the password alone proves it.
 */
function proofFactors(s: Services, a: AccountRecord): Factor[] {
  return s.factors.usable(a).filter((f) => f.enabled(a) || f.type === 'sms' || f.type === 'recovery')
    .filter((f, _i, all) => f.type !== 'recovery' || all.some((x) => x.type !== 'recovery'));
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
  if (!proof || proof.accountId !== a.id || !sameCredential(s, a, proof.credential)) return false;
  if (Date.now() / 1000 - proof.passwordAt > PROOF_SECONDS) return false;
  const needed = proofFactors(s, a);
  return needed.length === 0 || needed.some((f) => proof.factors.includes(f.type));
}

export function proofUrl(next: string): string {
  return `/account/confirm?next=${encodeURIComponent(next)}`;
}

function nextOf(ctx: Context): string {
  const body = (ctx.request as { body?: Record<string, unknown> }).body;
  const raw = typeof ctx.query.next === 'string' ? ctx.query.next : typeof body?.next === 'string' ? body.next : '';
  return NEXT.includes(raw) || NEXT_FACTOR_PAGE.test(raw) ? raw : '/account';
}

export function reauthRoutes(s: Services, r: Router, withAccount: (h: (ctx: Context, a: AccountRecord) => Promise<void> | void) => (ctx: Context) => Promise<void>) {
  const fctx = (ctx: Context, uid: string): FactorContext => ({ ip: clientIp(ctx), context: `reauth:${uid}`, locale: pageLocale(ctx) });
  const save = async (uid: string, proof: Proof) => s.store.oidc.upsert(MODEL, uid, proof as unknown as Record<string, unknown>, new Date((proof.passwordAt + PROOF_SECONDS) * 1000));

  const passwordPage = (ctx: Context, a: AccountRecord, errors: Record<string, string> = {}, status = 200) =>
    s.render(ctx, 'account/reauth', { account: a, next: nextOf(ctx), step: 'password', errors }, status);

  /** The factor step of the proof: the chosen factor (or the first), its words, the others to switch to. */
  const factorPage = async (ctx: Context, a: AccountRecord, factor: Factor, state: { destination: string | null; cooldown: number; unavailable?: string; notice?: string }, errors: Record<string, string> = {}, status = 200) => {
    const others = proofFactors(s, a).filter((f) => f.type !== factor.type);
    s.render(ctx, 'account/reauth', {
      account: a, next: nextOf(ctx), step: 'factor', factor: factor.type, destination: state.destination, cooldown: state.cooldown,
      unavailable: state.unavailable, notice: state.notice,
      others: others.filter((f) => f.type !== 'recovery').map((f) => ({ type: f.type, offer: f.offer })),
      canUseRecovery: factor.type !== 'recovery' && others.some((f) => f.type === 'recovery'),
      errors,
    }, status);
  };
  const startFactor = async (ctx: Context, a: AccountRecord, uid: string, factor: Factor) => {
    const started = await factor.start(a, fctx(ctx, uid));
    if (started.ok) return factorPage(ctx, a, factor, { destination: started.destination, cooldown: started.cooldown });
    return factorPage(ctx, a, factor, { destination: null, cooldown: 0, unavailable: started.message }, {}, started.status);
  };
  const pending = async (ctx: Context, a: AccountRecord) => {
    const uid = await sessionUid(s, ctx);
    const proof = uid ? await loadProof(s, uid) : null;
    const fresh = proof && proof.accountId === a.id && sameCredential(s, a, proof.credential) && Date.now() / 1000 - proof.passwordAt <= PROOF_SECONDS;
    return { uid, proof: fresh ? proof : null };
  };
  const chosenFactor = (ctx: Context, a: AccountRecord): Factor | undefined => {
    const all = proofFactors(s, a);
    const body = (ctx.request as { body?: Record<string, unknown> }).body;
    const pick = typeof body?.factor === 'string' ? body.factor : '';
    return all.find((f) => f.type === pick) ?? all.find((f) => f.type !== 'recovery');
  };

  // Always the password first: the factor page is the answer to it (and to a wrong code or a resend).
  r.get('/confirm', withAccount((ctx, a) => passwordPage(ctx, a)));

  r.post('/confirm', withAccount(async (ctx, a) => {
    const uid = await sessionUid(s, ctx);
    if (!uid) return passwordPage(ctx, a, { password: 'Your session ended. Sign in again.' }, 401);
    if (!(await s.accounts.checkPassword(a, field(ctx, 'password'), clientIp(ctx)))) {
      await s.audit('reauth.failed', a.id, clientIp(ctx), { factor: 'pwd' });
      return passwordPage(ctx, a, { password: 'That password isn’t right.' }, 400);
    }
    await save(uid, { accountId: a.id, credential: credentialOf(s, a), passwordAt: Math.floor(Date.now() / 1000), factors: [] });
    const factor = chosenFactor(ctx, a);
    if (!factor) {
      await s.audit('reauth.succeeded', a.id, clientIp(ctx), { amr: [AMR.password] });
      return ctx.redirect(nextOf(ctx));
    }
    return startFactor(ctx, a, uid, factor);
  }));

  /** "Try another way" inside the proof. */
  r.post('/confirm/another-way', withAccount(async (ctx, a) => {
    const { uid, proof } = await pending(ctx, a);
    const factor = chosenFactor(ctx, a);
    if (!uid || !proof || !factor) return passwordPage(ctx, a, { password: 'Enter your password again.' }, 400);
    return startFactor(ctx, a, uid, factor);
  }));

  r.post('/confirm/code', withAccount(async (ctx, a) => {
    const { uid, proof } = await pending(ctx, a);
    if (!uid || !proof) return passwordPage(ctx, a, { password: 'Enter your password again.' }, 400);
    const recovery = field(ctx, 'recovery_code', 40);
    const factor = recovery ? proofFactors(s, a).find((f) => f.type === 'recovery') : chosenFactor(ctx, a);
    if (!factor) return passwordPage(ctx, a, { password: 'Enter your password again.' }, 400);
    const checked = await factor.verify(a, recovery || field(ctx, 'code', 20), fctx(ctx, uid));
    if (!checked.ok) {
      await s.audit('reauth.failed', a.id, clientIp(ctx), { factor: factor.type });
      const shown = factor.type === 'recovery' ? (chosenFactor(ctx, a) ?? factor) : factor;
      const fieldName = factor.type === 'recovery' ? 'recovery_code' : 'code';
      return factorPage(ctx, a, shown, { destination: null, cooldown: 0 }, { [fieldName]: checked.message }, checked.status);
    }
    await save(uid, { ...proof, factors: [...proof.factors, factor.type] });
    await s.audit('reauth.succeeded', a.id, clientIp(ctx), { amr: [AMR.password, factor.amr] });
    if (factor.type === 'recovery') {
      await s.audit('mfa.recovery_code_used', a.id, clientIp(ctx), { factor: 'recovery', reauth: true });
      await s.notices.recoveryCodeUsed(a, recoveryCodesLeft(a.factors) - 1, originOf(ctx));
    }
    ctx.redirect(nextOf(ctx));
  }));

  r.post('/confirm/resend', withAccount(async (ctx, a) => {
    const { uid, proof } = await pending(ctx, a);
    const factor = chosenFactor(ctx, a);
    if (!uid || !proof || !factor) return passwordPage(ctx, a);
    const res = await factor.resend(a, fctx(ctx, uid));
    if (res.ok) return factorPage(ctx, a, factor, { destination: res.destination, cooldown: res.cooldown, notice: 'We sent a new code.' });
    return factorPage(ctx, a, factor, { destination: null, cooldown: 0 }, { code: res.message }, res.status);
  }));
}
