// Deleting an account removes everything it signed in with or to: its sessions, every grant with its
// tokens, pending sign-ins, what it allowed apps, its browsers, and the account record (with its factors
// and recovery codes). The audit log keeps its entries, so an admin can still find what happened.
import type { Store } from '../store/ports.ts';
import { KNOWN_BROWSERS_MODEL } from '../notify/known-browsers.ts';

export async function removeAccount(store: Store, accountId: string): Promise<{ sessions: number; grants: number }> {
  // Sign-ins and tokens first: an account record outliving its sessions for a moment is harmless, the
  // other way round a session of a deleted account could still reach an app.
  const ended = await store.oidc.revokeAccount(accountId);
  await store.signIns.deleteForAccount(accountId);
  await store.consents.deleteForAccount(accountId);
  await store.browsers.deleteForAccount(accountId);
  await store.oidc.destroy(KNOWN_BROWSERS_MODEL, accountId); // the new-browser notice's record
  await store.accounts.delete(accountId);
  return ended;
}
