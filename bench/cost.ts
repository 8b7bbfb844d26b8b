// The MongoDB cost pass (issue 12): store commands per operation, for each scenario, on a Tessera started
// with the command probe (bench/command-probe.mjs logs every command its driver sends). Operations run
// one at a time, so each one's commands are exactly those logged between its start and the moment every
// command started has been answered. Counts, not timings: they don't depend on the machine's load.
// Reported per scenario: the count most operations had (a background command — the readiness watch's
// hello is left out by name, the minute's purge is not — changes one operation, not the result) and how
// many of the operations had it. Client records are read at most once a second per instance (cached,
// src/oidc/provider.ts), so those reads depend on the clock: reported apart, never in the total.
import fs from 'node:fs';
import type { HttpClient } from './http.ts';
import { form } from './http.ts';
import type { SmsStub } from './sms-stub.ts';
import { authorizeCode, codeFlow, exchangeCode, type Endpoints, type FlowUser, type Tokens } from './flows.ts';
import { CC_CLIENT, WEB_CLIENT, basic } from './fixtures.ts';

/** Commands that are no store work of a request: the readiness watch, driver housekeeping. */
const BACKGROUND = new Set(['hello', 'isMaster', 'ismaster', 'ping', 'endSessions']);
const CLIENT_READ = 'find clients';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the probe's file from where it left off, and knows which commands are still unanswered. */
export class CommandLog {
  private offset = 0;
  private open = 0;
  constructor(private readonly file: string) {}

  /** Complete lines appended since the last call. */
  private lines(): string[] {
    const buf = fs.readFileSync(this.file);
    const end = buf.lastIndexOf(0x0a) + 1;
    if (end <= this.offset) return [];
    const text = buf.subarray(this.offset, end).toString('utf8');
    this.offset = end;
    return text.split('\n').filter(Boolean);
  }

  /**
   * Waits until every command started so far was answered (and a moment more, for a write a request
   * handed on without waiting), and returns the commands started since the last call, as "name collection".
   */
  async settle(): Promise<string[]> {
    const started: string[] = [];
    const read = () => {
      for (const line of this.lines()) {
        const [phase, name, collection] = line.split(' ');
        if (phase === 'F') this.open--;
        else {
          this.open++;
          if (!BACKGROUND.has(name)) started.push(collection && collection !== '-' ? `${name} ${collection}` : name);
        }
      }
    };
    await sleep(20);
    read();
    for (const end = Date.now() + 10_000; this.open > 0 && Date.now() < end; await sleep(5)) read();
    return started;
  }
}

export interface CostRow {
  scenario: string;
  /** Store commands per operation (client reads apart), and the same by command and by command + collection. */
  total: number;
  byCommand: Record<string, number>;
  byCollection: Record<string, number>;
  /** Client record reads per operation in the same operations (cached for 1 s: depends on the clock). */
  clientReads: number;
  /** How many of the operations had exactly this count, of how many. */
  agreeing: number;
  ops: number;
}

export interface CostContext {
  http: HttpClient;
  ep: Endpoints;
  log: CommandLog;
  sms: SmsStub;
  /** Password-only users (shared), SMS users and authenticator users (exclusive: one flow each at a time). */
  users: { password: () => FlowUser; sms: () => FlowUser; totp: () => FlowUser };
  ops: number;
}

const FORM = 'application/x-www-form-urlencoded';

function count(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...keys].sort()) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/** Runs `prepare` then `op`, `ops` times, one at a time; `prepare` (fresh tokens, a code) is not counted. */
async function measure<P>(c: CostContext, scenario: string, prepare: (i: number) => Promise<P>, op: (p: P) => Promise<unknown>): Promise<CostRow> {
  const seen: string[][] = [];
  for (let i = 0; i < c.ops; i++) {
    const p = await prepare(i);
    await c.log.settle();
    await op(p);
    seen.push(await c.log.settle());
  }
  const key = (cmds: string[]) => JSON.stringify(count(cmds.filter((k) => k !== CLIENT_READ)));
  const tally = new Map<string, number>();
  for (const cmds of seen) tally.set(key(cmds), (tally.get(key(cmds)) ?? 0) + 1);
  const [mode, agreeing] = [...tally].sort((a, b) => b[1] - a[1])[0];
  const byCollection = JSON.parse(mode) as Record<string, number>;
  const byCommand: Record<string, number> = {};
  for (const [k, n] of Object.entries(byCollection)) byCommand[k.split(' ')[0]] = (byCommand[k.split(' ')[0]] ?? 0) + n;
  const clientReads = seen.filter((cmds) => key(cmds) === mode).map((cmds) => cmds.filter((k) => k === CLIENT_READ).length);
  return {
    scenario, total: Object.values(byCollection).reduce((a, b) => a + b, 0), byCommand, byCollection,
    clientReads: Math.max(...clientReads), agreeing, ops: c.ops,
  };
}

async function ok(res: Promise<{ status: number; body: string }>, what: string): Promise<string> {
  const r = await res;
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return r.body;
}

export async function mongoCost(c: CostContext): Promise<CostRow[]> {
  const { http, ep } = c;
  const post = (url: string, auth: string, fields: Record<string, string>) => http.request('POST', url, { authorization: auth, 'content-type': FORM }, form(fields));
  const web = basic(WEB_CLIENT);
  const fresh = () => codeFlow(http, ep, { user: c.users.password(), offline: true });
  const none = async () => undefined;
  const rows: CostRow[] = [];
  rows.push(await measure(c, 'discovery', none, () => ok(http.request('GET', `${ep.issuer}/.well-known/openid-configuration`), 'discovery')));
  rows.push(await measure(c, 'jwks', none, () => ok(http.request('GET', ep.jwks), 'jwks')));
  rows.push(await measure(c, 'client_credentials', none, () => ok(post(ep.token, basic(CC_CLIENT), { grant_type: 'client_credentials' }), 'client_credentials')));
  rows.push(await measure(c, 'authorization_code', () => authorizeCode(http, ep, { user: c.users.password(), offline: true }), (code) => exchangeCode(http, ep, code, { offline: true })));
  let chain: Tokens | undefined;
  rows.push(await measure(c, 'refresh_token', async () => (chain ??= await fresh()), async (t) => {
    chain = JSON.parse(await ok(post(ep.token, web, { grant_type: 'refresh_token', refresh_token: t.refresh_token! }), 'refresh_token')) as Tokens;
  }));
  // As the load scenario asks (hint access_token), and without a hint (a token of any type).
  const introspect = (hint: boolean) => async (t: Tokens) => {
    const body = JSON.parse(await ok(post(ep.introspection, web, { token: t.access_token, ...(hint ? { token_type_hint: 'access_token' } : {}) }), 'introspection')) as { active: boolean };
    if (!body.active) throw new Error('introspection: token not active');
  };
  let tokens: Tokens | undefined;
  const once = async () => (tokens ??= await fresh());
  rows.push(await measure(c, 'introspection', once, introspect(true)));
  rows.push(await measure(c, 'introspection (no hint)', once, introspect(false)));
  rows.push(await measure(c, 'userinfo', once, (t) => ok(http.request('GET', ep.userinfo, { authorization: `Bearer ${t.access_token}` }), 'userinfo')));
  if (ep.revocation) {
    const revocation = ep.revocation;
    rows.push(await measure(c, 'revocation (refresh token)', fresh, (t) => ok(post(revocation, web, { token: t.refresh_token! }), 'revocation')));
    rows.push(await measure(c, 'revocation (access token)', fresh, (t) => ok(post(revocation, web, { token: t.access_token }), 'revocation')));
  }
  rows.push(await measure(c, 'login (password)', none, () => codeFlow(http, ep, { user: c.users.password() })));
  rows.push(await measure(c, 'login (password+sms)', none, () => codeFlow(http, ep, { user: c.users.sms(), sms: c.sms })));
  rows.push(await measure(c, 'login (password+totp)', none, () => codeFlow(http, ep, { user: c.users.totp() })));
  return rows;
}

export function costTable(rows: CostRow[]): string {
  const head = ['scenario', 'commands/op', 'by command', 'by command and collection', 'client reads', 'ops agreeing'];
  const kv = (r: Record<string, number>) => Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', ') || '–';
  const lines = rows.map((r) => [r.scenario, String(r.total), kv(r.byCommand), kv(r.byCollection), r.clientReads ? `≤ ${r.clientReads} (cached 1 s)` : '0', `${r.agreeing}/${r.ops}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [row(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(row)].join('\n').replace(/ +$/gm, '');
}
