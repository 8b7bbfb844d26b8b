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
    words: { title: 'Check your phone', lead: (d) => `We texted a 6-digit code to ${d}.`, field: 'code', label: 'Code from the text message' },
    enrolWords: {
      on: 'Turn on SMS sign-in', off: 'Turn off SMS sign-in', lead: 'We texted a 6-digit code to', label: 'Code from the text message',
      start: 'We’ll text a code to your verified number to check it reaches you.', button: 'Send me a code',
    },
    destination: (a) => (a.phoneNumber && a.phoneNumberVerified ? a.phoneNumber : null),
    mask: maskPhone,
    enabled: (a) => hasFactor(a.factors, 'sms') && Boolean(a.phoneNumber && a.phoneNumberVerified),
    usable: (a) => Boolean(a.phoneNumber && a.phoneNumberVerified),
  });
}
