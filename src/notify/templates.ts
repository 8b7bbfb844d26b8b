// The texts of codes and links sent by SMS and email, in the recipient's language (locales/*.json).
// SMS texts stay within one 160-character GSM-7 message and end with the origin-bound line
// (`@host #code`) that lets browsers and phones autofill the code for the right site only.
import type { ChallengePurpose } from '../store/ports.ts';
import { translator } from '../i18n/catalogue.ts';
import { renderMail, type Brand, type RenderedMail } from './mail-render.ts';

export interface TextOptions {
  locale: string;
  brand: Brand;
  /** The issuer's host, e.g. id.example.com. */
  host: string;
}

const SMS_PURPOSE: Partial<Record<ChallengePurpose, string>> = {
  'phone-verify': 'phone-verify', 'sms-enable': 'sms-enable', 'password-reset': 'password-reset',
};

export function smsText(purpose: ChallengePurpose, code: string, ttlMinutes: number, o: TextOptions): string {
  const t = translator(o.locale);
  const what = SMS_PURPOSE[purpose] ?? 'sign-in';
  return `${t(`sms.code.${what}`, { code, product: o.brand.name, count: ttlMinutes })}\n\n@${o.host} #${code}`;
}

const MAIL_PURPOSE: Partial<Record<ChallengePurpose, string>> = {
  'email-confirm': 'email-confirm', 'email-change': 'email-change', 'password-reset': 'password-reset', 'email-enable': 'email-enable',
};

export function emailMessage(purpose: ChallengePurpose, code: string, link: string | null, name: string | null, ttlMinutes: number, o: TextOptions): RenderedMail {
  const t = translator(o.locale);
  const greeting = name ? t('mail.hello', { name }) : t('mail.helloAll');
  if (purpose === 'account-unlock') {
    return renderMail({
      subject: t('mail.unlock.subject'), greeting, paragraphs: [],
      link: { href: link ?? '', label: t('mail.unlock.button'), intro: t('mail.unlock.intro') },
      after: [t('mail.unlock.expires', { count: ttlMinutes })],
    }, o);
  }
  const what = MAIL_PURPOSE[purpose] ?? 'sign-in';
  return renderMail({
    subject: t(`mail.subject.${what}`), greeting, paragraphs: [t(`mail.intro.${what}`)], code,
    link: link ? { href: link, label: t('mail.openLink'), intro: t('mail.orLink') } : undefined,
    after: [t('mail.expires', { count: ttlMinutes })],
  }, o);
}

/** Sent instead of a code when the address already has an account (registration) or is taken (email change). */
export function addressInUseMessage(kind: 'registration' | 'email-change', email: string, o: TextOptions): RenderedMail {
  const t = translator(o.locale);
  const k = kind === 'registration' ? 'taken' : 'used';
  return renderMail({
    subject: t(`mail.${k}.subject`), greeting: t('mail.helloAll'),
    paragraphs: [t(`mail.${k}.what`, { host: o.host, email }), t(`mail.${k}.you`), t('mail.notYou')],
  }, o);
}
