// The OpenAPI 3.1 description of the admin API, served at /admin/api/openapi.json. Every operation in
// it is answered by routes.ts (test/integration/admin-api.test.ts calls each one with its example).
import { AUTH_METHODS, GRANT_TYPES, LIMITS, RESPONSE_TYPES } from '../admin/client-input.ts';
import { MAX_GRACE_SECONDS } from '../admin/clients.ts';
import { ADMIN_SCOPE } from '../oidc/client-metadata.ts';
import { PROBLEMS, PROBLEM_TYPE } from './problem.ts';
import { SUPPORTED } from '../i18n/catalogue.ts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = (description: string) => ({ description, content: { [PROBLEM_TYPE]: { schema: ref('Problem') } } });
const jsonBody = (schema: object, example: unknown, required = true, types = ['application/json']) => ({
  required,
  content: Object.fromEntries(types.map((t) => [t, { schema, example }])),
});
const ok = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });

const AUTH_ERRORS = {
  '401': problem('No access token, or one that is invalid or expired (WWW-Authenticate: Bearer).'),
  '403': problem(`The token lacks the scope ${ADMIN_SCOPE}, or its client is no longer marked tessera_admin_api.`),
  '500': problem('Unexpected failure: only a request id, the detail is in the server log.'),
  '503': problem('The store can’t be reached right now (Retry-After).'),
};
const NOT_FOUND = { '404': problem('No such client or user.') };
const INVALID = { '400': problem(`Invalid input: \`errors\` names each bad field (type ${PROBLEMS.invalidInput}).`) };

const uri = { type: 'string', format: 'uri', maxLength: LIMITS.uri };
const uris = { type: 'array', items: uri, maxItems: LIMITS.uris };

const CLIENT_METADATA = {
  type: 'object',
  description:
    'RFC 7591 client metadata plus Tessera’s own. Redirect and post-logout URIs: https (http only on loopback in production; ' +
    'a reverse-domain scheme for native apps), no wildcards, no fragments. logo/policy/tos/client URIs: https.',
  additionalProperties: false,
  properties: {
    client_name: { type: 'string', maxLength: LIMITS.name },
    redirect_uris: uris,
    post_logout_redirect_uris: uris,
    grant_types: { type: 'array', items: { enum: [...GRANT_TYPES] }, uniqueItems: true },
    response_types: { type: 'array', items: { enum: [...RESPONSE_TYPES] }, uniqueItems: true },
    token_endpoint_auth_method: { enum: [...AUTH_METHODS], description: '"none" makes a public client (no secret, PKCE required).' },
    token_endpoint_auth_signing_alg: { type: 'string' },
    application_type: { enum: ['web', 'native'] },
    scope: { type: 'string', maxLength: LIMITS.scope, description: `Space-separated. "${ADMIN_SCOPE}" only with tessera_admin_api.` },
    client_uri: uri,
    logo_uri: { ...uri, description: 'Shown on the sign-in and consent pages.' },
    policy_uri: uri,
    tos_uri: uri,
    jwks_uri: uri,
    initiate_login_uri: uri,
    jwks: { type: 'object', properties: { keys: { type: 'array', items: { type: 'object' } } }, required: ['keys'] },
    contacts: { type: 'array', items: { type: 'string', maxLength: LIMITS.contact }, maxItems: LIMITS.contacts },
    default_acr_values: { type: 'array', items: { type: 'string' }, description: 'ACRs asked for when a request names none.' },
    default_max_age: { type: 'integer', minimum: 0 },
    require_auth_time: { type: 'boolean' },
    id_token_signed_response_alg: { type: 'string' },
    subject_type: { enum: ['public'] },
    software_id: { type: 'string', maxLength: LIMITS.text },
    software_version: { type: 'string', maxLength: LIMITS.text },
    tessera_min_acr: { type: 'string', description: 'The minimum ACR of every sign-in to this client (e.g. urn:tessera:acr:mfa:sms).' },
    tessera_first_party: { type: 'boolean', description: 'Skip the consent page.' },
    tessera_introspect_any: { type: 'boolean', description: 'May introspect tokens of any client (confidential clients only).' },
    tessera_admin_api: { type: 'boolean', readOnly: true, description: 'Set only from the CLI; the API refuses it.' },
  },
};

const CLIENT = {
  allOf: [
    { $ref: '#/components/schemas/ClientMetadata' },
    {
      type: 'object',
      required: ['client_id', 'client_id_issued_at'],
      properties: {
        client_id: { type: 'string' },
        client_secret: { type: 'string', description: 'Only in the answer that issued it (create, rotate); never shown again.' },
        client_secret_expires_at: { type: 'integer', const: 0 },
        client_id_issued_at: { type: 'integer' },
        previous_secret_expires_at: { type: 'integer', description: 'While a rotation’s grace period runs: when the previous secret stops working (epoch seconds).' },
        tessera_admin_api: { type: 'boolean' },
      },
    },
  ],
};

const FACTOR_TYPES = { type: 'array', items: { enum: ['sms', 'email', 'totp'] }, maxItems: 3 };
const USER_FIELDS = {
  email: { type: 'string', format: 'email', maxLength: 254 },
  password: { type: 'string', writeOnly: true },
  name: { type: 'string', maxLength: 100 },
  phone_number: { type: ['string', 'null'], description: 'E.164 or national format of PHONE_DEFAULT_REGION.' },
  phone_number_verified: { type: 'boolean' },
  email_verified: { type: 'boolean' },
  mfa: FACTOR_TYPES,
  totp_secret: { type: 'string', writeOnly: true, maxLength: 200, description: 'Base32 authenticator secret (imports).' },
  preferred_mfa: { enum: ['sms', 'email', 'totp', null] },
  locale: { enum: [...SUPPORTED, null], description: 'Language of the user’s emails and texts, and the OIDC `locale` claim.' },
};

const USER = {
  type: 'object',
  properties: {
    sub: { type: 'string' },
    email: { type: 'string' },
    email_verified: { type: 'boolean' },
    name: { type: 'string' },
    phone_number: { type: ['string', 'null'] },
    phone_number_verified: { type: 'boolean' },
    mfa: FACTOR_TYPES,
    preferred_mfa: { enum: ['sms', 'email', 'totp', null] },
    recovery_codes_left: { type: 'integer' },
    admin: { type: 'boolean', description: 'The admin role: granted only from the CLI.' },
    disabled: { type: 'boolean' },
    locale: { enum: [...SUPPORTED, null] },
    factors: {
      type: 'array',
      items: { type: 'object', properties: { type: { type: 'string' }, created_at: { type: 'string', format: 'date-time' }, last_used_at: { type: ['string', 'null'], format: 'date-time' } } },
    },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

const clientId = { name: 'client_id', in: 'path', required: true, schema: { type: 'string' } };
const sub = { name: 'sub', in: 'path', required: true, description: 'The user’s sub (or email address).', schema: { type: 'string' } };
const q = (name: string, description: string, schema: object = { type: 'string' }) => ({ name, in: 'query', required: false, description, schema });

export function openApiDocument(issuer: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera admin API',
      version: '1',
      description:
        `Manage clients, users and read security events. Authenticate with a bearer access token from the client-credentials grant ` +
        `(POST ${issuer}/token, scope ${ADMIN_SCOPE}) of a client an admin marked "tessera_admin_api": true from the CLI. ` +
        'Errors are RFC 9457 problem details. Every change is in the audit log with the calling client.',
    },
    servers: [{ url: `${issuer}/admin/api` }],
    security: [{ adminToken: [ADMIN_SCOPE] }],
    paths: {
      '/openapi.json': {
        get: { operationId: 'getOpenApi', summary: 'This document', security: [], responses: { '200': ok('The OpenAPI document.', { type: 'object' }) } },
      },
      '/clients': {
        get: { operationId: 'listClients', summary: 'List clients', responses: { '200': ok('Every client (no secrets).', { type: 'array', items: ref('Client') }), ...AUTH_ERRORS } },
        post: {
          operationId: 'createClient',
          summary: 'Register a client',
          requestBody: jsonBody(ref('ClientMetadata'), {
            client_name: 'Billing', redirect_uris: ['https://billing.example.com/callback'], post_logout_redirect_uris: ['https://billing.example.com/'],
            grant_types: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access', tessera_min_acr: 'urn:tessera:acr:mfa:sms',
          }),
          responses: { '201': ok('Created; client_secret is shown this once.', ref('Client')), ...INVALID, '409': problem('The client_id is taken.'), ...AUTH_ERRORS },
        },
      },
      '/clients/{client_id}': {
        parameters: [clientId],
        get: { operationId: 'getClient', summary: 'Show a client', responses: { '200': ok('The client (no secret).', ref('Client')), ...NOT_FOUND, ...AUTH_ERRORS } },
        patch: {
          operationId: 'updateClient',
          summary: 'Change a client (JSON merge patch: a null removes a field)',
          requestBody: jsonBody(ref('ClientMetadata'), { default_acr_values: ['urn:tessera:acr:mfa'], logo_uri: 'https://billing.example.com/logo.png' }, true, ['application/json', 'application/merge-patch+json']),
          responses: { ...AUTH_ERRORS, '200': ok('The changed client.', ref('Client')), ...INVALID, '403': problem(`A built-in client (type ${PROBLEMS.readOnly}), or a token without the admin right.`), ...NOT_FOUND },
        },
        delete: {
          operationId: 'deleteClient',
          summary: 'Delete a client',
          responses: { ...AUTH_ERRORS, '204': { description: 'Deleted.' }, ...NOT_FOUND, '403': problem(`A built-in client (type ${PROBLEMS.readOnly}), or a token without the admin right.`) },
        },
      },
      '/clients/{client_id}/secret': {
        parameters: [clientId],
        post: {
          operationId: 'rotateClientSecret',
          summary: 'Rotate the client secret',
          description: 'Issues a new secret (shown once). With grace_seconds the previous secret keeps working that long; without, it stops at once.',
          requestBody: jsonBody(ref('SecretRotation'), { grace_seconds: 3600 }, false),
          responses: { '200': ok('The client with its new client_secret.', ref('Client')), ...INVALID, ...NOT_FOUND, ...AUTH_ERRORS },
        },
      },
      '/users': {
        get: {
          operationId: 'listUsers',
          summary: 'List users',
          parameters: [q('limit', 'At most this many (1-1000, default 100).', { type: 'integer', minimum: 1, maximum: 1000 }), q('offset', 'Skip this many.', { type: 'integer', minimum: 0 })],
          responses: { '200': ok('Users, oldest first.', { type: 'array', items: ref('User') }), ...INVALID, ...AUTH_ERRORS },
        },
        post: {
          operationId: 'createUser',
          summary: 'Create a user (the registration rules apply)',
          requestBody: jsonBody(ref('UserCreate'), { email: 'ada@example.com', password: 'a long and private passphrase', name: 'Ada Lovelace', email_verified: true }),
          responses: { '201': ok('Created.', ref('User')), ...INVALID, ...AUTH_ERRORS },
        },
      },
      '/users/{sub}': {
        parameters: [sub],
        get: { operationId: 'getUser', summary: 'Show a user (never a secret)', responses: { '200': ok('The user.', ref('User')), ...NOT_FOUND, ...AUTH_ERRORS } },
        patch: {
          operationId: 'updateUser',
          summary: 'Change a user; disabled: true ends their sessions and tokens',
          requestBody: jsonBody(ref('UserUpdate'), { name: 'Ada King', disabled: false }, true, ['application/json', 'application/merge-patch+json']),
          responses: { '200': ok('The changed user.', ref('User')), ...INVALID, ...NOT_FOUND, ...AUTH_ERRORS },
        },
        delete: {
          operationId: 'deleteUser',
          summary: 'Delete a user (their sessions, tokens and consents end)',
          responses: { '204': { description: 'Deleted.' }, ...NOT_FOUND, ...AUTH_ERRORS },
        },
      },
      '/users/{sub}/reset-mfa': {
        parameters: [sub],
        post: {
          operationId: 'resetUserMfa',
          summary: 'Remove every second factor and recovery code (the user is emailed)',
          responses: {
            '200': ok('What was removed.', { type: 'object', properties: { reset: { const: true }, sub: { type: 'string' }, email: { type: 'string' }, removed: FACTOR_TYPES } }),
            ...NOT_FOUND,
            ...AUTH_ERRORS,
          },
        },
      },
      '/audit': {
        get: {
          operationId: 'listAuditEvents',
          summary: 'Security events, newest first',
          parameters: [
            q('type', 'Event type, e.g. login.failed, admin.client_created.'),
            q('account', 'A user’s sub or email.'),
            q('client', 'A client_id.'),
            q('ip', 'An IP address.'),
            q('since', 'ISO date/time, or a duration back from now (30m, 12h, 7d).'),
            q('until', 'ISO date/time, or a duration back from now.'),
            q('limit', 'At most this many (1-1000, default 100).', { type: 'integer', minimum: 1, maximum: 1000 }),
          ],
          responses: { '200': ok('Events.', { type: 'array', items: ref('AuditEvent') }), ...INVALID, ...AUTH_ERRORS },
        },
      },
    },
    components: {
      securitySchemes: {
        adminToken: {
          type: 'oauth2',
          description: `Client-credentials grant at ${issuer}/token with scope ${ADMIN_SCOPE}; send the access token as "Authorization: Bearer <token>".`,
          flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { [ADMIN_SCOPE]: 'Manage clients and users, read security events.' } } },
        },
      },
      schemas: {
        ClientMetadata: CLIENT_METADATA,
        Client: CLIENT,
        SecretRotation: {
          type: 'object',
          additionalProperties: false,
          properties: { grace_seconds: { type: 'integer', minimum: 0, maximum: MAX_GRACE_SECONDS, description: 'How long the previous secret still works (default 0).' } },
        },
        UserCreate: { type: 'object', additionalProperties: false, required: ['email', 'password', 'name'], properties: USER_FIELDS },
        UserUpdate: { type: 'object', additionalProperties: false, properties: { ...USER_FIELDS, disabled: { type: 'boolean', description: 'true ends every session and token of the user.' } } },
        User: USER,
        AuditEvent: {
          type: 'object',
          required: ['at', 'type'],
          properties: {
            at: { type: 'string', format: 'date-time' },
            type: { type: 'string' },
            account: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
            via: { enum: ['cli', 'console', 'api'], description: 'Admin actions: where they were made.' },
            admin: { type: 'string', description: 'Admin actions: the admin’s account id (console) or client id (API).' },
            client: { type: 'string' },
          },
          additionalProperties: true,
        },
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details.',
          required: ['type', 'title', 'status'],
          properties: {
            type: { type: 'string', format: 'uri-reference', examples: Object.values(PROBLEMS) },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            request_id: { type: 'string' },
            errors: {
              type: 'array',
              items: { type: 'object', required: ['field', 'detail'], properties: { field: { type: 'string' }, pointer: { type: 'string', description: 'JSON Pointer into the body.' }, detail: { type: 'string' } } },
            },
          },
        },
      },
    },
  };
}
