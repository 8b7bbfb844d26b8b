// /admin/users — search accounts by email, name or phone; see one account's profile, factors and
// verification state (never a secret), sessions and connected apps; act on it through UserAdmin (the
// domain layer the CLI and the API use): disable/enable, unlock, sign out everywhere, force a password
// reset, reset two-step sign-in, delete. Destructive actions are confirmed on a page of their own.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import { UserAdmin, userView, ADMIN_ROLE } from '../admin/users.ts';
import { LoginGuard } from '../guard/limits.ts';
import { connectedApps } from '../account/apps.ts';
import { browserLabel } from '../notify/user-agent.ts';
import { scopeWords } from '../interaction/consent.ts';
import { recoveryCodesLeft, secondFactors } from '../factors/records.ts';
import { NotFound } from '../errors.ts';
import { AMR } from '../oidc/acr.ts';

/** What a session's amr values mean, in words. */
const METHOD_WORDS: Record<string, string> = {
  [AMR.password]: 'Password', [AMR.sms]: 'SMS code', [AMR.totp]: 'Authenticator app', [AMR.email]: 'Email code', [AMR.recovery]: 'Recovery code',
};
import type { Console, ConsoleAdmin } from './routes.ts';

interface Action {
  /** The confirmation page's words; absent = no confirmation (harmless to repeat). */
  confirm?: { title: (a: AccountRecord) => string; message: string; button: string; danger?: boolean };
  /** Not on the admin's own account (it would shut them out of the console). */
  notSelf?: boolean;
  run(users: UserAdmin, a: AccountRecord, admin: ConsoleAdmin): Promise<unknown>;
  done: string;
}

const ACTIONS: Record<string, Action> = {
  disable: {
    confirm: {
      title: (a) => `Disable ${a.email}?`,
      message: 'They are signed out everywhere at once, every app’s tokens of theirs stop working, and they can’t sign in until the account is enabled again.',
      button: 'Disable account', danger: true,
    },
    notSelf: true,
    run: (u, a, admin) => u.setDisabled(a.id, true, admin.actor),
    done: 'The account was disabled and signed out everywhere.',
  },
  enable: { run: (u, a, admin) => u.setDisabled(a.id, false, admin.actor), done: 'The account was enabled: it can sign in again.' },
  unlock: { run: (u, a, admin) => u.unlock(a.id, admin.actor), done: 'Sign-in was unlocked: wrong-password and wrong-code counts start again from zero.' },
  'sign-out': {
    confirm: {
      title: (a) => `Sign ${a.email} out everywhere?`,
      message: 'Every browser session ends and every app’s tokens of theirs stop working. They can sign in again at once.',
      button: 'Sign out everywhere',
    },
    notSelf: true,
    run: (u, a, admin) => u.endSessions(a.id, admin.actor),
    done: 'They were signed out everywhere.',
  },
  'reset-password': {
    confirm: {
      title: (a) => `Make ${a.email} choose a new password?`,
      message: 'Their current password stops working at once, they are signed out everywhere, and we email them how to choose a new one (“Forgot your password?” on the sign-in page, with a code sent to their address).',
      button: 'Force a password reset', danger: true,
    },
    notSelf: true,
    run: (u, a, admin) => u.forcePasswordReset(a.id, admin.actor),
    done: 'Their password no longer works; they were signed out and emailed how to choose a new one.',
  },
  'reset-mfa': {
    confirm: {
      title: (a) => `Reset two-step sign-in of ${a.email}?`,
      message: 'Every second step (authenticator app, SMS, email codes) and every recovery code is removed, for someone who lost them all. They sign in with the password alone until they set them up again, and we email them about it.',
      button: 'Reset two-step sign-in', danger: true,
    },
    notSelf: true,
    run: (u, a, admin) => u.resetMfa(a.id, admin.actor),
    done: 'Two-step sign-in was reset; they were emailed about it.',
  },
  delete: {
    confirm: {
      title: (a) => `Delete ${a.email}?`,
      message: 'The account, its sessions, tokens, consents and factors are removed for good. Apps that know this user keep only what they stored themselves.',
      button: 'Delete account', danger: true,
    },
    notSelf: true,
    run: (u, a, admin) => u.delete(a.id, admin.actor),
    done: 'The account was deleted.',
  },
};

interface SessionPayload {
  uid: string;
  loginTs?: number;
  iat?: number;
  amr?: string[];
}

export function userRoutes(s: Services, r: Router, c: Console) {
  const users = new UserAdmin(s.store, s.config, s.accounts, s.box, s.notices);
  const loginGuard = new LoginGuard(s.store, s.config.login);

  const load = async (ctx: Context): Promise<AccountRecord> => {
    const a = await s.store.accounts.findById(String(ctx.params.sub));
    if (!a) throw new NotFound('There is no account with this id. It may have been deleted.');
    return a;
  };

  const row = (a: AccountRecord) => ({
    sub: a.id, name: a.name, email: a.email, phone: a.phoneNumber, admin: (a.roles ?? []).includes(ADMIN_ROLE), disabled: Boolean(a.disabled),
    factors: secondFactors(a.factors).map((t) => s.factors.get(t).name),
  });

  r.get('/users', c.guard(async (ctx, admin) => {
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().slice(0, 200) : '';
    const LIMIT = 50;
    const found = q ? await s.store.accounts.search(q, { limit: LIMIT + 1 }) : await s.store.accounts.list({ limit: LIMIT + 1 });
    c.view(ctx, admin, 'users', {
      title: 'Users', section: 'users', q, users: found.slice(0, LIMIT).map(row), more: found.length > LIMIT,
      notice: ctx.query.done === 'deleted' ? ACTIONS.delete.done : undefined,
    });
  }));

  const page = async (ctx: Context, admin: ConsoleAdmin, a: AccountRecord, extra: Record<string, unknown> = {}, status = 200) => {
    const sessions = (await s.store.oidc.findByAccount('Session', a.id)) as unknown as SessionPayload[];
    const rows = await Promise.all(sessions.map(async (p) => {
      const seen = await s.store.browsers.find(p.uid);
      return {
        browser: browserLabel(seen?.userAgent),
        userAgent: seen?.userAgent ?? null,
        ip: seen?.ip ?? null,
        signedIn: p.loginTs ? new Date(p.loginTs * 1000) : null,
        lastSeen: seen?.lastSeenAt ?? (p.iat ? new Date(p.iat * 1000) : null),
        proved: (p.amr ?? []).filter((m) => m !== AMR.mfa).map((m) => METHOD_WORDS[m] ?? m),
      };
    }));
    rows.sort((x, y) => (y.lastSeen?.getTime() ?? 0) - (x.lastSeen?.getTime() ?? 0));
    const apps = (await connectedApps(s, a)).map((app) => ({ ...app, scopeText: app.scopes.filter((sc) => sc !== 'openid').map(scopeWords) }));
    const view = userView(a);
    c.view(ctx, admin, 'user', {
      title: a.name || a.email, section: 'users', user: view, self: a.id === admin.account.id,
      factorRows: a.factors.filter((f) => f.type !== 'recovery').map((f) => ({ name: s.factors.get(f.type).name, createdAt: f.createdAt, lastUsedAt: f.lastUsedAt ?? null })),
      recoveryLeft: recoveryCodesLeft(a.factors),
      preferred: a.preferredMfa ? s.factors.get(a.preferredMfa).name : null,
      lockout: await loginGuard.accountFailures(a.email),
      sessions: rows, apps,
      ...extra,
    }, status);
  };

  r.get('/users/:sub', c.guard(async (ctx, admin) => {
    const a = await load(ctx);
    // Looking at someone's personal data is recorded too.
    await c.audit('admin.user_viewed', a.id, admin);
    const done = typeof ctx.query.done === 'string' && Object.hasOwn(ACTIONS, ctx.query.done) ? ACTIONS[ctx.query.done].done : undefined;
    return page(ctx, admin, a, { notice: done });
  }));

  r.get('/users/:sub/:action', c.guard(async (ctx, admin) => {
    const action = Object.hasOwn(ACTIONS, String(ctx.params.action)) ? ACTIONS[String(ctx.params.action)] : undefined;
    if (!action?.confirm) throw new NotFound();
    const a = await load(ctx);
    if (action.notSelf && a.id === admin.account.id) return page(ctx, admin, a, { errors: { form: 'Not on your own account: use your account page, or the CLI.' } }, 400);
    c.view(ctx, admin, 'confirm', {
      title: action.confirm.title(a), section: 'users', danger: action.confirm.danger, message: action.confirm.message,
      action: `/admin/users/${encodeURIComponent(a.id)}/${ctx.params.action}`, button: action.confirm.button, cancel: `/admin/users/${encodeURIComponent(a.id)}`,
    });
  }));

  r.post('/users/:sub/:action', c.guard(async (ctx, admin) => {
    const name = String(ctx.params.action);
    const action = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
    if (!action) throw new NotFound();
    const a = await load(ctx);
    if (action.notSelf && a.id === admin.account.id) return page(ctx, admin, a, { errors: { form: 'Not on your own account: use your account page, or the CLI.' } }, 400);
    await action.run(users, a, admin);
    if (name === 'delete') return ctx.redirect('/admin/users?done=deleted');
    ctx.redirect(`/admin/users/${encodeURIComponent(a.id)}?done=${name}`);
  }));
}
