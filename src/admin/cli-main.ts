// `npm run cli -- <client|user|keys> <command> [args] [--json]`
// Reads the same configuration as the server (same environment = same store). With --json, input
// comes as JSON on stdin (create/update) and output is one JSON document; errors exit with code 1.
import { loadConfig, ConfigError } from '../config.ts';
import { buildCore } from '../app.ts';
import { createProvider } from '../oidc/provider.ts';
import { AcrModel } from '../oidc/acr.ts';
import { ClientService, ClientInputError } from './clients.ts';
import { UserAdmin, type Actor } from './users.ts';
import { AccountService, FieldErrors } from '../accounts/service.ts';
import { LoginGuard, SmsGuard } from '../guard/limits.ts';
import { SecurityNotices } from '../notify/notices.ts';
import { createMailSender } from '../notify/mail.ts';
import { loadBranding } from '../branding/brand.ts';
import { mailBrand } from '../http/branding.ts';
import type { Config } from '../config.ts';
import type { Store } from '../store/ports.ts';
import { auditView, parseWhen } from './audit.ts';
import type { Logger } from '../log.ts';
import { createLogger } from '../log.ts';
import { KeyAdmin, KeyAdminError } from '../keys/admin.ts';
import { KeyRingError } from '../keys/rings.ts';

const USAGE = `Usage: npm run cli -- <command> [--json]

Clients
  client create --json                 RFC 7591 metadata as JSON on stdin; prints client_id and client_secret (shown once)
                                       an admin API client (only here): {"client_name":"Automation","grant_types":["client_credentials"],
                                        "scope":"tessera:admin","tessera_admin_api":true}
  client create --name NAME --redirect-uri URL [--redirect-uri URL] [--post-logout-redirect-uri URL] [--public] [--first-party]
  client list [--json]
  client show ID [--json]
  client update ID --json              metadata to merge, JSON on stdin (null removes a field), e.g.
                                       {"default_acr_values":["urn:tessera:acr:mfa:sms"],"tessera_min_acr":"urn:tessera:acr:mfa"}
  client rotate-secret ID [--grace SECONDS] [--json]
                                       a new secret (shown once); with --grace the old one still works that long (at most 30 days)
  client delete ID [--json]

Users
  user create --json                   {"email","password","name","phone_number"?,"email_verified"?,"phone_number_verified"?,
                                        "mfa"?:["sms"|"email"|"totp"],"totp_secret"?:BASE32,"preferred_mfa"?:"sms"|"email"|"totp"}
  user list [--json]
  user show SUB|EMAIL [--json]
  user update SUB|EMAIL --json         fields to change, JSON on stdin
  user delete SUB|EMAIL [--json]
  user unlock SUB|EMAIL [--json]       lift a password lockout (failure counts, delays, wrong-code caps); audited
  user reset-mfa SUB|EMAIL [--json]    remove every second factor and recovery code; audited, the user is emailed
  user grant-admin SUB|EMAIL [--json]  give the account the admin role (the console at /admin); only here
  user revoke-admin SUB|EMAIL [--json]
  user disable SUB|EMAIL [--json]      the account can't sign in; its sessions and tokens end now
  user enable SUB|EMAIL [--json]

Keys (README "Key rotation"; running servers take changes up within KEYS_REFRESH_SECONDS, no restart)
  keys list [--json]                   signing, cookie and data keys: ids, status, created, activates, retired, drop time, alg
  keys rotate [--json]                 new signing key: published now, signs from 2 x KEYS_REFRESH_SECONDS on; the old
                                       one stays published until every token it signed has expired, then is dropped
  keys rotate --cookie [--json]        new cookie key (store-kept keys; with COOKIE_SECRETS this explains how instead)
  keys rotate --data [--json]          new data key (store-kept keys), waits until every instance has it, then re-encrypts
  keys reencrypt [--dry-run] [--json]  encrypt stored client and authenticator secrets again under the current data key
  keys prune [--json]                  drop retired keys nothing needs any more (servers do this by themselves too)

Security events
  audit list [--since WHEN] [--until WHEN] [--type TYPE] [--account SUB|EMAIL] [--client ID] [--ip IP] [--limit N] [--json]
                                       newest first; WHEN is an ISO date/time or a duration back from now (30m, 12h, 7d)
`;

class UsageError extends Error {}

/** The CLI says so explicitly: only it may mark a client tessera_admin_api. */
const CLI_ACTOR: Actor = { via: 'cli' };

function when(text: string, flag: string): Date {
  const at = parseWhen(text);
  if (!at) throw new UsageError(`${flag} takes an ISO date/time (2026-12-01T08:00:00Z) or a duration such as 30m, 12h, 7d`);
  return at;
}

/**
 * Notices the CLI sends (e.g. after `user reset-mfa`): by SMTP when configured. The dev outbox lives in
 * the server's memory, so without SMTP the notice is only logged as not sent.
 */
function cliNotices(config: Config, store: Store, log: Logger) {
  const mail = config.mail.smtpUrl
    ? createMailSender({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, timeoutSeconds: config.mail.timeoutSeconds, outbox: null, log })
    : { send: async () => { throw new Error('no SMTP_URL configured (the dev outbox is the server’s)'); } };
  const sms = { send: async () => { throw new Error('the CLI sends no SMS'); } };
  const audit = async (type: string, accountId: string | null, ip: string | null, detail: Record<string, unknown> = {}) => store.audit.record({ type, accountId, ip, detail });
  return new SecurityNotices({ mail, sms, smsGuard: new SmsGuard(store, config.sms.limits), issuer: config.issuer, log, audit, brand: mailBrand(config.brand, loadBranding(config.brand), config.issuer), defaultLocale: config.i18n.defaultLocale });
}

async function readStdin(): Promise<unknown> {
  if (process.stdin.isTTY) throw new UsageError('--json expects a JSON document on stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) throw new UsageError('expected a JSON document on stdin, got nothing');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`stdin is not valid JSON: ${(err as Error).message}`);
  }
}

function flags(args: string[]) {
  const positional: string[] = [];
  const opts: Record<string, string[]> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) positional.push(a);
    else if (['--json', '--public', '--first-party', '--help', '--cookie', '--data', '--dry-run'].includes(a)) opts[a.slice(2)] = ['true'];
    else if (i + 1 >= args.length || args[i + 1].startsWith('--')) throw new UsageError(`${a} needs a value`);
    else (opts[a.slice(2)] ??= []).push(args[++i] ?? '');
  }
  return { positional, opts, json: Boolean(opts.json) };
}

function human(value: unknown): string {
  if (Array.isArray(value)) return value.map(human).join('\n\n') || '(none)';
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${k.padEnd(28)} ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join('\n');
}

/** Rows of equal-width columns, for lists a person reads (`keys list`). */
function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = [columns.map((c) => c.replace(/([A-Z])/g, ' $1').toUpperCase()), ...rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [noun, verb, ...rest] = argv;
  const { positional, opts, json } = flags(rest);
  if (!noun || (!verb && noun !== 'keys') || opts.help || noun === 'help') {
    process.stdout.write(USAGE);
    return noun ? 0 : 1;
  }
  const config = loadConfig();
  const log = createLogger('silent');
  const { store, keys, box } = await buildCore(config, { log });
  const keyAdmin = new KeyAdmin(store, config, keys);
  try {
    const noPage = async () => {};
    const provider = createProvider({ config, store, keys, box, acr: new AcrModel(config.acr), pages: { error: noPage, logoutConfirm: noPage, loggedOut: noPage } });
    const clients = new ClientService(store, box, provider);
    const users = new UserAdmin(store, config, new AccountService({ store, config, loginGuard: new LoginGuard(store, config.login) }), box, cliNotices(config, store, log));
    const id = () => {
      if (!positional[0]) throw new UsageError(`${noun} ${verb} needs an id`);
      return positional[0];
    };
    let out: unknown;
    let note = '';
    switch (`${noun} ${verb ?? 'list'}`) {
      case 'client create': {
        const input = json
          ? await readStdin()
          : {
              client_name: opts.name?.[0],
              redirect_uris: opts['redirect-uri'] ?? [],
              post_logout_redirect_uris: opts['post-logout-redirect-uri'],
              grant_types: ['authorization_code', 'refresh_token'],
              scope: opts.scope?.[0] ?? 'openid profile email phone offline_access',
              ...(opts.public ? { token_endpoint_auth_method: 'none' } : {}),
              ...(opts['first-party'] ? { tessera_first_party: true } : {}),
            };
        out = await clients.create(input, { by: CLI_ACTOR });
        note = (out as { client_secret?: string }).client_secret ? '\n\nStore the client_secret now: it is not shown again.' : '';
        break;
      }
      case 'client list': out = await clients.list(); break;
      case 'client show': out = await clients.show(id()); break;
      case 'client update': out = await clients.update(id(), await readStdin(), CLI_ACTOR); break;
      case 'client rotate-secret': {
        const grace = opts.grace?.[0];
        if (grace !== undefined && !/^\d{1,10}$/.test(grace)) throw new UsageError('--grace takes a whole number of seconds (e.g. 3600)');
        out = await clients.rotateSecret(id(), { graceSeconds: grace === undefined ? 0 : Number(grace), by: CLI_ACTOR });
        const until = (out as { previous_secret_expires_at?: number }).previous_secret_expires_at;
        note = `\n\nStore the new client_secret now: it is not shown again.${until ? `\nThe previous secret works until ${new Date(until * 1000).toISOString()}.` : '\nThe previous secret no longer works.'}`;
        break;
      }
      case 'client delete': await clients.delete(id()); out = { deleted: true, client_id: id() }; break;
      case 'user create': out = await users.create(await readStdin()); break;
      case 'user list': out = await users.list(); break;
      case 'user show': out = await users.show(id()); break;
      case 'user update': out = await users.update(id(), await readStdin()); break;
      case 'user delete': await users.delete(id()); out = { deleted: true, user: id() }; break;
      case 'user unlock': out = await users.unlock(id()); break;
      case 'user reset-mfa': out = await users.resetMfa(id()); break;
      case 'user grant-admin': out = await users.setAdmin(id(), true); break;
      case 'user revoke-admin': out = await users.setAdmin(id(), false); break;
      case 'user disable': out = await users.setDisabled(id(), true); break;
      case 'user enable': out = await users.setDisabled(id(), false); break;
      case 'audit list': {
        const account = opts.account?.[0];
        const sub = account ? (await users.show(account)).sub : undefined;
        const limit = opts.limit?.[0] ? Number(opts.limit[0]) : 100;
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
        const events = await store.audit.list({
          type: opts.type?.[0], accountId: sub, clientId: opts.client?.[0], ip: opts.ip?.[0],
          since: opts.since ? when(opts.since[0], '--since') : undefined, until: opts.until ? when(opts.until[0], '--until') : undefined, limit,
        });
        out = events.map(auditView);
        break;
      }
      case 'keys list': out = keyAdmin.list(); break;
      case 'keys rotate': {
        if (opts.cookie && opts.data) throw new UsageError('rotate one kind at a time: --cookie or --data');
        if (opts.data) {
          out = await keyAdmin.rotateData({
            onWait: (ms) => process.stderr.write(`Waiting ${Math.ceil(ms / 1000)} s until every instance has the new data key, then re-encrypting stored secrets…\n`),
          });
        } else out = opts.cookie ? await keyAdmin.rotateCookie() : await keyAdmin.rotateSigning();
        const r = out as { kind: string; id: string; activates: string; replaces: string; replacedDropAfter: string | null };
        note =
          `\n\nNew ${r.kind} key ${r.id} is ${r.kind === 'signing' ? 'published' : 'accepted'} now and ${r.kind === 'data' ? 'encrypts' : 'signs'} from ${r.activates}. ` +
          `Key ${r.replaces} stays ${r.kind === 'signing' ? 'published' : 'accepted'}` +
          (r.replacedDropAfter ? ` until ${r.replacedDropAfter}, when everything it signed has expired.` : ' until `keys prune` finds nothing needs it.');
        break;
      }
      case 'keys reencrypt': out = await keyAdmin.reencrypt({ dryRun: Boolean(opts['dry-run']) }); break;
      case 'keys prune': out = await keyAdmin.prune(); break;
      default:
        throw new UsageError(`unknown command "${noun} ${verb}"`);
    }
    const forPeople = noun === 'keys' && (verb ?? 'list') === 'list'
      ? table(out as Record<string, unknown>[], ['kind', 'status', 'id', 'alg', 'source', 'created', 'activates', 'retired', 'dropAfter'])
      : human(out);
    process.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : `${forPeople}${note}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const json = process.argv.includes('--json');
    let message: string;
    let fields: Record<string, string> | undefined;
    if (err instanceof FieldErrors) (message = err.message), (fields = err.fields);
    else if (err instanceof ClientInputError) {
      message = err.message;
      if (err.errors.length) fields = Object.fromEntries(err.errors.map((e) => [e.field, e.message]));
    } else if (err instanceof UsageError || err instanceof ConfigError || err instanceof KeyAdminError || err instanceof KeyRingError) message = err.message;
    else message = `unexpected error: ${(err as Error).message}`;
    if (json) process.stderr.write(`${JSON.stringify({ error: message, ...(fields ? { fields } : {}) })}\n`);
    else process.stderr.write(`Error: ${message}\n${err instanceof UsageError ? `\n${USAGE}` : ''}`);
    process.exit(1);
  },
);
