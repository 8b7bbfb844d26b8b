// Stands in for Vonage's /sms/json endpoint (Tessera's real Vonage SDK posts here through
// VONAGE_REST_HOST). Unlike test/support/vonage-stub.ts it hands each number's code to a waiting flow at
// once instead of being polled every 50 ms, which would land in the measured login latency.
import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';

export class SmsStub {
  private server!: http.Server;
  private readonly codes = new Map<string, string>();
  private readonly waiters = new Map<string, (code: string) => void>();
  received = 0;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || !req.url?.startsWith('/sms/json')) return void res.writeHead(404).end();
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = (req.headers['content-type'] ?? '').includes('json') ? (JSON.parse(raw) as Record<string, string>) : Object.fromEntries(new URLSearchParams(raw));
        const to = String(body.to ?? '');
        const code = /\b(\d{6,10})\b/.exec(String(body.text ?? ''))?.[1] ?? '';
        this.received++;
        const waiter = this.waiters.get(to);
        if (waiter) (this.waiters.delete(to), waiter(code));
        else this.codes.set(to, code);
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ 'message-count': '1', messages: [{ to, 'message-id': crypto.randomUUID(), status: '0', 'remaining-balance': '10.00', 'message-price': '0.03', network: '20801' }] }),
        );
      });
    });
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The code last texted to an E.164 number, once; waits for it when it hasn't arrived yet. */
  take(e164: string, timeoutMs = 10_000): Promise<string> {
    const to = e164.replace(/^\+/, '');
    const code = this.codes.get(to);
    if (code !== undefined) {
      this.codes.delete(to);
      return Promise.resolve(code);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (this.waiters.delete(to), reject(new Error(`no SMS to ${e164} within ${timeoutMs} ms`))), timeoutMs);
      this.waiters.set(to, (c) => (clearTimeout(timer), resolve(c)));
    });
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
