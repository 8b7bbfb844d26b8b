// Accounts: registration, password sign-in, claims. Shared by the hosted pages and the admin CLI so
// both apply the same validation. No koa in here.
import { z } from 'zod';
import type { AccountRecord, FactorName, Store } from '../store/ports.ts';
import { StoreConflictError } from '../store/ports.ts';
import type { Config } from '../config.ts';
import { hashPassword, verifyPassword, dummyHash, passwordProblem, PASSWORD_MAX } from './passwords.ts';
import { parsePhone } from './phone.ts';
import { randomId } from '../secrets.ts';
import type { LoginGuard } from '../guard/limits.ts';

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
  mfa?: FactorName[];
};

export type SignInResult =
  | { ok: true; account: AccountRecord }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

export class AccountService {
  constructor(private readonly deps: { store: Store; config: Config; loginGuard: LoginGuard }) {}

  /** Validates like the registration page; throws FieldErrors keyed by form field. */
  async register(input: RegistrationInput): Promise<AccountRecord> {
    const parsed = RegistrationSchema.safeParse(input);
    const errors: Record<string, string> = {};
    if (!parsed.success) for (const i of parsed.error.issues) errors[String(i.path[0])] ??= i.message;
    const data = parsed.success ? parsed.data : undefined;
    const weak = data ? passwordProblem(data.password, { email: data.email, name: data.name }) : null;
    if (weak) errors.password ??= weak;
    let phone: string | null = null;
    if (data?.phone_number?.trim()) {
      const p = parsePhone(data.phone_number, this.deps.config.sms.defaultRegion, this.deps.config.sms.allowedCountries);
      if (p.ok) phone = p.e164;
      else errors.phone_number = p.error;
    }
    if (input.phone_number_verified && !phone) errors.phone_number ??= 'phone_number_verified needs a phone_number.';
    if (input.mfa?.includes('sms') && !(phone && input.phone_number_verified))
      errors.mfa = 'SMS two-step sign-in needs a verified phone number (phone_number_verified: true).';
    if (Object.keys(errors).length || !data) throw new FieldErrors(errors);
    const now = new Date();
    const account: AccountRecord = {
      id: randomId(16),
      email: data.email,
      emailVerified: input.email_verified === true,
      name: data.name,
      passwordHash: await hashPassword(data.password),
      phoneNumber: phone,
      phoneNumberVerified: Boolean(phone && input.phone_number_verified),
      mfa: [...new Set(input.mfa ?? [])],
      recoveryCodes: [],
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.deps.store.accounts.create(account);
    } catch (err) {
      if (err instanceof StoreConflictError) throw new FieldErrors({ email: 'An account with this email already exists. Sign in instead.' });
      throw err;
    }
    return account;
  }

  /**
   * Password check with one answer for "no such account" and "wrong password", the same work in both
   * cases (a dummy hash is verified), and throttling per account and per IP.
   */
  async signIn(emailInput: string, password: string, ip: string): Promise<SignInResult> {
    const email = emailInput.trim().toLowerCase().slice(0, 254);
    const wait = await this.deps.loginGuard.blockedFor(email, ip);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: wait };
    const account = email ? await this.deps.store.accounts.findByEmail(email) : null;
    const ok = await verifyPassword(account?.passwordHash ?? (await dummyHash()), password.slice(0, PASSWORD_MAX));
    if (!account || !ok) {
      await this.deps.loginGuard.failed(email, ip);
      return { ok: false, reason: 'invalid' };
    }
    await this.deps.loginGuard.succeeded(email);
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
    await this.deps.loginGuard.succeeded(account.email); // a fresh password starts with a clean slate
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
    updated_at: Math.floor(a.updatedAt.getTime() / 1000),
  };
}
