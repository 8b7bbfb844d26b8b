// Which oidc-provider artifacts belong to an account, for OidcArtifactRepo.revokeAccount. Shared by both
// adapters so they read the same payload fields.

/**
 * The models revokeAccount finds by account. Tokens and codes are reached through their grant instead,
 * so their writes (most of the writes) carry no account index.
 */
export const OWNED_MODELS: readonly string[] = ['Session', 'Grant', 'Interaction', 'TesseraLogin'];
const OWNED = new Set(OWNED_MODELS);

export const isOwnedModel = (model: string) => OWNED.has(model);

const str = (v: unknown) => (typeof v === 'string' && v.length ? v : undefined);

/**
 * The accounts an artifact of OWNED_MODELS belongs to and the browser session (uid) it belongs to:
 * a Session, Grant or TesseraLogin its payload.accountId (a Session is the browser payload.uid); an
 * Interaction the account of the session it started in (payload.session, whose uid is its browser) and
 * the one its login result names (payload.result.login.accountId), which may differ.
 */
export function ownersOf(model: string, payload: Record<string, unknown>): { accountIds: string[]; sessionUid: string | undefined } {
  if (model !== 'Interaction') {
    const id = str(payload.accountId);
    return { accountIds: id ? [id] : [], sessionUid: model === 'Session' ? str(payload.uid) : undefined };
  }
  const session = payload.session as { accountId?: unknown; uid?: unknown } | null | undefined;
  const login = (payload.result as { login?: { accountId?: unknown } | null } | null | undefined)?.login;
  const ids: string[] = [];
  const a = str(session?.accountId);
  const b = str(login?.accountId);
  if (a) ids.push(a);
  if (b && b !== a) ids.push(b);
  return { accountIds: ids, sessionUid: str(session?.uid) };
}
