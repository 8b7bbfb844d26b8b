// One typed configuration object: config/default.json, then config/<NODE_ENV>.json, then environment
// variables, validated with zod so a bad value stops the start with a message naming it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'config');

const url = (protocols: string[], what: string) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a ${what} URL (${protocols.join(' or ')})`);

const countryList = z.array(z.string().regex(/^[A-Z]{2}$/, 'must be ISO 3166 alpha-2 codes like GB'));

export const ConfigSchema = z
  .object({
    env: z.enum(['development', 'production', 'test']),
    port: z.coerce.number().int().min(0).max(65535),
    issuer: url(['http:', 'https:'], 'http(s)').nullable(),
    dataDir: z.string().min(1),
    mongodbUri: url(['mongodb:', 'mongodb+srv:'], 'MongoDB').nullable(),
    trustProxy: z.boolean(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    mail: z.object({ smtpUrl: url(['smtp:', 'smtps:'], 'SMTP').nullable(), from: z.string().min(3) }),
    sms: z.object({
      vonage: z.object({
        apiKey: z.string().min(1).nullable(),
        apiSecret: z.string().min(1).nullable(),
        from: z.string().min(1).max(15),
        restHost: url(['http:', 'https:'], 'http(s)').nullable(),
      }),
      defaultRegion: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code like US'),
      allowedCountries: countryList,
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
    }),
    login: z.object({
      maxFailuresPerAccount: z.number().int().min(1),
      maxFailuresPerIp: z.number().int().min(1),
      lockoutSeconds: z.number().int().min(1),
    }),
    acr: z.object({ oneFactor: z.string().min(1), mfa: z.string().min(1), mfaSms: z.string().min(1) }),
    mfa: z.object({ inlinePhoneEnrolment: z.boolean(), rememberBrowserDays: z.number().int().min(0) }),
    devOutbox: z.boolean().nullable(),
    secrets: z.object({
      cookieKeys: z.array(z.string().min(32, 'cookie secrets must be at least 32 characters')),
      dataKey: z.string().min(32, 'DATA_KEY must be at least 32 characters').nullable(),
    }),
    demoClient: z.record(z.string(), z.unknown()).nullable(),
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
  });

export type Config = z.infer<typeof ConfigSchema> & { issuer: string; devOutbox: boolean };

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
const int = (v: string) => (/^\d+$/.test(v) ? Number(v) : v); // non-numbers reach zod and get its message

/** Environment variables → config paths. README's configuration table mirrors this list. */
const ENV: Record<string, [string, (v: string) => unknown]> = {
  PORT: ['port', int],
  ISSUER: ['issuer', (v) => v.replace(/\/+$/, '')],
  DATA_DIR: ['dataDir', String],
  MONGODB_URI: ['mongodbUri', String],
  TRUST_PROXY: ['trustProxy', bool],
  LOG_LEVEL: ['logLevel', String],
  SMTP_URL: ['mail.smtpUrl', String],
  MAIL_FROM: ['mail.from', String],
  VONAGE_API_KEY: ['sms.vonage.apiKey', String],
  VONAGE_API_SECRET: ['sms.vonage.apiSecret', String],
  VONAGE_FROM: ['sms.vonage.from', String],
  VONAGE_REST_HOST: ['sms.vonage.restHost', (v) => v.replace(/\/+$/, '')],
  PHONE_DEFAULT_REGION: ['sms.defaultRegion', (v) => v.toUpperCase()],
  PHONE_ALLOWED_COUNTRIES: ['sms.allowedCountries', (v) => list(v.toUpperCase())],
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
  MFA_INLINE_PHONE_ENROLMENT: ['mfa.inlinePhoneEnrolment', bool],
  DEV_OUTBOX: ['devOutbox', bool],
  COOKIE_SECRETS: ['secrets.cookieKeys', list],
  DATA_KEY: ['secrets.dataKey', String],
  ACR_1FA: ['acr.oneFactor', String],
  ACR_MFA: ['acr.mfa', String],
  ACR_MFA_SMS: ['acr.mfaSms', String],
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
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const issuer = c.issuer ?? `http://localhost:${c.port}`;
  const devOutbox = c.devOutbox ?? c.env === 'development';
  return { ...c, issuer, devOutbox };
}
