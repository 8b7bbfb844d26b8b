// Client registration for admins: the CLI, the console and the admin API all come through here. Input is
// checked field by field (client-input.ts: one validation, errors naming the field), then by
// oidc-provider itself, so anything accepted here also loads in the provider. Every change is audited
// with who made it, and applies on this instance at once (on others within the provider's 1 s cache).
import type Provider from 'oidc-provider';
import type { ClientRecord, Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import { randomId } from '../secrets.ts';
import { ACCOUNT_CLIENT_ID } from '../account/client.ts';
import { clientPolicyOf, type ClientPolicy } from '../oidc/client-metadata.ts';
import { forgetClient } from '../oidc/provider.ts';
import { ClientInputError, fieldOfProviderMessage, metadataProblems, readClientInput, withGrantDefaults } from './client-input.ts';
import { ADMIN_CLIENT_ID } from '../console/client.ts';
import type { Actor } from './users.ts';

export { ClientInputError } from './client-input.ts';

/** Clients Tessera itself needs (the /account pages, the /admin console): shown, never changed or deleted by an admin. */
export const BUILT_IN_CLIENTS: ReadonlySet<string> = new Set([ACCOUNT_CLIENT_ID, ADMIN_CLIENT_ID]);

const CLIENT_ID = /^[A-Za-z0-9._~-]{3,100}$/;
// Fields the server owns: never taken from input (dropped, so a client's view can be sent back as an update).
const SERVER_OWNED = ['client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at', 'registration_access_token', 'registration_client_uri', 'previous_secret_expires_at'];
/** Longest grace period of a secret rotation: the old secret works at most this long after it. */
export const MAX_GRACE_SECONDS = 30 * 86_400;
// Without a policy registered with the provider: the strict one (https redirect URIs off loopback).
const STRICT: ClientPolicy = { production: true, acrValues: [] };
const CLI: Actor = { via: 'cli' };

export interface ClientView extends Record<string, unknown> {
  client_id: string;
  client_secret?: string;
}

export class ClientService {
  private readonly policy: ClientPolicy;

  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    private readonly provider: Provider,
    policy?: ClientPolicy,
  ) {
    this.policy = policy ?? clientPolicyOf(provider) ?? STRICT;
  }

  /** Tessera's checks (every problem at once, each naming its field), then oidc-provider's. */
  private async validate(clientId: string, metadata: Record<string, unknown>, secret: string | null) {
    const problems = metadataProblems(metadata, this.policy);
    if (problems.length) throw ClientInputError.of(problems);
    try {
      await this.provider.Client.validate({ ...metadata, client_id: clientId, ...(secret ? { client_secret: secret } : {}) } as never);
    } catch (err) {
      const e = err as { error_description?: string; message?: string };
      const message = e.error_description ?? e.message ?? 'invalid client metadata';
      const field = fieldOfProviderMessage(message);
      throw new ClientInputError(message, { field, errors: [{ field, message }] });
    }
  }

  private needsSecret(metadata: Record<string, unknown>): boolean {
    return (this.provider.Client as unknown as { needsSecret(m: Record<string, unknown>): boolean }).needsSecret({
      token_endpoint_auth_method: 'client_secret_basic',
      ...metadata,
    });
  }

  private async audit(type: string, clientId: string, by: Actor, detail: Record<string, unknown> = {}) {
    await this.store.audit.record({
      // The acting admin's account (console, API token's admin) is the event's account; CLI changes have none.
      type, accountId: by.adminId ?? null, ip: by.ip ?? null,
      detail: { via: by.via, ...(by.adminId ? { admin: by.adminId } : {}), ...(by.userAgent ? { ua: by.userAgent } : {}), client: clientId, ...detail },
    });
  }

  /** The changed client is seen by this instance's provider at once (by the others within a second). */
  private changed(clientId: string) {
    forgetClient(this.provider, clientId);
  }

  view(rec: ClientRecord, secret?: string): ClientView {
    const graceUntil = rec.previousSecret && rec.previousSecret.expiresAt.getTime() > Date.now() ? rec.previousSecret.expiresAt : null;
    return {
      client_id: rec.clientId,
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_id_issued_at: Math.floor(rec.createdAt.getTime() / 1000),
      ...rec.metadata,
      // While a rotation's grace period runs: when the previous secret stops working (epoch seconds).
      ...(graceUntil ? { previous_secret_expires_at: Math.floor(graceUntil.getTime() / 1000) } : {}),
    };
  }

  private async find(clientId: string): Promise<ClientRecord> {
    const rec = typeof clientId === 'string' && clientId.length <= 200 ? await this.store.clients.find(clientId) : null;
    if (!rec) throw new ClientInputError(`no client with client_id "${String(clientId).slice(0, 200)}"`, { code: 'not_found', field: 'client_id' });
    return rec;
  }

  /**
   * Registers a client; the returned view carries the secret, the only time it is shown. `by` says who
   * (audited; without it, the CLI); only an explicit CLI actor may mark a client tessera_admin_api.
   */
  async create(input: unknown, opts: { clientId?: string; secret?: string; by?: Actor; quiet?: boolean } = {}): Promise<ClientView> {
    const by = opts.by ?? CLI;
    const metadata = withGrantDefaults(Object.fromEntries(Object.entries(readClientInput(input, { fromCli: opts.by?.via === 'cli', serverOwned: SERVER_OWNED })).filter(([, v]) => v !== null)));
    const requestedId = (input as { client_id?: unknown }).client_id ?? opts.clientId;
    if (requestedId !== undefined && (typeof requestedId !== 'string' || !CLIENT_ID.test(requestedId)))
      throw new ClientInputError('client_id must be 3-100 characters of letters, digits, "." "_" "~" "-"', { field: 'client_id' });
    const clientId = (requestedId as string | undefined) ?? randomId(16);
    const secret = this.needsSecret(metadata) ? (opts.secret ?? randomId(32)) : null;
    await this.validate(clientId, metadata, secret);
    const now = new Date();
    const rec: ClientRecord = { clientId, metadata, secretEncrypted: secret ? this.box.encrypt(secret) : null, createdAt: now, updatedAt: now };
    try {
      await this.store.clients.create(rec);
    } catch {
      throw new ClientInputError(`a client with client_id "${clientId}" already exists`, { field: 'client_id', code: 'conflict' });
    }
    this.changed(clientId);
    if (!opts.quiet) await this.audit('admin.client_created', clientId, by, { client_name: metadata.client_name ?? null });
    return this.view(rec, secret ?? undefined);
  }

  /** Creates the client if missing (used for the development demo client); keeps an existing one. */
  async ensure(input: Record<string, unknown>): Promise<void> {
    const id = String(input.client_id);
    if (await this.store.clients.find(id)) return;
    await this.create(input, { clientId: id, secret: typeof input.client_secret === 'string' ? input.client_secret : undefined, quiet: true });
  }

  async list(): Promise<ClientView[]> {
    return (await this.store.clients.list()).map((c) => this.view(c));
  }

  async show(clientId: string): Promise<ClientView> {
    return this.view(await this.find(clientId));
  }

  /** Whether the client is one of Tessera's own (read-only; the console shows it without edit buttons). */
  isBuiltIn(clientId: string): boolean {
    return BUILT_IN_CLIENTS.has(clientId);
  }

  private refuseBuiltIn(clientId: string) {
    if (BUILT_IN_CLIENTS.has(clientId))
      throw new ClientInputError(`"${clientId}" is built in (Tessera's own pages): it can't be changed or deleted`, { field: 'client_id', code: 'read_only' });
  }

  /**
   * Merges the given metadata (null removes a field, as in JSON merge patch) and revalidates the result.
   * Only an explicit CLI actor may set tessera_admin_api.
   */
  async update(clientId: string, input: unknown, actor?: Actor): Promise<ClientView> {
    const by = actor ?? CLI;
    this.refuseBuiltIn(clientId);
    const rec = await this.find(clientId);
    const patch = readClientInput(input, { fromCli: actor?.via === 'cli', serverOwned: SERVER_OWNED });
    const metadata: Record<string, unknown> = { ...rec.metadata };
    for (const [k, v] of Object.entries(patch)) if (v === null) delete metadata[k]; else metadata[k] = v;
    let secret = rec.secretEncrypted ? this.box.decrypt(rec.secretEncrypted) : null;
    let issued: string | undefined;
    if (this.needsSecret(metadata) && !secret) secret = issued = randomId(32);
    if (!this.needsSecret(metadata)) secret = null;
    await this.validate(clientId, metadata, secret);
    const updated = await this.store.clients.update(clientId, {
      metadata,
      secretEncrypted: secret ? this.box.encrypt(secret) : null,
      // A client that became public has no secret, old or new.
      ...(secret ? {} : { previousSecret: null }),
    });
    if (!updated) throw new ClientInputError(`no client with client_id "${clientId}"`, { code: 'not_found', field: 'client_id' });
    this.changed(clientId);
    // `fields` as sent, `changed` those whose value really changed (a form sends every field).
    const changed = Object.keys(patch).filter((k) => JSON.stringify(rec.metadata[k] ?? null) !== JSON.stringify(patch[k] ?? null));
    await this.audit('admin.client_updated', clientId, by, { fields: Object.keys(patch), changed, ...(issued ? { secret_issued: true } : {}) });
    return this.view(updated, issued);
  }

  /**
   * A new secret, shown once. Without a grace period the old one stops working at once; with one, it keeps
   * authenticating until the grace ends (the client's deployments can switch meanwhile). A rotation during
   * a grace period replaces the older secret: only the one before the newest rotation is kept.
   */
  async rotateSecret(clientId: string, opts: { graceSeconds?: number; by?: Actor } = {}): Promise<ClientView> {
    const by = opts.by ?? CLI;
    const grace = opts.graceSeconds ?? 0;
    if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS)
      throw new ClientInputError(`grace_seconds must be a whole number of seconds from 0 to ${MAX_GRACE_SECONDS} (30 days)`, { field: 'grace_seconds' });
    this.refuseBuiltIn(clientId);
    const rec = await this.find(clientId);
    if (!rec.secretEncrypted) throw new ClientInputError('this client is public (token_endpoint_auth_method "none") and has no secret', { field: 'token_endpoint_auth_method' });
    const secret = randomId(32);
    const expiresAt = new Date(Date.now() + grace * 1000);
    const updated = await this.store.clients.update(clientId, {
      secretEncrypted: this.box.encrypt(secret),
      previousSecret: grace > 0 ? { encrypted: rec.secretEncrypted, expiresAt } : null,
    });
    if (!updated) throw new ClientInputError(`no client with client_id "${clientId}"`, { code: 'not_found', field: 'client_id' });
    this.changed(clientId);
    await this.audit('admin.client_secret_rotated', clientId, by, { grace_seconds: grace });
    return this.view(updated, secret);
  }

  async delete(clientId: string, by: Actor = CLI): Promise<void> {
    this.refuseBuiltIn(clientId);
    if (!(await this.store.clients.delete(clientId))) throw new ClientInputError(`no client with client_id "${clientId}"`, { code: 'not_found', field: 'client_id' });
    this.changed(clientId);
    await this.audit('admin.client_deleted', clientId, by);
  }
}
