// Security events as admins read them (CLI `audit list`, the admin API's GET /admin/api/audit).
import type { AuditEvent } from '../store/ports.ts';

/** One security event as the CLI and the admin API print it. */
export function auditView(e: AuditEvent) {
  return { at: e.at.toISOString(), type: e.type, account: e.accountId, ip: e.ip, ...e.detail };
}

/** An ISO date/time, or a duration back from now (30m, 12h, 7d); null when it is neither. */
export function parseWhen(text: string, now = Date.now()): Date | null {
  const ago = /^(\d{1,9})([mhd])$/.exec(text.trim());
  if (ago) return new Date(now - Number(ago[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 'm' | 'h' | 'd']);
  if (text.length > 64) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : new Date(t);
}
