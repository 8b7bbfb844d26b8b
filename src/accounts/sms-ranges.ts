// Number ranges Tessera never texts (toll fraud): a deny-list of E.164 prefixes, SMS_DENIED_PREFIXES /
// config `sms.deniedPrefixes`. libphonenumber types satellite handsets (+8816, +870) as MOBILE, so the
// type check alone can't keep them out. An entry starting with `!` is an exception inside a denied range;
// the longest matching entry decides. Countries are a separate, coarser choice: PHONE_ALLOWED_COUNTRIES.

/** The maintained default. Each entry says why it is here; keep it short and justified. */
export const DEFAULT_SMS_DENIED_PREFIXES: readonly string[] = [
  // Global Mobile Satellite Systems (ITU +881: +8816/+8817 Iridium, +8818/+8819 Globalstar): a text to a
  // satellite handset costs dollars, and these ranges are a classic target of SMS pumping.
  '+881',
  // Inmarsat (+870): satellite terminals, the same cost and abuse.
  '+870',
  // International Networks (+882, +883): shared codes of carriers without a country (Thuraya satellite
  // +88216, maritime and in-flight networks, global M2M/VoIP operators): very high termination rates and
  // the ranges most used for international revenue share fraud.
  '+882',
  '+883',
  // International Premium Rate Service (+979): premium by definition.
  '+979',
  // UK personal numbers (070): forwarded anywhere at the sender's cost, priced like premium numbers;
  // libphonenumber accepts them as PERSONAL_NUMBER.
  '+4470',
  // UK pagers (076): can't receive our texts, and they share the costly personal-number tariffs...
  '+4476',
  // ... except 07624, the Isle of Man's mobile network (it shares the UK's +44 numbering).
  '!+447624',
];

/** One entry: `+` and 1–15 digits, optionally preceded by `!` (an exception). */
export const SMS_PREFIX_ENTRY = /^!?\+[1-9]\d{0,14}$/;

/**
 * SMS_DENIED_PREFIXES as written: comma-separated entries; `default` stands for the list above (so a
 * deployment can add its own and still get updates of the defaults), `none` for no deny-list at all.
 */
export function parseDeniedPrefixes(value: string): string[] {
  const out: string[] = [];
  for (const item of value.split(',').map((s) => s.replace(/\s+/g, '')).filter(Boolean)) {
    if (item.toLowerCase() === 'none') continue;
    if (item.toLowerCase() === 'default') out.push(...DEFAULT_SMS_DENIED_PREFIXES);
    else out.push(item);
  }
  return [...new Set(out)];
}

/** The denying entry that matches an E.164 number, or null when the number may be texted. */
export function deniedPrefix(e164: string, prefixes: readonly string[]): string | null {
  let best = '';
  let denied = false;
  for (const entry of prefixes) {
    const exception = entry.startsWith('!');
    const prefix = exception ? entry.slice(1) : entry;
    if (!e164.startsWith(prefix)) continue;
    // Longest match wins; an exception wins over a denial of the same prefix.
    if (prefix.length > best.length || (exception && prefix.length === best.length)) {
      best = prefix;
      denied = !exception;
    }
  }
  return denied ? best : null;
}
