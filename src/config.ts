// One typed configuration object: config/default.json, then config/<NODE_ENV>.json, then environment
// variables, validated with zod so a bad value stops the start with a message naming it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SUPPORTED as SUPPORTED_LOCALES } from './i18n/catalogue.ts';
import { DEFAULT_SMS_DENIED_PREFIXES, SMS_PREFIX_ENTRY, parseDeniedPrefixes } from './accounts/sms-ranges.ts';

const CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'config');

const url = (protocols: string[], what: string) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a ${what} URL (${protocols.join(' or ')})`);

// TRUSTED_PROXIES entries: an IPv4/IPv6 address or a CIDR range (10.0.0.0/8, fd00::/8).
function isAddressOrCidr(v: string): boolean {
  const [address, bits, ...rest] = v.split('/');
  const family = net.isIP(address);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}
// ALLOWED_HOSTS entries: a host name or IP literal with an optional port, as a Host header names it.
const HOST_PORT = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:\d{1,5})?$/i;

/** localhost, 127.0.0.0/8 or [::1]: only that machine can reach the issuer (dev conveniences are safe). */
export function isLoopbackIssuer(issuer: string): boolean {
  const host = new URL(issuer).hostname;
  return host === 'localhost' || host === '[::1]' || (net.isIPv4(host) && host.startsWith('127.'));
}

const countryList = z.array(z.string().regex(/^[A-Z]{2}$/, 'must be ISO 3166 alpha-2 codes like GB'));

export const ConfigSchema = z
  .object({
    env: z.enum(['development', 'production', 'test']),
    port: z.coerce.number().int().min(0).max(65535),
    issuer: url(['http:', 'https:'], 'http(s)').nullable(),
    dataDir: z.string().min(1),
    mongodbUri: url(['mongodb:', 'mongodb+srv:'], 'MongoDB').nullable(),
    // MongoDB waits and recovery (src/store/mongo/connection.ts); they win over the same options in
    // MONGODB_URI. The driver's own defaults wait 30 s for a server, so an outage held every request 30 s.
    mongodb: z
      .object({
        serverSelectionTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
        connectTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
        socketTimeoutMs: z.number().int().min(0).max(600_000).default(10_000), // 0 = no limit
        waitQueueTimeoutMs: z.number().int().min(0).max(120_000).default(5_000), // 0 = no limit
        // Unreachable this long (and again after each failed try): the connection is recreated.
        reconnectAfterMs: z.number().int().min(1_000).max(600_000).default(15_000),
      })
      .prefault({}),
    // Reverse proxies whose X-Forwarded-* headers are believed (src/http/proxy.ts); empty = none.
    trustedProxies: z.array(z.string().refine(isAddressOrCidr, 'must be IP addresses or CIDR ranges like 10.0.0.0/8 or fd00::/8')),
    // Host names besides the issuer's that requests may name (src/http/hosts.ts); any other gets a 400.
    allowedHosts: z.array(z.string().regex(HOST_PORT, 'must be host[:port] entries like id.example.com or id.example.com:8443')),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    // On SIGTERM/SIGINT, how long requests in flight may take to finish before they are cut (src/http/drain.ts).
    shutdownGraceSeconds: z.number().int().min(0).max(3600).default(10),
    // GET /metrics (src/http/metrics.ts): METRICS=off turns it off; with METRICS_TOKEN a scrape must send
    // it as a bearer token, without it only this machine may scrape.
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        token: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').regex(/^\S+$/, 'METRICS_TOKEN must not contain spaces').nullable().default(null),
      })
      .default({ enabled: true, token: null }),
    // The embedded store (SQLite in DATA_DIR, src/store/sqlite/): the id of a lost store to replace with a
    // new, empty one (TESSERA_INIT_STORE), and the longest the integrity check at start may take
    // (STORE_CHECK_SECONDS; 0 skips it).
    embeddedStore: z
      .object({
        initStore: z.string().min(1).nullable().default(null),
        checkSeconds: z.number().int().min(0).max(3600).default(10),
      })
      .prefault({}),
    // Security events (the audit log) older than this are deleted (hourly); 0 keeps them forever.
    auditRetentionDays: z.number().int().min(0).default(365),
    mail: z.object({
      smtpUrl: url(['smtp:', 'smtps:'], 'SMTP').nullable(),
      from: z.string().min(3),
      // Longest wait for the SMTP server to connect, greet and answer each command (SMTP_TIMEOUT_SECONDS).
      timeoutSeconds: z.number().int().min(1).max(300).default(10),
      // Code mails (confirmation, reset, sign-in codes by email), like the SMS caps: no mail cannon.
      limits: z.object({
        perAddressHourly: z.number().int().min(1),
        perAddressDaily: z.number().int().min(1),
        perIpHourly: z.number().int().min(1),
      }),
    }),
    sms: z.object({
      vonage: z.object({
        apiKey: z.string().min(1).nullable(),
        apiSecret: z.string().min(1).nullable(),
        from: z.string().min(1).max(15),
        restHost: url(['http:', 'https:'], 'http(s)').nullable(),
      }),
      // Longest wait for Vonage to accept a message (SMS_TIMEOUT_SECONDS); after it the step says it couldn't send.
      timeoutSeconds: z.number().int().min(1).max(300).default(10),
      defaultRegion: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code like US'),
      allowedCountries: countryList,
      // Number ranges never texted (toll fraud), src/accounts/sms-ranges.ts; SMS_DENIED_PREFIXES.
      deniedPrefixes: z
        .array(z.string().regex(SMS_PREFIX_ENTRY, 'must be E.164 prefixes like +881 (a leading ! makes an exception, like !+447624)'))
        .default([...DEFAULT_SMS_DENIED_PREFIXES]),
      limits: z.object({
        cooldownSeconds: z.number().int().min(0),
        perNumberHourly: z.number().int().min(1),
        perNumberDaily: z.number().int().min(1),
        perAccountHourly: z.number().int().min(1),
        perAccountDaily: z.number().int().min(1),
        perIpHourly: z.number().int().min(1),
        perIpDaily: z.number().int().min(1),
        globalDaily: z.number().int().min(1),
      }),
    }),
    codes: z.object({
      ttlSeconds: z.number().int().min(30),
      maxAttempts: z.number().int().min(1).max(20),
      length: z.number().int().min(6).max(10),
      maxWrongPerAccountDaily: z.number().int().min(1),
    }),
    // Password lockout (src/guard/limits.ts LoginGuard) and abuse caps on costly forms.
    login: z.object({
      maxFailuresPerAccount: z.number().int().min(1),
      accountWindowSeconds: z.number().int().min(1),
      maxFailuresPerIp: z.number().int().min(1),
      lockoutSeconds: z.number().int().min(1),
      delayAfterFailures: z.number().int().min(1),
      delaySeconds: z.number().int().min(1),
    }),
    limits: z.object({
      registration: z.object({ perIpHourly: z.number().int().min(1), globalHourly: z.number().int().min(1) }),
      passwordReset: z.object({ perIpHourly: z.number().int().min(1), globalHourly: z.number().int().min(1) }),
      passwordHashConcurrency: z.number().int().min(1).max(64),
    }),
    acr: z.object({
      oneFactor: z.string().min(1),
      mfa: z.string().min(1),
      mfaSms: z.string().min(1),
      // Replaces the three built-in ACRs (weakest first), each met by any one of its method combinations.
      policies: z
        .array(z.object({ value: z.string().min(1), anyOf: z.array(z.array(z.string().min(1)).min(1)).min(1) }))
        .nullable()
        .default(null),
    }),
    mfa: z.object({ inlinePhoneEnrolment: z.boolean(), rememberBrowserDays: z.number().int().min(0) }),
    devOutbox: z.boolean().nullable(), // null = on in development with a loopback issuer
    secrets: z.object({
      cookieKeys: z.array(z.string().min(32, 'cookie secrets must be at least 32 characters')),
      dataKey: z.string().min(32, 'DATA_KEY must be at least 32 characters').nullable(),
      // Older data keys, still read (decrypt, check hashes) while DATA_KEY writes: rotation (src/keys/).
      previousDataKeys: z.array(z.string().min(32, 'DATA_KEYS_PREVIOUS entries must be at least 32 characters')).default([]),
    }),
    // Key rotation (src/keys/): how often each instance reads the keys again from the store. A new key
    // made by `keys rotate` is published at once and used from twice this long after, when every
    // instance has it.
    keys: z.object({ refreshSeconds: z.number().int().min(1).max(3600).default(30) }).default({ refreshSeconds: 30 }),
    demoClient: z.record(z.string(), z.unknown()).nullable(), // its secret is published in the README
    demoClientEnabled: z.boolean().nullable(), // null = on in development with a loopback issuer
    // Security notices beyond the always-on ones (src/notify/notices.ts): a mail for a sign-in from a
    // browser the account hasn't used before (NOTIFY_NEW_BROWSER).
    notify: z.object({ newBrowser: z.boolean() }).default({ newBrowser: false }),
    // Refresh token reuse interval (src/oidc/refresh-reuse.ts): for this many seconds after a refresh token
    // was rotated, presenting it again returns its still-unused successor instead of revoking the grant
    // (a retry after a lost reply). 0 turns it off. REFRESH_TOKEN_REUSE_SECONDS.
    oidc: z
      .object({ refreshReuseSeconds: z.number().int().min(0).max(300).default(10) })
      .default({ refreshReuseSeconds: 10 }),
    // Branding of hosted pages, mails and texts (issue 15). The logo is a file Tessera reads and serves from
    // its own origin (BRAND_LOGO, a path to a PNG, JPEG, WebP or SVG), never a third-party URL in pages.
    brand: z
      .object({
        name: z.string().trim().min(1).max(40, 'BRAND_NAME must be at most 40 characters').default('Tessera'),
        logo: z.string().min(1).nullable().default(null),
        primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'BRAND_PRIMARY_COLOR must be a colour like #3346d3').default('#3346d3'),
        supportContact: z.string().trim().min(3).max(200).nullable().default(null), // an email address or a URL
      })
      .prefault({}),
    // Languages of hosted pages, mails and texts (issue 15): one catalogue per language in locales/; the
    // default speaks to a browser whose request names none of them.
    i18n: z
      .object({
        defaultLocale: z
          .string()
          .default('en')
          .refine((l) => SUPPORTED_LOCALES.includes(l), { message: `DEFAULT_LOCALE must be one of the catalogues in locales/ (${SUPPORTED_LOCALES.join(', ')})` }),
      })
      .prefault({}),
    tokens: z.object({
      accessTokenTtl: z.number().int().min(60),
      idTokenTtl: z.number().int().min(60),
      refreshTokenTtl: z.number().int().min(60),
      sessionTtl: z.number().int().min(60),
    }),
  })
  .superRefine((c, ctx) => {
    if (c.env !== 'production') return;
    if (!c.issuer) ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'ISSUER is required in production' });
    else if (!c.issuer.startsWith('https:') && !/^http:\/\/(localhost|127\.0\.0\.1)[:/]/.test(`${c.issuer}/`))
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'ISSUER must be https in production' });
    if (c.secrets.cookieKeys.length === 0)
      ctx.addIssue({ code: 'custom', path: ['secrets', 'cookieKeys'], message: 'COOKIE_SECRETS is required in production' });
    if (!c.secrets.dataKey) ctx.addIssue({ code: 'custom', path: ['secrets', 'dataKey'], message: 'DATA_KEY is required in production' });
    if (!c.mail.smtpUrl) ctx.addIssue({ code: 'custom', path: ['mail', 'smtpUrl'], message: 'SMTP_URL is required in production' });
  })
  .superRefine((c, ctx) => {
    if (c.secrets.previousDataKeys.length && !c.secrets.dataKey)
      ctx.addIssue({ code: 'custom', path: ['secrets', 'previousDataKeys'], message: 'DATA_KEYS_PREVIOUS needs DATA_KEY (the key that encrypts now)' });
  });

export type Config = z.infer<typeof ConfigSchema> & {
  issuer: string;
  devOutbox: boolean;
  demoClientEnabled: boolean;
  /** A dev convenience is on only because the issuer is on loopback: listen on loopback, outbox to loopback clients. */
  devLocalOnly: boolean;
  warnings: string[];
};

type Json = Record<string, unknown>;
function merge(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k] as Json, v as Json) : v;
  }
  return out;
}
function readJson(file: string): Json {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Json) : {};
}
const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
const bool = (v: string) => /^(1|true|yes|on)$/i.test(v);
const onOff = (v: string) => (/^(1|true|yes|on)$/i.test(v) ? true : /^(0|false|no|off)$/i.test(v) ? false : v); // others reach zod
const int = (v: string) => (/^\d+$/.test(v) ? Number(v) : v); // non-numbers reach zod and get its message

/** Environment variables → config paths. README's configuration table mirrors this list. */
const ENV: Record<string, [string, (v: string) => unknown]> = {
  PORT: ['port', int],
  ISSUER: ['issuer', (v) => v.replace(/\/+$/, '')],
  DATA_DIR: ['dataDir', String],
  MONGODB_URI: ['mongodbUri', String],
  MONGODB_SERVER_SELECTION_TIMEOUT_MS: ['mongodb.serverSelectionTimeoutMs', int],
  MONGODB_CONNECT_TIMEOUT_MS: ['mongodb.connectTimeoutMs', int],
  MONGODB_SOCKET_TIMEOUT_MS: ['mongodb.socketTimeoutMs', int],
  MONGODB_WAIT_QUEUE_TIMEOUT_MS: ['mongodb.waitQueueTimeoutMs', int],
  MONGODB_RECONNECT_AFTER_MS: ['mongodb.reconnectAfterMs', int],
  TRUSTED_PROXIES: ['trustedProxies', list],
  ALLOWED_HOSTS: ['allowedHosts', (v) => list(v.toLowerCase())],
  LOG_LEVEL: ['logLevel', String],
  SHUTDOWN_GRACE_SECONDS: ['shutdownGraceSeconds', int],
  METRICS: ['metrics.enabled', bool],
  METRICS_TOKEN: ['metrics.token', String],
  TESSERA_INIT_STORE: ['embeddedStore.initStore', (v) => v.trim()],
  STORE_CHECK_SECONDS: ['embeddedStore.checkSeconds', int],
  AUDIT_RETENTION_DAYS: ['auditRetentionDays', int],
  SMTP_URL: ['mail.smtpUrl', String],
  MAIL_FROM: ['mail.from', String],
  MAIL_PER_ADDRESS_HOURLY: ['mail.limits.perAddressHourly', int],
  MAIL_PER_ADDRESS_DAILY: ['mail.limits.perAddressDaily', int],
  MAIL_PER_IP_HOURLY: ['mail.limits.perIpHourly', int],
  SMTP_TIMEOUT_SECONDS: ['mail.timeoutSeconds', int],
  VONAGE_API_KEY: ['sms.vonage.apiKey', String],
  VONAGE_API_SECRET: ['sms.vonage.apiSecret', String],
  VONAGE_FROM: ['sms.vonage.from', String],
  VONAGE_REST_HOST: ['sms.vonage.restHost', (v) => v.replace(/\/+$/, '')],
  SMS_TIMEOUT_SECONDS: ['sms.timeoutSeconds', int],
  PHONE_DEFAULT_REGION: ['sms.defaultRegion', (v) => v.toUpperCase()],
  PHONE_ALLOWED_COUNTRIES: ['sms.allowedCountries', (v) => list(v.toUpperCase())],
  SMS_DENIED_PREFIXES: ['sms.deniedPrefixes', parseDeniedPrefixes],
  SMS_COOLDOWN_SECONDS: ['sms.limits.cooldownSeconds', int],
  SMS_PER_NUMBER_HOURLY: ['sms.limits.perNumberHourly', int],
  SMS_PER_NUMBER_DAILY: ['sms.limits.perNumberDaily', int],
  SMS_PER_ACCOUNT_HOURLY: ['sms.limits.perAccountHourly', int],
  SMS_PER_ACCOUNT_DAILY: ['sms.limits.perAccountDaily', int],
  SMS_PER_IP_HOURLY: ['sms.limits.perIpHourly', int],
  SMS_PER_IP_DAILY: ['sms.limits.perIpDaily', int],
  SMS_GLOBAL_DAILY: ['sms.limits.globalDaily', int],
  CODE_TTL_SECONDS: ['codes.ttlSeconds', int],
  CODE_MAX_ATTEMPTS: ['codes.maxAttempts', int],
  CODE_MAX_WRONG_PER_ACCOUNT_DAILY: ['codes.maxWrongPerAccountDaily', int],
  LOGIN_MAX_FAILURES_PER_ACCOUNT: ['login.maxFailuresPerAccount', int],
  LOGIN_ACCOUNT_WINDOW_SECONDS: ['login.accountWindowSeconds', int],
  LOGIN_MAX_FAILURES_PER_IP: ['login.maxFailuresPerIp', int],
  LOGIN_LOCKOUT_SECONDS: ['login.lockoutSeconds', int],
  LOGIN_DELAY_AFTER_FAILURES: ['login.delayAfterFailures', int],
  LOGIN_DELAY_SECONDS: ['login.delaySeconds', int],
  REGISTRATION_PER_IP_HOURLY: ['limits.registration.perIpHourly', int],
  REGISTRATION_GLOBAL_HOURLY: ['limits.registration.globalHourly', int],
  PASSWORD_RESET_PER_IP_HOURLY: ['limits.passwordReset.perIpHourly', int],
  PASSWORD_RESET_GLOBAL_HOURLY: ['limits.passwordReset.globalHourly', int],
  PASSWORD_HASH_CONCURRENCY: ['limits.passwordHashConcurrency', int],
  MFA_INLINE_PHONE_ENROLMENT: ['mfa.inlinePhoneEnrolment', bool],
  DEV_OUTBOX: ['devOutbox', bool],
  DEMO_CLIENT: ['demoClientEnabled', bool],
  COOKIE_SECRETS: ['secrets.cookieKeys', list],
  DATA_KEY: ['secrets.dataKey', String],
  DATA_KEYS_PREVIOUS: ['secrets.previousDataKeys', list],
  KEYS_REFRESH_SECONDS: ['keys.refreshSeconds', int],
  ACR_1FA: ['acr.oneFactor', String],
  ACR_MFA: ['acr.mfa', String],
  ACR_MFA_SMS: ['acr.mfaSms', String],
  NOTIFY_NEW_BROWSER: ['notify.newBrowser', onOff],
  REFRESH_TOKEN_REUSE_SECONDS: ['oidc.refreshReuseSeconds', int],
  BRAND_NAME: ['brand.name', String],
  BRAND_LOGO: ['brand.logo', String],
  BRAND_PRIMARY_COLOR: ['brand.primaryColor', String],
  BRAND_SUPPORT_CONTACT: ['brand.supportContact', String],
  DEFAULT_LOCALE: ['i18n.defaultLocale', String],
};

function setPath(obj: Json, dotted: string, value: unknown) {
  const keys = dotted.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Json;
  cur[keys[keys.length - 1]] = value;
}

export class ConfigError extends Error {}

/** Loads and validates; throws ConfigError listing every bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Json = {}): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  if (!['development', 'production', 'test'].includes(nodeEnv))
    throw new ConfigError(`NODE_ENV must be development, production or test (got "${nodeEnv}")`);
  let raw = merge(readJson(path.join(CONFIG_DIR, 'default.json')), readJson(path.join(CONFIG_DIR, `${nodeEnv}.json`)));
  raw.env = nodeEnv;
  for (const [name, [dotted, parse]] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, dotted, parse(v));
  }
  raw = merge(raw, overrides);
  // TRUST_PROXY believed X-Forwarded-* from any client (anyone could pick their own IP for the per-IP
  // limits): refuse to start rather than silently ignore a deployment's setting.
  if ((env.TRUST_PROXY !== undefined && env.TRUST_PROXY !== '') || raw.trustProxy !== undefined)
    throw new ConfigError(
      'TRUST_PROXY (trustProxy) is no longer supported: it trusted X-Forwarded-* headers from any client. ' +
        'Set TRUSTED_PROXIES to the addresses of your reverse proxies instead (comma-separated IPs or CIDR ranges, e.g. TRUSTED_PROXIES=10.0.0.0/8), or leave it unset when no proxy is in front.',
    );
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const issuer = c.issuer ?? `http://localhost:${c.port}`;
  return { ...c, issuer, ...devConveniences(c.env, issuer, c.devOutbox, c.demoClientEnabled) };
}

/**
 * The dev outbox (every code readable at /dev/outbox) and the demo client (a README-published secret)
 * are safe only where nobody else can reach the server: on by default in development with a loopback
 * issuer, otherwise only when asked for by name (DEV_OUTBOX / DEMO_CLIENT), with warnings to log at start.
 */
export function devConveniences(env: Config['env'], issuer: string, devOutbox: boolean | null, demoClient: boolean | null) {
  const loopback = isLoopbackIssuer(issuer);
  const auto = env === 'development' && loopback;
  const warnings: string[] = [];
  if (env === 'development' && !loopback)
    warnings.push(
      `Development mode (NODE_ENV unset or development) with ISSUER ${issuer}, which is not on loopback: set NODE_ENV=production for a deployment. ` +
        'The dev outbox and the demo client stay off unless DEV_OUTBOX / DEMO_CLIENT turn them on.',
    );
  if (devOutbox === true && !loopback)
    warnings.push(`DEV_OUTBOX is on with ISSUER ${issuer}: every email and SMS code can be read by anyone at ${issuer}/dev/outbox.`);
  if (demoClient === true && !loopback)
    warnings.push(`DEMO_CLIENT is on with ISSUER ${issuer}: the demo client's secret is published, so anyone can use it as that client.`);
  // Turned on by the loopback issuer alone (not by name): the server must be reachable from this machine only.
  const devLocalOnly = auto && (devOutbox === null || demoClient === null);
  return { devOutbox: devOutbox ?? auto, demoClientEnabled: demoClient ?? auto, devLocalOnly, warnings };
}

/**
 * The address to listen on: every interface (undefined), except while a dev convenience is on only
 * because the issuer is on loopback. Then the loopback address of the issuer's family, so nobody else on
 * the network can read /dev/outbox or use the demo client by sending "Host: localhost".
 */
export function listenHost(config: Pick<Config, 'issuer' | 'devLocalOnly'>): string | undefined {
  if (!config.devLocalOnly) return undefined;
  return new URL(config.issuer).hostname === '[::1]' ? '::1' : '127.0.0.1';
}
