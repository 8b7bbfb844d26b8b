// Email through nodemailer over SMTP (SMTP_URL), or the dev outbox when none is configured in development.
import nodemailer from 'nodemailer';
import type { DevOutbox } from './outbox.ts';
import type { Logger } from '../log.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface MailSender {
  send(msg: MailMessage): Promise<void>;
}

export function createMailSender(opts: { smtpUrl: string | null; from: string; timeoutSeconds?: number; outbox: DevOutbox | null; log: Logger }): MailSender {
  if (!opts.smtpUrl) {
    if (!opts.outbox) throw new Error('No SMTP_URL configured and the dev outbox is off: email cannot be sent');
    const outbox = opts.outbox;
    return { async send(m) { outbox.add({ channel: 'email', to: m.to, subject: m.subject, text: m.text }); } };
  }
  // nodemailer waits 2 min to connect, 30 s for the greeting and 10 min on an idle socket by default:
  // bound each by SMTP_TIMEOUT_SECONDS so a silent server fails the send instead of holding the page.
  const ms = (opts.timeoutSeconds ?? 10) * 1000;
  const transport = nodemailer.createTransport({ url: opts.smtpUrl, connectionTimeout: ms, greetingTimeout: ms, socketTimeout: ms, dnsTimeout: ms });
  return {
    async send(m) {
      await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text, html: m.html });
      opts.log.info({ event: 'mail.sent', subject: m.subject }, 'mail sent');
    },
  };
}
