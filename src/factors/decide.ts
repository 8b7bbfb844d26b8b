// Which step a sign-in shows next: a pure function of the account, what this sign-in proved so far, what
// the relying party demands and what the user picked ("try another way"). No koa, no store: unit-tested
// with fake factors (test/unit/decide.test.ts).
import type { AccountRecord } from '../store/ports.ts';
import { AMR, type AcrModel, type Demand } from '../oidc/acr.ts';
import type { FactorType } from './records.ts';

/** What the decision needs of a factor (the registry's factors have it; tests pass fakes). */
export interface FactorView {
  type: FactorType;
  amr: string;
  enabled(a: AccountRecord): boolean;
  usable(a: AccountRecord): boolean;
}

export interface StepInput {
  account: AccountRecord;
  /** amr proved in this sign-in (or carried over from the session on step-up). */
  proved: readonly string[];
  /** The password was entered in this sign-in (not an old session's). */
  passwordNow: boolean;
  /** The relying party's demand (acr_values, default_acr_values, essential acr, client minimum). */
  demand: Demand | undefined;
  /** A "remember this browser" cookie for this account: the user's OWN second step may be skipped. */
  remembered: boolean;
  /** The method the user picked with "try another way". */
  chosen?: FactorType;
  /** A phone being verified inside this sign-in (inline enrolment). */
  enrolPhone?: string;
  inlinePhoneEnrolment: boolean;
}

export type Step =
  | { step: 'email-confirm' }
  | { step: 'done' }
  | { step: 'factor'; factor: FactorType; others: FactorType[]; rememberable: boolean }
  | { step: 'phone-verify'; destination: string }
  | { step: 'password'; reason: string }
  | { step: 'enrol-phone' }
  | { step: 'unmet'; reason: string };

/** Default order when the user set no preference: no SMS for someone who has an authenticator app. */
const ORDER: FactorType[] = ['totp', 'sms', 'email', 'recovery'];

export function decideStep(input: StepInput, acr: AcrModel, factors: readonly FactorView[]): Step {
  const { account, proved, demand } = input;
  if (!account.emailVerified) return { step: 'email-confirm' };
  // The user's own second factor (any of them enabled), unless this browser is remembered; a relying
  // party's demand applies always.
  const own = factors.some((f) => f.enabled(account)) && !input.remembered ? acr.ownDemand() : undefined;
  const needs = [demand, own].filter((d): d is Demand => Boolean(d));
  const meetsAll = (amr: readonly string[]) => needs.every((d) => acr.met(amr, d));
  if (meetsAll(proved)) return { step: 'done' };
  if (input.enrolPhone) return { step: 'phone-verify', destination: input.enrolPhone };

  // The methods the user turned on (and their recovery codes) come first: someone who chose only an
  // authenticator app is never offered SMS to a phone they merely verified (a SIM swap would pass). Other
  // usable methods count only when none of the user's own meets the demand (an app demanding SMS may
  // use any verified phone).
  const usable = factors.filter((f) => f.usable(account) && meetsAll([...proved, f.amr]));
  const mine = usable.filter((f) => f.enabled(account) || f.type === 'recovery');
  const candidates = (mine.some((f) => f.type !== 'recovery') ? mine : usable).sort((a, b) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type));
  if (!candidates.length) {
    // Nothing the account has meets the demand: adding a phone might, inside this sign-in, but only with
    // the password entered in it (an old session alone must not attach a phone and call it a factor).
    if (input.inlinePhoneEnrolment && meetsAll([...proved, AMR.sms]) && !account.phoneNumberVerified) {
      if (!input.passwordNow) return { step: 'password', reason: 'Enter your password to add a phone number to your account.' };
      return { step: 'enrol-phone' };
    }
    return { step: 'unmet', reason: 'This account has no sign-in method the app requires.' };
  }
  const types = candidates.map((f) => f.type);
  const first = types.filter((t) => t !== 'recovery'); // recovery codes are only ever "another way"
  const pick =
    (input.chosen && types.includes(input.chosen) && input.chosen) ||
    (account.preferredMfa && first.includes(account.preferredMfa) && account.preferredMfa) ||
    first[0] ||
    types[0];
  return {
    step: 'factor',
    factor: pick,
    others: types.filter((t) => t !== pick),
    // "Remember this browser" only skips the user's own step later: offered only when no app demand is in play.
    rememberable: !demand || acr.met([AMR.password], demand),
  };
}
