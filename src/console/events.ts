// /admin/events — the security events (audit log), newest first, filtered by type, account (email or
// sub), client, IP and time range, a page at a time ("Older" continues from the oldest shown).
import type Router from '@koa/router';
import type { Services } from '../services.ts';
import type { AuditEvent, AuditFilter } from '../store/ports.ts';
import type { Console } from './routes.ts';
import { describeUserAgent } from '../notify/user-agent.ts';

const PAGE = 50;

/** Offered as suggestions in the type filter (any other value can be typed). */
export const EVENT_TYPES = [
  'login.succeeded', 'login.failed', 'login.unmet', 'login.unlocked', 'mfa.failed', 'mfa.enabled', 'mfa.disabled', 'code.wrong', 'code.refused',
  'sms.sent', 'sms.refused', 'password.changed', 'password.reset', 'password.reset_requested', 'reauth.failed', 'session.revoked', 'app.revoked',
  'mfa.succeeded', 'consent.granted', 'notice.sent', 'account.registered', 'account.deleted', 'admin.user_viewed', 'admin.user_disabled', 'admin.user_enabled', 'admin.user_unlocked',
  'admin.sessions_ended', 'admin.password_reset_forced', 'admin.mfa_reset', 'admin.user_deleted', 'admin.client_created',
  'admin.client_updated', 'admin.client_secret_rotated', 'admin.client_deleted', 'admin.role_granted', 'admin.role_revoked',
];

/** Failure or success, from the event's name (every refusal, failure or wrong answer is named so). */
export function outcomeOf(type: string): 'failure' | 'success' {
  return /(^|[._])(failed|refused|unmet|wrong|denied|throttled)($|[._])|_failed$/.test(type) ? 'failure' : 'success';
}

export interface EventQuery {
  values: { type: string; account: string; client: string; ip: string; since: string; until: string };
  /** The "older" cursor: events at or before this time (ISO, milliseconds). */
  before: Date | null;
  errors: Record<string, string>;
}

/** A time typed in the filter, read as UTC ("2026-12-02T10:00", seconds optional, or a full ISO time). */
export function parseUtc(v: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?))?Z?$/.exec(v.trim());
  if (!m) return null;
  const d = new Date(`${m[1]}T${m[2] ?? '00:00'}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function readEventQuery(query: Record<string, unknown>): EventQuery {
  const str = (k: string, max = 200) => (typeof query[k] === 'string' ? (query[k] as string).trim().slice(0, max) : '');
  const values = { type: str('type', 100), account: str('account', 320), client: str('client', 100), ip: str('ip', 100), since: str('since', 40), until: str('until', 40) };
  const errors: Record<string, string> = {};
  for (const k of ['since', 'until'] as const) if (values[k] && !parseUtc(values[k])) errors[k] = 'Use a date and time like 2026-12-02T14:30 (UTC).';
  const before = str('before', 40) ? parseUtc(str('before', 40)) : null;
  return { values, before, errors };
}

/**
 * One page of events, and the cursor of the next (older) page. The page ends between two different
 * milliseconds, so "older" (at or before its time) repeats and skips nothing; only a page full of events
 * of one and the same millisecond can't, and then goes on just before it.
 */
export function pageOf(rows: AuditEvent[], size: number): { events: AuditEvent[]; older: Date | null } {
  if (rows.length <= size) return { events: rows, older: null };
  const boundary = rows[size].at.getTime();
  const events = rows.slice(0, size).filter((e) => e.at.getTime() > boundary);
  if (events.length) return { events, older: new Date(boundary) };
  return { events: rows.slice(0, size), older: new Date(boundary - 1) };
}

const fmt = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19);

export function eventRoutes(s: Services, r: Router, c: Console) {
  r.get('/events', c.guard(async (ctx, admin) => {
    const q = readEventQuery(ctx.query as Record<string, unknown>);
    const filter: AuditFilter = { limit: PAGE + 1 };
    const v = q.values;
    if (v.type) filter.type = v.type;
    if (v.client) filter.clientId = v.client;
    if (v.ip) filter.ip = v.ip;
    if (v.account) {
      if (v.account.includes('@')) {
        const a = await s.store.accounts.findByEmail(v.account.toLowerCase());
        if (a) filter.accountId = a.id;
        else q.errors.account = 'No account has this email. For a deleted account, use its sub (user id).';
      } else filter.accountId = v.account;
    }
    const since = v.since ? parseUtc(v.since) : null;
    const until = v.until ? parseUtc(v.until) : null;
    if (since) filter.since = since;
    if (until || q.before) filter.until = until && q.before ? new Date(Math.min(until.getTime(), q.before.getTime())) : (q.before ?? until)!;
    const failed = Object.keys(q.errors).length > 0;
    const { events, older } = failed ? { events: [], older: null } : pageOf(await s.store.audit.list(filter), PAGE);

    // Accounts by id, for the emails shown (the event's account and the admin who acted).
    const ids = new Set<string>();
    for (const e of events) {
      if (e.accountId) ids.add(e.accountId);
      if (typeof e.detail.admin === 'string') ids.add(e.detail.admin);
    }
    const emails = new Map<string, string>();
    await Promise.all([...ids].map(async (id) => {
      const a = await s.store.accounts.findById(id);
      if (a) emails.set(id, a.email);
    }));
    const SHOWN = new Set(['client', 'ua', 'admin', 'via']);
    const rows = events.map((e) => ({
      at: fmt(e.at),
      type: e.type,
      outcome: outcomeOf(e.type),
      accountId: e.accountId,
      account: e.accountId ? (emails.get(e.accountId) ?? (typeof e.detail.email === 'string' ? `${e.detail.email} (deleted)` : e.accountId)) : null,
      accountExists: Boolean(e.accountId && emails.has(e.accountId)),
      client: typeof e.detail.client === 'string' ? e.detail.client : null,
      ip: e.ip,
      ua: typeof e.detail.ua === 'string' ? e.detail.ua : null,
      uaShort: typeof e.detail.ua === 'string' ? describeUserAgent(e.detail.ua) : null,
      by: typeof e.detail.admin === 'string' ? `${emails.get(e.detail.admin) ?? e.detail.admin} (${String(e.detail.via ?? 'console')})` : e.detail.via === 'cli' ? 'CLI' : null,
      detail: Object.entries(e.detail).filter(([k]) => !SHOWN.has(k)).map(([k, x]) => `${k}: ${typeof x === 'string' ? x : JSON.stringify(x)}`).join(' · '),
    }));
    const link = (extra: Record<string, string>) => {
      const p = new URLSearchParams();
      for (const [k, x] of Object.entries(v)) if (x) p.set(k, x);
      for (const [k, x] of Object.entries(extra)) p.set(k, x);
      const qs = p.toString();
      return `/admin/events${qs ? `?${qs}` : ''}`;
    };
    c.view(ctx, admin, 'events', {
      title: 'Security events', section: 'events', values: v, errors: q.errors, rows, types: EVENT_TYPES,
      olderHref: older ? link({ before: older.toISOString() }) : null,
      newestHref: q.before ? link({}) : null,
      retentionDays: s.config.auditRetentionDays,
    }, failed ? 400 : 200);
  }));
}
