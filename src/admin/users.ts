// User provisioning for admins (CLI): the same validation as registration, plus fields only an admin
// may set (email_verified, phone_number_verified, mfa) for migrations.
import { removeAccount } from '../accounts/removal.ts';
import { z } from 'zod';
import { isSupported, SUPPORTED } from '../i18n/catalogue.ts';
import type { AccountPatch, AccountRecord, Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import { randomId } from '../secrets.ts';
import { afterRemoving, factorOf, hasFactor, newFactor, recoveryCodesLeft, secondFactors, withFactor, type FactorRecord, type SecondFactorType } from '../factors/records.ts';
import { isBase32Secret, normaliseBase32 } from '../factors/totp/totp.ts';
import { StoreConflictError } from '../store/ports.ts';
import type { Config } from '../config.ts';
import type { SecurityNotices } from '../notify/notices.ts';
import { AccountService, FieldErrors, EmailSchema } from '../accounts/service.ts';
import { parsePhone } from '../accounts/phone.ts';
import { LoginGuard, CodeGuard } from '../guard/limits.ts';

const MFA = z.array(z.enum(['sms', 'email', 'totp'])).max(3);
const PREFERRED = z.enum(['sms', 'email', 'totp']).nullable();
// The account's language (emails, texts, the OIDC `locale` claim): one of the catalogues in locales/.
const LOCALE = z.string().refine(isSupported, { message: `must be one of ${SUPPORTED.join(', ')}` });

const CreateSchema = z
  .object({
    email: z.string(),
    password: z.string(),
    name: z.string(),
    phone_number: z.string().optional(),
    phone_number_verified: z.boolean().optional(),
    email_verified: z.boolean().optional(),
    mfa: MFA.optional(),
    totp_secret: z.string().max(200).optional(),
    preferred_mfa: PREFERRED.optional(),
    locale: LOCALE.optional(),
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
    totp_secret: z.string().max(200).optional(),
    preferred_mfa: PREFERRED.optional(),
    locale: LOCALE.nullable().optional(),
  })
  .strict();

/** The role that opens the admin console; granted only from the CLI (`user grant-admin`). */
export const ADMIN_ROLE = 'admin';

/** Who did an admin action, for the audit log: the CLI, or an admin (console/API) by account or client id. */
export interface Actor {
  via: 'cli' | 'console' | 'api';
  adminId?: string;
  ip?: string | null;
  /** The admin's browser (console), recorded as `ua` in the event's detail. */
  userAgent?: string | null;
}
const CLI: Actor = { via: 'cli' };

/** No account with that sub or email (a FieldErrors on `user`, so forms show it; the API answers 404). */
export class UserNotFound extends FieldErrors {
  constructor(idOrEmail: string) {
    super({ user: `no user with sub or email "${idOrEmail.slice(0, 254)}"` });
    this.name = 'UserNotFound';
  }
}
const actorDetail = (by: Actor) => ({ via: by.via, ...(by.adminId ? { admin: by.adminId } : {}), ...(by.userAgent ? { ua: by.userAgent } : {}) });

export function userView(a: AccountRecord) {
  return {
    sub: a.id,
    email: a.email,
    email_verified: a.emailVerified,
    name: a.name,
    phone_number: a.phoneNumber,
    phone_number_verified: a.phoneNumberVerified,
    mfa: secondFactors(a.factors),
    preferred_mfa: a.preferredMfa,
    recovery_codes_left: recoveryCodesLeft(a.factors),
    admin: (a.roles ?? []).includes(ADMIN_ROLE),
    disabled: Boolean(a.disabled),
    locale: a.locale ?? null,
    // Never a secret: what is on and when it was used.
    factors: a.factors.map((f) => ({ type: f.type, created_at: f.createdAt.toISOString(), last_used_at: f.lastUsedAt ? f.lastUsedAt.toISOString() : null })),
    created_at: a.createdAt.toISOString(),
    updated_at: a.updatedAt.toISOString(),
  };
}

function zodToFields(err: z.ZodError): FieldErrors {
  const fields: Record<string, string> = {};
  for (const i of err.issues) fields[String(i.path[0] ?? 'input')] ??= i.message;
  return new FieldErrors(fields);
}

/**
 * The factor list an admin asks for (`mfa`, `totp_secret`, `preferred_mfa`), each factor checked against
 * its prerequisite: a verified phone, a confirmed email, an authenticator secret (base32, e.g. imported
 * from another identity provider; stored encrypted).
 */
export function adminFactors(
  a: Pick<AccountRecord, 'factors' | 'phoneNumber' | 'phoneNumberVerified' | 'emailVerified' | 'preferredMfa'>,
  u: { mfa?: SecondFactorType[]; totp_secret?: string; preferred_mfa?: SecondFactorType | null },
  box: Pick<SecretBox, 'encrypt'>,
): { factors: FactorRecord[]; preferredMfa: SecondFactorType | null } {
  const wanted = new Set<SecondFactorType>(u.mfa ?? secondFactors(a.factors));
  if (u.totp_secret !== undefined) wanted.add('totp');
  let factors = [...a.factors];
  const id = () => randomId(9);
  for (const t of ['sms', 'email', 'totp'] as const) {
    if (!wanted.has(t)) {
      if (hasFactor(factors, t)) factors = afterRemoving(factors, t);
      continue;
    }
    if (t === 'sms' && !(a.phoneNumber && a.phoneNumberVerified)) throw new FieldErrors({ mfa: 'SMS two-step sign-in needs a verified phone number (phone_number_verified: true).' });
    if (t === 'email' && !a.emailVerified) throw new FieldErrors({ mfa: 'Email codes as a second step need a confirmed email (email_verified: true).' });
    if (t === 'totp') {
      if (u.totp_secret !== undefined) {
        const secret = normaliseBase32(u.totp_secret);
        if (!isBase32Secret(secret)) throw new FieldErrors({ totp_secret: 'totp_secret must be a base32 secret of at least 16 characters (A–Z, 2–7).' });
        factors = withFactor(factors, newFactor('totp', { secret: box.encrypt(secret), lastStep: 0 }, id));
      } else if (!factorOf(factors, 'totp')) throw new FieldErrors({ totp_secret: 'An authenticator app needs totp_secret (base32).' });
      continue;
    }
    if (!hasFactor(factors, t)) factors = withFactor(factors, newFactor(t, {}, id));
  }
  const preferred = u.preferred_mfa !== undefined ? u.preferred_mfa : a.preferredMfa;
  if (preferred && !secondFactors(factors).includes(preferred)) {
    if (u.preferred_mfa !== undefined) throw new FieldErrors({ preferred_mfa: `preferred_mfa must be one of the user's methods (${secondFactors(factors).join(', ') || 'none'}).` });
    return { factors, preferredMfa: null };
  }
  return { factors, preferredMfa: preferred ?? null };
}

export class UserAdmin {
  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly accounts: AccountService,
    private readonly box: SecretBox,
    private readonly notices?: Pick<SecurityNotices, 'factorChanged' | 'passwordResetForced'>,
  ) {}

  async create(input: unknown, by: Actor = CLI) {
    const parsed = CreateSchema.safeParse(input);
    if (!parsed.success) throw zodToFields(parsed.error);
    const { totp_secret, preferred_mfa, mfa, locale, ...rest } = parsed.data;
    // Checked before anything is stored: a bad factor request creates no account.
    const phoneVerified = Boolean(rest.phone_number && rest.phone_number_verified);
    adminFactors({ factors: [], phoneNumber: rest.phone_number ?? null, phoneNumberVerified: phoneVerified, emailVerified: rest.email_verified === true, preferredMfa: null }, { mfa, totp_secret, preferred_mfa }, this.box);
    const account = await this.accounts.register({ ...rest, mfa: mfa?.filter((t) => t !== 'totp') });
    await this.store.audit.record({ type: 'admin.user_created', accountId: account.id, ip: by.ip ?? null, detail: actorDetail(by) });
    // What registration doesn't set: an authenticator (and the preference among factors), the language.
    const patch = {
      ...(totp_secret || preferred_mfa || mfa?.includes('totp') ? adminFactors(account, { mfa, totp_secret, preferred_mfa }, this.box) : {}),
      ...(locale ? { locale } : {}),
    };
    return userView(Object.keys(patch).length ? (await this.store.accounts.update(account.id, patch))! : account);
  }

  private async find(idOrEmail: string): Promise<AccountRecord> {
    if (typeof idOrEmail !== 'string' || !idOrEmail || idOrEmail.length > 254) throw new UserNotFound(String(idOrEmail));
    const a = (await this.store.accounts.findById(idOrEmail)) ?? (await this.store.accounts.findByEmail(idOrEmail.toLowerCase()));
    if (!a) throw new UserNotFound(idOrEmail);
    return a;
  }

  async show(idOrEmail: string) {
    return userView(await this.find(idOrEmail));
  }

  async list(opts?: { limit?: number; offset?: number }) {
    return (await this.store.accounts.list(opts)).map(userView);
  }

  async update(idOrEmail: string, input: unknown, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    const parsed = UpdateSchema.safeParse(input);
    if (!parsed.success) throw zodToFields(parsed.error);
    const u = parsed.data;
    const patch: AccountPatch = {};
    if (u.name !== undefined) patch.name = u.name;
    if (u.locale !== undefined) patch.locale = u.locale;
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
    // Losing the verified phone turns SMS sign-in off with it (and the email factor with an unconfirmed
    // address): no stale factors.
    const keep = u.mfa ?? secondFactors(a.factors).filter((t) => !(t === 'sms' && !(next.phoneNumber && next.phoneNumberVerified)) && !(t === 'email' && !next.emailVerified));
    Object.assign(patch, adminFactors(next, { mfa: keep, totp_secret: u.totp_secret, preferred_mfa: u.preferred_mfa }, this.box));
    try {
      if (u.password !== undefined) await this.accounts.setPassword(a.id, u.password);
      const updated = userView((await this.store.accounts.update(a.id, patch))!);
      // Which fields, never their values (a password, a TOTP secret).
      await this.store.audit.record({ type: 'admin.user_updated', accountId: a.id, ip: by.ip ?? null, detail: { ...actorDetail(by), fields: Object.keys(u) } });
      return updated;
    } catch (err) {
      if (err instanceof StoreConflictError) throw new FieldErrors({ email: 'An account with this email already exists.' });
      throw err;
    }
  }

  /**
   * Lifts a password lockout: the account-wide failure count, every account+IP delay and the per-account
   * wrong-code counts (per-IP lockouts are about the address, not the user, and stay). Audited.
   */
  async unlock(idOrEmail: string, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    await new LoginGuard(this.store, this.config.login).unlock(a.email);
    await new CodeGuard(this.store, this.config.codes).clear(a.id);
    await this.store.audit.record({ type: 'admin.user_unlocked', accountId: a.id, ip: by.ip ?? null, detail: actorDetail(by) });
    return { unlocked: true, sub: a.id, email: a.email };
  }

  /** Removes every second factor and recovery code (a user who lost them all); audited, the user told. */
  async resetMfa(idOrEmail: string, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    const removed = secondFactors(a.factors);
    await this.store.accounts.update(a.id, { factors: [], preferredMfa: null });
    await this.store.audit.record({ type: 'admin.mfa_reset', accountId: a.id, ip: by.ip ?? null, detail: { ...actorDetail(by), removed } });
    await this.notices?.factorChanged(a, 'Two-step sign-in', 'reset', { ip: by.ip ?? null, userAgent: by.userAgent ?? null, admin: true });
    return { reset: true, sub: a.id, email: a.email, removed };
  }

  async delete(idOrEmail: string, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    const ended = await removeAccount(this.store, a.id);
    await this.store.audit.record({ type: 'admin.user_deleted', accountId: a.id, ip: by.ip ?? null, detail: { ...actorDetail(by), email: a.email, ...ended } });
  }

  /** Signs the user out everywhere: every session, pending sign-in and app grant (with its tokens) ends. Audited. */
  async endSessions(idOrEmail: string, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    const ended = await this.store.oidc.revokeAccount(a.id);
    await this.store.signIns.deleteForAccount(a.id);
    await this.store.audit.record({ type: 'admin.sessions_ended', accountId: a.id, ip: by.ip ?? null, detail: { ...actorDetail(by), ...ended } });
    return { sub: a.id, email: a.email, ...ended };
  }

  /**
   * Makes the user choose a new password before they can sign in again (what Keycloak's required action
   * "update password" achieves): the password is replaced by a random one nobody knows, so the old one stops
   * working at once (the reason to force a reset is usually that it may be known to someone else), every
   * session, pending sign-in and token ends, and the user is mailed how to set a new one: "Forgot your
   * password?" on the sign-in page, which proves the mailbox with a code. Audited.
   */
  async forcePasswordReset(idOrEmail: string, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    await this.accounts.setPassword(a.id, randomId(32));
    const ended = await this.store.oidc.revokeAccount(a.id);
    await this.store.signIns.deleteForAccount(a.id);
    await this.store.audit.record({ type: 'admin.password_reset_forced', accountId: a.id, ip: by.ip ?? null, detail: { ...actorDetail(by), ...ended } });
    await this.notices?.passwordResetForced(a, { ip: by.ip ?? null, userAgent: by.userAgent ?? null, admin: true });
    return { sub: a.id, email: a.email, ...ended };
  }

  /** Grants or revokes the admin role (CLI only: an admin can't make admins). */
  async setAdmin(idOrEmail: string, admin: boolean) {
    const a = await this.find(idOrEmail);
    const roles = new Set(a.roles ?? []);
    if (admin) roles.add(ADMIN_ROLE);
    else roles.delete(ADMIN_ROLE);
    const updated = await this.store.accounts.update(a.id, { roles: [...roles] });
    await this.store.audit.record({ type: admin ? 'admin.role_granted' : 'admin.role_revoked', accountId: a.id, ip: null, detail: { via: 'cli', role: ADMIN_ROLE } });
    return userView(updated!);
  }

  /**
   * Disables (or enables) an account. A disabled account can't sign in (the right password is answered
   * "disabled"), and disabling ends its sessions, pending sign-ins and every token at once.
   */
  async setDisabled(idOrEmail: string, disabled: boolean, by: Actor = CLI) {
    const a = await this.find(idOrEmail);
    const updated = await this.store.accounts.update(a.id, { disabled });
    let ended = { sessions: 0, grants: 0 };
    if (disabled) {
      ended = await this.store.oidc.revokeAccount(a.id);
      await this.store.signIns.deleteForAccount(a.id);
    }
    await this.store.audit.record({ type: disabled ? 'admin.user_disabled' : 'admin.user_enabled', accountId: a.id, ip: by.ip ?? null, detail: { ...actorDetail(by), ...ended } });
    return userView(updated!);
  }
}
