// /admin/clients — the relying parties: list and search, create, view, edit, rotate the secret (shown
// once), delete. ClientService does the validation (the same as the CLI's and the API's); a failure is
// shown next to the field it names, and nothing is saved. Built-in clients are shown read-only.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { BUILT_IN_CLIENTS, ClientInputError, ClientService, type ClientView } from '../admin/clients.ts';
import { ADMIN_API, FIRST_PARTY, INTROSPECT_ANY, MIN_ACR } from '../oidc/client-metadata.ts';
import { NotFound } from '../errors.ts';
import type { Console, ConsoleAdmin } from './routes.ts';
import {
  AUTH_METHODS, EMPTY_FORM, FORM_FIELDS, GRANT_TYPES, acrLabel, fieldOfError, formFromMetadata, metadataFromForm, minimumChoices, readClientForm,
  type ClientForm,
} from './client-form.ts';

/** Set only from the CLI (the admin API's own access); shown, never offered in the form. */
// How long a rotated secret keeps working (Keycloak-style rotation): a fixed list, so a form can't ask for more.
const GRACE_CHOICES = [
  { value: '0', label: 'No: it stops working now' },
  { value: '3600', label: 'For 1 hour' },
  { value: '86400', label: 'For 1 day' },
  { value: '604800', label: 'For 7 days' },
];

const DONE: Record<string, string> = {
  saved: 'The client was saved. The change applies on every instance within a second.',
  deleted: 'The client was deleted.',
};

function body(ctx: Context): Record<string, unknown> {
  return ((ctx.request as { body?: unknown }).body as Record<string, unknown> | undefined) ?? {};
}

/** The client's metadata in words for the pages (never the secret: ClientView only has it right after it was made). */
function describe(s: Services, v: ClientView) {
  const str = (x: unknown) => (typeof x === 'string' ? x : '');
  const list = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
  const method = str(v.token_endpoint_auth_method) || 'client_secret_basic';
  const known = new Set<string>([...FORM_FIELDS, 'client_id', 'client_id_issued_at', 'client_secret', 'client_secret_expires_at', 'response_types', ADMIN_API, INTROSPECT_ANY]);
  return {
    id: v.client_id,
    name: str(v.client_name) || v.client_id,
    builtIn: BUILT_IN_CLIENTS.has(v.client_id),
    publicClient: method === 'none',
    method,
    methodLabel: AUTH_METHODS.find((m) => m.value === method)?.label ?? method,
    redirectUris: list(v.redirect_uris),
    postLogoutUris: list(v.post_logout_redirect_uris),
    grants: Array.isArray(v.grant_types) ? list(v.grant_types) : ['authorization_code'], // oidc-provider's default when absent
    scope: str(v.scope),
    firstParty: v[FIRST_PARTY] === true,
    minimum: str(v[MIN_ACR]) ? acrLabel(str(v[MIN_ACR]), s.config.acr) : null,
    defaultAcr: list(v.default_acr_values).map((x) => acrLabel(x, s.config.acr)),
    logoUri: str(v.logo_uri),
    policyUri: str(v.policy_uri),
    tosUri: str(v.tos_uri),
    adminApi: v[ADMIN_API] === true,
    introspectAny: v[INTROSPECT_ANY] === true,
    created: typeof v.client_id_issued_at === 'number' ? new Date(v.client_id_issued_at * 1000) : null,
    other: Object.entries(v).filter(([k]) => !known.has(k)).map(([k, x]) => ({ key: k, value: JSON.stringify(x) })),
  };
}

export function clientRoutes(s: Services, r: Router, c: Console) {
  const clients = new ClientService(s.store, s.box, s.provider);

  const find = async (id: string): Promise<ClientView> => {
    try {
      return await clients.show(id);
    } catch (err) {
      if (err instanceof ClientInputError) throw new NotFound('There is no client with this client_id.');
      throw err;
    }
  };

  const formPage = (ctx: Context, admin: ConsoleAdmin, opts: { mode: 'create' | 'update'; form: ClientForm; id?: string; errors?: Record<string, string> }, status = 200) =>
    c.view(ctx, admin, 'client-form', {
      title: opts.mode === 'create' ? 'New client' : `Edit ${opts.form.client_name || opts.id}`,
      section: 'clients',
      mode: opts.mode,
      clientId: opts.id,
      form: opts.form,
      errors: opts.errors ?? {},
      grantTypes: GRANT_TYPES,
      authMethods: AUTH_METHODS,
      minimums: minimumChoices(s.acr, s.config.acr),
      acrChoices: [{ value: '', label: 'None (the app’s own request decides)' }, ...s.acr.values.map((v) => ({ value: v, label: `${acrLabel(v, s.config.acr)} (${v})` }))],
    }, status);

  /** The secret, shown once: right after it was made (a new client, a rotation, a public client made confidential). */
  const secretPage = (ctx: Context, admin: ConsoleAdmin, v: ClientView, why: 'created' | 'rotated' | 'issued') =>
    c.view(ctx, admin, 'client-secret', { title: why === 'created' ? 'Client created' : 'New client secret', section: 'clients', why, client: describe(s, v), secret: v.client_secret });

  /** A refused save: the error next to its field (or at the top), the form as it was sent. */
  const refused = (ctx: Context, admin: ConsoleAdmin, mode: 'create' | 'update', form: ClientForm, err: ClientInputError, id?: string) => {
    const field = fieldOfError(err as ClientInputError & { field?: unknown });
    return formPage(ctx, admin, { mode, form, id, errors: { [field]: err.message } }, 400);
  };

  r.get('/clients', c.guard(async (ctx, admin) => {
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().slice(0, 200) : '';
    const all = (await clients.list()).map((v) => describe(s, v));
    const needle = q.toLowerCase();
    const shown = needle ? all.filter((x) => x.id.toLowerCase().includes(needle) || x.name.toLowerCase().includes(needle) || x.redirectUris.some((u) => u.toLowerCase().includes(needle))) : all;
    c.view(ctx, admin, 'clients', {
      title: 'Clients', section: 'clients', q, clients: shown, total: all.length,
      notice: typeof ctx.query.done === 'string' ? DONE[ctx.query.done] : undefined,
    });
  }));

  r.get('/clients/new', c.guard((ctx, admin) => formPage(ctx, admin, { mode: 'create', form: EMPTY_FORM })));

  r.post('/clients', c.guard(async (ctx, admin) => {
    const { form, errors } = readClientForm(body(ctx));
    if (Object.keys(errors).length) return formPage(ctx, admin, { mode: 'create', form, errors }, 400);
    let created: ClientView;
    try {
      created = await clients.create(metadataFromForm(form, 'create'), { by: admin.actor });
    } catch (err) {
      if (err instanceof ClientInputError) return refused(ctx, admin, 'create', form, err);
      throw err;
    }
    if (created.client_secret) return secretPage(ctx, admin, created, 'created');
    ctx.redirect(`/admin/clients/${encodeURIComponent(created.client_id)}?done=saved`);
  }));

  r.get('/clients/:id', c.guard(async (ctx, admin) => {
    const v = await find(ctx.params.id);
    c.view(ctx, admin, 'client', {
      title: describe(s, v).name, section: 'clients', client: describe(s, v),
      notice: typeof ctx.query.done === 'string' ? DONE[ctx.query.done] : undefined,
    });
  }));

  const editable = (handler: (ctx: Context, admin: ConsoleAdmin, v: ClientView) => Promise<void> | void) => c.guard(async (ctx, admin) => {
    const v = await find(ctx.params.id);
    if (BUILT_IN_CLIENTS.has(v.client_id)) {
      return c.view(ctx, admin, 'client', {
        title: describe(s, v).name, section: 'clients', client: describe(s, v),
        errors: { form: 'This client is built in (the identity service’s own pages): it can’t be changed or deleted.' },
      }, 400);
    }
    return handler(ctx, admin, v);
  });

  r.get('/clients/:id/edit', editable((ctx, admin, v) => formPage(ctx, admin, { mode: 'update', form: formFromMetadata(v), id: v.client_id })));

  r.post('/clients/:id', editable(async (ctx, admin, v) => {
    const { form, errors } = readClientForm(body(ctx));
    form.client_id = v.client_id;
    if (Object.keys(errors).length) return formPage(ctx, admin, { mode: 'update', form, id: v.client_id, errors }, 400);
    const patch = metadataFromForm(form, 'update');
    let updated: ClientView;
    try {
      updated = await clients.update(v.client_id, patch, admin.actor); // audited there, with the admin as actor
    } catch (err) {
      if (err instanceof ClientInputError) return refused(ctx, admin, 'update', form, err, v.client_id);
      throw err;
    }
    // A public client made confidential was given a secret just now: its only showing.
    if (updated.client_secret) return secretPage(ctx, admin, updated, 'issued');
    ctx.redirect(`/admin/clients/${encodeURIComponent(v.client_id)}?done=saved`);
  }));

  // Rotation and deletion are confirmed on a page of their own (no JavaScript dialogs).
  r.get('/clients/:id/secret', editable((ctx, admin, v) => {
    const d = describe(s, v);
    if (d.publicClient) return c.view(ctx, admin, 'client', { title: d.name, section: 'clients', client: d, errors: { form: 'A public client has no secret.' } }, 400);
    c.view(ctx, admin, 'confirm', {
      title: `New secret for ${d.name}?`, section: 'clients',
      message: 'A new secret is made and shown once. Put it into the app; choose how long the current secret keeps working meanwhile (without a grace period it stops at once, on every instance within a second).',
      graceChoices: GRACE_CHOICES,
      action: `/admin/clients/${encodeURIComponent(v.client_id)}/secret`, button: 'Make a new secret', cancel: `/admin/clients/${encodeURIComponent(v.client_id)}`,
    });
  }));
  r.post('/clients/:id/secret', editable(async (ctx, admin, v) => {
    let rotated: ClientView;
    try {
      const grace = String(body(ctx).grace_seconds ?? '0');
      if (!GRACE_CHOICES.some((g) => g.value === grace)) throw new ClientInputError('Choose how long the current secret keeps working.', { field: 'grace_seconds' });
      rotated = await clients.rotateSecret(v.client_id, { graceSeconds: Number(grace), by: admin.actor });
    } catch (err) {
      if (err instanceof ClientInputError) return c.view(ctx, admin, 'client', { title: describe(s, v).name, section: 'clients', client: describe(s, v), errors: { form: err.message } }, 400);
      throw err;
    }
    secretPage(ctx, admin, rotated, 'rotated');
  }));

  r.get('/clients/:id/delete', editable((ctx, admin, v) => {
    const d = describe(s, v);
    c.view(ctx, admin, 'confirm', {
      title: `Delete ${d.name}?`, section: 'clients', danger: true,
      message: 'Nobody can sign in to this app any more, and its tokens stop working. This can’t be undone: registering it again gives it a new client_id and secret.',
      action: `/admin/clients/${encodeURIComponent(v.client_id)}/delete`, button: 'Delete client', cancel: `/admin/clients/${encodeURIComponent(v.client_id)}`,
    });
  }));
  r.post('/clients/:id/delete', editable(async (ctx, admin, v) => {
    try {
      await clients.delete(v.client_id, admin.actor);
    } catch (err) {
      if (err instanceof ClientInputError) throw new NotFound('There is no client with this client_id.');
      throw err;
    }
    ctx.redirect('/admin/clients?done=deleted');
  }));
}
