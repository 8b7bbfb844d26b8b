// The acr model: three levels in a chain (SMS MFA ⇒ any MFA ⇒ one factor). What a request demands is
// read from acr_values / default_acr_values / an essential acr claim, raised to the client's
// admin-set minimum; what a session proved is its amr. Pure functions: no koa, no provider.
import type { Config } from '../config.ts';

export type Level = 0 | 1 | 2; // 0 = one factor, 1 = MFA, 2 = MFA with SMS

/** RFC 8176 values where one exists; `email` (code by email) and `rec` (recovery code) are Tessera's own. */
export const AMR = { password: 'pwd', sms: 'sms', totp: 'otp', email: 'email', recovery: 'rec', mfa: 'mfa' } as const;
const SECOND_FACTORS: string[] = [AMR.sms, AMR.totp, AMR.email, AMR.recovery];

export class AcrModel {
  readonly values: [string, string, string];
  constructor(acr: Config['acr']) {
    this.values = [acr.oneFactor, acr.mfa, acr.mfaSms];
  }

  levelOf(acr: string): Level | undefined {
    const i = this.values.indexOf(acr);
    return i === -1 ? undefined : (i as Level);
  }

  valueOf(level: Level): string {
    return this.values[level];
  }

  /** The level a set of authentication methods proves. */
  achieved(amr: readonly string[]): Level {
    if (amr.includes(AMR.sms)) return 2;
    if (amr.some((m) => SECOND_FACTORS.includes(m))) return 1;
    return 0;
  }

  /**
   * The demand of one request. `requested` lists acceptable values in order of preference (acr_values,
   * or the values of an essential acr claim); the weakest known one is what must be met, never below the
   * client's minimum. Returns undefined when nothing is demanded beyond one factor.
   */
  demand(requested: readonly string[], clientMinimum?: string): { level: Level; requested: Level[] } | undefined {
    const floor = clientMinimum ? (this.levelOf(clientMinimum) ?? 0) : 0;
    const known = requested.map((v) => this.levelOf(v)).filter((l): l is Level => l !== undefined);
    const acceptable = known.filter((l) => l >= floor);
    const level = (acceptable.length ? Math.min(...acceptable) : floor) as Level;
    if (level === 0 && !known.length) return undefined;
    return { level, requested: acceptable.length ? acceptable : [floor] };
  }

  /** The acr to put in the ID token: the strongest requested value the login met, else what it achieved. */
  resultAcr(amr: readonly string[], demand?: { requested: Level[] }): string {
    const got = this.achieved(amr);
    const met = (demand?.requested ?? []).filter((l) => l <= got);
    return this.valueOf(met.length ? (Math.max(...met) as Level) : got);
  }

  /** The amr to record: methods used, plus `mfa` once more than one factor was used (RFC 8176). */
  static withMfa(methods: readonly string[]): string[] {
    const set = [...new Set(methods.filter((m) => m !== AMR.mfa))];
    if (set.includes(AMR.password) && set.some((m) => SECOND_FACTORS.includes(m))) set.push(AMR.mfa);
    return set;
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
