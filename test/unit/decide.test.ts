// Which step a sign-in shows next (src/factors/decide.ts), with fake factors: no browser, no store. The
// fakes follow the real factors' rules: an authenticator or email factor is usable when turned on; SMS is
// usable with a verified phone even when SMS sign-in is off (a relying party may demand it); recovery codes
// are never a step of their own choosing, only usable while codes are left.
import { describe, it, expect } from 'vitest';
import { decideStep, type FactorView, type StepInput } from '../../src/factors/decide.ts';
import { AcrModel } from '../../src/oidc/acr.ts';
import { hasFactor, newFactor, recoveryCodesLeft, type FactorType } from '../../src/factors/records.ts';
import type { AccountRecord } from '../../src/store/ports.ts';

const ONE = 'urn:tessera:acr:1fa';
const MFA = 'urn:tessera:acr:mfa';
const SMS = 'urn:tessera:acr:mfa:sms';
const acr = new AcrModel({ oneFactor: ONE, mfa: MFA, mfaSms: SMS });

const phoneOk = (a: AccountRecord) => Boolean(a.phoneNumber && a.phoneNumberVerified);
// Deliberately listed out of the default order: the decision orders them, not the registry.
const FACTORS: FactorView[] = [
  { type: 'recovery', amr: 'rec', enabled: () => false, usable: (a) => recoveryCodesLeft(a.factors) > 0 },
  { type: 'email', amr: 'email', enabled: (a) => a.emailVerified && hasFactor(a.factors, 'email'), usable: (a) => a.emailVerified && hasFactor(a.factors, 'email') },
  { type: 'sms', amr: 'sms', enabled: (a) => hasFactor(a.factors, 'sms') && phoneOk(a), usable: phoneOk },
  { type: 'totp', amr: 'otp', enabled: (a) => hasFactor(a.factors, 'totp'), usable: (a) => hasFactor(a.factors, 'totp') },
];

let ids = 0;
const id = () => `f${++ids}`;
const DATA = { sms: {}, email: {}, totp: { secret: 'encrypted', lastStep: 0 }, recovery: { codes: ['h1', 'h2'] } };

/** An account with these factor records (recovery codes included when asked) and a verified phone unless said otherwise. */
function account(types: FactorType[], over: Partial<AccountRecord> = {}): AccountRecord {
  return {
    id: 'acct-1', email: 'user@example.test', emailVerified: true, name: 'User', passwordHash: '$argon2id$...',
    phoneNumber: '+447700900123', phoneNumberVerified: true,
    factors: types.map((t) => newFactor(t, DATA[t], id)),
    preferredMfa: null, createdAt: new Date(0), updatedAt: new Date(0), ...over,
  };
}

const afterPassword = (a: AccountRecord, over: Partial<StepInput> = {}): StepInput => ({
  account: a, proved: ['pwd'], passwordNow: true, demand: undefined, remembered: false, inlinePhoneEnrolment: true, ...over,
});
const decide = (input: StepInput, factors = FACTORS, model = acr) => decideStep(input, model, factors);
const demand = (...values: string[]) => acr.demand(values);

describe('the second step: preference and default order', () => {
  it('asks nothing more of an account without second factors', () => {
    expect(decide(afterPassword(account([])))).toEqual({ step: 'done' });
    expect(decide(afterPassword(account([], { phoneNumber: null, phoneNumberVerified: false })))).toEqual({ step: 'done' });
  });

  it('orders authenticator app, then SMS, then email; recovery codes never first but offered as another way', () => {
    const all = account(['email', 'sms', 'totp', 'recovery']);
    expect(decide(afterPassword(all))).toEqual({ step: 'factor', factor: 'totp', others: ['sms', 'email', 'recovery'], rememberable: true });
    expect(decide(afterPassword(account(['email', 'sms', 'recovery'])))).toMatchObject({ factor: 'sms', others: ['email', 'recovery'] });
    expect(decide(afterPassword(account(['email', 'recovery'], { phoneNumber: null, phoneNumberVerified: false })))).toEqual({
      step: 'factor', factor: 'email', others: ['recovery'], rememberable: true,
    });
  });

  it("uses the account's preferred method first", () => {
    const all = account(['email', 'sms', 'totp', 'recovery'], { preferredMfa: 'email' });
    expect(decide(afterPassword(all))).toMatchObject({ step: 'factor', factor: 'email', others: ['totp', 'sms', 'recovery'] });
    expect(decide(afterPassword({ ...all, preferredMfa: 'sms' }))).toMatchObject({ factor: 'sms', others: ['totp', 'email', 'recovery'] });
  });

  it('falls back to the default order when the preferred method cannot be used', () => {
    // Preferred SMS, but the phone is no longer verified (being changed): no SMS step, no dead end.
    const a = account(['sms', 'totp'], { preferredMfa: 'sms', phoneNumberVerified: false });
    expect(decide(afterPassword(a))).toMatchObject({ step: 'factor', factor: 'totp', others: [] });
  });
});

describe('the second step: what the relying party demands', () => {
  it('overrides the preference: …:mfa:sms texts an authenticator user, with nothing else offered', () => {
    const a = account(['sms', 'totp', 'recovery'], { preferredMfa: 'totp' });
    expect(decide(afterPassword(a, { demand: demand(SMS) }))).toEqual({ step: 'factor', factor: 'sms', others: [], rememberable: false });
    // Recovery codes, email codes and the authenticator don't meet an SMS demand, whatever the account has.
    const b = account(['email', 'totp', 'recovery']);
    expect(decide(afterPassword(b, { demand: demand(SMS) }))).toMatchObject({ factor: 'sms', others: [] });
  });

  it('meets …:mfa with the authenticator app (no text sent) and offers the other ways', () => {
    const a = account(['sms', 'totp', 'recovery']);
    expect(decide(afterPassword(a, { demand: demand(MFA) }))).toEqual({ step: 'factor', factor: 'totp', others: ['sms', 'recovery'], rememberable: false });
    expect(decide(afterPassword(a, { demand: demand(MFA), proved: ['pwd', 'otp'] }))).toEqual({ step: 'done' });
  });

  it('is done once the demand and the own factor are both met', () => {
    const a = account(['totp', 'recovery']);
    expect(decide(afterPassword(a, { proved: ['pwd', 'otp'] }))).toEqual({ step: 'done' });
    expect(decide(afterPassword(a, { proved: ['pwd', 'rec'] }))).toEqual({ step: 'done' });
    // An SMS demand is not met by the authenticator: the SMS step follows.
    expect(decide(afterPassword(a, { proved: ['pwd', 'otp'], demand: demand(SMS) }))).toMatchObject({ step: 'factor', factor: 'sms', others: [] });
    expect(decide(afterPassword(a, { proved: ['pwd', 'otp', 'sms'], demand: demand(SMS) }))).toEqual({ step: 'done' });
    expect(decide(afterPassword(a, { proved: ['pwd', 'sms'], demand: demand(SMS) }))).toEqual({ step: 'done' });
  });

  it('takes the easiest of several acceptable values', () => {
    const a = account(['sms', 'totp']);
    expect(decide(afterPassword(a, { demand: demand(MFA, SMS) }))).toMatchObject({ factor: 'totp', others: ['sms'] });
  });

  it('asks nothing for a 1fa demand of an account without second factors, and keeps the own factor for one with them', () => {
    expect(decide(afterPassword(account([]), { demand: demand(ONE) }))).toEqual({ step: 'done' });
    expect(decide(afterPassword(account(['totp']), { demand: demand(ONE) }))).toMatchObject({ step: 'factor', factor: 'totp', rememberable: true });
  });
});

describe('the second step: remember this browser', () => {
  it("skips only the user's own factor", () => {
    const a = account(['sms', 'totp', 'recovery']);
    expect(decide(afterPassword(a, { remembered: true }))).toEqual({ step: 'done' });
    expect(decide(afterPassword(a, { remembered: true, demand: demand(ONE) }))).toEqual({ step: 'done' });
  });

  it("never skips a relying party's demand", () => {
    const a = account(['sms', 'totp', 'recovery']);
    expect(decide(afterPassword(a, { remembered: true, demand: demand(MFA) }))).toMatchObject({ step: 'factor', factor: 'totp' });
    expect(decide(afterPassword(a, { remembered: true, demand: demand(SMS) }))).toMatchObject({ step: 'factor', factor: 'sms' });
    expect(decide(afterPassword(a, { remembered: true, demand: acr.demand([], MFA) }))).toMatchObject({ step: 'factor', factor: 'totp' }); // client minimum
  });

  it('is offered only when no relying-party demand is in play', () => {
    const a = account(['sms', 'totp']);
    expect(decide(afterPassword(a))).toMatchObject({ rememberable: true });
    expect(decide(afterPassword(a, { demand: demand(ONE) }))).toMatchObject({ rememberable: true });
    expect(decide(afterPassword(a, { demand: demand(MFA) }))).toMatchObject({ rememberable: false });
    expect(decide(afterPassword(a, { demand: demand(SMS) }))).toMatchObject({ rememberable: false });
    expect(decide(afterPassword(a, { demand: acr.demand([ONE], SMS) }))).toMatchObject({ rememberable: false });
  });
});

describe('the second step: "try another way"', () => {
  it('honours the chosen method among those that meet the demand', () => {
    const a = account(['email', 'sms', 'totp', 'recovery']);
    expect(decide(afterPassword(a, { chosen: 'sms' }))).toMatchObject({ factor: 'sms', others: ['totp', 'email', 'recovery'] });
    expect(decide(afterPassword(a, { chosen: 'recovery' }))).toMatchObject({ factor: 'recovery', others: ['totp', 'sms', 'email'] });
    expect(decide(afterPassword({ ...a, preferredMfa: 'email' }, { chosen: 'totp' }))).toMatchObject({ factor: 'totp' });
  });

  it('ignores a choice that does not meet the demand or the account cannot use', () => {
    const a = account(['sms', 'totp', 'recovery']);
    // Recovery code or authenticator against an SMS demand: the SMS step stays.
    expect(decide(afterPassword(a, { chosen: 'recovery', demand: demand(SMS) }))).toMatchObject({ factor: 'sms', others: [] });
    expect(decide(afterPassword(a, { chosen: 'totp', demand: demand(SMS) }))).toMatchObject({ factor: 'sms', others: [] });
    // Email codes were never turned on.
    expect(decide(afterPassword(a, { chosen: 'email' }))).toMatchObject({ factor: 'totp' });
    // No codes left.
    const spent = account(['sms', 'totp']);
    expect(decide(afterPassword(spent, { chosen: 'recovery' }))).toMatchObject({ factor: 'totp', others: ['sms'] });
  });
});

describe('the second step: nothing usable', () => {
  const noPhone = { phoneNumber: null, phoneNumberVerified: false };

  it('offers to add a phone inside the sign-in when the password was entered in it', () => {
    const a = account([], noPhone);
    expect(decide(afterPassword(a, { demand: demand(SMS) }))).toEqual({ step: 'enrol-phone' });
    expect(decide(afterPassword(a, { demand: demand(MFA) }))).toEqual({ step: 'enrol-phone' });
    // An unverified number counts as none.
    expect(decide(afterPassword(account([], { phoneNumberVerified: false }), { demand: demand(SMS) }))).toEqual({ step: 'enrol-phone' });
  });

  it('asks for the password first when only an old session proved it (step-up)', () => {
    const a = account([], noPhone);
    expect(decide(afterPassword(a, { demand: demand(SMS), passwordNow: false }))).toMatchObject({ step: 'password' });
  });

  it('verifies the phone being added', () => {
    const a = account([], noPhone);
    expect(decide(afterPassword(a, { demand: demand(SMS), enrolPhone: '+44•••••••123' }))).toEqual({ step: 'phone-verify', destination: '+44•••••••123' });
  });

  it('ends with unmet requirements when enrolment inside the sign-in is off', () => {
    const a = account([], noPhone);
    expect(decide(afterPassword(a, { demand: demand(SMS), inlinePhoneEnrolment: false }))).toMatchObject({ step: 'unmet' });
    expect(decide(afterPassword(a, { demand: demand(MFA), inlinePhoneEnrolment: false }))).toMatchObject({ step: 'unmet' });
  });

  it('ends with unmet requirements when no phone could meet the demand', () => {
    // An ACR met only by an authenticator app: a phone would not help, so no phone enrolment is offered.
    const custom = new AcrModel({
      oneFactor: ONE, mfa: MFA, mfaSms: SMS,
      policies: [{ value: ONE, anyOf: [['pwd']] }, { value: MFA, anyOf: [['pwd', 'sms'], ['pwd', 'otp']] }, { value: 'urn:example:app', anyOf: [['pwd', 'otp']] }],
    });
    const d = custom.demand(['urn:example:app']);
    expect(decide(afterPassword(account(['sms', 'recovery']), { demand: d }), FACTORS, custom)).toMatchObject({ step: 'unmet' });
    expect(decide(afterPassword(account([], noPhone), { demand: d }), FACTORS, custom)).toMatchObject({ step: 'unmet' });
    expect(decide(afterPassword(account(['sms', 'totp', 'recovery']), { demand: d }), FACTORS, custom)).toEqual({
      step: 'factor', factor: 'totp', others: [], rememberable: false,
    });
  });

  it('asks for nothing when the demand is met by the password', () => {
    expect(decide(afterPassword(account([], noPhone), { demand: demand(ONE) }))).toEqual({ step: 'done' });
  });
});

describe('the second step: email not confirmed', () => {
  it('confirms the email address before anything else', () => {
    const a = account(['sms', 'totp'], { emailVerified: false });
    expect(decide(afterPassword(a))).toEqual({ step: 'email-confirm' });
    expect(decide(afterPassword(a, { demand: demand(SMS), proved: ['pwd', 'sms'] }))).toEqual({ step: 'email-confirm' });
    expect(decide(afterPassword(account([], { emailVerified: false })))).toEqual({ step: 'email-confirm' });
  });
});

describe('the second step: only the methods the user turned on', () => {
  it('never offers SMS to a verified phone the user didn’t turn on, when an own method meets the demand', () => {
    const a = account(['totp'], { phoneNumber: '+12015550123', phoneNumberVerified: true });
    const step = decide(afterPassword(a, { demand: demand(MFA) }));
    expect(step).toMatchObject({ step: 'factor', factor: 'totp' });
    expect((step as { others: string[] }).others).not.toContain('sms');
    // Picking SMS anyway ("another way" forged) is ignored: the authenticator stays the step.
    expect(decide(afterPassword(a, { chosen: 'sms' }))).toMatchObject({ step: 'factor', factor: 'totp' });
  });

  it('falls back to the verified phone when the app demands SMS, which the user’s own method can’t meet', () => {
    const a = account(['totp'], { phoneNumber: '+12015550123', phoneNumberVerified: true });
    expect(decide(afterPassword(a, { demand: demand(SMS) }))).toMatchObject({ step: 'factor', factor: 'sms', others: [] });
  });
});
