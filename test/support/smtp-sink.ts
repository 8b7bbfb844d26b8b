// A real SMTP server on loopback (smtp-server) that parses what it receives (mailparser), so tests read
// the mail Tessera actually sent through nodemailer.
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  /** The HTML part ('' when the mail had none). */
  html: string;
  /** The top-level Content-Type, e.g. multipart/alternative. */
  contentType: string;
}

export class SmtpSink {
  readonly mails: ReceivedMail[] = [];
  private server!: SMTPServer;
  port = 0;

  async start(): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, done) => {
        simpleParser(stream)
          .then((m) => {
            const to = session.envelope.rcptTo.map((r) => r.address).join(',');
            const type = m.headers.get('content-type') as { value?: string } | string | undefined;
            const contentType = typeof type === 'string' ? type : (type?.value ?? '');
            this.mails.push({ to, subject: m.subject ?? '', text: m.text ?? '', html: typeof m.html === 'string' ? m.html : '', contentType });
            done();
          })
          .catch(done);
      },
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Waits for a mail to `to` matching the filter (polls; mail delivery is asynchronous). */
  async waitFor(to: string, filter: (m: ReceivedMail) => boolean = () => true, timeoutMs = 10_000): Promise<ReceivedMail> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const hit = [...this.mails].reverse().find((m) => m.to.includes(to) && filter(m));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no mail to ${to} within ${timeoutMs} ms (got ${this.mails.length} mails)`);
  }

  async stop() {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function codeFrom(text: string): string {
  const m = /\b(\d{6})\b/.exec(text);
  if (!m) throw new Error(`no 6-digit code in: ${text}`);
  return m[1];
}
