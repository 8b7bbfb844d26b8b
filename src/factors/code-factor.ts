// A second factor that is a one-time code sent somewhere (SMS to the verified phone, email to the
// confirmed address): the challenge engine issues, delivers, caps and checks it; this only says which
// purpose, channel and destination.
import type { AccountRecord, ChallengePurpose } from '../store/ports.ts';
import type { ChallengeEngine } from '../challenges/engine.ts';
import type { Store } from '../store/ports.ts';
import { startFailure, verifyFailure, resendFailure, CODE_ERRORS } from '../challenges/messages.ts';
import type { Factor, FactorContext, Started, Checked, FactorEnrolment, EnrolStarted, StepWords, EnrolWords } from './factor.ts';
import { newFactor, type FactorType } from './records.ts';
import { randomId } from '../secrets.ts';

export interface CodeFactorSpec {
  type: Extract<FactorType, 'sms' | 'email'>;
  amr: string;
  name: string;
  words: StepWords;
  enrolWords: EnrolWords;
  /** The challenge purpose of turning it on (a fresh code to the destination itself). */
  enrolPurpose: ChallengePurpose;
  /** Why it can't be turned on now, or null. */
  blocked(a: AccountRecord): string | null;
  offer: string;
  purpose: ChallengePurpose;
  channel: 'sms' | 'email';
  /** Where the code goes, or null when the account has nowhere trusted to send it. */
  destination(a: AccountRecord): string | null;
  mask(destination: string): string;
  enabled(a: AccountRecord): boolean;
  usable(a: AccountRecord): boolean;
}

export class CodeFactor implements Factor {
  readonly type;
  readonly amr;
  readonly offer;
  readonly name;
  readonly words;
  readonly enrolment: FactorEnrolment;
  constructor(private readonly deps: { store: Store; challenges: ChallengeEngine }, private readonly spec: CodeFactorSpec) {
    this.type = spec.type;
    this.amr = spec.amr;
    this.offer = spec.offer;
    this.name = spec.name;
    this.words = spec.words;
    this.enrolment = this.makeEnrolment();
  }

  /** Turning it on: a fresh code to the destination on file (never one typed into the form). */
  private makeEnrolment(): FactorEnrolment {
    const { spec, deps } = this;
    const purpose = spec.enrolPurpose;
    // The destination it would use once on: the verified phone / the confirmed address.
    const target = (a: AccountRecord) => (spec.blocked(a) ? null : spec.type === 'sms' ? a.phoneNumber : a.email);
    const shown = async (a: AccountRecord, c: FactorContext): Promise<EnrolStarted> => {
      const open = await deps.store.challenges.findActive(a.id, purpose, c.context);
      if (!open) return { ok: false, message: CODE_ERRORS.unknown, status: 400 };
      return { ok: true, kind: 'code', destination: spec.mask(open.destination), cooldown: deps.challenges.cooldownLeft(open) };
    };
    return {
      words: spec.enrolWords,
      blocked: (a) => spec.blocked(a),
      begin: async (a, c) => {
        const to = target(a);
        if (!to) return { ok: false, message: spec.blocked(a) ?? CODE_ERRORS.unknown, status: 400 };
        const r = await deps.challenges.start({ purpose, accountId: a.id, channel: spec.channel, destination: to, context: c.context, ip: c.ip, name: a.name, locale: c.locale });
        if (!r.ok) return { ok: false, message: startFailure(r), status: r.reason === 'limited' ? 429 : 503 };
        return { ok: true, kind: 'code', destination: spec.mask(to), cooldown: deps.challenges.cooldownLeft(r.challenge) };
      },
      again: shown,
      resend: async (a, c) => {
        const open = await deps.store.challenges.findActive(a.id, purpose, c.context);
        if (!open) return { ok: false, message: CODE_ERRORS.unknown, status: 400 };
        const r = await deps.challenges.resend(open.id, { ip: c.ip, name: a.name, locale: c.locale });
        if (!r.ok) {
          const f = r.reason === 'gone' ? { message: CODE_ERRORS.unknown, status: 400 } : resendFailure(r);
          return { ok: false, message: f.message, status: f.status };
        }
        return { ok: true, kind: 'code', destination: spec.mask(open.destination), cooldown: deps.challenges.cooldownLeft(r.challenge) };
      },
      finish: async (a, answer, c) => {
        const open = await deps.store.challenges.findActive(a.id, purpose, c.context);
        if (!open) return { ok: false, message: CODE_ERRORS.unknown, status: 400 };
        const r = await deps.challenges.verify(open.id, answer, { accountId: a.id, purpose });
        if (!r.ok) return { ok: false, message: verifyFailure(r), status: r.reason === 'locked' ? 429 : 400 };
        // The code must have gone to what the account trusts now: a phone changed meanwhile doesn't count.
        if (open.destination !== target(a)) return { ok: false, message: spec.type === 'sms' ? 'Your phone number changed meanwhile. Start again.' : 'Your email address changed meanwhile. Start again.', status: 409 };
        return { ok: true, record: newFactor(spec.type, {}, () => randomId(9)) };
      },
    };
  }

  enabled(a: AccountRecord) {
    return this.spec.enabled(a);
  }

  usable(a: AccountRecord) {
    return this.spec.usable(a);
  }

  async start(a: AccountRecord, c: FactorContext): Promise<Started> {
    const to = this.spec.destination(a);
    if (!to) return { ok: false, message: CODE_ERRORS.unknown, status: 400 };
    const r = await this.deps.challenges.start({ purpose: this.spec.purpose, accountId: a.id, channel: this.spec.channel, destination: to, context: c.context, ip: c.ip, name: a.name, locale: c.locale });
    if (!r.ok) return { ok: false, message: startFailure(r), status: r.reason === 'limited' ? 429 : 503 };
    return { ok: true, sent: r.sent, cooldown: this.deps.challenges.cooldownLeft(r.challenge), destination: this.spec.mask(to) };
  }

  async resend(a: AccountRecord, c: FactorContext): Promise<Started> {
    const open = await this.deps.store.challenges.findActive(a.id, this.spec.purpose, c.context);
    if (!open || open.destination !== this.spec.destination(a)) return this.start(a, c);
    const r = await this.deps.challenges.resend(open.id, { ip: c.ip, name: a.name, locale: c.locale });
    if (!r.ok) {
      if (r.reason === 'gone') return this.start(a, c);
      const f = resendFailure(r);
      return { ok: false, message: f.message, status: f.status };
    }
    return { ok: true, sent: true, cooldown: this.deps.challenges.cooldownLeft(r.challenge), destination: this.spec.mask(open.destination) };
  }

  /** The code must have gone to the destination the account trusts NOW (a number changed meanwhile doesn't count). */
  async verify(a: AccountRecord, answer: string, c: FactorContext): Promise<Checked> {
    const open = await this.deps.store.challenges.findActive(a.id, this.spec.purpose, c.context);
    if (!open || open.destination !== this.spec.destination(a)) return { ok: false, message: CODE_ERRORS.unknown, status: 400 };
    const r = await this.deps.challenges.verify(open.id, answer, { accountId: a.id, purpose: this.spec.purpose });
    return r.ok ? { ok: true } : { ok: false, message: verifyFailure(r), status: r.reason === 'locked' ? 429 : 400 };
  }

  /** Seconds until this context's code may be resent (0 when none is open). */
  async cooldown(a: AccountRecord, c: FactorContext): Promise<number> {
    const open = await this.deps.store.challenges.findActive(a.id, this.spec.purpose, c.context);
    return open ? this.deps.challenges.cooldownLeft(open) : 0;
  }
}
