// The message catalogues (locales/*.json): every language has every key English has, with the same
// placeholders and plural forms its own plural rules need; the texts domain code produces in English are
// found in the English catalogue (so the pages can show them translated); SMS texts fit one message.
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { LOCALES_DIR, SUPPORTED, catalogue, translator, fromEnglish, type Catalogue, type Entry } from '../../src/i18n/catalogue.ts';
import { chooseLocale, parseAcceptLanguage } from '../../src/i18n/negotiate.ts';
import { safeReturnPath } from '../../src/http/locale.ts';
import { smsText } from '../../src/notify/templates.ts';
import { CODE_ERRORS, startFailure, verifyFailure, resendFailure } from '../../src/challenges/messages.ts';
import { passwordProblem } from '../../src/accounts/passwords.ts';
import { parsePhone } from '../../src/accounts/phone.ts';
import { smsFactor } from '../../src/factors/sms/factor.ts';
import { emailFactor } from '../../src/factors/email/factor.ts';
import { RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import { scopeWords } from '../../src/interaction/consent.ts';
import type { ChallengePurpose } from '../../src/store/ports.ts';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
const texts = (e: Entry) => (typeof e === 'string' ? [e] : Object.values(e).filter((x): x is string => typeof x === 'string'));

/** What a catalogue lacks or gets wrong compared with English: the completeness rule, as data. */
export function problems(locale: string, en: Catalogue, other: Catalogue): string[] {
  const out: string[] = [];
  const rules = new Intl.PluralRules(locale);
  for (const [key, entry] of Object.entries(en)) {
    const mine = other[key];
    if (mine === undefined) {
      out.push(`${locale}: missing ${key}`);
      continue;
    }
    const want = new Set(texts(entry).map(placeholders));
    for (const text of texts(mine)) {
      if (!text.trim()) out.push(`${locale}: ${key} is empty`);
      if (!want.has(placeholders(text))) out.push(`${locale}: ${key} has placeholders {${placeholders(text)}}, English {${[...want].join('|')}}`);
    }
    if (typeof entry !== typeof mine) out.push(`${locale}: ${key} must ${typeof entry === 'string' ? 'be a string' : 'have plural forms'}`);
    if (typeof mine === 'object') {
      // The forms the counts shown here (0–200: minutes, tries, codes) need; rarer ones (French "many",
      // for millions) fall back to "other".
      const needed = new Set(Array.from({ length: 201 }, (_, n) => rules.select(n)));
      for (const form of needed) if (!mine[form]) out.push(`${locale}: ${key} lacks the plural form "${form}"`);
    }
  }
  for (const key of Object.keys(other)) if (!(key in en)) out.push(`${locale}: ${key} is not in English`);
  return out;
}

describe('message catalogues', () => {
  const en = catalogue('en')!;

  it('are found as files: the supported languages are the catalogues in locales/', () => {
    const files = fs.readdirSync(LOCALES_DIR).filter((f) => f.endsWith('.json')).map((f) => path.basename(f, '.json')).sort();
    expect([...SUPPORTED].sort()).toEqual(files);
    expect(SUPPORTED).toEqual(expect.arrayContaining(['en', 'fr', 'de', 'es']));
  });

  it('every catalogue has every key English has, with the same placeholders and its plural forms', () => {
    for (const locale of SUPPORTED) expect(problems(locale, en, catalogue(locale)!)).toEqual([]);
  });

  it('the check catches a missing key and a changed placeholder', () => {
    const fr = { ...catalogue('fr')! };
    delete fr['login.title'];
    fr['step.cancel'] = 'Annuler et retourner à {app}';
    expect(problems('fr', en, fr)).toEqual(['fr: missing login.title', 'fr: step.cancel has placeholders {app}, English {client}']);
  });

  it('translates with placeholders and plural rules, and falls back to English for an unknown language', () => {
    expect(translator('fr')('step.cancel', { client: 'Shop' })).toBe('Annuler et retourner à Shop');
    expect(translator('de')('code.invalidLeft', { count: 1 })).toBe('Dieser Code ist nicht richtig. Noch 1 Versuch.');
    expect(translator('de')('code.invalidLeft', { count: 3 })).toBe('Dieser Code ist nicht richtig. Noch 3 Versuche.');
    expect(translator('xx')('login.title')).toBe('Sign in');
  });

  it('every English text domain code shows on a page is in the catalogue, so pages show it translated', () => {
    const deps = { store: {} as never, challenges: {} as never };
    const sms = smsFactor(deps);
    const email = emailFactor(deps);
    const recovery = new RecoveryFactor({} as never);
    const domain = [
      ...Object.values(CODE_ERRORS),
      startFailure({ ok: false, reason: 'limited', retryAfterSeconds: 600, rule: 'x' }),
      startFailure({ ok: false, reason: 'delivery_failed' }),
      verifyFailure({ ok: false, reason: 'invalid', attemptsLeft: 1 }),
      verifyFailure({ ok: false, reason: 'invalid', attemptsLeft: 4 }),
      resendFailure({ ok: false, reason: 'cooldown', retryAfterSeconds: 12 }).message,
      passwordProblem('short'), passwordProblem('aaaaaaaaaaaa'), passwordProblem('password12345'),
      passwordProblem('anabelle-secret-words', { email: 'anabelle@example.com' }),
      ...['', '12', '+33 1 23 45 67 89', '+1 900 555 0100', '+44 7700 900123'].map((p) => { const r = parsePhone(p, 'FR', []); return r.ok ? null : r.error; }),
      ...[sms, email].flatMap((f) => [f.name, f.offer, f.words.title, f.words.lead('x'), f.words.label, ...Object.values(f.enrolment.words)]),
      recovery.name, recovery.offer, recovery.words.title, recovery.words.lead(null), recovery.words.label,
      ...['openid', 'profile', 'email', 'phone', 'offline_access'].map(scopeWords),
    ].filter((x): x is string => Boolean(x));
    const untranslated = domain.filter((text) => !fromEnglish(text));
    expect(untranslated).toEqual([]);
    // …each to its own entry: shown in another language, it reads differently (no catch-all pattern).
    for (const locale of SUPPORTED.filter((l) => l !== 'en')) {
      expect(domain.filter((text) => translator(locale)(text) === text)).toEqual([]);
    }
    expect(fromEnglish('Use at least 10 characters.')).toEqual({ key: 'password.short', vars: { min: '10' } });
    // …and a French page shows them in French.
    expect(translator('fr')(verifyFailure({ ok: false, reason: 'invalid', attemptsLeft: 2 }))).toBe('Ce code n’est pas correct. Encore 2 essais.');
    expect(translator('es')(sms.words.lead('+34 •••• 78'))).toBe('Enviamos un código de 6 dígitos por SMS al +34 •••• 78.');
  });

  it('no sentence in the code behind the pages is missing from the catalogue (a new message needs its entry)', () => {
    // What the relying party reads (error_description) and what only the admin CLI shows stay English.
    const notForPages = new Set([
      'The user cancelled the sign-in.',
      'The user has no verified phone for the SMS sign-in the app requires.',
      'The service is temporarily unavailable. Try again in a few seconds.',
      'SMS two-step sign-in needs a verified phone number (phone_number_verified: true).',
      'Email codes as a second step need a confirmed email (email_verified: true).',
      'An authenticator app is added with totp_secret.',
      'Unknown account.',
    ]);
    const roots = ['src/interaction', 'src/account', 'src/http', 'src/accounts', 'src/factors', 'src/challenges', 'src/guard', 'src/errors.ts', 'src/app.ts'];
    const files = roots.flatMap((r) => (fs.statSync(r).isDirectory() ? fs.readdirSync(r, { recursive: true }).map((f) => path.join(r, String(f))) : [r])).filter((f) => f.endsWith('.ts'));
    const missing: string[] = [];
    for (const file of files) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (/log\.|new Error\(|^\s*(\/\/|\*)|ctx\.throw\(415/.test(line)) return; // logs, internal errors, comments
        for (const m of line.matchAll(/'([A-Z][^'\n]{6,}[.?!:])'/g)) {
          if (!notForPages.has(m[1]) && !fromEnglish(m[1])) missing.push(`${file}:${i + 1}: ${m[1]}`);
        }
      });
    }
    expect(missing).toEqual([]);
  });
});

// GSM 03.38: the basic set (1 septet each) and its extension table (2 septets each).
const GSM_BASIC = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = '^{}\\[~]|€\f';

/** How many single SMS a text needs room for: GSM-7 septets against 160, or UCS-2 characters against 70. */
function smsLength(text: string): { encoding: 'GSM-7' | 'UCS-2'; length: number; limit: number } {
  const chars = [...text];
  if (chars.every((c) => GSM_BASIC.includes(c) || GSM_EXT.includes(c))) {
    return { encoding: 'GSM-7', length: chars.reduce((n, c) => n + (GSM_EXT.includes(c) ? 2 : 1), 0), limit: 160 };
  }
  return { encoding: 'UCS-2', length: text.length, limit: 70 };
}

describe('SMS texts', () => {
  const purposes: ChallengePurpose[] = ['sms-login', 'phone-verify', 'sms-enable', 'password-reset'];
  const brand = { name: 'Tessera', primaryColor: '#3346d3', supportContact: null };
  for (const locale of SUPPORTED) {
    it(`${locale}: each code text fits one GSM-7 message and ends with the origin-bound line`, () => {
      for (const purpose of purposes) {
        const text = smsText(purpose, '123456', 10, { locale, brand, host: 'id.example-company.com' });
        expect(text.endsWith('\n\n@id.example-company.com #123456')).toBe(true);
        expect(text).toContain('Tessera');
        const size = smsLength(text);
        expect({ purpose, ...size, fits: size.length <= size.limit }).toMatchObject({ encoding: 'GSM-7', fits: true });
      }
      const notice = translator(locale)('sms.phoneChanged', { host: 'id.example-company.com', last4: '5678', product: 'Tessera' });
      const size = smsLength(notice);
      expect({ ...size, fits: size.length <= size.limit }).toMatchObject({ encoding: 'GSM-7', fits: true });
    });
  }
});

describe('choosing the language', () => {
  const base = { supported: ['en', 'fr', 'de', 'es'], fallback: 'en' };
  it('ui_locales first (the first supported of the list), then the cookie, then Accept-Language, then the default', () => {
    expect(chooseLocale({ ...base, uiLocales: 'it fr-CA de', cookie: 'de.100', acceptLanguage: 'es' })).toBe('fr');
    expect(chooseLocale({ ...base, uiLocales: 'it', cookie: 'de.100', acceptLanguage: 'es' })).toBe('de');
    expect(chooseLocale({ ...base, cookie: 'garbage', acceptLanguage: 'es-MX,es;q=0.9' })).toBe('es');
    expect(chooseLocale({ ...base, acceptLanguage: 'it, ja' })).toBe('en');
    expect(chooseLocale({ ...base, fallback: 'de' })).toBe('de');
  });
  it('a switcher choice made during this authorization request wins over its ui_locales', () => {
    expect(chooseLocale({ ...base, uiLocales: 'fr', requestedAt: 200, cookie: 'de.100' })).toBe('fr');
    expect(chooseLocale({ ...base, uiLocales: 'fr', requestedAt: 200, cookie: 'de.250' })).toBe('de');
  });
  it('honours Accept-Language q-values, fr-CA counts as fr, q=0 is refused', () => {
    expect(parseAcceptLanguage('en;q=0.3, fr-CA;q=0.8, de;q=0.5')).toEqual(['fr-CA', 'de', 'en']);
    expect(chooseLocale({ ...base, acceptLanguage: 'en;q=0.3, fr-CA;q=0.8, de;q=0.5' })).toBe('fr');
    expect(chooseLocale({ ...base, acceptLanguage: 'de;q=0, es;q=0.1' })).toBe('es');
  });
  it('goes back only to a path on this site (no open redirect)', () => {
    expect(safeReturnPath('/account/devices?done=x')).toBe('/account/devices?done=x');
    for (const bad of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '', '/a b', 'account'])
      expect(safeReturnPath(bad)).toBeNull();
  });
});
