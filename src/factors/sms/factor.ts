// SMS: a code texted to the account's verified phone. Turned on by the user (sign-in asks for it), and
// usable whenever the phone is verified, because a relying party may demand SMS (`…:mfa:sms`) of any account.
import type { Store } from '../../store/ports.ts';
import type { ChallengeEngine } from '../../challenges/engine.ts';
import { maskPhone } from '../../accounts/phone.ts';
import { CodeFactor } from '../code-factor.ts';
import { hasFactor } from '../records.ts';

export function smsFactor(deps: { store: Store; challenges: ChallengeEngine }) {
  return new CodeFactor(deps, {
    type: 'sms', amr: 'sms', name: 'Text message (SMS)', offer: 'Text me a code', purpose: 'sms-login', channel: 'sms', enrolPurpose: 'sms-enable',
    blocked: (a) => (a.phoneNumber && a.phoneNumberVerified ? null : 'Verify a mobile number first.'),
    destination: (a) => (a.phoneNumber && a.phoneNumberVerified ? a.phoneNumber : null),
    mask: maskPhone,
    enabled: (a) => hasFactor(a.factors, 'sms') && Boolean(a.phoneNumber && a.phoneNumberVerified),
    usable: (a) => Boolean(a.phoneNumber && a.phoneNumberVerified),
  });
}
