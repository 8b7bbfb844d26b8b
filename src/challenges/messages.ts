// What a person reads when a code can't be sent or isn't accepted: one wording for every page that
// uses the challenge engine (sign-in steps, /account, the factors). Plain text, no koa.
import type { VerifyResult, StartResult, ResendResult } from './engine.ts';

export const CODE_ERRORS: Record<Exclude<VerifyResult, { ok: true }>['reason'], string> = {
  invalid: 'That code isn’t right.',
  expired: 'That code has expired. Send a new one.',
  exhausted: 'Too many wrong codes. Send a new code to try again.',
  used: 'That code was already used. Send a new one.',
  unknown: 'That code isn’t valid any more. Send a new one.',
  locked: 'Too many wrong codes were entered for this account today. Try again later, or use another way to sign in.',
};

export function startFailure(r: Exclude<StartResult, { ok: true }>): string {
  if (r.reason === 'limited')
    return `Too many codes were sent. Try again in ${Math.max(1, Math.ceil(r.retryAfterSeconds / 60))} minutes, or use another method.`;
  return 'We couldn’t send the code. Try again, or use another method.';
}

/** The message for a failed code check, with tries left when there are some. */
export function verifyFailure(r: Exclude<VerifyResult, { ok: true }>): string {
  return r.reason === 'invalid' ? `${CODE_ERRORS.invalid} ${r.attemptsLeft} ${r.attemptsLeft === 1 ? 'try' : 'tries'} left.` : CODE_ERRORS[r.reason];
}

/** The message and status for a resend the engine refused. */
export function resendFailure(r: Exclude<ResendResult, { ok: true }>): { message: string; status: number } {
  if (r.reason === 'cooldown') return { message: `Wait ${r.retryAfterSeconds} seconds before sending another code.`, status: 429 };
  if (r.reason === 'limited') return { message: startFailure({ ok: false, reason: 'limited', retryAfterSeconds: r.retryAfterSeconds, rule: '' }), status: 429 };
  if (r.reason === 'delivery_failed') return { message: startFailure({ ok: false, reason: 'delivery_failed' }), status: 503 };
  return { message: CODE_ERRORS.unknown, status: 400 };
}

