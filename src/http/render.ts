// Renders pug views with the common locals (CSRF token, issuer, dev flags, the page's language and its
// translator `t`, the language switcher's target) and the headers every
// hosted page needs: strict CSP, no caching (pages show codes and personal data), HTML content type.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pug from 'pug';
import type { Context } from 'koa';
import { csrfToken } from './csrf.ts';
import { PAGE_CSP } from './security.ts';
import { pageLocale, switcherTarget } from './locale.ts';
import { SUPPORTED, translator, lookup } from '../i18n/catalogue.ts';

/** Each language's own name, for the switcher (from its catalogue's `locale.name`). */
const LANGUAGES = SUPPORTED.map((code) => ({ code, name: lookup(code, 'locale.name') ?? code }));

const VIEWS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'views');
const cache = new Map<string, pug.compileTemplate>();

export interface Renderer {
  (ctx: Context, view: string, locals?: Record<string, unknown>, status?: number): void;
}

export interface BrandLocals {
  logo: string | null;
  theme: string | null;
  support: { text: string; href: string | null } | null;
}

export function createRenderer(opts: { csrfKeys: readonly string[]; devOutbox: boolean; productName?: string; brand?: BrandLocals; cache: boolean }): Renderer {
  return (ctx, view, locals = {}, status = 200) => {
    let tpl = opts.cache ? cache.get(view) : undefined;
    if (!tpl) {
      tpl = pug.compileFile(path.join(VIEWS, `${view}.pug`), { cache: false });
      if (opts.cache) cache.set(view, tpl);
    }
    // The admin console (every page under /admin: its gate, errors and 403 too) is written in English only:
    // its pages say so (lang), their frame speaks it too, and they offer no language switcher.
    const adminArea = ctx.path === '/admin' || ctx.path.startsWith('/admin/');
    const locale = adminArea ? 'en' : pageLocale(ctx);
    const html = tpl({
      lang: locale,
      t: translator(locale),
      languages: LANGUAGES,
      switcher: adminArea ? null : switcherTarget(ctx),
      csrf: csrfToken(ctx, opts.csrfKeys),
      devOutbox: opts.devOutbox,
      product: opts.productName ?? 'Tessera',
      brandLogo: opts.brand?.logo ?? null,
      brandTheme: opts.brand?.theme ?? null,
      support: opts.brand?.support ?? null,
      errors: {},
      values: {},
      requestId: (ctx.state as { requestId?: string } | undefined)?.requestId ?? null,
      ...locals,
    });
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.set('Content-Security-Policy', PAGE_CSP);
    ctx.body = html;
  };
}
