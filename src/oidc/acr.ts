// The acr model as data: each configured ACR lists the method combinations (amr values) that satisfy
// it, weakest ACR first. What a request demands is read from acr_values / default_acr_values / an
// essential acr claim, raised to the client's admin-set minimum; what a session proved is its amr. A new
// ACR (say, one met only by an authenticator app) is configuration, not code. Pure: no koa, no provider.
import type { Config } from '../config.ts';

/** RFC 8176 values where one exists; `email` (code by email) and `rec` (recovery code) are Tessera's own. */
export const AMR = { password: 'pwd', sms: 'sms', totp: 'otp', email: 'email', recovery: 'rec', mfa: 'mfa' } as const;
/** Methods that are a second factor next to the password (`mfa` is added to amr when one joined it). */
export const SECOND_FACTOR_AMR: readonly string[] = [AMR.sms, AMR.totp, AMR.email, AMR.recovery];

export interface AcrPolicy {
  value: string;
  /** Any one of these combinations satisfies the ACR: every method of the combination proved. */
  anyOf: string[][];
}

/** What one request demands: the ACR values it accepts (weakest first); meeting any one is enough. */
export interface Demand {
  acceptable: string[];
}

/** Tessera's three ACRs, from their configured names. */
export function defaultPolicies(acr: Pick<Config['acr'], 'oneFactor' | 'mfa' | 'mfaSms'>): AcrPolicy[] {
  return [
    { value: acr.oneFactor, anyOf: [[AMR.password]] },
    { value: acr.mfa, anyOf: SECOND_FACTOR_AMR.map((m) => [AMR.password, m]) },
    { value: acr.mfaSms, anyOf: [[AMR.password, AMR.sms]] },
  ];
}

export class AcrModel {
  /** Weakest first: the order is what "at least the client's minimum" means. */
  readonly values: string[];
  private readonly policies: AcrPolicy[];
  /** The ACR a user's own second factor stands for (password + any second factor). */
  private readonly mfaValue: string;

  constructor(acr: Pick<Config['acr'], 'oneFactor' | 'mfa' | 'mfaSms'> & { policies?: AcrPolicy[] | null }) {
    this.policies = acr.policies?.length ? acr.policies : defaultPolicies(acr);
    this.values = this.policies.map((p) => p.value);
    // ownDemand() names it: without it no account with a second factor could ever finish signing in.
    if (!this.values.includes(acr.mfa)) throw new Error(`acr.policies must list the mfa ACR ${acr.mfa} (ACR_MFA): a user's own second factor is judged by it`);
    this.mfaValue = acr.mfa;
  }

  rank(value: string): number | undefined {
    const i = this.values.indexOf(value);
    return i === -1 ? undefined : i;
  }

  satisfies(amr: readonly string[], value: string): boolean {
    const p = this.policies.find((x) => x.value === value);
    return Boolean(p?.anyOf.some((combo) => combo.every((m) => amr.includes(m))));
  }

  /**
   * The demand of one request. `requested` lists acceptable values (acr_values, or the values of an
   * essential acr claim); those known and at least the client's minimum are acceptable; with none of them,
   * the minimum itself. Undefined when nothing beyond one factor is demanded.
   */
  demand(requested: readonly string[], clientMinimum?: string): Demand | undefined {
    const floor = clientMinimum ? (this.rank(clientMinimum) ?? 0) : 0;
    const known = requested.filter((v) => this.rank(v) !== undefined);
    const acceptable = known.filter((v) => this.rank(v)! >= floor).sort((a, b) => this.rank(a)! - this.rank(b)!);
    if (acceptable.length) return { acceptable };
    if (floor === 0 && !known.length) return undefined;
    return { acceptable: [this.values[floor]] };
  }

  met(amr: readonly string[], demand: Demand | undefined): boolean {
    return !demand || demand.acceptable.some((v) => this.satisfies(amr, v));
  }

  /** The acr to put in the ID token: the strongest requested value the login met, else the strongest it met. */
  resultAcr(amr: readonly string[], demand?: Demand): string {
    const pool = demand?.acceptable.some((v) => this.satisfies(amr, v)) ? demand.acceptable : this.values;
    const met = pool.filter((v) => this.satisfies(amr, v));
    return met.length ? met.reduce((a, b) => (this.rank(b)! > this.rank(a)! ? b : a)) : this.values[0];
  }

  /** The demand a user's own second factor makes (password + any second factor): the configured mfa value. */
  ownDemand(): Demand {
    return { acceptable: [this.mfaValue] };
  }

  /** The amr to record: methods used, plus `mfa` once more than one factor was used (RFC 8176). */
  static withMfa(methods: readonly string[]): string[] {
    const set = [...new Set(methods.filter((m) => m !== AMR.mfa))];
    if (set.includes(AMR.password) && set.some((m) => SECOND_FACTOR_AMR.includes(m))) set.push(AMR.mfa);
    return set;
  }

  /** For the sign-in page's hint: 2 = a text message is asked for, 1 = some second step, 0 = none. */
  hint(demand: Demand | undefined): 0 | 1 | 2 {
    if (this.met([AMR.password], demand)) return 0;
    const others = SECOND_FACTOR_AMR.filter((m) => m !== AMR.sms);
    return others.some((m) => this.met([AMR.password, m], demand)) ? 1 : 2;
  }
}

/** Reads what a request asks for from oidc-provider's params / claims parameter. */
export function requestedAcrValues(params: Record<string, unknown>, claimsParam?: unknown): string[] {
  const out: string[] = [];
  const acrValues = params.acr_values;
  if (typeof acrValues === 'string') out.push(...acrValues.split(' ').filter(Boolean));
  const claims = claimsParam as { id_token?: { acr?: { essential?: boolean; value?: string; values?: string[] } } } | undefined;
  const acr = claims?.id_token?.acr;
  if (acr?.essential) {
    if (typeof acr.value === 'string') out.push(acr.value);
    if (Array.isArray(acr.values)) out.push(...acr.values.filter((v) => typeof v === 'string'));
  }
  return out;
}
