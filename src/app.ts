// Composes Tessera: store → keys → services → provider → koa app with Tessera's pages in front of the
// mounted oidc-provider (which owns every protocol endpoint).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import mount from 'koa-mount';
import compose from 'koa-compose';
import serve from 'koa-static';
import { bodyParser } from '@koa/bodyparser';
import Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Store } from './store/ports.ts';
import { openStore } from './store/open.ts';
import { createLogger, type Logger } from './log.ts';
import { loadKeys, followKeys } from './oidc/keys.ts';
import { DevOutbox } from './notify/outbox.ts';
import { createMailSender } from './notify/mail.ts';
import { createSmsSender } from './notify/sms.ts';
import { SecurityNotices } from './notify/notices.ts';
import { SmsGuard, EmailGuard, LoginGuard, FormGuard } from './guard/limits.ts';
import { AccountUnlock } from './guard/unlock.ts';
import { setHashConcurrency } from './accounts/passwords.ts';
import { AcrModel } from './oidc/acr.ts';
import { createRenderer } from './http/render.ts';
import { setDefaultLocale } from './http/locale.ts';
import { localeRouter } from './account/locale.ts';
import { createProvider, type ProviderPages } from './oidc/provider.ts';
import type { RefreshReuseReport } from './oidc/refresh-reuse.ts';
import { AccountService } from './accounts/service.ts';
import { ChallengeEngine } from './challenges/engine.ts';
import { RecoveryCodes } from './factors/recovery/codes.ts';
import { createFactorRegistry } from './factors/index.ts';
import { front } from './http/front.ts';
import { verifyCsrf, csrfSessionBinding } from './http/csrf.ts';
import { readSigned } from './http/signed-cookie.ts';
import { TrustedProxies, applyForwarding } from './http/proxy.ts';
import { AllowedHosts } from './http/hosts.ts';
import { HEALTH_PATHS, Readiness, healthRoutes, startRequest, accessLog, requestLog } from './http/ops.ts';
import { METRICS_PATH, HttpMetrics, metricsRoute } from './http/metrics.ts';
import { Metrics } from './ops/metrics.ts';
import { instrumentStore } from './ops/store-metrics.ts';
import { watchProviderErrors } from './oidc/events.ts';
import { describeStoreError } from './store/unavailable.ts';
import { interactionRouter } from './interaction/routes.ts';
import { accountRouter } from './account/routes.ts';
import { recordBrowserSightings } from './account/devices.ts';
import { publicRouter } from './accounts/routes.ts';
import { unlockRouter } from './accounts/unlock-routes.ts';
import { ensureAccountClient } from './account/client.ts';
import { ensureAdminClient } from './console/client.ts';
import { adminRouter } from './console/routes.ts';
import { ClientService } from './admin/clients.ts';
import { syncDemoClient } from './admin/demo-client.ts';
import { adminApi, isAdminApiPath } from './admin-api/index.ts';
import type { Services } from './services.ts';
import { loadBranding } from './branding/brand.ts';
import { ClientLogos } from './branding/client-logos.ts';
import { brandingRoutes, brandUrls, isBrandingPath, mailBrand } from './http/branding.ts';

const PUBLIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'public');
const FORM_PREFIXES = ['/unlock', '/interaction/', '/account', '/admin', '/locale'];
const PAGE_PREFIXES = ['/unlock', '/interaction/', '/account', '/admin', '/email/', '/dev/', '/static/', '/locale'];
// The admin API is JSON with bearer tokens: not a page, not a form (it has its own chain).
const NOT_PAGES = ['/admin/api'];
const under = (p: string, prefixes: string[]) => prefixes.some((prefix) => p.startsWith(prefix));
const isPagePath = (p: string) => p === '/' || p === '/favicon.ico' || (under(p, PAGE_PREFIXES) && !under(p, NOT_PAGES));

// What a person can act on, by OAuth error; the protocol detail is shown below it for the app's developer.
// Catalogue keys (locales/*.json): the page shows them in its language.
const FRIENDLY_ERRORS: Record<string, string> = {
  invalid_client: 'error.oauth.invalid_client',
  invalid_redirect_uri: 'error.oauth.invalid_redirect_uri',
  invalid_request: 'error.oauth.invalid_request',
  session_not_found: 'error.expired',
  invalid_token: 'error.oauth.invalid_token',
  temporarily_unavailable: 'error.oauth.temporarily_unavailable',
};

export interface Built {
  app: Koa;
  services: Services;
  close(): Promise<void>;
}

/** Everything but the store and provider, which the CLI needs too. */
export async function buildCore(config: Config, opts: { store?: Store; log?: Logger } = {}) {
  const log = opts.log ?? createLogger(config.logLevel);
  const store = opts.store ?? (await openStore(config, log));
  const keys = await loadKeys(store, config, log);
  return { log, store, keys, box: keys.box };
}

export async function buildApp(config: Config, opts: { store?: Store; log?: Logger } = {}): Promise<Built> {
  const log = opts.log ?? createLogger(config.logLevel);
  // The brand logo is read and checked first: a bad BRAND_LOGO stops the start before the store is touched.
  const branding = loadBranding(config.brand);
  if (branding.notice) log.warn({ event: 'config.brand_color_adjusted' }, branding.notice);
  const opened = opts.store ?? (await openStore(config, log));
  // The server's claim on the store (the embedded one: its lock, integrity check and artifact index)
  // before anything reads it: a second server or a damaged file stops the start here, clearly.
  try {
    await opened.claimForServer();
  } catch (err) {
    if (!opts.store) await opened.close().catch(() => undefined);
    throw err;
  }
  // Store operations are measured only when /metrics is served (src/ops/store-metrics.ts).
  const metrics = new Metrics();
  const store = config.metrics.enabled ? instrumentStore(opened, metrics) : opened;
  const { keys, box } = await buildCore(config, { store, log });
  // /readyz, and the watch that logs a lost store even when nothing probes it (src/http/ops.ts).
  const readiness = new Readiness({ store, log, keysLoaded: () => keys.jwks.keys.length > 0 });
  const storeUnavailable = (err: unknown) => readiness.storeError(err);
  const outbox = config.devOutbox
    ? new DevOutbox((m) => log.info({ event: 'dev.outbox', channel: m.channel, to: m.to, text: m.text }, `dev outbox: ${m.channel} to ${m.to}`))
    : null;
  const mail = createMailSender({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, timeoutSeconds: config.mail.timeoutSeconds, outbox, log });
  const sms = createSmsSender({ vonage: config.sms.vonage, timeoutSeconds: config.sms.timeoutSeconds, outbox, log });
  const acr = new AcrModel(config.acr);
  setDefaultLocale(config.i18n.defaultLocale);
  const render = createRenderer({
    csrfKeys: keys.cookieKeys, devOutbox: Boolean(outbox), productName: branding.name, cache: config.env !== 'development',
    brand: { ...brandUrls(branding), support: branding.support },
  });
  // Client logos are fetched from loopback only by a test or development server whose issuer is on loopback.
  const issuerHost = new URL(config.issuer).hostname;
  const clientLogos = new ClientLogos({
    allowLoopback: config.env !== 'production' && (issuerHost === 'localhost' || /^127\./.test(issuerHost) || issuerHost === '[::1]'),
    onRefused: (url, reason) => log.info({ event: 'client_logo.refused', url: url.slice(0, 200), reason }, 'client logo not shown'),
  });
  const audit: Services['audit'] = async (type, accountId, ip, detail = {}) => {
    await store.audit.record({ type, accountId, ip, detail });
    if (/refused|failed|unmet/.test(type)) log.warn({ event: type, accountId, ip, ...detail }, 'security event');
  };

  const pages: ProviderPages = {
    async error(ctx, out) {
      const message = FRIENDLY_ERRORS[out.error] ?? 'error.oauth.invalid_request';
      const status = (ctx as { status: number }).status >= 400 ? (ctx as { status: number }).status : 400;
      render(ctx as never, 'error', { title: 'error.signIn', message, code: out.error, detail: out.error_description }, status);
    },
    async logoutConfirm(ctx, form) {
      const client = ctx.oidc.client;
      render(ctx as never, 'logout', { form, appName: client ? String(client.metadata().client_name ?? client.clientId) : null });
    },
    async loggedOut(ctx) {
      render(ctx as never, 'logged-out', { appName: ctx.oidc.client ? String(ctx.oidc.client.metadata().client_name ?? '') : null });
    },
  };
  // A retry within the refresh reuse interval (src/oidc/refresh-reuse.ts): logged and audited, no token in either.
  const onRefreshReuse: RefreshReuseReport = (event, ctx, accountId, detail) => {
    const what = event === 'refresh.reused_within_interval' ? 'its unused successor handed out again' : 'no successor was saved (a rotation cut between its writes): rotated now';
    requestLog(ctx as unknown as Koa.Context, log).info({ event, accountId, ...detail }, `refresh token presented again within the reuse interval: ${what}`);
    store.audit.record({ type: event, accountId, ip: ctx.ip || null, detail }).catch((err) => log.warn({ err, event }, 'audit record failed'));
  };
  const provider = createProvider({
    config, store, keys, box, acr, pages, onRefreshReuse,
    onStoreUnavailable: (err) => {
      const ctx = Provider.ctx; // the oidc-provider request it happened in
      (ctx ? requestLog(ctx as unknown as Koa.Context, log) : log).error({ event: 'store.unavailable', reason: describeStoreError(err) }, 'request failed: store unavailable');
      storeUnavailable(err);
    },
  });
  watchProviderErrors(provider, log, metrics);
  // Rotations made by the CLI or another instance are taken up from the store while running (src/keys/).
  followKeys(provider, keys);
  keys.start();
  const smsGuard = new SmsGuard(store, config.sms.limits);
  const brandForMail = mailBrand(config.brand, branding, config.issuer);
  const challenges = new ChallengeEngine({ store, box, mail, sms, smsGuard, emailGuard: new EmailGuard(store, config.mail.limits), config, log, audit, metrics, brand: brandForMail });
  const notices = new SecurityNotices({ mail, sms, smsGuard, issuer: config.issuer, log, audit, brand: brandForMail, defaultLocale: config.i18n.defaultLocale });
  setHashConcurrency(config.limits.passwordHashConcurrency);
  const loginGuard = new LoginGuard(store, config.login);
  const unlock = new AccountUnlock({ store, config, challenges, loginGuard, audit, log });
  const accounts = new AccountService({ store, config, loginGuard, unlock });
  const recovery = new RecoveryCodes(store, box);
  const services: Services = {
    config, store, log, provider, acr, render, outbox, box, audit, challenges, notices, metrics, cookieKeys: keys.cookieKeys, clientLogos,
    accounts,
    unlock,
    guards: new FormGuard(store, config.limits),
    recovery,
    factors: createFactorRegistry({ store, box, challenges, accounts, recovery, issuerLabel: new URL(config.issuer).host }),
  };

  recordBrowserSightings(services, provider);
  await ensureAccountClient(store, config.issuer, branding.name);
  await ensureAdminClient(store, config.issuer, branding.name);
  await syncDemoClient({ enabled: config.demoClientEnabled, definition: config.demoClient, clients: new ClientService(store, box, provider), store, box, log });

  const app = new Koa();
  app.keys = keys.cookieKeys; // must equal the provider's cookie keys (field notes): the same live array
  // Koa believes X-Forwarded-* only with proxies configured; applyForwarding (first thing below) strips
  // them from every peer that isn't one of those proxies.
  const proxies = new TrustedProxies(config.trustedProxies);
  const hosts = new AllowedHosts(config.issuer, config.allowedHosts);
  const sessionCookie = (provider as unknown as { cookieName(type: string): string }).cookieName('session');
  app.proxy = proxies.any;
  // The response (token, redirect, page) goes out only once the request's artifact writes are durable;
  // the embedded store commits concurrent requests' writes together meanwhile.
  const httpMetrics = config.metrics.enabled ? new HttpMetrics(metrics) : null;
  const common = front({ hsts: config.issuer.startsWith('https:'), render, log, durably: (fn) => store.oidc.durably(fn), onError: storeUnavailable, metrics: httpMetrics });
  // Health and static files write nothing: they neither wait for other requests' commits nor fail with them.
  const readOnly = front({ hsts: config.issuer.startsWith('https:'), render, log, metrics: httpMetrics });
  const parse = bodyParser({ enableTypes: ['form'], formLimit: '32kb', encoding: 'utf-8' });
  const csrf = verifyCsrf(keys.cookieKeys);
  const forms: Koa.Middleware = async (ctx, next) => {
    if (ctx.method === 'POST' && under(ctx.path, FORM_PREFIXES) && !under(ctx.path, NOT_PAGES)) {
      if (!ctx.is('application/x-www-form-urlencoded')) ctx.throw(415, 'Forms must be sent as application/x-www-form-urlencoded.');
      return parse(ctx, () => csrf(ctx, next));
    }
    return next();
  };
  const routers = [publicRouter(services), unlockRouter(services), localeRouter(services), interactionRouter(services), accountRouter(services), adminRouter(services)];
  const toProvider = mount(provider);
  // Tessera's own pages (and their static files) live under a few prefixes and get the page chain; every
  // other path (token, userinfo, jwks, discovery, auth, ...) goes straight to the provider: the token
  // path stays three middleware short of it.
  const brandingChain = compose([
    readOnly,
    brandingRoutes({
      branding,
      logos: clientLogos,
      async clientLogoUri(id) {
        const uri = (await store.clients.find(id))?.metadata.logo_uri;
        return typeof uri === 'string' ? uri : null;
      },
    }),
  ] as Koa.Middleware[]);
  const statics = compose([readOnly, mount('/static', serve(PUBLIC, { maxage: 3600_000, gzip: false }))] as Koa.Middleware[]);
  const pageChain = compose([
    common,
    csrfSessionBinding(async (ctx) => {
      const id = readSigned(ctx, sessionCookie)?.value;
      return id ? (await provider.Session.find(id))?.uid : undefined;
    }),
    forms,
    ...routers.flatMap((r) => [r.routes(), r.allowedMethods()]),
    toProvider,
  ] as Koa.Middleware[]);
  const protocol = compose([common, toProvider]);
  // /healthz and /readyz: through the host check and the front frame, past pages, CSRF and the provider.
  readiness.startWatch();
  const health = compose([readOnly, healthRoutes(readiness)] as Koa.Middleware[]);
  // /metrics: like the health endpoints, past pages, CSRF and the provider; who may scrape: src/http/metrics.ts.
  if (config.metrics.enabled) metrics.collectProcessMetrics();
  const scrape = config.metrics.enabled ? compose([common, metricsRoute({ metrics, token: config.metrics.token })] as Koa.Middleware[]) : null;
  // /admin/api: its own chain, before the pages (the console under /admin is one): bearer tokens, JSON
  // bodies, problem details; no cookies, so no CSRF check applies (src/admin-api/index.ts).
  const api = compose([common, adminApi(services)] as Koa.Middleware[]);
  // One frame in front of both chains: forwarded headers per TRUSTED_PROXIES, then the host check, which
  // answers a foreign Host before discovery or any page could put it in a URL.
  // Discovery gets Cache-Control: no-cache: relying parties cache it on their own terms anyway, and a
  // shared cache in front must ask again each time rather than serve a stored copy (should one ever have
  // been made from a bad request, it can't outlive it; a configuration change is seen at once).
  // Every request gets its id here (src/http/ops.ts) and one access log line when it's answered.
  // Not an async frame: each one is a promise that pays oidc-provider's async hook on the token path
  // (bench/, issue #4); the access line and discovery's header are written by the front frame (http/front.ts).
  app.use((ctx, next) => {
    const id = startRequest(ctx, applyForwarding(ctx, proxies));
    if (!hosts.allows(ctx) || !hosts.originForm(ctx)) {
      hosts.refuse(ctx);
      accessLog(log, ctx, id);
      httpMetrics?.observe(ctx);
      return;
    }
    if (HEALTH_PATHS.has(ctx.path)) return health(ctx, next);
    if (isAdminApiPath(ctx.path)) return api(ctx, next);
    if (scrape && ctx.path === METRICS_PATH) return scrape(ctx, next);
    if (ctx.path.startsWith('/static/')) return statics(ctx, next);
    if (isBrandingPath(ctx.path)) return brandingChain(ctx, next);
    if (isPagePath(ctx.path)) return pageChain(ctx, next);
    return protocol(ctx, next);
  });

  // Every minute: the embedded store's artifact index lives in memory, and codes and interactions expire
  // within minutes of being made.
  const purge = setInterval(() => store.purgeExpired().catch((err) => log.warn({ err }, 'purge failed')), 60_000);
  purge.unref();
  // Hourly: security events past AUDIT_RETENTION_DAYS.
  const retention = setInterval(() => {
    if (config.auditRetentionDays > 0)
      store.audit.deleteBefore(new Date(Date.now() - config.auditRetentionDays * 86_400_000)).catch((err) => log.warn({ err }, 'audit retention failed'));
  }, 3600_000);
  retention.unref();
  return {
    app,
    services,
    async close() {
      clearInterval(purge);
      keys.stop();
      clearInterval(retention);
      readiness.stopWatch();
      await store.close();
    },
  };
}
