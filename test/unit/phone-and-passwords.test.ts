import { describe, it, expect } from 'vitest';
import { parsePhone, maskPhone } from '../../src/accounts/phone.ts';
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
