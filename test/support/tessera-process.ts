// Tessera as a real child process (node --import tsx src/main.ts, one process, so its pid is Tessera's
// own: tests can signal it and change its resource limits), on a free loopback port and a given data
// directory. For faults an in-process server can't survive or show: signals, SIGBUS, file-size limits,
// what main.ts prints when it refuses to start.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TesseraProcess {
  child: ChildProcess;
  pid: number;
  issuer: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when it exits: its code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until the output contains `text` (or the process exits, or `ms` pass: then throws with the output). */
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
  /** SIGTERM, then the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnTessera(opts: { dataDir: string; env?: Record<string, string> }): Promise<TesseraProcess> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    PORT: String(port),
    ISSUER: issuer,
    DATA_DIR: opts.dataDir,
    MONGODB_URI: '',
    SMTP_URL: 'smtp://127.0.0.1:9',
    DEV_OUTBOX: 'false',
    LOG_LEVEL: 'info',
    ...opts.env,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const waitFor = async (text: string | RegExp, ms = 60_000) => {
    const deadline = Date.now() + ms;
    const found = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
    while (!found()) {
      if (gone || Date.now() > deadline) throw new Error(`Tessera's output never showed ${String(text)}${gone ? ' (it exited)' : ''}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    child,
    pid: child.pid!,
    issuer,
    output: () => out,
    exited,
    waitFor,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      return exited;
    },
  };
}
