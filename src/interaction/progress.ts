// What a sign-in has proved so far, kept server-side per interaction (uid) through the store port, so
// the browser can't skip a step and any instance can serve the next request.
import type { Store } from '../store/ports.ts';

export interface LoginProgress {
  accountId: string;
  /** Methods proved in this interaction (or carried over from the session on step-up). */
  amr: string[];
  /** True when the session was reused (step-up): the password was not asked again. */
  stepUp?: boolean;
  /** A phone number the user is verifying inside the login (inline enrolment), E.164. */
  enrolPhone?: string;
}

const MODEL = 'TesseraLogin';

export async function loadProgress(store: Store, uid: string): Promise<LoginProgress | null> {
  return ((await store.oidc.find(MODEL, uid)) as LoginProgress | undefined) ?? null;
}

export async function saveProgress(store: Store, uid: string, p: LoginProgress, expiresAt: Date): Promise<void> {
  await store.oidc.upsert(MODEL, uid, p as unknown as Record<string, unknown>, expiresAt);
}

export async function clearProgress(store: Store, uid: string): Promise<void> {
  await store.oidc.destroy(MODEL, uid);
}
