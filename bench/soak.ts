// `npm run load` (issue 12): a soak, not a benchmark. Holds LOAD_LOGINS concurrent complete sign-ins
// (password, and password + SMS code) plus LOAD_TOKEN_WORKERS workers of token traffic (client_credentials,
// rotating refresh chains, introspection, userinfo) against one Tessera for LOAD_SECONDS, and reports
// throughput per kind, latency, errors and the server's RSS over time. Exits 1 on any error: the target is
// zero. Not part of `npm test` (it takes a minute and the numbers depend on the machine).
//
// LOAD_SECONDS (60), LOAD_LOGINS (16), LOAD_TOKEN_WORKERS (16), MONGODB_URI (set: Tessera on MongoDB).
import { SmtpSink } from '../test/support/smtp-sink.ts';
import { SmsStub } from './sms-stub.ts';
import { HttpClient, form } from './http.ts';
import { discover, codeFlow, mintTokens, UserPool, type FlowUser, type Tokens } from './flows.ts';
import { startTessera, rssMb, benchMongoUri, dropMongo } from './servers.ts';
import { percentile } from './report.ts';
import { CC_CLIENT, WEB_CLIENT, PASSWORD_USERS, SMS_USERS, basic, passwordEmail, smsEmail, smsPhone } from './fixtures.ts';

const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const SECONDS = num('LOAD_SECONDS', 60);
const LOGINS = num('LOAD_LOGINS', 16);
const TOKEN_WORKERS = num('LOAD_TOKEN_WORKERS', 16);
const log = (msg: string) => process.stdout.write(`[load ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface Kind {
  ok: number;
  errors: number;
  firstError?: string;
  latencies: number[];
}
const kinds = new Map<string, Kind>();
const kind = (name: string) => {
  let k = kinds.get(name);
  if (!k) kinds.set(name, (k = { ok: 0, errors: 0, latencies: [] }));
  return k;
};
async function timed(name: string, fn: () => Promise<void>) {
  const k = kind(name);
  const t0 = performance.now();
  try {
    await fn();
    k.ok++;
    k.latencies.push(performance.now() - t0);
  } catch (err) {
    k.errors++;
    k.firstError ??= (err as Error).message;
  }
}

const sms = await new SmsStub().start();
const smtp = await new SmtpSink().start();
const mongoUri = process.env.MONGODB_URI ? benchMongoUri(process.env.MONGODB_URI) : undefined;
log(`seeding and starting Tessera (${mongoUri ? 'MongoDB' : 'SQLite'})`);
const server = await startTessera({ name: 'tessera', smsUrl: sms.url, smtpUrl: smtp.url, mongoUri });
const http = new HttpClient(LOGINS + TOKEN_WORKERS + 8);
let exitCode = 1;
try {
  const ep = await discover(server.issuer);
  const userinfoUrl = ((await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string }).userinfo_endpoint;
  const pwUsers = new UserPool(Array.from({ length: PASSWORD_USERS }, (_, i): FlowUser => ({ email: passwordEmail(i) })), false);
  const smsUsers = new UserPool(Array.from({ length: SMS_USERS }, (_, i): FlowUser => ({ email: smsEmail(i), phone: smsPhone(i) })), true);
  // Each token worker owns one refresh chain: a rotated token is never presented twice.
  const seed = await mintTokens(http, ep, pwUsers, TOKEN_WORKERS);
  const rss0 = rssMb(server.pid);
  log(`running ${LOGINS} concurrent sign-ins + ${TOKEN_WORKERS} token workers for ${SECONDS} s (RSS at start ${rss0.toFixed(0)} MB)`);

  const end = performance.now() + SECONDS * 1000;
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssMb(server.pid)), 1000);

  const signIns = async (i: number) => {
    while (performance.now() < end) {
      const withSms = i % 4 === 3; // a quarter of the sign-in workers go through the SMS step
      const pool = withSms ? smsUsers : pwUsers;
      const user = await pool.acquire();
      try {
        await timed(withSms ? 'sign-in (password+sms)' : 'sign-in (password)', async () => {
          await codeFlow(http, ep, { user, sms });
        });
      } finally {
        pool.release(user);
      }
    }
  };
  const tokens = async (i: number, t: Tokens) => {
    let refresh = t.refresh_token!;
    let access = t.access_token;
    for (let n = 0; performance.now() < end; n++) {
      switch (n % 4) {
        case 0:
          await timed('client_credentials', async () => {
            const r = await http.request('POST', ep.token, { authorization: basic(CC_CLIENT), 'content-type': 'application/x-www-form-urlencoded' }, form({ grant_type: 'client_credentials' }));
            if (r.status !== 200) throw new Error(`client_credentials: HTTP ${r.status} ${r.body.slice(0, 120)}`);
          });
          break;
        case 1:
          await timed('refresh_token', async () => {
            const r = await http.request('POST', ep.token, { authorization: basic(WEB_CLIENT), 'content-type': 'application/x-www-form-urlencoded' }, form({ grant_type: 'refresh_token', refresh_token: refresh }));
            if (r.status !== 200) throw new Error(`refresh (worker ${i}): HTTP ${r.status} ${r.body.slice(0, 120)}`);
            const body = JSON.parse(r.body) as Tokens;
            refresh = body.refresh_token!;
            access = body.access_token;
          });
          break;
        case 2:
          await timed('introspection', async () => {
            const r = await http.request('POST', ep.introspection, { authorization: basic(WEB_CLIENT), 'content-type': 'application/x-www-form-urlencoded' }, form({ token: access, token_type_hint: 'access_token' }));
            if (r.status !== 200 || !(JSON.parse(r.body) as { active: boolean }).active) throw new Error(`introspection: HTTP ${r.status} ${r.body.slice(0, 120)}`);
          });
          break;
        default:
          await timed('userinfo', async () => {
            const r = await http.request('GET', userinfoUrl, { authorization: `Bearer ${access}` });
            if (r.status !== 200) throw new Error(`userinfo: HTTP ${r.status} ${r.body.slice(0, 120)}`);
          });
      }
    }
  };
  const t0 = performance.now();
  await Promise.all([
    ...Array.from({ length: LOGINS }, (_, i) => signIns(i)),
    ...seed.map((t, i) => tokens(i, t)),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const rssEnd = rssMb(server.pid);

  let errors = 0;
  const rows = [...kinds].map(([name, k]) => {
    errors += k.errors;
    const lat = k.latencies.sort((a, b) => a - b);
    return { name, ok: k.ok, perSecond: k.ok / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99), errors: k.errors, firstError: k.firstError };
  });
  process.stdout.write(`\n${'kind'.padEnd(26)}${'done'.padStart(9)}${'per s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}\n`);
  for (const r of rows)
    process.stdout.write(`${r.name.padEnd(26)}${String(r.ok).padStart(9)}${r.perSecond.toFixed(1).padStart(9)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(9)}${String(r.errors).padStart(8)}\n`);
  const total = rows.reduce((s, r) => s + r.ok, 0);
  process.stdout.write(
    `\n${total} requests/flows in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s), ${errors} errors; ` +
      `server RSS ${rss0.toFixed(0)} MB at start, peak ${Math.max(rss0, ...rss).toFixed(0)} MB, ${rssEnd.toFixed(0)} MB at the end\n`,
  );
  for (const r of rows) if (r.firstError) process.stdout.write(`first error (${r.name}): ${r.firstError}\n`);
  exitCode = errors === 0 && total > 0 ? 0 : 1;
} finally {
  http.close();
  await server.stop();
  if (mongoUri) await dropMongo(mongoUri).catch(() => {});
  await sms.stop();
  await smtp.stop();
}
process.exit(exitCode);
