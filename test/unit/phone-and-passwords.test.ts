import { describe, it, expect } from 'vitest';
import { parsePhone, maskPhone, smsRefusal } from '../../src/accounts/phone.ts';
import { DEFAULT_SMS_DENIED_PREFIXES, deniedPrefix, parseDeniedPrefixes } from '../../src/accounts/sms-ranges.ts';
import { loadConfig, ConfigError } from '../../src/config.ts';
import { passwordProblem, hashPassword, verifyPassword } from '../../src/accounts/passwords.ts';

describe('phone numbers', () => {
  it('normalises national and international formats to E.164', () => {
    expect(parsePhone('06 12 34 56 78', 'FR', [])).toMatchObject({ ok: true, e164: '+33612345678' });
    expect(parsePhone('+1 (415) 555-2671', 'FR', [])).toMatchObject({ ok: true, e164: '+14155552671' });
  });
  it('rejects invalid, non-mobile and disallowed numbers with a clear message', () => {
    expect(parsePhone('12', 'FR', [])).toMatchObject({ ok: false });
    expect(parsePhone('+44 20 7946 0958', 'GB', [])).toMatchObject({ ok: false, error: expect.stringContaining('mobile') });
    expect(parsePhone('+1 415 555 2671', 'FR', ['FR', 'BE'])).toMatchObject({ ok: false, error: expect.stringContaining('FR, BE') });
    expect(parsePhone('x'.repeat(100), 'FR', [])).toMatchObject({ ok: false });
  });
  it('refuses costly and non-SMS kinds of numbers, saying why (toll fraud)', () => {
    const cant = expect.stringContaining('can’t receive our texts');
    // Accepted: mobiles, and numbers that may be mobiles (+1 201 555 01xx is reserved for fiction).
    expect(parsePhone('+1 201 555 0123', 'US', [])).toMatchObject({ ok: true, e164: '+12015550123' });
    expect(parsePhone('+44 7624 123456', 'GB', [])).toMatchObject({ ok: true, e164: '+447624123456', country: 'IM' }); // Isle of Man mobile
    expect(parsePhone('+41 79 123 45 67', 'FR', [])).toMatchObject({ ok: true });
    // UK 070 personal numbers: valid to libphonenumber (PERSONAL_NUMBER), refused by type even without the
    // deny-list, and by the default deny-list.
    expect(parsePhone('07011 223344', 'GB', [], [])).toMatchObject({ ok: false, error: cant });
    expect(parsePhone('07011 223344', 'GB', [], [])).toMatchObject({ error: expect.stringContaining('personal') });
    expect(parsePhone('+44 7011 223344', 'GB', [])).toMatchObject({ ok: false, error: cant });
    // Pagers, premium rate and VoIP-typed international networks.
    expect(parsePhone('+44 7640 123456', 'GB', [], [])).toMatchObject({ ok: false, error: expect.stringContaining('pager') });
    expect(parsePhone('+979 123456789', 'US', [], [])).toMatchObject({ ok: false, error: expect.stringContaining('premium') });
    expect(parsePhone('+882 16 1234567', 'US', [], [])).toMatchObject({ ok: false, error: cant });
    // Satellite handsets are typed MOBILE: only the deny-list keeps them out.
    expect(parsePhone('+881 6 12345678', 'US', [], [])).toMatchObject({ ok: true });
    expect(parsePhone('+870 773 123456', 'US', [], [])).toMatchObject({ ok: true });
    expect(parsePhone('+881 6 12345678', 'US', [])).toMatchObject({ ok: false, error: cant });
    expect(parsePhone('+870 773 123456', 'US', [])).toMatchObject({ ok: false, error: cant });
    expect(parsePhone('+870 773 123456', 'US', [], DEFAULT_SMS_DENIED_PREFIXES)).toMatchObject({ ok: false, error: expect.stringContaining('satellite') });
    // A configured range is refused like the defaults; with a country allow-list, the kind is still the reason.
    expect(parsePhone('+33 6 12 34 56 78', 'FR', [], ['+33612'])).toMatchObject({ ok: false, error: cant });
    expect(parsePhone('+881 6 12345678', 'US', ['US'])).toMatchObject({ ok: false, error: cant });
  });

  it('matches the deny-list by longest prefix, with ! exceptions, and reads SMS_DENIED_PREFIXES', () => {
    const list = ['+4476', '!+447624', '+881'];
    expect(deniedPrefix('+447640123456', list)).toBe('+4476');
    expect(deniedPrefix('+447624123456', list)).toBeNull();
    expect(deniedPrefix('+881612345678', list)).toBe('+881');
    expect(deniedPrefix('+33612345678', list)).toBeNull();
    expect(deniedPrefix('+447624123456', ['!+447624', '+447624'])).toBeNull(); // an exception wins a tie
    expect(deniedPrefix('+447624123456', ['+4476', '!+4476', '+447624'])).toBe('+447624');
    for (const p of ['+8816', '+8817', '+870', '+882', '+883', '+979', '+4470']) expect(deniedPrefix(`${p}12345678`, DEFAULT_SMS_DENIED_PREFIXES)).not.toBeNull();
    expect(parseDeniedPrefixes('default, +371 8')).toEqual([...DEFAULT_SMS_DENIED_PREFIXES, '+3718']);
    expect(parseDeniedPrefixes('none')).toEqual([]);

    const env = { NODE_ENV: 'test', PORT: '8080' };
    expect(loadConfig(env).sms.deniedPrefixes).toEqual(DEFAULT_SMS_DENIED_PREFIXES);
    expect(loadConfig({ ...env, SMS_DENIED_PREFIXES: '+881, +870' }).sms.deniedPrefixes).toEqual(['+881', '+870']);
    expect(loadConfig({ ...env, SMS_DENIED_PREFIXES: 'default,!+8816' }).sms.deniedPrefixes).toContain('!+8816');
    expect(loadConfig({ ...env, SMS_DENIED_PREFIXES: 'none' }).sms.deniedPrefixes).toEqual([]);
    expect(() => loadConfig({ ...env, SMS_DENIED_PREFIXES: '881,+abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, SMS_DENIED_PREFIXES: '881' })).toThrow(/sms\.deniedPrefixes/);
  });

  it('re-checks a stored number before each text', () => {
    expect(smsRefusal('+881612345678', DEFAULT_SMS_DENIED_PREFIXES)).toBe('denied_prefix');
    expect(smsRefusal('+447011223344', DEFAULT_SMS_DENIED_PREFIXES)).toBe('denied_prefix');
    expect(smsRefusal('+447011223344', [])).toBe('number_type'); // kept before the rules, still never texted
    expect(smsRefusal('+33612345678', DEFAULT_SMS_DENIED_PREFIXES)).toBeNull();
    expect(smsRefusal('+12015550123', DEFAULT_SMS_DENIED_PREFIXES)).toBeNull();
  });

  it('masks all but the last four digits', () => {
    expect(maskPhone('+33612345678')).toMatch(/^\+33.*5678$/);
    expect(maskPhone('+33612345678')).not.toContain('1234');
  });
});

describe('passwords', () => {
  it('explains weak passwords', () => {
    expect(passwordProblem('short')).toMatch(/at least/);
    expect(passwordProblem('aaaaaaaaaaaa')).toMatch(/repetitive/);
    expect(passwordProblem('password123456')).toMatch(/common/);
    expect(passwordProblem('jane.doe-rocks!', { email: 'jane.doe@example.com' })).toMatch(/email/);
    expect(passwordProblem('a long and fine passphrase')).toBeNull();
  });
  it('hashes with argon2id at OWASP parameters and verifies', async () => {
    const h = await hashPassword('a long and fine passphrase');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(h, 'a long and fine passphrase')).toBe(true);
    expect(await verifyPassword(h, 'wrong')).toBe(false);
    expect(await verifyPassword('garbage', 'x')).toBe(false);
  });
});
