// Accounts: registration, password sign-in, claims. Shared by the hosted pages and the admin CLI so
// both apply the same validation. No koa in here.
import { z } from 'zod';
import type { AccountRecord, Store } from '../store/ports.ts';
import { newFactor, type SecondFactorType } from '../factors/records.ts';
import { StoreConflictError } from '../store/ports.ts';
import type { Config } from '../config.ts';
import { hashPassword, verifyPassword, dummyHash, passwordProblem, PASSWORD_MAX } from './passwords.ts';
import { parsePhone } from './phone.ts';
import { randomId } from '../secrets.ts';
import type { LoginGuard } from '../guard/limits.ts';
import type { AccountUnlock } from '../guard/unlock.ts';

export class FieldErrors extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('; '));
    this.name = 'FieldErrors';
  }
}

export const EmailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'That email address is too long.')
  .email('Enter a valid email address, like name@example.com.');

export const RegistrationSchema = z.object({
  name: z.string().trim().min(1, 'Enter your name.').max(100, 'Use at most 100 characters.'),
  email: EmailSchema,
  password: z.string().max(PASSWORD_MAX, `Use at most ${PASSWORD_MAX} characters.`),
  phone_number: z.string().max(32, 'That phone number is too long.').optional(),
});

export type RegistrationInput = z.input<typeof RegistrationSchema> & {
  email_verified?: boolean;
  phone_number_verified?: boolean;
  mfa?: SecondFactorType[];
};

/** A registration waiting for its email code (kept with the sign-in, never as an account). */
export interface PendingRegistration {
  email: string;
  name: string;
  passwordHash: string;
  phoneNumber: string | null;
  /** The address already has an account: its owner was mailed a notice, and no code can ever match. */
  taken: boolean;
}

export type SignInResult =
  | { ok: true; account: AccountRecord }
  | { ok: false; reason: 'invalid' }
  /** The right password for an account an admin disabled: said only after the password was right. */
  | { ok: false; reason: 'disabled' }
  /** scope 'account': the account-wide cap (all addresses); its owner was offered an unlock link by email. */
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number; scope: 'ip' | 'pair' | 'account' };

export class AccountService {
  constructor(private readonly deps: { store: Store; config: Config; loginGuard: LoginGuard; unlock?: AccountUnlock }) {}

  /** Validates like the registration page; throws FieldErrors keyed by form field. */
  async register(input: RegistrationInput): Promise<AccountRecord> {
    const { data, phone } = this.validateRegistration(input);
    const now = new Date();
    const account: AccountRecord = {
      id: randomId(16),
      email: data.email,
      emailVerified: input.email_verified === true,
      name: data.name,
      passwordHash: await hashPassword(data.password),
      phoneNumber: phone,
      phoneNumberVerified: Boolean(phone && input.phone_number_verified),
      factors: [...new Set(input.mfa ?? [])].map((type) => newFactor(type, {}, () => randomId(9), now)),
      preferredMfa: null,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.deps.store.accounts.create(account);
    } catch (err) {
      if (err instanceof StoreConflictError) throw new FieldErrors({ email: 'An account with this email already exists.' });
      throw err;
    }
    return account;
  }

  /**
   * Self-registration, first half: validates and hashes the password, creates nothing. Whether the
   * address is taken is only recorded (the caller must answer both cases alike); the same work is done
   * either way.
   */
  async prepareRegistration(input: Pick<RegistrationInput, 'name' | 'email' | 'password' | 'phone_number'>): Promise<PendingRegistration> {
    const { data, phone } = this.validateRegistration(input);
    const passwordHash = await hashPassword(data.password);
    const taken = Boolean(await this.deps.store.accounts.findByEmail(data.email));
    return { email: data.email, name: data.name, passwordHash, phoneNumber: phone, taken };
  }

  /** Second half, once the email code came back: the account exists from here on, its email confirmed. */
  async completeRegistration(id: string, pending: PendingRegistration, opts: { locale?: string } = {}): Promise<AccountRecord | null> {
    if (pending.taken) return null;
    const now = new Date();
    const account: AccountRecord = {
      id, email: pending.email, emailVerified: true, name: pending.name, passwordHash: pending.passwordHash,
      // The number typed at registration is kept unverified: it is proved by SMS before any use.
      phoneNumber: pending.phoneNumber, phoneNumberVerified: false, factors: [], preferredMfa: null, createdAt: now, updatedAt: now,
      // The language the user signed up in: their emails and texts use it.
      ...(opts.locale ? { locale: opts.locale } : {}),
    };
    try {
      await this.deps.store.accounts.create(account);
    } catch (err) {
      if (err instanceof StoreConflictError) return null; // registered meanwhile, elsewhere
      throw err;
    }
    return account;
  }

  /** The registration form's checks alone (no hashing): throws FieldErrors naming every bad field at once. */
  checkRegistration(input: RegistrationInput): void {
    this.validateRegistration(input);
  }

  private validateRegistration(input: RegistrationInput) {
    const parsed = RegistrationSchema.safeParse(input);
    const errors: Record<string, string> = {};
    if (!parsed.success) for (const i of parsed.error.issues) errors[String(i.path[0])] ??= i.message;
    const data = parsed.success ? parsed.data : undefined;
    // Judged even when other fields are bad, so the page lists every problem at once.
    const weak = passwordProblem(data?.password ?? String(input.password ?? ''), { email: data?.email ?? String(input.email ?? ''), name: data?.name });
    if (weak) errors.password ??= weak;
    let phone: string | null = null;
    if (data?.phone_number?.trim()) {
      const p = parsePhone(data.phone_number, this.deps.config.sms.defaultRegion, this.deps.config.sms.allowedCountries, this.deps.config.sms.deniedPrefixes);
      if (p.ok) phone = p.e164;
      else errors.phone_number = p.error;
    }
    if (input.phone_number_verified && !phone) errors.phone_number ??= 'phone_number_verified needs a phone_number.';
    if (input.mfa?.includes('sms') && !(phone && input.phone_number_verified))
      errors.mfa = 'SMS two-step sign-in needs a verified phone number (phone_number_verified: true).';
    if (input.mfa?.includes('email') && !input.email_verified) errors.mfa ??= 'Email codes as a second step need a confirmed email (email_verified: true).';
    if (input.mfa?.includes('totp')) errors.mfa ??= 'An authenticator app is added with totp_secret.';
    if (Object.keys(errors).length || !data) throw new FieldErrors(errors);
    return { data, phone };
  }

  /**
   * Password check with one answer for "no such account" and "wrong password", the same work in both
   * cases (a dummy hash is verified), and LoginGuard's throttling (account+IP delay, per-IP lockout,
   * account-wide cap with an emailed way back). A refused attempt checks no password, and an address
   * with no account is counted and refused exactly like one with an account.
   */
  async signIn(emailInput: string, password: string, ip: string): Promise<SignInResult> {
    const email = emailInput.trim().toLowerCase().slice(0, 254);
    const verdict = await this.deps.loginGuard.check(email, ip);
    if (!verdict.ok) {
      if (verdict.scope === 'account') this.deps.unlock?.offer(email, ip);
      return { ok: false, reason: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds, scope: verdict.scope };
    }
    const account = email ? await this.deps.store.accounts.findByEmail(email) : null;
    const ok = await verifyPassword(account?.passwordHash ?? (await dummyHash()), password.slice(0, PASSWORD_MAX));
    if (!account || !ok) {
      await this.deps.loginGuard.failed(email, ip);
      return { ok: false, reason: 'invalid' };
    }
    await this.deps.loginGuard.succeeded(email, ip);
    if (account.disabled) return { ok: false, reason: 'disabled' };
    return { ok: true, account };
  }

  /** Re-entry of the password by a signed-in user: throttled like sign-in (a stolen session can't guess it). */
  async checkPassword(account: AccountRecord, password: string, ip: string): Promise<boolean> {
    return (await this.guarded(account, ip, () => verifyPassword(account.passwordHash, password.slice(0, PASSWORD_MAX)))) === 'ok';
  }

  /** Runs a secret check (password re-entry, recovery code) under the account's failure throttle. */
  async guarded(account: AccountRecord, ip: string, check: () => Promise<boolean>): Promise<'ok' | 'wrong' | 'throttled'> {
    if ((await this.deps.loginGuard.blockedFor(account.email, ip)) > 0) return 'throttled';
    if (await check()) return 'ok';
    await this.deps.loginGuard.failed(account.email, ip);
    return 'wrong';
  }

  /** Validates like registration; with checkOnly, stops before changing anything. */
  async setPassword(accountId: string, password: string, opts: { checkOnly?: boolean } = {}): Promise<void> {
    const account = await this.deps.store.accounts.findById(accountId);
    if (!account) throw new FieldErrors({ password: 'Unknown account.' });
    const weak = passwordProblem(password, { email: account.email, name: account.name });
    if (weak) throw new FieldErrors({ password: weak });
    if (opts.checkOnly) return;
    await this.deps.store.accounts.update(accountId, { passwordHash: await hashPassword(password) });
    await this.deps.loginGuard.unlock(account.email); // a fresh password starts with a clean slate
  }
}

/** OIDC standard claims of an account; scope filtering is oidc-provider's job (claims config). */
export function accountClaims(a: AccountRecord): Record<string, unknown> {
  return {
    sub: a.id,
    name: a.name,
    email: a.email,
    email_verified: a.emailVerified,
    ...(a.phoneNumber ? { phone_number: a.phoneNumber, phone_number_verified: a.phoneNumberVerified } : {}),
    // The language the user picked (sign-up or the switcher): an app can greet them in it.
    ...(a.locale ? { locale: a.locale } : {}),
    updated_at: Math.floor(a.updatedAt.getTime() / 1000),
  };
}
