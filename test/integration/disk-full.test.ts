// A store that can't be written (issue 12, item 6), with a real fault: the running Tessera process's
// file-size limit is lowered (prlimit, RLIMIT_FSIZE) so every write to its database fails in the kernel
// (EFBIG; Node ignores SIGXFSZ, so the process lives), then raised again. While writes fail, requests
// that write answer 503 with Retry-After (JSON temporarily_unavailable to OAuth clients, a page to
// browsers) instead of a 500 HTML page; discovery, JWKS, static files and /healthz keep answering 200
// (they used to fail with the other requests' commits); /readyz says 503. Once the disk takes writes
// again, everything recovers by itself.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera } from '../support/tessera.ts';
import { spawnTessera, type TesseraProcess } from '../support/tessera-process.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { httpRp, authUrl, REDIRECT } from '../support/rp-http.ts';
import { ClientService } from '../../src/admin/clients.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-diskfull-'));
let tessera: TesseraProcess | undefined;

afterAll(async () => {
  if (tessera) {
    execFileSync('prlimit', ['--pid', String(tessera.pid), '--fsize=unlimited:unlimited'], { stdio: 'ignore' });
    tessera.child.kill('SIGKILL');
    await tessera.exited;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** The process's file-size limit (soft; the hard limit stays unlimited, so it can be raised again). */
function limitFileSize(pid: number, bytes: number | 'unlimited') {
  execFileSync('prlimit', ['--pid', String(pid), `--fsize=${bytes}:unlimited`]);
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('disk full', () => {
  it('answers 503 + Retry-After where a write is needed, keeps serving what needs none, and recovers by itself', async () => {
    // The clients, made in the same store by an in-process Tessera before the real one starts.
    const seed = await startTessera({ dataDir });
    const services = seed.built.services;
    const clients = new ClientService(services.store, services.box, services.provider);
    const service = await clients.create({ client_name: 'Service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid' });
    const app = await clients.create({ client_name: 'App', redirect_uris: ['http://127.0.0.1:9/cb'], scope: 'openid' });
    await seed.stop({ keepData: true });

    tessera = await spawnTessera({ dataDir });
    await tessera.waitFor('Tessera listening');
    const base = tessera.issuer;
    const auth = `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`;
    // A client's request as most HTTP libraries send it: Accept */* (it used to get an HTML 500 page).
    const token = () =>
      fetch(`${base}/token`, { method: 'POST', headers: { authorization: auth, accept: '*/*', 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    const status = async (p: string) => (await fetch(`${base}${p}`)).status;

    expect((await token()).status).toBe(200);

    limitFileSize(tessera.pid, 4096);

    const refused = await token();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.headers.get('content-type')).toMatch(/application\/json/);
    expect(await refused.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });

    // Token requests keep failing beside the ones that need no write: those all answer.
    let load = true;
    const tokenStatuses: number[] = [];
    const loaders = Array.from({ length: 8 }, async () => {
      while (load) tokenStatuses.push((await token()).status);
    });
    const reads: Record<string, number[]> = { '/.well-known/openid-configuration': [], '/jwks': [], '/healthz': [], '/static/tessera.css': [] };
    for (let round = 0; round < 15; round++) for (const p of Object.keys(reads)) reads[p].push(await status(p));
    load = false;
    await Promise.all(loaders);
    for (const [p, statuses] of Object.entries(reads)) expect({ p, statuses }).toEqual({ p, statuses: statuses.map(() => 200) });
    expect(tokenStatuses.length).toBeGreaterThan(0);
    expect(new Set(tokenStatuses)).toEqual(new Set([503]));

    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');

    // A browser starting a sign-in (the interaction can't be saved): a page saying so, with the request id.
    const page = await fetch(`${base}/auth?client_id=${app.client_id}&response_type=code&scope=openid&state=s1&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('5');
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('Temporarily unavailable');
    expect(html).toContain(`Reference: ${page.headers.get('x-request-id')}`);
    expect(html).not.toMatch(/SQLITE|disk I\/O|at .*\.ts:/);

    const out = tessera.output();
    expect(out).toContain('"event":"store.unavailable"');
    expect(out).toContain('"event":"readiness.lost"');

    // Room again: recovers without a restart.
    limitFileSize(tessera.pid, 'unlimited');
    const recovered = await until(token, (r) => r.status === 200);
    expect(recovered.status).toBe(200);
    expect(await recovered.json()).toHaveProperty('access_token');
    expect((await until(() => fetch(`${base}/readyz`), (r) => r.status === 200)).status).toBe(200);
    await tessera.waitFor('"event":"readiness.restored"', 15_000);

    const { code } = await tessera.stop();
    expect(code, tessera.output()).toBe(0);
    tessera = undefined;
  }, 180_000);
});

describe('disk full at the end of a sign-in', () => {
  it('sends the browser back to the relying party with error=temporarily_unavailable (and its state) instead of the code', async () => {
    const t = await startTessera();
    try {
      const rp = await httpRp(t);
      await t.built.services.accounts.register({ name: 'Ada', email: 'ada@example.com', password: 'a long enough passphrase', email_verified: true });
      const http = new HttpClient(t.issuer);
      const started = await authUrl(rp);
      const { res, url } = await http.follow(started.url.href);
      const uid = new URL(url).pathname;
      const login = await http.post(`${uid}/login`, { _csrf: csrfOf(await res.text()), email: 'ada@example.com', password: 'a long enough passphrase' });
      expect(login.status).toBe(302);
      // Up to oidc-provider's resume (/auth/:uid), which issues the code and redirects to the RP.
      let resume = login.headers.get('location')!;
      for (let hops = 0; !new URL(resume, t.issuer).pathname.startsWith('/auth/'); hops++) {
        expect(hops).toBeLessThan(5);
        const step = await http.get(resume);
        resume = step.headers.get('location')!;
      }

      // This test's own process is the server here: its writes fail in the kernel while the limit holds.
      limitFileSize(process.pid, 4096);
      let back: Response;
      try {
        back = await http.get(resume);
      } finally {
        limitFileSize(process.pid, 'unlimited');
      }
      expect(back.status, `${back.headers.get("location")} ${(await back.clone().text()).slice(0, 300)}`).toBe(303);
      const location = new URL(back.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe('temporarily_unavailable');
      expect(location.searchParams.get('state')).toBe(started.state);
      expect(location.searchParams.get('iss')).toBe(t.issuer);
      expect(location.searchParams.has('code')).toBe(false); // the code wasn't saved: it mustn't go out
      expect(back.headers.getSetCookie()).toEqual([]);
    } finally {
      await t.stop();
    }
  }, 120_000);
});
