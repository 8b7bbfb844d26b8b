// SMS through the Vonage SDK. VONAGE_REST_HOST points the SDK at another endpoint (tests, staging);
// without credentials in development, texts go to the dev outbox.
import { SMS } from '@vonage/sms';
import { Auth } from '@vonage/auth';
import type { DevOutbox } from './outbox.ts';
import type { Logger } from '../log.ts';

export interface SmsSender {
  /** Resolves when the provider accepted the message; rejects with SmsDeliveryError otherwise. */
  send(to: string, text: string): Promise<void>;
}

export class SmsDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmsDeliveryError';
  }
}

interface VonageOptions {
  apiKey: string | null;
  apiSecret: string | null;
  from: string;
  restHost: string | null;
}

export function createSmsSender(opts: { vonage: VonageOptions; timeoutSeconds?: number; outbox: DevOutbox | null; log: Logger }): SmsSender {
  const { apiKey, apiSecret, from, restHost } = opts.vonage;
  if (!apiKey || !apiSecret) {
    if (!opts.outbox) {
      // Start anyway (email-only deployments are valid); every SMS step then says it couldn't send.
      opts.log.warn('VONAGE_API_KEY / VONAGE_API_SECRET are not set: SMS codes cannot be sent');
      return { async send() { throw new SmsDeliveryError('SMS is not configured'); } };
    }
    const outbox = opts.outbox;
    return { async send(to, text) { outbox.add({ channel: 'sms', to, text }); } };
  }
  const timeoutMs = (opts.timeoutSeconds ?? 10) * 1000;
  // The SDK aborts its own request after `timeout` ms; the race below bounds the whole call regardless
  // (a Vonage endpoint that accepts and never answers must not hold a sign-in step).
  const client = new SMS(new Auth({ apiKey, apiSecret }), { ...(restHost ? { restHost } : {}), timeout: timeoutMs });
  return {
    async send(to, text) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SmsDeliveryError('timed out')), timeoutMs);
      });
      try {
        // Vonage wants the number without the leading "+".
        const res = await Promise.race([client.send({ to: to.replace(/^\+/, ''), from, text }), timedOut]);
        opts.log.info({ event: 'sms.sent', messageId: res.messages?.[0]?.messageId }, 'sms accepted by Vonage');
      } catch (err) {
        if (err instanceof SmsDeliveryError || (err as { name?: string }).name === 'AbortError') {
          opts.log.warn({ event: 'sms.failed', detail: 'timed out', timeoutSeconds: timeoutMs / 1000 }, 'Vonage did not answer in time');
          throw new SmsDeliveryError('timed out');
        }
        const e = err as { message?: string; response?: { messages?: { status?: string; errorText?: string; 'error-text'?: string }[] } };
        const first = e.response?.messages?.[0];
        const detail = first ? `status ${first.status}: ${first.errorText ?? first['error-text'] ?? ''}` : (e.message ?? String(err));
        opts.log.warn({ event: 'sms.failed', detail }, 'Vonage did not accept the SMS');
        throw new SmsDeliveryError(detail);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
