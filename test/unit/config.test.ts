import { describe, it, expect } from 'vitest';
import { loadConfig, ConfigError, isLoopbackIssuer, listenHost } from '../../src/config.ts';

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

  it('has a refresh token reuse interval of 10 s by default, 0 to turn it off, bounded', () => {
    expect(loadConfig({}).oidc.refreshReuseSeconds).toBe(10);
    expect(loadConfig({ REFRESH_TOKEN_REUSE_SECONDS: '0' }).oidc.refreshReuseSeconds).toBe(0);
    expect(loadConfig({}, { oidc: { refreshReuseSeconds: 30 } }).oidc.refreshReuseSeconds).toBe(30);
    expect(() => loadConfig({ REFRESH_TOKEN_REUSE_SECONDS: '-1' })).toThrow(/oidc\.refreshReuseSeconds/);
    expect(() => loadConfig({ REFRESH_TOKEN_REUSE_SECONDS: '3600' })).toThrow(/oidc\.refreshReuseSeconds/);
  });

  it('speaks English by default; DEFAULT_LOCALE picks another language that has a catalogue in locales/', () => {
    expect(loadConfig({}).i18n.defaultLocale).toBe('en');
    expect(loadConfig({ DEFAULT_LOCALE: 'fr' }).i18n.defaultLocale).toBe('fr');
    expect(() => loadConfig({ DEFAULT_LOCALE: 'xx' })).toThrow(ConfigError);
    expect(() => loadConfig({ DEFAULT_LOCALE: 'xx' })).toThrow(/DEFAULT_LOCALE must be one of the catalogues in locales\/ \(en, de, es, fr\)/);
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

const PRODUCTION = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_SECRETS: 'x'.repeat(32), DATA_KEY: 'y'.repeat(32), SMTP_URL: 'smtps://u:p@mail.example.com' };

describe('forwarded headers and host names (issue 10, items 4 and 5)', () => {
  it('trusts no proxy by default, in production too', () => {
    expect(loadConfig(PRODUCTION).trustedProxies).toEqual([]);
    expect(loadConfig({}).trustedProxies).toEqual([]);
  });

  it('reads TRUSTED_PROXIES as IPv4/IPv6 addresses and CIDR ranges, and names a bad entry', () => {
    const c = loadConfig({ ...PRODUCTION, TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7,fd00::/8 , ::1' });
    expect(c.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '10.0.0/8', 'fd00::/129', '1.2.3.4/8/1'])
      expect(() => loadConfig({ ...PRODUCTION, TRUSTED_PROXIES: bad }), bad).toThrow(/trustedProxies[\s\S]*CIDR/);
  });

  it('refuses the old TRUST_PROXY with a message pointing to TRUSTED_PROXIES', () => {
    for (const value of ['true', 'false', '1']) {
      expect(() => loadConfig({ ...PRODUCTION, TRUST_PROXY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...PRODUCTION, TRUST_PROXY: value })).toThrow(/TRUST_PROXY[\s\S]*no longer supported[\s\S]*TRUSTED_PROXIES/);
    }
    expect(() => loadConfig({ NODE_ENV: 'test' }, { trustProxy: true })).toThrow(/TRUSTED_PROXIES/);
  });

  it('reads ALLOWED_HOSTS as host[:port] aliases of the issuer', () => {
    expect(loadConfig(PRODUCTION).allowedHosts).toEqual([]);
    expect(loadConfig({ ...PRODUCTION, ALLOWED_HOSTS: 'ID.Example.org, login.example.com:8443,[::1]:3000' }).allowedHosts).toEqual([
      'id.example.org', 'login.example.com:8443', '[::1]:3000',
    ]);
    for (const bad of ['https://id.example.org', 'id.example.org/path', 'user@id.example.org', 'id example.org'])
      expect(() => loadConfig({ ...PRODUCTION, ALLOWED_HOSTS: bad }), bad).toThrow(/allowedHosts/);
  });
});

describe('dev conveniences (issue 10, item 12)', () => {
  it('are on in development on a loopback issuer, with no warning', () => {
    for (const env of [{}, { ISSUER: 'http://127.0.0.1:3000' }, { ISSUER: 'http://127.8.9.10' }, { ISSUER: 'http://[::1]:3000' }, { ISSUER: 'http://localhost:8080' }]) {
      const c = loadConfig(env);
      expect(c.devOutbox, JSON.stringify(env)).toBe(true);
      expect(c.demoClientEnabled, JSON.stringify(env)).toBe(true);
      expect(c.warnings).toEqual([]);
    }
    expect(loadConfig({}).demoClient).toMatchObject({ client_id: 'demo-app' });
  });

  it('are off in development on a non-loopback issuer, with a loud warning', () => {
    for (const issuer of ['https://id.example.com', 'http://192.168.1.20:3000', 'http://localhost.example.com', 'http://[::2]']) {
      const c = loadConfig({ ISSUER: issuer });
      expect(c.env).toBe('development');
      expect(c.devOutbox, issuer).toBe(false);
      expect(c.demoClientEnabled, issuer).toBe(false);
      expect(c.warnings.join('\n'), issuer).toMatch(/not on loopback[\s\S]*NODE_ENV=production/);
    }
  });

  it('are on off-loopback only when named (DEV_OUTBOX, DEMO_CLIENT), each with its own warning', () => {
    const outbox = loadConfig({ ISSUER: 'https://id.example.com', DEV_OUTBOX: 'true' });
    expect([outbox.devOutbox, outbox.demoClientEnabled]).toEqual([true, false]);
    expect(outbox.warnings.join('\n')).toMatch(/DEV_OUTBOX is on[\s\S]*\/dev\/outbox/);
    const demo = loadConfig({ ...PRODUCTION, DEMO_CLIENT: 'true' });
    expect([demo.devOutbox, demo.demoClientEnabled]).toEqual([false, true]);
    expect(demo.warnings.join('\n')).toMatch(/DEMO_CLIENT is on[\s\S]*published/);
    expect(loadConfig({ DEV_OUTBOX: 'false', DEMO_CLIENT: 'no' })).toMatchObject({ devOutbox: false, demoClientEnabled: false, warnings: [] });
  });

  it('are off in production and test, also on a loopback issuer', () => {
    expect(loadConfig({ ...PRODUCTION, ISSUER: 'http://localhost:3000' })).toMatchObject({ devOutbox: false, demoClientEnabled: false, warnings: [] });
    expect(loadConfig({ NODE_ENV: 'test' })).toMatchObject({ devOutbox: false, demoClientEnabled: false });
  });

  // Review of issue 10 item 12: `npm start` listened on every interface, so "Host: localhost" from
  // another machine read /dev/outbox.
  it('listen on loopback only while a convenience is on just because the issuer is on loopback', () => {
    expect(listenHost(loadConfig({}))).toBe('127.0.0.1');
    expect(listenHost(loadConfig({ ISSUER: 'http://127.0.0.1:3000' }))).toBe('127.0.0.1');
    expect(listenHost(loadConfig({ ISSUER: 'http://[::1]:3000' }))).toBe('::1');
    expect(listenHost(loadConfig({ DEV_OUTBOX: 'false' }))).toBe('127.0.0.1'); // the demo client is still on by default
    // Every interface: both named, off-loopback, production, test.
    expect(listenHost(loadConfig({ DEV_OUTBOX: 'true', DEMO_CLIENT: 'false' }))).toBeUndefined();
    expect(listenHost(loadConfig({ ISSUER: 'https://id.example.com', DEV_OUTBOX: 'true' }))).toBeUndefined();
    expect(listenHost(loadConfig({ ...PRODUCTION, ISSUER: 'http://localhost:3000' }))).toBeUndefined();
    expect(listenHost(loadConfig({ NODE_ENV: 'test' }))).toBeUndefined();
  });

  it('isLoopbackIssuer: localhost, 127.0.0.0/8 and [::1] only', () => {
    expect(['http://localhost:3000', 'http://127.0.0.1', 'http://127.255.0.1:9', 'http://[::1]:3000'].every(isLoopbackIssuer)).toBe(true);
    expect(['http://localhost.evil.com', 'http://128.0.0.1', 'https://id.example.com', 'http://0.0.0.0:3000', 'http://10.0.0.1'].some(isLoopbackIssuer)).toBe(false);
  });
});
