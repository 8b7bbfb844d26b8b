// The language of the page being answered (src/i18n/negotiate.ts says in which order), read from the
// request once and kept on ctx.state; the switcher's cookie; the safe way back after switching.
import type { Context } from 'koa';
import { chooseLocale } from '../i18n/negotiate.ts';
import { SUPPORTED } from '../i18n/catalogue.ts';

export const LOCALE_COOKIE = 'tessera.locale';
const MAX_AGE_MS = 400 * 86_400_000; // the most browsers keep a cookie

interface LocaleState {
  locale?: string;
}

let defaultLocale = 'en';

/** Set once at start from config.i18n.defaultLocale (validated against the catalogues found). */
export function setDefaultLocale(locale: string) {
  defaultLocale = locale;
}

/**
 * The page's language. An oidc-provider page (error, logout) has its request's ui_locales in ctx.oidc;
 * an interaction page sets it with useInteractionLocale() once the interaction is loaded.
 */
export function pageLocale(ctx: Context): string {
  const state = (ctx.state ??= {}) as LocaleState;
  if (state.locale) return state.locale;
  const params = (ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params;
  state.locale = chooseLocale({
    uiLocales: typeof params?.ui_locales === 'string' ? params.ui_locales : null,
    cookie: ctx.cookies.get(LOCALE_COOKIE),
    acceptLanguage: ctx.get('accept-language'),
    supported: SUPPORTED,
    fallback: defaultLocale,
  });
  return state.locale;
}

/** An interaction page: its authorization request's ui_locales count first. */
export function useInteractionLocale(ctx: Context, params: Record<string, unknown>, requestedAt: number | undefined) {
  const state = (ctx.state ??= {}) as LocaleState;
  state.locale = chooseLocale({
    uiLocales: typeof params.ui_locales === 'string' ? params.ui_locales : null,
    requestedAt,
    cookie: ctx.cookies.get(LOCALE_COOKIE),
    acceptLanguage: ctx.get('accept-language'),
    supported: SUPPORTED,
    fallback: defaultLocale,
  });
}

/** The switcher's choice, remembered in this browser (with when it was made: see negotiate.ts). */
export function rememberLocale(ctx: Context, locale: string) {
  ctx.cookies.set(LOCALE_COOKIE, `${locale}.${Math.floor(Date.now() / 1000)}`, {
    httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: MAX_AGE_MS, overwrite: true, signed: false,
  });
  ((ctx.state ??= {}) as LocaleState).locale = locale;
}

/** A path on this site to go back to, or null: no scheme, no host, no `//` or `/\` (no open redirect). */
export function safeReturnPath(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 1024) return null;
  if (!/^\/(?![/\\])[^\s\\]*$/.test(value)) return null;
  return value;
}

/** Where the switcher on this page sends its choice (the form's CSRF binding follows the path) and where it comes back. */
export function switcherTarget(ctx: Context): { action: string; back: string } {
  const interaction = /^\/interaction\/([^/]+)/.exec(ctx.path);
  if (interaction) return { action: `/interaction/${interaction[1]}/locale`, back: `/interaction/${interaction[1]}` };
  if (ctx.path === '/account' || ctx.path.startsWith('/account/')) {
    return { action: '/account/locale', back: ctx.method === 'GET' ? ctx.originalUrl : '/account' };
  }
  return { action: '/locale', back: ctx.method === 'GET' && !ctx.path.startsWith('/session/') && !ctx.path.startsWith('/auth') ? ctx.originalUrl : '/' };
}
