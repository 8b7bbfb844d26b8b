// Ad-hoc: a 16-user TOTP pool forced to reuse users; with the 35 s cooldown no replay errors, without it replays.
import { SmsStub } from './sms-stub.ts';
import { SmtpSink } from '../test/support/smtp-sink.ts';
import { HttpClient } from './http.ts';
import { discover, codeFlow, runFlows, UserPool, type FlowUser } from './flows.ts';
import { startTessera } from './servers.ts';
import { totpEmail, totpSecret, TOTP_COOLDOWN_MS } from './fixtures.ts';
const N = 16;
const sms = await new SmsStub().start();
const smtp = await new SmtpSink().start();
const http = new HttpClient(16);
const t0 = Date.now();
const server = await startTessera({ name: 'totp-check', smsUrl: sms.url, smtpUrl: smtp.url, totpUsers: N });
console.log('startup with', N, 'totp users', Date.now() - t0, 'ms');
try {
  const ep = await discover(server.issuer);
  const users = (): FlowUser[] => Array.from({ length: N }, (_, i) => ({ email: totpEmail(i), totpSecret: totpSecret(i) }));
  const run = async (pool: UserPool, ms: number) => runFlows({ concurrency: 4, durationMs: ms, flow: async () => { const u = await pool.acquire(); try { await codeFlow(http, ep, { user: u }); } finally { pool.release(u); } } });
  const cool = new UserPool(users(), true, TOTP_COOLDOWN_MS);
  const a = await run(cool, 45_000);
  console.log('with cooldown:', { completed: a.completed, errors: a.errors, firstError: a.firstError, waits: cool.waits });
  await new Promise((r) => setTimeout(r, 31_000));
  const hot = new UserPool(users(), true, 0);
  const b = await run(hot, 5_000);
  console.log('without cooldown:', { completed: b.completed, errors: b.errors, firstError: b.firstError });
} finally {
  await server.stop(); http.close(); await sms.stop(); await smtp.stop();
}
process.exit(0);
