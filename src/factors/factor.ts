// The one shape every second factor has. The sign-in's second step, /account's factor pages and the
// admin "reset MFA" talk to factors only through the registry (registry.ts), so a new factor is a folder
// here and a view, not edits across the flow. No koa: the pages hand in a FactorContext.
import type { AccountRecord } from '../store/ports.ts';
import type { FactorRecord, FactorType } from './records.ts';

export interface FactorContext {
  ip: string;
  /** Ties codes to one sign-in or one /account proof (the interaction uid, `reauth:<session uid>`...). */
  context: string;
  /** The asking page's language: texts to an account with none stored use it. */
  locale?: string;
}

export type FactorFailure = { ok: false; message: string; status: number };

/** What the step shows after start(): whether a code went out, where to (masked), how long until a resend. */
export type Started = { ok: true; sent: boolean; cooldown: number; destination: string | null } | FactorFailure;
export type Checked = { ok: true } | FactorFailure;

/** What an enrolment shows after begin(): a code went somewhere, or an authenticator secret to scan. */
export type EnrolStarted =
  | { ok: true; kind: 'code'; destination: string; cooldown: number }
  | { ok: true; kind: 'secret'; secret: string; uri: string; qr: string }
  | FactorFailure;

/**
 * Turning a factor on from /account (after the fresh proof): begin shows what to prove, finish checks it
 * and returns the record to add. Removing is the same for all (records.afterRemoving).
 */
/** What the sign-in's step page says for a factor (one view for all factors). */
export interface StepWords {
  title: string;
  lead(destination: string | null): string;
  field: 'code' | 'recovery_code';
  label: string;
}

/** What /account says when turning it on and off. */
export interface EnrolWords {
  on: string;
  off: string;
  /** Before the masked destination on the code page ("We texted a 6-digit code to"). */
  lead: string;
  label: string;
  /** The page that starts it, and its button. */
  start: string;
  button: string;
}

export interface FactorEnrolment {
  readonly words: EnrolWords;
  /** Why this account can't turn it on now (no verified phone...), or null. */
  blocked(a: AccountRecord): string | null;
  begin(a: AccountRecord, c: FactorContext): Promise<EnrolStarted>;
  /** Shows the same step again (a reload, a wrong answer) without sending or making anything new. */
  again(a: AccountRecord, c: FactorContext): Promise<EnrolStarted>;
  resend(a: AccountRecord, c: FactorContext): Promise<EnrolStarted>;
  finish(a: AccountRecord, answer: string, c: FactorContext): Promise<{ ok: true; record: FactorRecord } | FactorFailure>;
}

export interface Factor {
  readonly type: FactorType;
  /** RFC 8176 where one exists: `sms`, `otp`; Tessera's own `email` and `rec`. */
  readonly amr: string;
  /** How "Try another way" offers it ("Text me a code"). */
  readonly offer: string;
  /** Turned on by the user (or an admin): the sign-in asks for a second step. */
  enabled(a: AccountRecord): boolean;
  /** Can prove it now (SMS: a verified phone, even when SMS sign-in is off: a relying party may demand it). */
  usable(a: AccountRecord): boolean;
  /** Opens the step: sends a code (once: a reload sends nothing new), or nothing. */
  start(a: AccountRecord, c: FactorContext): Promise<Started>;
  /** A new code, after the cooldown (factors without codes answer like start()). */
  resend(a: AccountRecord, c: FactorContext): Promise<Started>;
  verify(a: AccountRecord, answer: string, c: FactorContext): Promise<Checked>;
  /** Absent for recovery codes (they come with the first factor). */
  readonly enrolment?: FactorEnrolment;
  /** What /account calls it. */
  readonly name: string;
  readonly words: StepWords;
}
