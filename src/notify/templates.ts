// Message texts in one place. SMS texts stay under 160 GSM characters and end with the origin-bound
// line (`@host #code`) that lets browsers and phones autofill the code for the right site only.
import type { ChallengePurpose } from '../store/ports.ts';

export function smsText(purpose: ChallengePurpose, code: string, issuerHost: string, ttlMinutes: number): string {
  const what = purpose === 'phone-verify' ? 'verify your phone' : purpose === 'sms-enable' ? 'turn on SMS sign-in' : purpose === 'password-reset' ? 'reset your password' : 'sign in';
  return `${code} is your Tessera code to ${what}. It expires in ${ttlMinutes} minutes. Don't share it.\n\n@${issuerHost} #${code}`;
}

export function emailMessage(purpose: ChallengePurpose, code: string, link: string | null, name: string, ttlMinutes: number) {
  if (purpose === 'account-unlock') return unlockMessage(link ?? '', name, ttlMinutes);
  const subject =
    purpose === 'email-confirm' ? 'Confirm your email address'
      : purpose === 'email-change' ? 'Confirm your new email address'
      : purpose === 'password-reset' ? 'Reset your password'
        : purpose === 'email-enable' ? 'Turn on sign-in codes by email' : 'Your sign-in code';
  const lines = [
    `Hello ${name},`,
    '',
    purpose === 'email-confirm'
      ? 'Use this code to confirm your email address:'
      : purpose === 'email-change'
        ? 'Use this code to make this address the sign-in email of your account:'
      : purpose === 'password-reset'
        ? 'Use this code to choose a new password:'
        : purpose === 'email-enable'
          ? 'Use this code to turn on sign-in codes by email:'
          : 'Use this code to sign in:',
    '',
    `    ${code}`,
    '',
    ...(link ? ['Or open this link:', link, ''] : []),
    `The code expires in ${ttlMinutes} minutes. If you did not ask for it, you can ignore this email.`,
  ];
  return { subject, text: lines.join('\n') };
}

/** The way back after too many wrong passwords from many places: a link, and no code to type. */
function unlockMessage(link: string, name: string, ttlMinutes: number) {
  const text = [
    `Hello ${name},`,
    '',
    'Sign-in to your account was paused because of many wrong password attempts. If that was you, or to keep',
    'using your account anyway, open this link and press "Unlock":',
    '',
    link,
    '',
    `The link works once and expires in ${ttlMinutes} minutes. If you didn’t try to sign in, someone may be`,
    'guessing your password: your account stays safe while it is paused, and choosing a new password also unlocks it.',
  ];
  return { subject: 'Unlock sign-in to your account', text: text.join('\n') };
}
