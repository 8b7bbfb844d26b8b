// SIGTERM under load (issue 12, item 2): a real Tessera process (tsx src/main.ts) gets SIGTERM while
// token requests are in flight. Every one of them must get its complete HTTP response (a cut reply after
// a committed write is what turns a client's retry into "token reuse"), an idle keep-alive connection
// must not hold the exit up, and the process must exit 0.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const TSX = path.resolve('node_modules/.bin/tsx');
const CONCURRENT = 30;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-shutdown-'));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Outcome {
  status?: number;
  body?: string;
  error?: string;
}

describe('SIGTERM', () => {
  it('answers every request in flight, closes idle connections, then exits 0', async () => {
    const port = await freePort();
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      MONGODB_URI: '',
      SMTP_URL: 'smtp://127.0.0.1:9',
      DEV_OUTBOX: 'false',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_SECONDS: '10',
    };
    const created = spawnSync(TSX, ['src/admin/cli.ts', 'client', 'create', '--json'], {
      input: JSON.stringify({ client_name: 'Service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid' }),
      env: { ...env, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(created.status, created.stderr).toBe(0);
    const { client_id, client_secret } = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    const auth = `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`;

    child = spawn(TSX, ['src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!output.includes('Tessera listening')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`Tessera didn't start:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    // An idle keep-alive connection (a finished request, socket kept open): must not delay the exit.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const warm = await new Promise<number>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/.well-known/openid-configuration', agent: keepAlive }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject),
    );
    expect(warm).toBe(200);

    // Requests the server is in the middle of: headers received, the form body still arriving (a slow
    // client). SIGTERM goes out while all of them are in flight; the bodies are finished after it.
    const body = new URLSearchParams({ grant_type: 'client_credentials' }).toString();
    const half = Math.floor(body.length / 2);
    const requests = Array.from({ length: CONCURRENT }, () => {
      let finish!: () => void;
      const outcome = new Promise<Outcome>((resolve) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/token',
            agent: false,
            headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode, body: text }));
            res.on('error', (err) => resolve({ error: String(err) }));
          },
        );
        req.on('error', (err) => resolve({ error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` }));
        req.flushHeaders();
        req.write(body.slice(0, half));
        finish = () => req.end(body.slice(half));
      });
      return { outcome, finish };
    });
    await new Promise((r) => setTimeout(r, 500)); // every request's headers and half body are at the server
    child.kill('SIGTERM');
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    for (const r of requests) r.finish();
    const outcomes = requests.map((r) => r.outcome);
    const results = await Promise.all(outcomes);
    const code = await exited;
    keepAlive.destroy();

    const failed = results.filter((r) => r.error || r.status !== 200);
    expect(failed, output).toEqual([]);
    for (const r of results) expect(JSON.parse(r.body!)).toHaveProperty('access_token');
    expect(code, output).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000); // the idle keep-alive connection didn't hold it up
    expect(output).toContain('shutdown.draining');
    expect(output).toContain('shutdown.drained');
    expect(output).toContain('shutdown.store_closed');
  });
});
