// What a sign-in has proved so far, kept server-side per interaction (uid) through the store port, so
// the browser can't skip a step and any instance can serve the next request.
import type { Store } from '../store/ports.ts';
import type { PendingRegistration } from '../accounts/service.ts';
import { z } from 'zod';
import { FACTOR_TYPES, type FactorType } from '../factors/records.ts';

export interface LoginProgress {
  /** The account signing in (for a pending registration, the id it will get). */
  accountId: string;
  /** Methods proved in this interaction (or carried over from the session on step-up). */
  amr: string[];
  /** When each method was proved, epoch seconds: `auth_time` is the password's time, never a step-up's. */
  methods?: Record<string, number>;
  /** True when the session was reused (step-up): the password was not asked again. */
  stepUp?: boolean;
  /** "Use a different account": back to the password page, even when a session could be stepped up. */
  switching?: boolean;
  /** The method the user picked with "Try another way". */
  chosen?: FactorType;
  /** A phone number the user is verifying inside the login (inline enrolment), E.164. */
  enrolPhone?: string;
  /**
   * A stamp of the account's password hash when the password was proved (or the session reused): a
   * password change or reset meanwhile voids this sign-in (a pending sign-in never survives a change of
   * ownership).
   */
  credential?: string;
  /**
   * A registration waiting for its email code. The account does not exist until the code is entered in
   * this same sign-in (this browser): no unconfirmed account exists that someone else could later own
   * through a password reset or a mailed link.
   */
  registration?: PendingRegistration;
}

/** Per-method times of a browser session, keyed by the session's uid (written when a sign-in finishes). */
export const SESSION_METHODS_MODEL = 'TesseraMethods';

/**
 * The record as stored, parsed on every read: a corrupt or foreign record fails loudly (and the sign-in
 * starts over) instead of being half-trusted.
 */
const ProgressSchema = z.object({
  accountId: z.string(),
  amr: z.array(z.string()),
  methods: z.record(z.string(), z.number()).optional(),
  stepUp: z.boolean().optional(),
  switching: z.boolean().optional(),
  chosen: z.enum(FACTOR_TYPES).optional(),
  enrolPhone: z.string().optional(),
  credential: z.string().optional(),
  registration: z.object({
    email: z.string(), name: z.string(), passwordHash: z.string(), phoneNumber: z.string().nullable(), taken: z.boolean(),
  }).optional(),
}).strict();

export async function loadProgress(store: Store, uid: string): Promise<LoginProgress | null> {
  const raw = await store.signIns.find(uid);
  if (!raw) return null;
  const parsed = ProgressSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  await store.signIns.delete(uid);
  return null;
}

export async function saveProgress(store: Store, uid: string, p: LoginProgress, expiresAt: Date): Promise<void> {
  await store.signIns.save(uid, p.accountId, ProgressSchema.parse(p) as Record<string, unknown>, expiresAt);
}

export async function clearProgress(store: Store, uid: string): Promise<void> {
  await store.signIns.delete(uid);
}
