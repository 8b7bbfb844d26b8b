import { describe, it, expect } from 'vitest';
import { loadConfig, ConfigError } from '../../src/config.ts';

describe('configuration', () => {
  it('defaults to development on the embedded store with the dev outbox', () => {
    const c = loadConfig({});
    expect(c.env).toBe('development');
    expect(c.port).toBe(3000);
    expect(c.issuer).toBe('http://localhost:3000');
    expect(c.mongodbUri).toBeNull();
    expect(c.devOutbox).toBe(true);
    expect(c.acr.mfaSms).toBe('urn:tessera:acr:mfa:sms');
  });

  it('reads environment overrides', () => {
    const c = loadConfig({ NODE_ENV: 'test', PORT: '8080', ISSUER: 'https://id.example.com/', PHONE_ALLOWED_COUNTRIES: 'fr, be', SMS_COOLDOWN_SECONDS: '45' });
    expect(c.port).toBe(8080);
    expect(c.issuer).toBe('https://id.example.com');
    expect(c.sms.allowedCountries).toEqual(['FR', 'BE']);
    expect(c.sms.limits.cooldownSeconds).toBe(45);
    expect(c.devOutbox).toBe(false);
  });

  it('names every bad value', () => {
    const bad = () => loadConfig({ NODE_ENV: 'test', PORT: 'eighty', ISSUER: 'ftp://x', SMTP_URL: 'http://mail', MONGODB_URI: 'postgres://db' });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      const msg = (err as Error).message;
      for (const key of ['port', 'issuer', 'mail.smtpUrl', 'mongodbUri']) expect(msg).toContain(key);
    }
    expect(() => loadConfig({ NODE_ENV: 'staging' })).toThrow(/NODE_ENV/);
  });

  it('requires secrets, https issuer and SMTP in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'http://id.example.com' })).toThrow(/https[\s\S]*COOKIE_SECRETS[\s\S]*DATA_KEY[\s\S]*SMTP_URL/);
    const ok = loadConfig({
      NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_SECRETS: 'x'.repeat(32), DATA_KEY: 'y'.repeat(32), SMTP_URL: 'smtps://u:p@mail.example.com',
    });
    expect(ok.devOutbox).toBe(false);
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_SECRETS: 'short', DATA_KEY: 'y'.repeat(32), SMTP_URL: 'smtps://mail' })).toThrow(/32 characters/);
  });
});
