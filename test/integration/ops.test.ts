// Operations (issue 12, item 8): /healthz and /readyz, request ids in headers, error pages and logs.
// /readyz turns 503 when the embedded store's file is deleted under the running process (it used to
// go on answering 200 and log nothing) and when MongoDB stops answering.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';

/** A logger at info whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 8_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('health endpoints and request ids (embedded store)', () => {
  let t: RunningTessera;
  const captured = capturingLogger();
  beforeAll(async () => {
    t = await startTessera({ log: captured.log });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('GET /healthz answers 200 {"status":"ok"}, JSON, not cacheable, with a request id', async () => {
    const res = await fetch(`${t.issuer}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 while the store is fine; a foreign Host is still refused', async () => {
    const res = await fetch(`${t.issuer}/readyz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'ok' });
    const post = await fetch(`${t.issuer}/readyz`, { method: 'POST' });
    expect(post.status).toBe(405);
    const foreign = await new Promise<number>((resolve, reject) => {
      const u = new URL(t.issuer);
      http.get({ host: u.hostname, port: u.port, path: '/readyz', headers: { host: 'evil.example' } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      }).on('error', reject);
    });
    expect(foreign).toBe(400);
  });

  it('an error page shows the request id the response header carries; the access log line has it, without the query', async () => {
    const res = await fetch(`${t.issuer}/no-such-page?code=do-not-log-me`, { headers: { accept: 'text/html', 'x-request-id': 'spoofed-by-client' } });
    expect(res.status).toBe(404);
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/); // not taken from a peer that isn't a trusted proxy
    expect(await res.text()).toContain(`Reference: ${id}`);
    const line = captured.lines.find((l) => l.event === 'http.request' && l.reqId === id);
    expect(line).toMatchObject({ method: 'GET', path: '/no-such-page', status: 404, level: 30 });
    expect(typeof line!.ms).toBe('number');
    expect(JSON.stringify(captured.lines)).not.toContain('do-not-log-me');
  });

  it('an error page from the provider (unknown client) shows the request id too', async () => {
    const res = await fetch(`${t.issuer}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.text()).toContain(`Reference: ${id}`);
  });

  it('a refused form post logs its refusal with the request id', async () => {
    const res = await fetch(`${t.issuer}/account/login`, { method: 'POST', headers: { accept: 'text/html', 'content-type': 'text/plain' }, body: 'x' });
    expect(res.status).toBe(415);
    const id = res.headers.get('x-request-id')!;
    expect(await res.text()).toContain(`Reference: ${id}`);
    expect(captured.lines.some((l) => l.msg === 'request refused' && l.reqId === id)).toBe(true);
  });

  it('GET /readyz turns 503 with Retry-After and a loud log once the database file is deleted', async () => {
    for (const f of ['tessera.db', 'tessera.db-wal', 'tessera.db-shm']) fs.rmSync(path.join(t.dataDir, f), { force: true });
    const res = await fetch(`${t.issuer}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'unavailable', reason: 'store unavailable' });
    const lost = captured.lines.find((l) => l.event === 'readiness.lost');
    expect(lost).toMatchObject({ level: 50, store: 'sqlite' });
    expect(String(lost!.reason)).toMatch(/deleted/);
    // /healthz still says the process is alive
    expect((await fetch(`${t.issuer}/healthz`)).status).toBe(200);
  });
});

describe('request ids from a trusted proxy', () => {
  let t: RunningTessera;
  beforeAll(async () => {
    t = await startTessera({ env: { TRUSTED_PROXIES: '127.0.0.1/32' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('keeps a sane X-Request-Id from the proxy, replaces one that is not', async () => {
    const kept = await fetch(`${t.issuer}/no-such-page`, { headers: { accept: 'text/html', 'x-request-id': 'lb-7f3a.42' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-7f3a.42');
    expect(await kept.text()).toContain('Reference: lb-7f3a.42');
    const replaced = await fetch(`${t.issuer}/healthz`, { headers: { 'x-request-id': '<script>' + 'x'.repeat(200) } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('GET /readyz on MongoDB', () => {
  let mongo: MongoTestServer;
  let t: RunningTessera;
  const captured = capturingLogger();
  beforeAll(async () => {
    mongo = await startMongoTestServer();
    t = await startTessera({ store: await openMongoStore({ uri: mongo.uri, readyTimeoutMs: 1_000 }), log: captured.log });
  });
  afterAll(async () => {
    await t?.stop().catch(() => undefined);
    await mongo?.stop().catch(() => undefined);
  });

  it('is 200 while the server answers and 503 (within its timeout) once it is gone', async () => {
    const ok = await fetch(`${t.issuer}/readyz`);
    expect(ok.status).toBe(200);
    await mongo.stop();
    const started = Date.now();
    const res = await until(() => fetch(`${t.issuer}/readyz`), (r) => r.status === 503);
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toEqual({ status: 'unavailable', reason: 'store unavailable' });
    expect(captured.lines.find((l) => l.event === 'readiness.lost')).toMatchObject({ level: 50, store: 'mongo' });
    expect((await fetch(`${t.issuer}/healthz`)).status).toBe(200);
  });
});
