// oidc-provider's error events, logged and counted. oidc-provider catches the errors of its own routes
// (token, userinfo, introspection, ...) and answers them itself, so without these listeners a 500 on the
// token endpoint left nothing in the log but its access line.
//
// server_error (an unexpected failure: a store error, a bug) is logged at error with the error and its
// stack; the protocol errors a client caused (invalid_grant, invalid_client, ...) at warn, with the
// OAuth error and its description, except the answers of silent requests (login_required, ...), which
// are routine, at info. Each line carries the request id (src/http/ops.ts). Never the request's
// parameters or headers: they carry codes, tokens and client secrets.
import type Provider from 'oidc-provider';
import type { Logger } from '../log.ts';

/** What oidc-provider hands to its error events: a koa context, read only for these fields. */
interface EventContext {
  state?: { requestId?: string };
  path?: string;
  method?: string;
  oidc?: { client?: { clientId?: string }; route?: string };
}

interface ProviderError extends Error {
  error?: string;
  error_description?: string;
  status?: number;
  statusCode?: number;
}

export interface ErrorCounter {
  oidcError(event: string, error: string): void;
}

/** The `<route>.error` events of oidc-provider 9 (lib/helpers/initialize_app.js and the authorization handler). */
export const PROVIDER_ERROR_EVENTS = [
  'authorization.error', 'grant.error', 'userinfo.error', 'introspection.error', 'revocation.error', 'jwks.error',
  'discovery.error', 'end_session.error', 'end_session_confirm.error', 'end_session_success.error',
  'pushed_authorization_request.error', 'device_authorization.error', 'code_verification.error', 'device_resume.error',
  'backchannel_authentication.error', 'registration_create.error', 'registration_read.error', 'registration_update.error',
  'registration_delete.error', 'credential.error', 'challenge.error', 'openid_credential_issuer.error',
] as const;

// Answers a relying party asks for with prompt=none: nothing went wrong.
const ROUTINE = new Set(['login_required', 'consent_required', 'interaction_required', 'account_selection_required']);

const errorCode = (err: ProviderError | undefined) => (err?.error && /^[a-z_]{1,64}$/.test(err.error) ? err.error : 'other');

function where(ctx: EventContext | undefined) {
  return { reqId: ctx?.state?.requestId, method: ctx?.method, path: ctx?.path, client: ctx?.oidc?.client?.clientId };
}

export function watchProviderErrors(provider: Provider, log: Logger, counter: ErrorCounter): void {
  // The typings name each event's listener; these are listened to by name from a list.
  const events = provider as unknown as { on(event: string, listener: (...args: never[]) => void): unknown };
  events.on('server_error', (ctx: EventContext, err: ProviderError) => {
    counter.oidcError('server_error', 'server_error');
    log.error({ event: 'oidc.server_error', ...where(ctx), err }, `oidc-provider server error: ${err?.message ?? String(err)}`);
  });
  for (const name of PROVIDER_ERROR_EVENTS) {
    events.on(name, (ctx: EventContext, err: ProviderError) => {
      const error = errorCode(err);
      counter.oidcError(name, error);
      const line = { event: `oidc.${name}`, ...where(ctx), error, description: err?.error_description, status: err?.statusCode ?? err?.status };
      if (ROUTINE.has(error)) log.info(line, `${name}: ${error}`);
      else log.warn(line, `${name}: ${error}`);
    });
  }
  // A back-channel logout notice a client's endpoint didn't take: that client still thinks the user is signed in.
  events.on('backchannel.error', (ctx: EventContext, err: Error, client: { clientId?: string } | undefined, _accountId: string, _sid: string) => {
    counter.oidcError('backchannel.error', errorCode(err as ProviderError));
    log.warn({ event: 'oidc.backchannel.error', ...where(ctx), client: client?.clientId, reason: err?.message }, `back-channel logout to ${client?.clientId ?? 'a client'} failed`);
  });
}
