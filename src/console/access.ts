// Who may use the admin console, decided from the account and what its browser session proved when.
// Pure (no koa, no store): the routes feed it the account and the session's per-method times
// (TesseraMethods, written when a sign-in finishes) and act on the answer.
import { ADMIN_ROLE } from '../admin/users.ts';
import { secondFactors } from '../factors/records.ts';
import { SECOND_FACTOR_AMR } from '../oidc/acr.ts';
import type { AccountRecord } from '../store/ports.ts';

/** The console wants a second factor proved within this many seconds (the issue: "within the last hour"). */
export const FACTOR_FRESH_SECONDS = 3600;

export type Access =
  | { kind: 'ok' }
  /** Signed in, but not an admin. */
  | { kind: 'forbidden' }
  /** An admin without any second factor: told to set one up on /account (a step-up could never succeed). */
  | { kind: 'no-factor' }
  /**
   * An admin whose session lacks a second factor proved recently enough. `factor`: the session never
   * proved one (a remembered browser skipped it), so asking for one is enough (acr_values). `again`: it did,
   * but too long ago; oidc-provider can only ask again through a new sign-in (prompt=login), which takes
   * the password and then the factor the request demands.
   */
  | { kind: 'step-up'; how: 'factor' | 'again' };

export function decideAccess(
  account: Pick<AccountRecord, 'roles' | 'factors'>,
  session: { amr: readonly string[]; methods: Readonly<Record<string, number>> },
  nowSeconds: number,
): Access {
  if (!(account.roles ?? []).includes(ADMIN_ROLE)) return { kind: 'forbidden' };
  if (secondFactors(account.factors).length === 0) return { kind: 'no-factor' };
  if (lastSecondFactorAt(session) >= nowSeconds - FACTOR_FRESH_SECONDS) return { kind: 'ok' };
  const proved = session.amr.some((m) => SECOND_FACTOR_AMR.includes(m));
  return { kind: 'step-up', how: proved ? 'again' : 'factor' };
}

/** When the session last proved a second factor (epoch seconds; 0 = never), counting only what its amr says it proved. */
export function lastSecondFactorAt(session: { amr: readonly string[]; methods: Readonly<Record<string, number>> }): number {
  let latest = 0;
  for (const m of SECOND_FACTOR_AMR) {
    const at = session.methods[m];
    if (session.amr.includes(m) && typeof at === 'number' && at > latest) latest = at;
  }
  return latest;
}

/** Where a sign-in may lead back to: a console page only (never another site, never the callback itself). */
export function safeReturnPath(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 500) return '/admin';
  if (!/^\/admin(\/[A-Za-z0-9._~%/-]*)?(\?[A-Za-z0-9._~%&=+:@,-]*)?$/.test(raw)) return '/admin';
  if (raw.includes('//') || raw.startsWith('/admin/callback') || raw.startsWith('/admin/api')) return '/admin';
  return raw;
}
