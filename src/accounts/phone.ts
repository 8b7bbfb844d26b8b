// Phone numbers are parsed with libphonenumber-js and kept in E.164. Only numbers our texts reach at a
// normal price are accepted (toll fraud: personal, premium and satellite ranges are texted at the
// sender's cost): libphonenumber's MOBILE and FIXED_LINE_OR_MOBILE types, outside the deny-list of
// prefixes (./sms-ranges.ts), optionally only from an allow-list of countries.
import { parsePhoneNumberWithError, type CountryCode, type NumberType } from 'libphonenumber-js/max';
import { DEFAULT_SMS_DENIED_PREFIXES, deniedPrefix } from './sms-ranges.ts';

export type PhoneResult = { ok: true; e164: string; country: string | undefined } | { ok: false; error: string };

/** The only types texted: a mobile, or (North America, some others) a number that may be one. */
const SMS_TYPES: ReadonlySet<NumberType> = new Set<NumberType>(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

/** How the refusal names the kind of number the user typed. */
const KIND: Partial<Record<NonNullable<NumberType>, string>> = {
  FIXED_LINE: 'a landline',
  PERSONAL_NUMBER: 'a personal (call-forwarding) number',
  PAGER: 'a pager',
  PREMIUM_RATE: 'a premium-rate number',
  TOLL_FREE: 'a toll-free number',
  SHARED_COST: 'a shared-cost number',
  VOIP: 'an internet (VoIP) number',
  UAN: 'a company switchboard number',
  VOICEMAIL: 'a voicemail number',
};

const TYPE_REFUSED = (type: NumberType) =>
  `This kind of number${type && KIND[type] ? ` (${KIND[type]})` : ''} can’t receive our texts. Enter a mobile number.`;
const RANGE_REFUSED = 'This kind of number can’t receive our texts (we don’t text satellite, premium-rate or call-forwarding ranges). Enter a mobile number.';

/**
 * `deniedPrefixes`: config `sms.deniedPrefixes` (SMS_DENIED_PREFIXES); the maintained default when a
 * caller doesn't pass it.
 */
export function parsePhone(
  input: string,
  defaultRegion: string,
  allowedCountries: readonly string[],
  deniedPrefixes: readonly string[] = DEFAULT_SMS_DENIED_PREFIXES,
): PhoneResult {
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
  // The range first: satellite handsets are typed MOBILE.
  if (deniedPrefix(parsed.number, deniedPrefixes)) return { ok: false, error: RANGE_REFUSED };
  const type = parsed.getType();
  if (!SMS_TYPES.has(type)) return { ok: false, error: TYPE_REFUSED(type) };
  if (allowedCountries.length && (!parsed.country || !allowedCountries.includes(parsed.country)))
    return { ok: false, error: `Numbers from this country aren’t supported here. Supported: ${allowedCountries.join(', ')}.` };
  return { ok: true, e164: parsed.number, country: parsed.country };
}

/**
 * Checked again before every text (the challenge engine), whatever path stored or typed the number: the
 * rule that refuses it, or null. Numbers kept before these rules existed are texted unless they are in a
 * denied range or libphonenumber is sure they are of a kind that isn't a mobile (e.g. a UK 070 personal
 * number); a number it can't classify isn't refused here (the deny-list covers the costly ranges).
 */
export function smsRefusal(e164: string, deniedPrefixes: readonly string[]): 'denied_prefix' | 'number_type' | null {
  if (deniedPrefix(e164, deniedPrefixes)) return 'denied_prefix';
  try {
    const parsed = parsePhoneNumberWithError(e164);
    const type = parsed.isValid() ? parsed.getType() : undefined;
    if (type && !SMS_TYPES.has(type)) return 'number_type';
  } catch {
    // not parseable: nothing more to tell
  }
  return null;
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
