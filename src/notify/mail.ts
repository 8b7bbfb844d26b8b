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

export function createMailSender(opts: { smtpUrl: string | null; from: string; outbox: DevOutbox | null; log: Logger }): MailSender {
  if (!opts.smtpUrl) {
    if (!opts.outbox) throw new Error('No SMTP_URL configured and the dev outbox is off: email cannot be sent');
    const outbox = opts.outbox;
    return { async send(m) { outbox.add({ channel: 'email', to: m.to, subject: m.subject, text: m.text }); } };
  }
  const transport = nodemailer.createTransport(opts.smtpUrl);
  return {
    async send(m) {
      await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text, html: m.html });
      opts.log.info({ event: 'mail.sent', subject: m.subject }, 'mail sent');
    },
  };
}
