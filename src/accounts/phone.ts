// Phone numbers are parsed with libphonenumber-js and kept in E.164. Only mobile-capable numbers are
// accepted (SMS must reach them), optionally only from an allow-list of countries.
import { parsePhoneNumberWithError, type CountryCode } from 'libphonenumber-js/max';

export type PhoneResult = { ok: true; e164: string; country: string | undefined } | { ok: false; error: string };

export function parsePhone(input: string, defaultRegion: string, allowedCountries: readonly string[]): PhoneResult {
  const raw = input.trim();
  if (!raw) return { ok: false, error: 'Enter a phone number.' };
  if (raw.length > 32) return { ok: false, error: 'That phone number is too long.' };
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(raw, defaultRegion as CountryCode);
  } catch {
    return { ok: false, error: 'Enter a valid phone number, e.g. +33 6 12 34 56 78.' };
  }
  if (!parsed.isValid()) return { ok: false, error: 'Enter a valid phone number, e.g. +33 6 12 34 56 78.' };
  const type = parsed.getType();
  if (type && !['MOBILE', 'FIXED_LINE_OR_MOBILE', 'PERSONAL_NUMBER'].includes(type))
    return { ok: false, error: 'Enter a mobile number that can receive text messages.' };
  if (allowedCountries.length && (!parsed.country || !allowedCountries.includes(parsed.country)))
    return { ok: false, error: `Numbers from this country aren’t supported here. Supported: ${allowedCountries.join(', ')}.` };
  return { ok: true, e164: parsed.number, country: parsed.country };
}

/** "+33 •••• 5678": the country and last four digits, enough to recognise a number, not to leak it. */
export function maskPhone(e164: string): string {
  let cc = '';
  try {
    cc = parsePhoneNumberWithError(e164).countryCallingCode;
  } catch {
    cc = e164.slice(1, 3);
  }
  return `+${cc}\u00a0••••\u00a0${e164.slice(-4)}`;
}
