// Client registration for admins (CLI, and the demo client at start). Metadata is RFC 7591 and is
// validated by oidc-provider itself, so anything accepted here also loads in the provider.
import type Provider from 'oidc-provider';
import type { ClientRecord, Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import { randomId } from '../secrets.ts';
import { ACCOUNT_CLIENT_ID } from '../account/client.ts';
import { ADMIN_CLIENT_ID } from '../console/client.ts';

/** Clients Tessera itself needs (the /account pages, the /admin console): shown, never changed or deleted by an admin. */
export const BUILT_IN_CLIENTS: ReadonlySet<string> = new Set([ACCOUNT_CLIENT_ID, ADMIN_CLIENT_ID]);

export class ClientInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientInputError';
  }
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{3,100}$/;
// Fields the server owns: never taken from input.
const SERVER_OWNED = ['client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at', 'registration_access_token', 'registration_client_uri'];

export interface ClientView extends Record<string, unknown> {
  client_id: string;
  client_secret?: string;
}

export class ClientService {
  constructor(private readonly store: Store, private readonly box: SecretBox, private readonly provider: Provider) {}

  private async validate(clientId: string, metadata: Record<string, unknown>, secret: string | null) {
    try {
      await this.provider.Client.validate({ ...metadata, client_id: clientId, ...(secret ? { client_secret: secret } : {}) } as never);
    } catch (err) {
      const e = err as { error_description?: string; message?: string };
      throw new ClientInputError(e.error_description ?? e.message ?? 'invalid client metadata');
    }
  }

  private needsSecret(metadata: Record<string, unknown>): boolean {
    return (this.provider.Client as unknown as { needsSecret(m: Record<string, unknown>): boolean }).needsSecret({
      token_endpoint_auth_method: 'client_secret_basic',
      ...metadata,
    });
  }

  private clean(input: unknown): Record<string, unknown> {
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw new ClientInputError('client metadata must be a JSON object');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input as Record<string, unknown>)) if (!SERVER_OWNED.includes(k) && v !== undefined) out[k] = v;
    return out;
  }

  view(rec: ClientRecord, secret?: string): ClientView {
    return {
      client_id: rec.clientId,
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_id_issued_at: Math.floor(rec.createdAt.getTime() / 1000),
      ...rec.metadata,
    };
  }

  /** Registers a client; the returned view carries the secret, the only time it is shown. */
  async create(input: unknown, opts: { clientId?: string; secret?: string } = {}): Promise<ClientView> {
    const metadata = this.clean(input);
    const requestedId = (input as { client_id?: unknown }).client_id ?? opts.clientId;
    if (requestedId !== undefined && (typeof requestedId !== 'string' || !CLIENT_ID.test(requestedId)))
      throw new ClientInputError('client_id must be 3-100 characters of letters, digits, "." "_" "~" "-"');
    const clientId = (requestedId as string | undefined) ?? randomId(16);
    const secret = this.needsSecret(metadata) ? (opts.secret ?? randomId(32)) : null;
    await this.validate(clientId, metadata, secret);
    const now = new Date();
    const rec: ClientRecord = { clientId, metadata, secretEncrypted: secret ? this.box.encrypt(secret) : null, createdAt: now, updatedAt: now };
    try {
      await this.store.clients.create(rec);
    } catch {
      throw new ClientInputError(`a client with client_id "${clientId}" already exists`);
    }
    return this.view(rec, secret ?? undefined);
  }

  /** Creates the client if missing (used for the development demo client); keeps an existing one. */
  async ensure(input: Record<string, unknown>): Promise<void> {
    const id = String(input.client_id);
    if (await this.store.clients.find(id)) return;
    await this.create(input, { clientId: id, secret: typeof input.client_secret === 'string' ? input.client_secret : undefined });
  }

  async list(): Promise<ClientView[]> {
    return (await this.store.clients.list()).map((c) => this.view(c));
  }

  async show(clientId: string): Promise<ClientView> {
    const rec = await this.store.clients.find(clientId);
    if (!rec) throw new ClientInputError(`no client with client_id "${clientId}"`);
    return this.view(rec);
  }

  private refuseBuiltIn(clientId: string) {
    if (BUILT_IN_CLIENTS.has(clientId)) throw new ClientInputError(`"${clientId}" is built in (Tessera's own pages): it can't be changed or deleted`);
  }

  /** Merges the given metadata (null removes a field) and revalidates the result. */
  async update(clientId: string, input: unknown): Promise<ClientView> {
    this.refuseBuiltIn(clientId);
    const rec = await this.store.clients.find(clientId);
    if (!rec) throw new ClientInputError(`no client with client_id "${clientId}"`);
    const patch = this.clean(input);
    const metadata: Record<string, unknown> = { ...rec.metadata };
    for (const [k, v] of Object.entries(patch)) if (v === null) delete metadata[k]; else metadata[k] = v;
    let secret = rec.secretEncrypted ? this.box.decrypt(rec.secretEncrypted) : null;
    let issued: string | undefined;
    if (this.needsSecret(metadata) && !secret) secret = issued = randomId(32);
    if (!this.needsSecret(metadata)) secret = null;
    await this.validate(clientId, metadata, secret);
    const updated = await this.store.clients.update(clientId, { metadata, secretEncrypted: secret ? this.box.encrypt(secret) : null });
    return this.view(updated!, issued);
  }

  async rotateSecret(clientId: string): Promise<ClientView> {
    this.refuseBuiltIn(clientId);
    const rec = await this.store.clients.find(clientId);
    if (!rec) throw new ClientInputError(`no client with client_id "${clientId}"`);
    if (!rec.secretEncrypted) throw new ClientInputError('this client is public (token_endpoint_auth_method "none") and has no secret');
    const secret = randomId(32);
    const updated = await this.store.clients.update(clientId, { secretEncrypted: this.box.encrypt(secret) });
    return this.view(updated!, secret);
  }

  async delete(clientId: string): Promise<void> {
    this.refuseBuiltIn(clientId);
    if (!(await this.store.clients.delete(clientId))) throw new ClientInputError(`no client with client_id "${clientId}"`);
  }
}
