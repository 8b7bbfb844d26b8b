// User provisioning for admins (CLI): the same validation as registration, plus fields only an admin
// may set (email_verified, phone_number_verified, mfa) for migrations.
import { z } from 'zod';
import type { AccountPatch, AccountRecord, FactorName, Store } from '../store/ports.ts';
import { StoreConflictError } from '../store/ports.ts';
import type { Config } from '../config.ts';
import { AccountService, FieldErrors, EmailSchema } from '../accounts/service.ts';
import { parsePhone } from '../accounts/phone.ts';
import { LoginGuard, CodeGuard } from '../guard/limits.ts';

const MFA = z.array(z.enum(['sms'])).max(4);

const CreateSchema = z
  .object({
    email: z.string(),
    password: z.string(),
    name: z.string(),
    phone_number: z.string().optional(),
    phone_number_verified: z.boolean().optional(),
    email_verified: z.boolean().optional(),
    mfa: MFA.optional(),
  })
  .strict();

const UpdateSchema = z
  .object({
    email: z.string().optional(),
    password: z.string().optional(),
    name: z.string().trim().min(1).max(100).optional(),
    phone_number: z.string().nullable().optional(),
    phone_number_verified: z.boolean().optional(),
    email_verified: z.boolean().optional(),
    mfa: MFA.optional(),
  })
  .strict();

export function userView(a: AccountRecord) {
  return {
    sub: a.id,
    email: a.email,
    email_verified: a.emailVerified,
    name: a.name,
    phone_number: a.phoneNumber,
    phone_number_verified: a.phoneNumberVerified,
    mfa: a.mfa,
    recovery_codes_left: a.recoveryCodes.length,
    created_at: a.createdAt.toISOString(),
    updated_at: a.updatedAt.toISOString(),
  };
}

function zodToFields(err: z.ZodError): FieldErrors {
  const fields: Record<string, string> = {};
  for (const i of err.issues) fields[String(i.path[0] ?? 'input')] ??= i.message;
  return new FieldErrors(fields);
}

export class UserAdmin {
  constructor(private readonly store: Store, private readonly config: Config, private readonly accounts: AccountService) {}

  async create(input: unknown) {
    const parsed = CreateSchema.safeParse(input);
    if (!parsed.success) throw zodToFields(parsed.error);
    return userView(await this.accounts.register(parsed.data));
  }

  private async find(idOrEmail: string): Promise<AccountRecord> {
    const a = (await this.store.accounts.findById(idOrEmail)) ?? (await this.store.accounts.findByEmail(idOrEmail.toLowerCase()));
    if (!a) throw new FieldErrors({ user: `no user with sub or email "${idOrEmail}"` });
    return a;
  }

  async show(idOrEmail: string) {
    return userView(await this.find(idOrEmail));
  }

  async list() {
    return (await this.store.accounts.list()).map(userView);
  }

  async update(idOrEmail: string, input: unknown) {
    const a = await this.find(idOrEmail);
    const parsed = UpdateSchema.safeParse(input);
    if (!parsed.success) throw zodToFields(parsed.error);
    const u = parsed.data;
    const patch: AccountPatch = {};
    if (u.name !== undefined) patch.name = u.name;
    if (u.email !== undefined) {
      const e = EmailSchema.safeParse(u.email);
      if (!e.success) throw new FieldErrors({ email: e.error.issues[0].message });
      if (e.data !== a.email) Object.assign(patch, { email: e.data, emailVerified: false });
    }
    if (u.email_verified !== undefined) patch.emailVerified = u.email_verified;
    if (u.phone_number !== undefined) {
      if (u.phone_number === null || u.phone_number === '') Object.assign(patch, { phoneNumber: null, phoneNumberVerified: false });
      else {
        const p = parsePhone(u.phone_number, this.config.sms.defaultRegion, this.config.sms.allowedCountries, this.config.sms.deniedPrefixes);
        if (!p.ok) throw new FieldErrors({ phone_number: p.error });
        if (p.e164 !== a.phoneNumber) Object.assign(patch, { phoneNumber: p.e164, phoneNumberVerified: false });
      }
    }
    if (u.phone_number_verified !== undefined) patch.phoneNumberVerified = u.phone_number_verified;
    const next = { ...a, ...patch };
    if (next.phoneNumberVerified && !next.phoneNumber) throw new FieldErrors({ phone_number_verified: 'needs a phone_number' });
    let mfa: FactorName[] = u.mfa ?? a.mfa;
    // Losing the verified phone turns SMS sign-in off with it: no stale flags.
    if (!(next.phoneNumber && next.phoneNumberVerified)) {
      if (u.mfa?.includes('sms')) throw new FieldErrors({ mfa: 'SMS two-step sign-in needs a verified phone number.' });
      mfa = mfa.filter((m) => m !== 'sms');
    }
    patch.mfa = [...new Set(mfa)];
    if (patch.mfa.length === 0) patch.recoveryCodes = [];
    try {
      if (u.password !== undefined) await this.accounts.setPassword(a.id, u.password);
      return userView((await this.store.accounts.update(a.id, patch))!);
    } catch (err) {
      if (err instanceof StoreConflictError) throw new FieldErrors({ email: 'An account with this email already exists.' });
      throw err;
    }
  }

  /**
   * Lifts a password lockout: the account-wide failure count, every account+IP delay and the per-account
   * wrong-code counts (per-IP lockouts are about the address, not the user, and stay). Audited.
   */
  async unlock(idOrEmail: string) {
    const a = await this.find(idOrEmail);
    await new LoginGuard(this.store, this.config.login).unlock(a.email);
    await new CodeGuard(this.store, this.config.codes).clear(a.id);
    await this.store.audit.record({ type: 'admin.user_unlocked', accountId: a.id, ip: null, detail: { via: 'cli' } });
    return { unlocked: true, sub: a.id, email: a.email };
  }

  async delete(idOrEmail: string) {
    const a = await this.find(idOrEmail);
    await this.store.accounts.delete(a.id);
  }
}
