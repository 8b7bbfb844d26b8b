// Email: a code mailed to the account's confirmed address, once the user turned it on (the mailbox is
// also how a password is reset, so it counts as a second factor only by the user's choice). `amr` `email`
// is Tessera's own (RFC 8176 has none for it).
import type { AccountRecord, Store } from '../../store/ports.ts';
import type { ChallengeEngine } from '../../challenges/engine.ts';
import { CodeFactor } from '../code-factor.ts';
import { hasFactor } from '../records.ts';

/** "a•••@example.com": enough to recognise the address, not to read it off a shoulder. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return at > 0 ? `${email[0]}•••${email.slice(at)}` : email;
}

export function emailFactor(deps: { store: Store; challenges: ChallengeEngine }) {
  const on = (a: AccountRecord) => a.emailVerified && hasFactor(a.factors, 'email');
  return new CodeFactor(deps, {
    type: 'email', amr: 'email', name: 'Code by email', offer: 'Email me a code', purpose: 'email-login', channel: 'email', enrolPurpose: 'email-enable',
    blocked: (a) => (a.emailVerified ? null : 'Confirm your email address first.'),
    words: { title: 'Check your email', lead: (d) => `We emailed a 6-digit code to ${d}.`, field: 'code', label: 'Code from the email' },
    enrolWords: {
      on: 'Turn on codes by email', off: 'Turn off codes by email', lead: 'We emailed a 6-digit code to', label: 'Code from the email',
      start: 'We’ll email a code to your address to check it reaches you.', button: 'Send me a code',
    },
    destination: (a) => (on(a) ? a.email : null),
    mask: maskEmail,
    enabled: on,
    usable: on,
  });
}
