// Who calls the admin API: a bearer access token from the client-credentials grant with scope
// tessera:admin, looked up in the store (tokens are opaque), issued to a client that is still marked
// tessera_admin_api. RFC 6750 answers: 401 without a usable token, 403 when it lacks the right.
import type Provider from 'oidc-provider';
import { ADMIN_API, ADMIN_SCOPE, clientMeta } from '../oidc/client-metadata.ts';
import { ApiProblem, PROBLEMS } from './problem.ts';

const REALM = 'tessera-admin';
// Opaque token values are base64url; anything else (or far longer) isn't one of ours: no store lookup.
const TOKEN = /^[A-Za-z0-9._~+/-]{10,512}=*$/;

function unauthorized(detail: string, error?: 'invalid_token' | 'invalid_request'): ApiProblem {
  const challenge = error ? `Bearer realm="${REALM}", error="${error}", error_description="${detail.replace(/[^\x20-\x7E]|["\\]/g, '')}"` : `Bearer realm="${REALM}"`;
  return new ApiProblem(401, detail, { type: error ? PROBLEMS.invalidToken : 'about:blank', headers: { 'WWW-Authenticate': challenge } });
}

function forbidden(detail: string): ApiProblem {
  return new ApiProblem(403, detail, {
    type: PROBLEMS.insufficientScope,
    headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${ADMIN_SCOPE}"` },
  });
}

/** The calling client's id, or throws the 401/403 problem. */
export async function authenticate(provider: Provider, authorization: string | undefined): Promise<{ clientId: string }> {
  if (!authorization) throw unauthorized(`Send an access token with scope ${ADMIN_SCOPE}: Authorization: Bearer <token>.`);
  const m = /^Bearer +(\S+)\s*$/i.exec(authorization);
  if (!m) throw unauthorized('The Authorization header must be "Bearer <token>".', 'invalid_request');
  if (!TOKEN.test(m[1])) throw unauthorized('The access token is invalid or expired.', 'invalid_token');
  const token = await provider.ClientCredentials.find(m[1]);
  if (!token || token.isExpired) throw unauthorized('The access token is invalid or expired.', 'invalid_token');
  // A DPoP- or certificate-bound token needs its proof, which this API doesn't take: a plain bearer token only.
  if ((token as { jkt?: string }).jkt || (token as { 'x5t#S256'?: string })['x5t#S256'])
    throw unauthorized('Sender-constrained tokens are not accepted here; request a plain bearer token.', 'invalid_token');
  const scopes = new Set((token.scope ?? '').split(' '));
  if (!scopes.has(ADMIN_SCOPE)) throw forbidden(`The access token lacks the scope ${ADMIN_SCOPE}.`);
  const client = token.clientId ? await provider.Client.find(token.clientId) : undefined;
  if (!client) throw unauthorized('The client of the access token no longer exists.', 'invalid_token');
  // Unmarked since the token was issued (CLI `client update ID --json` with "tessera_admin_api": false):
  // its tokens stop working (within the provider's one-second client cache on other instances).
  if (clientMeta(client)[ADMIN_API] !== true) throw forbidden(`The client ${client.clientId} is not allowed to use the admin API (${ADMIN_API}).`);
  return { clientId: client.clientId };
}
