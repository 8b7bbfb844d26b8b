// Stands in for Vonage's network endpoint only: answers POST /sms/json the way Vonage does and records
// each message. Tessera's sender and the real Vonage SDK run against it (restHost).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import crypto from 'node:crypto';

export interface SentSms {
  to: string;
  from: string;
  text: string;
  auth: string | undefined;
}

/** 'hang': takes the request and never answers (a Vonage endpoint that went silent). */
export type StubMode = 'ok' | 'error-status' | 'http-500' | 'drop' | 'hang';

export class VonageStub {
  readonly messages: SentSms[] = [];
  mode: StubMode = 'ok';
  /** In 'ok' mode: how long to wait before recording and answering each message (a slow Vonage). */
  delayMs = 0;
  private server!: http.Server;
  port = 0;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (this.delayMs > 0 && this.mode === 'ok') setTimeout(answer, this.delayMs);
        else answer();
      });
      const answer = () => {
        if (req.method !== 'POST' || !req.url?.startsWith('/sms/json')) {
          res.writeHead(404).end();
          return;
        }
        if (this.mode === 'hang') return;
        if (this.mode === 'drop') {
          req.socket.destroy();
          return;
        }
        if (this.mode === 'http-500') {
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = (req.headers['content-type'] ?? '').includes('json')
          ? (JSON.parse(raw) as Record<string, string>)
          : Object.fromEntries(new URLSearchParams(raw));
        const to = String(body.to ?? '');
        if (this.mode === 'error-status') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({ 'message-count': '1', messages: [{ status: '4', 'error-text': 'Bad Credentials' }] }),
          );
          return;
        }
        this.messages.push({ to, from: String(body.from ?? ''), text: String(body.text ?? ''), auth: req.headers.authorization });
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            'message-count': '1',
            messages: [{ to, 'message-id': crypto.randomUUID(), status: '0', 'remaining-balance': '10.00', 'message-price': '0.03', network: '23410' }],
          }),
        );
      };
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Messages to an E.164 number (Vonage receives it without the "+"). */
  to(e164: string): SentSms[] {
    return this.messages.filter((m) => m.to === e164.replace(/^\+/, ''));
  }

  async waitFor(e164: string, count = 1, timeoutMs = 10_000): Promise<SentSms> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const got = this.to(e164);
      if (got.length >= count) return got[got.length - 1];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`expected ${count} SMS to ${e164}, got ${this.to(e164).length}`);
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
