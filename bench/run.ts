// `npm run bench` (issue #4): Tessera on the embedded SQLite store (and on MongoDB when MONGODB_URI is
// set) against a bare oidc-provider 9 in the same run, same load generator, several rounds, medians.
// This process is the load generator, pinned to core 0; servers are pinned to the other core, and get
// both cores for the login scenarios (argon2 runs on libuv's pool: one process uses both cores).
// BENCH_QUICK=1: short smoke run. BENCH_PROFILE=1: servers write .cpuprofile files to bench/results/profiles.
// MongoDB cost (issue 12): with MONGODB_URI the run ends with the cost pass, store commands per operation
// for every scenario (bench/cost.ts); BENCH_STORE=mongo runs only that pass, on MONGODB_URI or, without
// it, on the MongoDB wire test server (test/support/mongo-test-server.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SmtpSink } from '../test/support/smtp-sink.ts';
import { SmsStub } from './sms-stub.ts';
import { HttpClient } from './http.ts';
import { discover, codeFlow, runFlows, mintTokens, UserPool, type Endpoints, type FlowUser } from './flows.ts';
import { cannon, discovery, jwks, clientCredentials, refreshChains, introspection, type Scenario } from './load.ts';
import {
  ROOT, CORES, pinning, pin, withCpu, rssMb, startTessera, startReference, benchMongoUri, dropMongo,
  LOADGEN_CPUS, SERVER_CPUS, ALL_CPUS, type Server,
} from './servers.ts';
import { summarize, table, memoryTable, targetsText, resultsDir, previous, save, compare, percentile, type Row, type Memory, type Target, type Results } from './report.ts';
import { PASSWORD_USERS, SMS_USERS, TOTP_USERS, TOTP_COOLDOWN_MS, passwordEmail, smsEmail, smsPhone, totpEmail, totpSecret } from './fixtures.ts';
import { CommandLog, mongoCost, costTable, type CostRow } from './cost.ts';
import { startMongoTestServer } from '../test/support/mongo-test-server.ts';

const QUICK = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
const S = QUICK
  ? { rounds: 2, seconds: 2, flowSeconds: 3, warmupSeconds: 1, logins: 400, connections: 10, flowConcurrency: 8 }
  : { rounds: 5, seconds: 4, flowSeconds: 5, warmupSeconds: 2, logins: 10_000, connections: 10, flowConcurrency: 8 }; // 5 short rounds: a noisy neighbour moves one round's ratio, not the median
const REF = 'reference';
const ALL_TOKEN_SCENARIOS = ['discovery', 'jwks', 'client_credentials', 'refresh_token', 'introspection'] as const;
const LOGIN = 'login (password)';
const LOGIN_NOHASH = 'login (no hash)';
const LOGIN_SMS = 'login (password+sms)';
const LOGIN_TOTP = 'login (password+totp)';
// BENCH_ONLY=client_credentials,refresh_token: just those scenarios, no memory run (for profiling loops).
const ONLY = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const wanted = (name: string) => ONLY.length === 0 || ONLY.includes(name);
const TOKEN_SCENARIOS = ALL_TOKEN_SCENARIOS.filter(wanted);
const FLOW_KINDS = [LOGIN, LOGIN_NOHASH, LOGIN_SMS, LOGIN_TOTP].filter(wanted);
const UNITS = { [LOGIN]: 'flows/s', [LOGIN_NOHASH]: 'flows/s', [LOGIN_SMS]: 'flows/s', [LOGIN_TOTP]: 'flows/s' };
/** Flows only Tessera has (the reference has no second step). */
const TESSERA_ONLY = [LOGIN_SMS, LOGIN_TOTP];
const log = (msg: string) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const startedAt = new Date().toISOString();
if (pinning) pin(process.pid, LOADGEN_CPUS);
const sms = await new SmsStub().start();
const smtp = await new SmtpSink().start();
const http = new HttpClient(64);
const pwUsers = new UserPool(Array.from({ length: PASSWORD_USERS }, (_, i): FlowUser => ({ email: passwordEmail(i) })), false);
const smsUsers = new UserPool(Array.from({ length: SMS_USERS }, (_, i): FlowUser => ({ email: smsEmail(i), phone: smsPhone(i) })), true);
// One authenticator pool per server (each store remembers its own last used steps), each user rested
// TOTP_COOLDOWN_MS between sign-ins so no code is refused as a replay.
const totpPools = new Map<string, UserPool>();
const totpUsers = (server: string) => {
  let pool = totpPools.get(server);
  if (!pool) totpPools.set(server, (pool = new UserPool(Array.from({ length: TOTP_USERS }, (_, i): FlowUser => ({ email: totpEmail(i), totpSecret: totpSecret(i) })), true, TOTP_COOLDOWN_MS)));
  return pool;
};
const mongoBase = process.env.MONGODB_URI || null;
const mongoUris: string[] = [];
const STORE = (process.env.BENCH_STORE ?? '').trim().toLowerCase();
if (STORE && STORE !== 'mongo') throw new Error(`BENCH_STORE=${STORE}: only "mongo" (the MongoDB cost pass alone) is known`);
/** Operations per scenario in the cost pass: counts don't vary, a few show that they don't. */
const COST_OPS = QUICK ? 3 : 6;

interface Target_ { server: Server; ep: Endpoints; tessera: boolean }
const running: Target_[] = [];
const stopAll = async () => {
  await Promise.all(running.splice(0).map((t) => t.server.stop()));
};

/** Starts a server and registers it at once, so a later failure still stops it (finally below). */
async function launch(start: () => Promise<Server>): Promise<Target_> {
  const server = await start();
  const t: Target_ = { server, ep: await discover(server.issuer).catch(async (err) => (await server.stop(), Promise.reject(err))), tessera: server.name !== REF };
  running.push(t);
  log(`${server.name} up at ${server.issuer} (pid ${server.pid}, RSS ${rssMb(server.pid).toFixed(0)} MB)`);
  return t;
}

async function launchTesseras(prefix = '', heapProbe = false): Promise<Target_[]> {
  // Authenticator users only where their flow runs (not on the memory servers): same idle state as before.
  const totpUsers = !heapProbe && FLOW_KINDS.includes(LOGIN_TOTP) ? TOTP_USERS : 0;
  const out = [await launch(() => startTessera({ name: `${prefix}tessera-sqlite`, smsUrl: sms.url, smtpUrl: smtp.url, heapProbe, totpUsers }))];
  if (mongoBase) {
    const uri = benchMongoUri(mongoBase);
    mongoUris.push(uri);
    out.push(await launch(() => startTessera({ name: `${prefix}tessera-mongo`, smsUrl: sms.url, smtpUrl: smtp.url, mongoUri: uri, heapProbe, totpUsers })));
  }
  return out;
}

/** One login flow on a server, holding a user for its duration. */
function loginFlow(t: Target_, kind: string) {
  const pool = kind === LOGIN_SMS ? smsUsers : kind === LOGIN_TOTP ? totpUsers(t.server.name) : pwUsers;
  return async () => {
    const user = await pool.acquire();
    try {
      await codeFlow(http, t.ep, { user, sms, nohash: kind === LOGIN_NOHASH });
    } finally {
      pool.release(user);
    }
  };
}

async function measureFlows(t: Target_, kind: string, round: number, durationMs: number): Promise<Row> {
  pin(t.server.pid, ALL_CPUS);
  const { value: run, cpuPct } = await withCpu(t.server.pid, () => runFlows({ concurrency: S.flowConcurrency, durationMs, flow: loginFlow(t, kind) }));
  pin(t.server.pid, SERVER_CPUS);
  return {
    round, scenario: kind, server: t.server.name, rps: run.completed / run.seconds,
    p50: percentile(run.latencies, 50), p99: percentile(run.latencies, 99), errors: run.errors, cpuPct,
    ...(run.firstError ? { firstError: run.firstError } : {}),
  };
}

async function scenarioFor(t: Target_, name: (typeof ALL_TOKEN_SCENARIOS)[number]): Promise<Scenario> {
  if (name === 'discovery') return discovery(t.ep);
  if (name === 'jwks') return jwks(t.ep);
  if (name === 'client_credentials') return clientCredentials(t.ep);
  // Fresh chains / tokens per measurement (minted outside the measured window): 2× the connections.
  const tokens = await mintTokens(http, t.ep, pwUsers, S.connections * 2);
  return name === 'refresh_token' ? refreshChains(t.ep, tokens) : introspection(t.ep, tokens);
}

async function measureAll(round: number, rows: Row[], seconds: number, flowMs: number) {
  const order = round % 2 ? [...running].reverse() : running; // alternate who goes first
  for (const name of TOKEN_SCENARIOS) {
    for (const t of order) {
      const m = await cannon(t.server.pid, await scenarioFor(t, name), { connections: S.connections, seconds });
      rows.push({ round, scenario: name, server: t.server.name, rps: m.rps, p50: m.p50, p99: m.p99, errors: m.errors, cpuPct: m.cpuPct, ...(m.firstError ? { firstError: m.firstError } : {}) });
    }
  }
  for (const kind of FLOW_KINDS) {
    for (const t of order) {
      if ((kind === LOGIN_NOHASH && t.tessera) || (TESSERA_ONLY.includes(kind) && !t.tessera)) continue;
      rows.push(await measureFlows(t, kind, round, flowMs));
    }
  }
}

/**
 * A fresh server: RSS idle, then after S.logins full password code flows at 8 concurrent; and each time,
 * after RSS is read, the live heap after full GCs (the heap probe).
 */
async function memory(t: Target_): Promise<Memory> {
  const { server } = t;
  const live = async () => {
    const h = await server.liveHeap!();
    return { heapMb: h.heapUsed / MB, externalMb: h.external / MB };
  };
  await sleep(3000);
  const idleMb = rssMb(server.pid);
  const liveIdle = await live();
  let liveHalfway = liveIdle;
  pin(server.pid, ALL_CPUS);
  const half = Math.floor(S.logins / 2);
  let halfwayMb = NaN;
  const { value: run, cpuPct } = await withCpu(server.pid, async () => {
    const first = await runFlows({ concurrency: S.flowConcurrency, count: half, flow: loginFlow(t, LOGIN) });
    halfwayMb = rssMb(server.pid);
    liveHalfway = await live();
    const second = await runFlows({ concurrency: S.flowConcurrency, count: S.logins - half, flow: loginFlow(t, LOGIN) });
    return {
      completed: first.completed + second.completed, errors: first.errors + second.errors, seconds: first.seconds + second.seconds,
      latencies: [...first.latencies, ...second.latencies], firstError: first.firstError ?? second.firstError,
    };
  });
  const afterMb = rssMb(server.pid);
  await sleep(5000);
  const settledMb = rssMb(server.pid);
  const liveAfter = await live();
  return {
    server: server.name.replace(/^mem-/, ''), idleMb, logins: run.completed, halfwayMb, afterMb, settledMb, growthMb: afterMb - idleMb,
    live: { idle: liveIdle, halfway: liveHalfway, after: liveAfter },
    flowsPerS: run.completed / run.seconds, p99: percentile(run.latencies, 99), errors: run.errors, cpuPct,
    ...(run.firstError ? { firstError: run.firstError } : {}),
  };
}

/**
 * The MongoDB cost pass on a fresh Tessera (its own database under `base`) started with the command probe:
 * monitoring costs a little, so never on a server whose speed is measured.
 */
async function costPass(base: string): Promise<CostRow[]> {
  const uri = benchMongoUri(base);
  mongoUris.push(uri);
  // Every authenticator sign-in needs a user whose current code wasn't used yet: one per operation.
  const t = await launch(() => startTessera({ name: 'cost-tessera-mongo', smsUrl: sms.url, smtpUrl: smtp.url, mongoUri: uri, totpUsers: COST_OPS, commandProbe: true }));
  let pw = 0;
  let sm = 0;
  let tp = 0;
  try {
    return await mongoCost({
      http, ep: t.ep, log: new CommandLog(t.server.commandFile!), sms, ops: COST_OPS,
      users: {
        password: () => ({ email: passwordEmail(pw++ % PASSWORD_USERS) }),
        sms: () => ({ email: smsEmail(sm % SMS_USERS), phone: smsPhone(sm++ % SMS_USERS) }),
        totp: () => ({ email: totpEmail(tp), totpSecret: totpSecret(tp++) }),
      },
    });
  } finally {
    await stopAll();
  }
}

function costReport(rows: CostRow[], where: string): string {
  return `MongoDB cost: store commands per operation (${where}; operations one at a time, ${COST_OPS} per scenario)\n${costTable(rows)}`;
}

function targets(summary: ReturnType<typeof summarize>, mem: Memory[]): Target[] {
  const out: Target[] = [];
  for (const server of [...new Set(summary.map((s) => s.server))].filter((s) => s !== REF)) {
    const get = (scenario: string) => summary.find((s) => s.scenario === scenario && s.server === server);
    for (const scn of ['client_credentials', 'refresh_token', 'introspection']) {
      const s = get(scn);
      if (!s) continue;
      out.push({ name: `${scn} ≥ 0.8× reference [${server}]`, value: `${s.ratio?.toFixed(2)}×`, goal: '≥ 0.80×', pass: (s.ratio ?? 0) >= 0.8 });
      out.push({ name: `${scn} > 1,000/s per core [${server}]`, value: `${s.perCore.toFixed(0)}/s per core`, goal: '> 1000', pass: s.perCore > 1000 });
    }
    const login = get(LOGIN);
    if (login) {
      out.push({
        name: `password logins ≥ 25/s per server core, both cores [${server}]`,
        value: `${login.perCore.toFixed(1)}/s per core (${login.rps.toFixed(1)} flows/s at ${login.cpuPct.toFixed(0)} % CPU)`,
        goal: '≥ 25 and CPU > 100 %', pass: login.perCore >= 25 && login.cpuPct > 100,
      });
      out.push({ name: `login p99 ≤ 250 ms at ${S.flowConcurrency} concurrent flows [${server}]`, value: `${login.p99.toFixed(0)} ms`, goal: '≤ 250 ms', pass: login.p99 <= 250 });
    }
    const m = mem.find((x) => x.server === server);
    if (m) out.push({ name: `idle RSS ≤ 150 MB [${server}]`, value: `${m.idleMb.toFixed(1)} MB`, goal: '≤ 150 MB', pass: m.idleMb <= 150 });
  }
  return out;
}

if (STORE === 'mongo') {
  // The cost pass alone: counts, no throughput (the wire test server runs one command at a time).
  const wire = mongoBase ? null : await startMongoTestServer();
  const where = mongoBase ? 'MONGODB_URI' : 'MongoDB wire test server';
  try {
    log(`MongoDB cost pass on the ${where}`);
    const rows = await costPass(mongoBase ?? wire!.uri);
    const file = path.join(resultsDir(ROOT), `mongo-cost-${startedAt.replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), where, ops: COST_OPS, rows }, null, 2)}\n`);
    process.stdout.write(`\n${costReport(rows, where)}\n\nResults: ${file}\n`);
  } finally {
    await stopAll();
    for (const uri of mongoUris) await dropMongo(uri).catch((err) => log(`could not drop ${uri}: ${(err as Error).message}`));
    await wire?.stop();
    http.close();
    await sms.stop();
    await smtp.stop();
  }
  process.exit(0);
}

try {
  log(`${QUICK ? 'QUICK ' : ''}run: ${S.rounds} rounds × ${S.seconds} s per scenario, flows ${S.flowSeconds} s, ${S.logins} logins for memory; ` +
    `${CORES} cores, ${pinning ? `load generator on cpu ${LOADGEN_CPUS}, servers on cpu ${SERVER_CPUS}` : 'no pinning (taskset missing or 1 core)'}`);
  await launchTesseras();
  await launch(startReference);

  log('warm-up (JIT, connections, first templates)');
  await measureAll(0, [], S.warmupSeconds, S.warmupSeconds * 1000);

  const rows: Row[] = [];
  for (let round = 1; round <= S.rounds; round++) {
    await measureAll(round, rows, S.seconds, S.flowSeconds * 1000);
    log(`round ${round}/${S.rounds} done`);
  }
  for (const r of rows.filter((x) => x.firstError)) log(`errors in ${r.scenario} / ${r.server} round ${r.round}: ${r.errors} (first: ${r.firstError})`);
  // A flow that waited for a rested user measured the pool, not the server: say so rather than hide it.
  for (const [server, pool] of totpPools) if (pool.waits) log(`${LOGIN_TOTP} / ${server}: ${pool.waits} flows waited for a user to rest ${TOTP_COOLDOWN_MS / 1000} s (TOTP_USERS ${TOTP_USERS} is too few for this rate)`);
  await stopAll();

  log(`memory: fresh servers, idle RSS, then ${S.logins} password logins`);
  const mem: Memory[] = [];
  if (ONLY.length === 0) {
    for (const t of await launchTesseras('mem-', true)) mem.push(await memory(t));
    await stopAll();
    // The reference keeps every artifact in memory too: its growth is the baseline for how far V8 lets
    // a heap grow under this load before collecting (its idle RSS includes tsx's loader, ~33 MB).
    mem.push(await memory(await launch(() => startReference({ heapProbe: true }))));
  }
  await stopAll();

  let cost: CostRow[] | undefined;
  if (mongoBase) {
    log('MongoDB cost pass');
    cost = await costPass(mongoBase);
  }

  const summary = summarize(rows, REF);
  const results: Results = {
    version: 1, startedAt, finishedAt: new Date().toISOString(), quick: QUICK,
    machine: { cores: CORES, cpu: os.cpus()[0]?.model, node: process.version, pinning, loadgenCpus: LOADGEN_CPUS, serverCpus: SERVER_CPUS },
    settings: { ...S, mongo: Boolean(mongoBase) },
    rows, summary, memory: mem, targets: targets(summary, mem),
    ...(cost ? { mongoCost: cost } : {}),
  };
  const dir = resultsDir(ROOT);
  const prev = previous(dir);
  const file = save(dir, results);
  process.stdout.write(`\n${table(summary, UNITS)}\n\n${memoryTable(mem)}\n\nTargets (issue #4):\n${targetsText(results.targets)}\n`);
  if (cost) process.stdout.write(`\n${costReport(cost, 'MONGODB_URI')}\n`);
  if (prev) process.stdout.write(`\n${compare(prev, results)}\n`);
  process.stdout.write(`\nResults: ${file}\n`);
} finally {
  await stopAll();
  for (const uri of mongoUris) await dropMongo(uri).catch((err) => log(`could not drop ${uri}: ${(err as Error).message}`));
  http.close();
  await sms.stop();
  await smtp.stop();
}
process.exit(0);
