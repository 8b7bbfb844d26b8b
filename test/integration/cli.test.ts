// The admin CLI as automation uses it: JSON on stdin, one JSON document out, exit code 1 on bad input.
// It runs as a real child process against the same DATA_DIR the server would use.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { buildApp } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { totpCode } from '../../src/factors/totp/totp.ts';
import { SmtpSink } from '../support/smtp-sink.ts';

let dataDir: string;
const TSX = path.resolve('node_modules/.bin/tsx');
// Each command is a fresh `tsx` process (several seconds on a busy two-core machine): tests that run
// many of them get more than the default minute.
const MANY_COMMANDS = { timeout: 300_000 };

function cli(args: string[], input?: unknown, env: Record<string, string> = {}) {
  const r = spawnSync(TSX, ['src/admin/cli.ts', ...args], {
    input: input === undefined ? '' : typeof input === 'string' ? input : JSON.stringify(input),
    env: { ...process.env, NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', MONGODB_URI: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const json = (() => {
    try {
      return JSON.parse(r.stdout);
    } catch {
      return undefined;
    }
  })();
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

/** The same, without blocking this process: for a command that talks to a server running here (the SMTP sink). */
function cliAsync(args: string[], env: Record<string, string> = {}): Promise<ReturnType<typeof cli>> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['src/admin/cli.ts', ...args], { env: { ...process.env, NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', MONGODB_URI: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => {
      let json: ReturnType<typeof cli>['json'];
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

describe('client commands', MANY_COMMANDS, () => {
  let clientId: string;

  it('creates a client from RFC 7591 JSON and shows the secret once', () => {
    const r = cli(['client', 'create', '--json'], {
      client_name: 'Billing', redirect_uris: ['https://billing.example.com/cb'], post_logout_redirect_uris: ['https://billing.example.com/'],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid email offline_access',
    });
    expect(r.code).toBe(0);
    expect(r.json.client_id).toMatch(/\S{10,}/);
    expect(r.json.client_secret).toMatch(/\S{30,}/);
    clientId = r.json.client_id;
    const shown = cli(['client', 'show', clientId, '--json']);
    expect(shown.code).toBe(0);
    expect(shown.json.client_name).toBe('Billing');
    expect(shown.json.client_secret).toBeUndefined();
    // Stored encrypted, never in the clear.
    const db = fs.readFileSync(path.join(dataDir, 'tessera.db'));
    expect(db.includes(Buffer.from(r.json.client_secret))).toBe(false);
  });

  it('rejects bad metadata with a clear error and exit code 1', () => {
    const noRedirect = cli(['client', 'create', '--json'], { client_name: 'X', grant_types: ['authorization_code'] });
    expect(noRedirect.code).toBe(1);
    expect(JSON.parse(noRedirect.stderr).error).toMatch(/redirect_uris/);
    const notJson = cli(['client', 'create', '--json'], '{nope');
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/not valid JSON/);
    const badAcr = cli(['client', 'update', clientId, '--json'], { tessera_min_acr: 'urn:made:up' });
    expect(badAcr.code).toBe(1);
    expect(badAcr.stderr).toMatch(/tessera_min_acr/);
  });

  it('updates default_acr_values and the minimum ACR, lists, rotates and deletes', () => {
    const up = cli(['client', 'update', clientId, '--json'], { default_acr_values: ['urn:tessera:acr:mfa'], tessera_min_acr: 'urn:tessera:acr:mfa:sms' });
    expect(up.code).toBe(0);
    expect(up.json).toMatchObject({ default_acr_values: ['urn:tessera:acr:mfa'], tessera_min_acr: 'urn:tessera:acr:mfa:sms', client_name: 'Billing' });
    const list = cli(['client', 'list', '--json']);
    expect(list.json.map((c: { client_id: string }) => c.client_id)).toContain(clientId);
    const human = cli(['client', 'list']);
    expect(human.stdout).toContain('Billing');
    const rotated = cli(['client', 'rotate-secret', clientId, '--json']);
    expect(rotated.json.client_secret).toMatch(/\S{30,}/);
    expect(cli(['client', 'delete', clientId, '--json']).code).toBe(0);
    expect(cli(['client', 'show', clientId, '--json']).code).toBe(1);
  });
});

describe('client rotate-secret --grace', MANY_COMMANDS, () => {
  it('keeps the old secret working for the grace period, and a rotation without --grace ends it at once', async () => {
    const created = cli(['client', 'create', '--json'], { client_name: 'Nightly job', grant_types: ['client_credentials'], scope: 'openid' });
    expect(created.code, created.stderr).toBe(0);
    const id: string = created.json.client_id;
    const first: string = created.json.client_secret;
    const graced = cli(['client', 'rotate-secret', id, '--grace', '600', '--json']);
    expect(graced.code, graced.stderr).toBe(0);
    const second: string = graced.json.client_secret;
    expect(second).not.toBe(first);
    expect(graced.json.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000 + 500);
    expect(graced.json.previous_secret_expires_at).toBeLessThanOrEqual(Date.now() / 1000 + 600);
    const human = cli(['client', 'rotate-secret', id, '--grace', '60']);
    expect(human.stdout).toMatch(/The previous secret works until \d{4}-/);
    const third = /client_secret\s+(\S+)/.exec(human.stdout)![1];
    expect(cli(['client', 'rotate-secret', id, '--grace', 'soon', '--json']).code).toBe(1);
    expect(JSON.parse(cli(['client', 'rotate-secret', id, '--grace', '99999999', '--json']).stderr)).toMatchObject({ fields: { grace_seconds: expect.stringMatching(/30 days/) } });

    // A server on the same data: the secret before the last rotation works, the one before that not.
    const server = http.createServer();
    // Idle keep-alive sockets stay open (no server-side close racing the test's next request).
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const built = await buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true', ISSUER: issuer }), { log: createLogger('silent') });
    server.on('request', built.app.callback());
    const token = async (secret: string) =>
      (await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials',
      })).status;
    try {
      expect(await token(third)).toBe(200);
      expect(await token(second)).toBe(200); // in its grace period
      expect(await token(first)).toBe(401); // replaced by the second rotation
      const events = await built.services.store.audit.list({ type: 'admin.client_secret_rotated', clientId: id });
      expect(events.map((e) => e.detail)).toEqual([expect.objectContaining({ via: 'cli', grace_seconds: 60 }), expect.objectContaining({ via: 'cli', grace_seconds: 600 })]);

      // Without --grace, the secret before stops working on the running server as soon as its client
      // cache (one second) has let go of the old record.
      const now = await cliAsync(['client', 'rotate-secret', id, '--json']);
      expect(now.code, now.stderr).toBe(0);
      expect(now.json.previous_secret_expires_at).toBeUndefined();
      const deadline = Date.now() + 30_000;
      while ((await token(third)) === 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(await token(third)).toBe(401);
      expect(await token(now.json.client_secret)).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await built.close();
    }
  });
});

describe('user commands', MANY_COMMANDS, () => {
  it('creates a user with the registration rules and admin-only fields', async () => {
    const r = cli(['user', 'create', '--json'], {
      email: 'Mig@Example.com', password: 'migrated passphrase', name: 'Migrated', phone_number: '+33 6 12 34 56 78', phone_number_verified: true, email_verified: true, mfa: ['sms'],
    });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ email: 'mig@example.com', phone_number: '+33612345678', phone_number_verified: true, mfa: ['sms'] });
    expect(r.json.sub).toBeTruthy();
    expect(cli(['user', 'show', 'mig@example.com', '--json']).json.sub).toBe(r.json.sub);

    const dup = cli(['user', 'create', '--json'], { email: 'mig@example.com', password: 'another passphrase', name: 'Dup' });
    expect(dup.code).toBe(1);
    expect(JSON.parse(dup.stderr).fields.email).toMatch(/already exists/);
    const weak = cli(['user', 'create', '--json'], { email: 'weak@example.com', password: 'short', name: 'Weak' });
    expect(JSON.parse(weak.stderr).fields.password).toMatch(/at least/);
    const badEmail = cli(['user', 'create', '--json'], { email: 'nope', password: 'a fine passphrase', name: 'x' });
    expect(JSON.parse(badEmail.stderr).fields.email).toMatch(/valid email/);
    const smsNoPhone = cli(['user', 'create', '--json'], { email: 'np@example.com', password: 'a fine passphrase', name: 'x', mfa: ['sms'] });
    expect(smsNoPhone.code).toBe(1);

    // Changing the number unverifies it and turns SMS sign-in off: no stale flags.
    const upd = cli(['user', 'update', r.json.sub, '--json'], { phone_number: '+1 415 555 2671' });
    expect(upd.json).toMatchObject({ phone_number: '+14155552671', phone_number_verified: false, mfa: [] });

    // The server, started on the same DATA_DIR, sees the CLI's user.
    const built = await buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true' }), { log: createLogger('silent') });
    try {
      const signIn = await built.services.accounts.signIn('mig@example.com', 'migrated passphrase', '127.0.0.1');
      expect(signIn.ok).toBe(true);
    } finally {
      await built.close();
    }
  });

  it('user unlock lifts a password lockout, and is audited', async () => {
    const created = cli(['user', 'create', '--json'], { email: 'locked@example.com', password: 'a quiet harbour passphrase', name: 'Locked', email_verified: true });
    expect(created.code).toBe(0);
    const serve = () =>
      buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true', LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' }), { log: createLogger('silent') });
    let built = await serve();
    try {
      const accounts = built.services.accounts;
      for (let i = 0; i < 3; i++) await accounts.signIn('locked@example.com', `a wrong guess ${i}`, `192.0.2.${i + 1}`);
      expect(await accounts.signIn('locked@example.com', 'a quiet harbour passphrase', '198.51.100.1')).toMatchObject({ ok: false, scope: 'account' });
    } finally {
      await built.close();
    }

    const r = cli(['user', 'unlock', 'locked@example.com', '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ unlocked: true, sub: created.json.sub, email: 'locked@example.com' });
    expect(cli(['user', 'unlock', 'nobody@example.com', '--json']).code).toBe(1);

    built = await serve();
    try {
      expect((await built.services.accounts.signIn('locked@example.com', 'a quiet harbour passphrase', '198.51.100.1')).ok).toBe(true);
      const events = await built.services.store.audit.list({ type: 'admin.user_unlocked', accountId: created.json.sub });
      expect(events).toHaveLength(1);
    } finally {
      await built.close();
    }
  });

  it('imports an authenticator app (mfa ["totp"], base32 totp_secret, preferred_mfa) and never prints the secret', async () => {
    const secret = 'JBSWY3DPEHPK3PXP';
    const r = cli(['user', 'create', '--json'], {
      email: 'totp@example.com', password: 'an imported passphrase', name: 'Imported', email_verified: true,
      mfa: ['totp'], totp_secret: secret.toLowerCase().replace(/(.{4})/g, '$1 '), preferred_mfa: 'totp',
    });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ email: 'totp@example.com', mfa: ['totp'], preferred_mfa: 'totp', recovery_codes_left: 0 });
    expect(r.json.factors.map((f: { type: string }) => f.type)).toEqual(['totp']);
    const human = cli(['user', 'show', 'totp@example.com']);
    expect(human.code).toBe(0);
    for (const out of [r.stdout, r.stderr, human.stdout, human.stderr]) {
      expect(out.toUpperCase()).not.toContain(secret);
      expect(out).not.toMatch(/totp_secret|"secret"/);
    }

    // The server on the same DATA_DIR accepts the codes of the app the user already has; the secret is encrypted at rest.
    const built = await buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true' }), { log: createLogger('silent') });
    try {
      const account = (await built.services.store.accounts.findById(r.json.sub))!;
      expect(JSON.stringify(account.factors)).not.toContain(secret);
      const totp = built.services.factors.get('totp');
      expect(totp.enabled(account)).toBe(true);
      expect(await totp.verify(account, totpCode(secret), { ip: '127.0.0.1', context: 'cli-test' })).toEqual({ ok: true });
    } finally {
      await built.close();
    }
    const files = fs.readdirSync(dataDir).filter((f) => f.startsWith('tessera.db'));
    for (const f of files) expect(fs.readFileSync(path.join(dataDir, f)).includes(Buffer.from(secret))).toBe(false);
  });

  it('refuses a bad totp_secret and factors without their prerequisite (exit 1, the field named, nothing created)', () => {
    const bad = cli(['user', 'create', '--json'], { email: 'badtotp@example.com', password: 'a fine passphrase', name: 'x', mfa: ['totp'], totp_secret: 'not-base32-1890!' });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stderr).fields.totp_secret).toMatch(/base32/);
    const short = cli(['user', 'create', '--json'], { email: 'shorttotp@example.com', password: 'a fine passphrase', name: 'x', totp_secret: 'JBSWY3DP' });
    expect(short.code).toBe(1);
    expect(JSON.parse(short.stderr).fields.totp_secret).toMatch(/at least 16/);
    const noSecret = cli(['user', 'create', '--json'], { email: 'nosecret@example.com', password: 'a fine passphrase', name: 'x', mfa: ['totp'] });
    expect(noSecret.code).toBe(1);
    expect(JSON.parse(noSecret.stderr).fields.totp_secret).toMatch(/totp_secret/);
    const email = cli(['user', 'create', '--json'], { email: 'unconfirmed@example.com', password: 'a fine passphrase', name: 'x', mfa: ['email'] });
    expect(email.code).toBe(1);
    expect(JSON.parse(email.stderr).fields.mfa).toMatch(/email_verified/);
    const preferred = cli(['user', 'create', '--json'], { email: 'pref@example.com', password: 'a fine passphrase', name: 'x', email_verified: true, mfa: ['email'], preferred_mfa: 'sms' });
    expect(preferred.code).toBe(1);
    expect(JSON.parse(preferred.stderr).fields.preferred_mfa).toMatch(/preferred_mfa/);
    for (const e of ['badtotp@example.com', 'shorttotp@example.com', 'nosecret@example.com', 'unconfirmed@example.com', 'pref@example.com'])
      expect(cli(['user', 'show', e, '--json']).code).toBe(1);
  });

  it('user reset-mfa removes every factor and recovery code, is audited and emails the user', async () => {
    const created = cli(['user', 'create', '--json'], {
      email: 'robin@example.com', password: 'a misplaced device passphrase', name: 'Robin Reset', email_verified: true,
      phone_number: '+1 201 555 0150', phone_number_verified: true, mfa: ['sms', 'email', 'totp'], totp_secret: 'JBSWY3DPEHPK3PXPJBSWY3DP', preferred_mfa: 'sms',
    });
    expect(created.code).toBe(0);
    expect(created.json.mfa).toEqual(['totp', 'sms', 'email']);
    const serve = () => buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true' }), { log: createLogger('silent') });
    let built = await serve();
    try {
      expect(await built.services.recovery.generate(created.json.sub)).toHaveLength(10);
    } finally {
      await built.close();
    }
    expect(cli(['user', 'show', 'robin@example.com', '--json']).json.recovery_codes_left).toBe(10);

    const smtp = await new SmtpSink().start();
    try {
      const r = await cliAsync(['user', 'reset-mfa', 'ROBIN@example.com', '--json'], { SMTP_URL: smtp.url, MAIL_FROM: 'Tessera <id@tessera.test>' });
      expect(r.code).toBe(0);
      expect(r.json).toMatchObject({ reset: true, sub: created.json.sub, email: 'robin@example.com' });
      expect([...r.json.removed].sort()).toEqual(['email', 'sms', 'totp']);
      const mail = await smtp.waitFor('robin@example.com');
      expect(mail.subject).toMatch(/two-step sign-in was reset/i);
    } finally {
      await smtp.stop();
    }
    const shown = cli(['user', 'show', 'robin@example.com', '--json']);
    expect(shown.json).toMatchObject({ mfa: [], factors: [], recovery_codes_left: 0, preferred_mfa: null, phone_number_verified: true });
    expect(cli(['user', 'reset-mfa', 'nobody@example.com', '--json']).code).toBe(1);

    built = await serve();
    try {
      const events = await built.services.store.audit.list({ type: 'admin.mfa_reset', accountId: created.json.sub });
      expect(events).toHaveLength(1);
      expect(events[0].detail).toMatchObject({ via: 'cli' });
      // The password alone signs in now: nothing left to ask for.
      const account = (await built.services.store.accounts.findById(created.json.sub))!;
      expect(built.services.factors.enabled(account)).toEqual([]);
    } finally {
      await built.close();
    }
  });

  it('grants and revokes the admin role, disables and enables a user, and lists the security events', async () => {
    const created = cli(['user', 'create', '--json'], { email: 'ops@example.com', password: 'an operator passphrase', name: 'Ops', email_verified: true });
    expect(created.code).toBe(0);
    expect(created.json).toMatchObject({ admin: false, disabled: false });
    expect(cli(['user', 'grant-admin', 'ops@example.com', '--json']).json).toMatchObject({ admin: true });
    expect(cli(['user', 'revoke-admin', 'ops@example.com', '--json']).json).toMatchObject({ admin: false });
    expect(cli(['user', 'grant-admin', 'nobody@example.com', '--json']).code).toBe(1);

    expect(cli(['user', 'disable', 'ops@example.com', '--json']).json).toMatchObject({ disabled: true });
    let built = await buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true' }), { log: createLogger('silent') });
    try {
      // The right password is told "disabled"; a wrong one gets the usual answer.
      expect(await built.services.accounts.signIn('ops@example.com', 'an operator passphrase', '127.0.0.1')).toEqual({ ok: false, reason: 'disabled' });
      expect(await built.services.accounts.signIn('ops@example.com', 'not the passphrase', '127.0.0.1')).toEqual({ ok: false, reason: 'invalid' });
    } finally {
      await built.close();
    }
    expect(cli(['user', 'enable', 'ops@example.com', '--json']).json).toMatchObject({ disabled: false });
    built = await buildApp(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEV_OUTBOX: 'true' }), { log: createLogger('silent') });
    try {
      expect((await built.services.accounts.signIn('ops@example.com', 'an operator passphrase', '127.0.0.1')).ok).toBe(true);
    } finally {
      await built.close();
    }

    const sub = created.json.sub as string;
    const events = cli(['audit', 'list', '--account', 'ops@example.com', '--since', '1h', '--json']);
    expect(events.code).toBe(0);
    expect(events.json.map((e: { type: string }) => e.type)).toEqual(['admin.user_enabled', 'admin.user_disabled', 'admin.role_revoked', 'admin.role_granted', 'admin.user_created']);
    expect(events.json.every((e: { account: string; via: string }) => e.account === sub && e.via === 'cli')).toBe(true);
    const typed = cli(['audit', 'list', '--type', 'admin.user_disabled', '--json']);
    expect(typed.json).toHaveLength(1);
    expect(cli(['audit', 'list', '--since', '2999-01-01T00:00:00Z', '--json']).json).toEqual([]);
    const badSince = cli(['audit', 'list', '--since', 'yesterday-ish', '--json']);
    expect(badSince.code).toBe(1);
    expect(JSON.parse(badSince.stderr).error).toMatch(/--since takes an ISO date/);
    expect(cli(['audit', 'list', '--type']).code).toBe(1); // a flag without its value
  });

  it('refuses to change or delete the built-in account client', () => {
    for (const args of [['client', 'delete', 'tessera-account'], ['client', 'rotate-secret', 'tessera-account'], ['client', 'update', 'tessera-account']]) {
      const r = cli([...args, '--json'], { client_name: 'x' });
      expect(r.code, args.join(' ')).toBe(1);
      expect(JSON.parse(r.stderr).error).toMatch(/built in/);
    }
    expect(cli(['client', 'show', 'tessera-account', '--json']).code).toBe(0);
  });

  it('prints usage and exits 1 for unknown commands', () => {
    const r = cli(['frobnicate', 'now']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Usage');
  });
});
