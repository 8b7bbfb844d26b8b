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

/**
 * `toAccount`: also store it on the signed-in account (its emails and texts follow). Only from forms whose
 * CSRF token is bound to this session or sign-in (/account, /interaction): /locale's token is bound to no
 * session, so a form planted from elsewhere could otherwise change what language a victim's mail is in.
 */
async function choose(s: Services, ctx: Context, back: string, toAccount: boolean) {
  const lang = field(ctx, 'lang', 16);
  if (isSupported(lang)) {
    rememberLocale(ctx, lang);
    const session = toAccount ? await s.provider.Session.get(ctx as never) : undefined;
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
  r.post('/locale', (ctx) => choose(s, ctx, safeReturnPath(field(ctx, 'return_to', 1024)) ?? '/', false));
  r.post('/account/locale', (ctx) => {
    const back = safeReturnPath(field(ctx, 'return_to', 1024));
    return choose(s, ctx, back && (back === '/account' || back.startsWith('/account/') || back.startsWith('/account?')) ? back : '/account', true);
  });
  // The interaction's own page shows whichever step the sign-in is at.
  r.post('/interaction/:uid/locale', (ctx) => choose(s, ctx, `/interaction/${encodeURIComponent(ctx.params.uid)}`, true));
  return r;
}
