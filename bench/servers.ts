// Starting the servers under test as child processes (their own event loop, their own core), and
// reading their CPU time and memory from /proc — the numbers the issue's targets are about.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mongoUriWithDatabase, dropMongoDatabase } from '../test/support/mongo-test-server.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HAS_TASKSET = spawnSync('taskset', ['--version']).status === 0;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
export const CORES = os.cpus().length;
/** The load generator (this process) gets core 0, servers the last core; with one core, nothing is pinned. */
export const LOADGEN_CPUS = '0';
export const SERVER_CPUS = String(CORES - 1);
export const ALL_CPUS = `0-${CORES - 1}`;
export const pinning = HAS_TASKSET && CORES > 1;

/** Sets the CPU affinity of every thread of a process (taskset -a), e.g. to give a server both cores. */
export function pin(pid: number, cpus: string) {
  if (pinning) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** utime + stime of the whole process (all threads, e.g. argon2 on libuv's pool), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the command name may contain spaces
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of proc(5)
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Measures a server's CPU over `fn` as a percentage of one core. */
export async function withCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; cpuPct: number; seconds: number }> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { value, cpuPct: ((cpuSeconds(pid) - c0) / seconds) * 100, seconds };
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface Server {
  name: string;
  issuer: string;
  pid: number;
  stop(): Promise<void>;
  /** Started with the heap probe (memory run): live heap after full GCs, in bytes. */
  liveHeap?(): Promise<LiveHeap>;
  /** Started with the command probe (MongoDB cost pass): the file its store commands are logged to. */
  commandFile?: string;
}

export interface LiveHeap {
  heapUsed: number;
  external: number;
}

const HEAP_PROBE = path.join(ROOT, 'bench', 'heap-probe.mjs');
const COMMAND_PROBE = path.join(ROOT, 'bench', 'command-probe.mjs');

/** Asks a server started with the probe for a reading (SIGUSR2) and waits for its file. */
function heapReader(pid: number, file: string): () => Promise<LiveHeap> {
  return async () => {
    fs.rmSync(file, { force: true });
    process.kill(pid, 'SIGUSR2');
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as LiveHeap;
    }
    throw new Error(`no heap reading from pid ${pid} within 30 s`);
  };
}

/**
 * `node --import tsx FILE` (not the tsx CLI, which runs node in a second process) under `taskset -c`,
 * which execs: the child's pid is the server's own, so /proc readings are the server's.
 * BENCH_PROFILE=1 adds --cpu-prof; profiles are written when the server exits on SIGTERM. A heap probe
 * file adds --expose-gc and the probe preload (memory run).
 */
function spawnNode(file: string, env: Record<string, string>, cpus: string, profileName?: string, heapProbeFile?: string, commandProbeFile?: string): ChildProcess {
  const flags = process.env.BENCH_PROFILE && profileName
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench', 'results', 'profiles', profileName)}`] // one file per thread (tsx's loader hooks run in a worker)
    : [];
  if (heapProbeFile) {
    flags.push('--expose-gc', '--import', pathToFileURL(HEAP_PROBE).href);
    env = { ...env, HEAP_PROBE_FILE: heapProbeFile };
  }
  if (commandProbeFile) {
    flags.push('--import', pathToFileURL(COMMAND_PROBE).href);
    env = { ...env, COMMAND_PROBE_FILE: commandProbeFile };
  }
  // Tessera runs as `npm start` does, compiled (dist/*.js, plain node); TypeScript files go through tsx.
  const args = file.endsWith('.js') ? [...flags, file] : [...flags, '--import', 'tsx', file];
  const [cmd, argv] = pinning ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
  return spawn(cmd, argv as string[], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function tail(child: ChildProcess): () => string {
  let out = '';
  const keep = (c: Buffer) => (out = (out + c.toString('utf8')).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => out;
}

async function waitReady(name: string, issuer: string, child: ChildProcess, output: () => string): Promise<void> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output()}`);
    const ok = await fetch(`${issuer}/.well-known/openid-configuration`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer within 60 s:\n${output()}`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
}

export interface TesseraOptions {
  name: string;
  smsUrl: string;
  smtpUrl: string;
  mongoUri?: string;
  /** For the memory run: start with the heap probe. */
  heapProbe?: boolean;
  /** Authenticator users to provision (bench/tessera-setup.ts BENCH_TOTP_USERS); 0 where their flow doesn't run. */
  totpUsers?: number;
  /** For the MongoDB cost pass: start with the command probe (bench/command-probe.mjs). */
  commandProbe?: boolean;
}

/** Seeds a fresh store (bench/tessera-setup.ts, same environment), then starts dist/main.js (`npm run build`) on it. */
export async function startTessera(o: TesseraOptions): Promise<Server & { dataDir: string }> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  const big = '1000000000';
  const env: Record<string, string> = {
    NODE_ENV: 'production', // production code paths (template cache, trust proxy); the required secrets follow
    LOG_LEVEL: 'silent',
    PORT: String(port),
    ISSUER: issuer,
    DATA_DIR: dataDir,
    MONGODB_URI: o.mongoUri ?? '', // '' = SQLite even when the bench itself was given MONGODB_URI
    COOKIE_SECRETS: 'bench-cookie-secret-0123456789abcdefghijklmnop',
    DATA_KEY: 'bench-data-key-0123456789abcdefghijklmnopqrstu',
    SMTP_URL: o.smtpUrl,
    MAIL_FROM: 'Tessera Bench <id@bench.test>',
    VONAGE_API_KEY: 'bench-key',
    VONAGE_API_SECRET: 'bench-secret',
    VONAGE_FROM: 'Tessera',
    VONAGE_REST_HOST: o.smsUrl,
    // Every bench flow comes from 127.0.0.1 and the SMS users are few: lift every SMS cap.
    SMS_PER_NUMBER_HOURLY: big, SMS_PER_NUMBER_DAILY: big, SMS_PER_ACCOUNT_HOURLY: big, SMS_PER_ACCOUNT_DAILY: big,
    SMS_PER_IP_HOURLY: big, SMS_PER_IP_DAILY: big, SMS_GLOBAL_DAILY: big,
  };
  const setup = spawnNode('bench/tessera-setup.ts', { ...env, BENCH_TOTP_USERS: String(o.totpUsers ?? 0) }, ALL_CPUS);
  const setupOut = tail(setup);
  const code = await new Promise<number | null>((resolve) => setup.on('exit', resolve));
  if (code !== 0) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`seeding ${o.name} failed (${code}):\n${setupOut()}`);
  }

  const probeFile = o.heapProbe ? path.join(dataDir, 'heap-probe.json') : undefined;
  const commandFile = o.commandProbe ? path.join(dataDir, 'mongo-commands.log') : undefined;
  const child = spawnNode('dist/main.js', env, SERVER_CPUS, o.name, probeFile, commandFile);
  const stop = stopper(child);
  await waitReady(o.name, issuer, child, tail(child)).catch(async (err) => {
    await stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  return {
    name: o.name, issuer, pid: child.pid!, dataDir,
    ...(probeFile ? { liveHeap: heapReader(child.pid!, probeFile) } : {}),
    ...(commandFile ? { commandFile } : {}),
    async stop() {
      await stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startReference(o: { heapProbe?: boolean } = {}): Promise<Server> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const probeDir = o.heapProbe ? fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-ref-')) : null;
  const probeFile = probeDir ? path.join(probeDir, 'heap-probe.json') : undefined;
  const child = spawnNode('bench/reference-server.ts', { PORT: String(port), NODE_ENV: 'production' }, SERVER_CPUS, 'reference', probeFile);
  const kill = stopper(child);
  const stop = async () => {
    await kill();
    if (probeDir) fs.rmSync(probeDir, { recursive: true, force: true });
  };
  await waitReady('reference', issuer, child, tail(child)).catch(async (err) => (await stop(), Promise.reject(err)));
  return { name: 'reference', issuer, pid: child.pid!, stop, ...(probeFile ? { liveHeap: heapReader(child.pid!, probeFile) } : {}) };
}

/** A database of its own under the given MongoDB server, so runs never see each other's data. */
export const benchMongoUri = (base: string) => mongoUriWithDatabase(base, `tessera_bench_${Date.now()}`);
export { dropMongoDatabase as dropMongo };
