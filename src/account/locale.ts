// The language switcher's target on every hosted page: POST a language, it is remembered in this browser
// (and on the account when one is signed in, for its emails and texts), then back to a path on this site.
// Three paths, one per CSRF binding the switcher's form can carry (src/http/csrf.ts): an interaction's
// pages, the /account pages (the session), and every other page.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { field } from '../interaction/context.ts';
import { isSupported } from '../i18n/catalogue.ts';
import { rememberLocale, safeReturnPath } from '../http/locale.ts';

async function choose(s: Services, ctx: Context, back: string) {
  const lang = field(ctx, 'lang', 16);
  if (isSupported(lang)) {
    rememberLocale(ctx, lang);
    // Signed in (this browser's session): emails and texts follow the choice too.
    const session = await s.provider.Session.get(ctx as never);
    if (session?.accountId) {
      const account = await s.store.accounts.findById(session.accountId);
      if (account && account.locale !== lang) await s.store.accounts.update(account.id, { locale: lang });
    }
  }
  ctx.status = 303;
  ctx.redirect(back);
}

export function localeRouter(s: Services): Router {
  const r = new Router();
  r.post('/locale', (ctx) => choose(s, ctx, safeReturnPath(field(ctx, 'return_to', 1024)) ?? '/'));
  r.post('/account/locale', (ctx) => {
    const back = safeReturnPath(field(ctx, 'return_to', 1024));
    return choose(s, ctx, back && (back === '/account' || back.startsWith('/account/') || back.startsWith('/account?')) ? back : '/account');
  });
  // The interaction's own page shows whichever step the sign-in is at.
  r.post('/interaction/:uid/locale', (ctx) => choose(s, ctx, `/interaction/${encodeURIComponent(ctx.params.uid)}`));
  return r;
}
