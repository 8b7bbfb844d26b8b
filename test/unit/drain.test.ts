// src/http/drain.ts: a drain waits for requests in flight, cuts them after the grace period, and
// doesn't wait for idle keep-alive connections.
import { describe, it, expect } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { trackRequests } from '../../src/http/drain.ts';

async function serve(handler: http.RequestListener) {
  const server = http.createServer();
  const drainer = trackRequests(server);
  server.on('request', handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, drainer, port: (server.address() as AddressInfo).port };
}

function get(port: number, agent?: http.Agent): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
      })
      .on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code }));
  });
}

describe('drain', () => {
  it('lets a request in flight finish, then resolves; an idle keep-alive connection does not hold it up', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { drainer, port } = await serve(async (_req, res) => {
      await held;
      res.end('ok');
    });
    const agent = new http.Agent({ keepAlive: true });
    release(); // the first request is answered at once and leaves its kept-alive connection idle
    expect((await get(port, agent)).status).toBe(200);

    let releaseSlow!: () => void;
    const slowHeld = new Promise<void>((r) => (releaseSlow = r));
    const slow = await serve(async (_req, res) => {
      await slowHeld;
      res.end('late but whole');
    });
    const inFlight = get(slow.port);
    await new Promise((r) => setTimeout(r, 100));
    expect(slow.drainer.inFlight()).toBe(1);
    const draining = slow.drainer.drain(5_000);
    setTimeout(releaseSlow, 200);
    const started = Date.now();
    expect(await draining).toEqual({ inFlightAtStart: 1, cut: 0, finished: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await inFlight).toEqual({ status: 200 });

    const idleDrain = await drainer.drain(5_000);
    expect(idleDrain).toEqual({ inFlightAtStart: 0, cut: 0, finished: true });
    agent.destroy();
  });

  it('cuts what is still in flight when the grace period runs out', async () => {
    const { drainer, port } = await serve(() => {}); // never answers
    const stuck = get(port);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    expect(await drainer.drain(300)).toEqual({ inFlightAtStart: 1, cut: 1, finished: false });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect((await stuck).error).toBe('ECONNRESET');
  });

  it('stops accepting new connections', async () => {
    const { drainer, port } = await serve((_req, res) => res.end('ok'));
    await drainer.drain(1_000);
    expect((await get(port)).error).toBe('ECONNREFUSED');
  });
});
