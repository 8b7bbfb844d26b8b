// `NODE_ENV=production npm ci && npm start` (README, Dockerfile-less deployments) installs no
// devDependencies, so `npm start`'s build must work with dependencies alone. This runs the real
// `npm start` in a copy of the project whose node_modules holds only the packages package-lock.json
// marks as production ones (linked from this checkout: same versions, no download), with a production
// environment, and waits for discovery.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A project copy with production-only node_modules, as `npm ci --omit=dev` (NODE_ENV=production) lays out. */
function productionCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-prod-'));
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; bin?: string | Record<string, string> }>;
  };
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  for (const [key, entry] of Object.entries(lock.packages)) {
    // Top-level packages only (nested ones come with their parent); optional ones for other platforms are absent.
    if (!/^node_modules\/(@[^/]+\/)?[^/]+$/.test(key) || entry.dev) continue;
    const source = path.join(ROOT, key);
    if (!fs.existsSync(source)) continue;
    fs.mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
    fs.symlinkSync(source, path.join(dir, key));
    const bins = typeof entry.bin === 'string' ? { [path.basename(key)]: entry.bin } : (entry.bin ?? {});
    for (const [name, rel] of Object.entries(bins)) fs.symlinkSync(path.join(source, rel), path.join(dir, 'node_modules', '.bin', name));
  }
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  for (const d of ['src', 'config', 'views', 'public', 'locales']) fs.cpSync(path.join(ROOT, d), path.join(dir, d), { recursive: true });
  return dir;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let dir: string;
let child: ChildProcess | undefined;

beforeAll(() => {
  dir = productionCopy();
});
afterAll(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    process.kill(-child.pid, 'SIGTERM'); // npm → sh → node: the whole group this test started
    await exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('production start', () => {
  it('`npm start` builds and serves with production dependencies only', async () => {
    expect(fs.existsSync(path.join(dir, 'node_modules', 'vitest'))).toBe(false); // really no devDependencies
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    child = spawn('npm', ['start'], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        // Not the node_modules/.bin directories npm/npx put on this process's PATH (they hold devDependencies).
        PATH: (process.env.PATH ?? '').split(path.delimiter).filter((p) => !p.includes(`node_modules${path.sep}.bin`)).join(path.delimiter),
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        PORT: String(port),
        ISSUER: issuer,
        DATA_DIR: path.join(dir, 'data'),
        COOKIE_SECRETS: 'production-start-test-cookie-secret-0123456789',
        DATA_KEY: 'production-start-test-data-key-0123456789abcd',
        SMTP_URL: 'smtp://127.0.0.1:2525', // needn't exist to start
        LOG_LEVEL: 'info',
      },
    });
    let output = '';
    child.stdout!.on('data', (b) => (output += b));
    child.stderr!.on('data', (b) => (output += b));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + 90_000;
    let discovery: { issuer?: string; token_endpoint?: string } | undefined;
    while (!discovery && Date.now() < deadline) {
      const done = await Promise.race([exited.then((code) => ({ code })), new Promise((r) => setTimeout(r, 250))]);
      if (done) throw new Error(`npm start exited (code ${(done as { code: number | null }).code}):\n${output}`);
      try {
        const res = await fetch(`${issuer}/.well-known/openid-configuration`);
        if (res.ok) discovery = (await res.json()) as typeof discovery;
      } catch {
        // not listening yet
      }
    }
    expect(discovery, `no discovery within 90 s:\n${output}`).toBeDefined();
    expect(discovery!.issuer).toBe(issuer);
    expect(discovery!.token_endpoint).toBe(`${issuer}/token`);
  }, 120_000);
});
