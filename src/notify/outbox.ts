// The development outbox: in development with no SMTP / Vonage credentials, messages land here (and on
// the console) so a developer can read codes at /dev/outbox. Never enabled in production.
export interface OutboxMessage {
  at: Date;
  channel: 'email' | 'sms';
  to: string;
  subject?: string;
  text: string;
}

export class DevOutbox {
  private readonly messages: OutboxMessage[] = [];
  constructor(private readonly onMessage: (m: OutboxMessage) => void = () => {}) {}
  add(m: Omit<OutboxMessage, 'at'>) {
    const msg = { ...m, at: new Date() };
    this.messages.unshift(msg);
    this.messages.length = Math.min(this.messages.length, 200);
    this.onMessage(msg);
  }
  list(): readonly OutboxMessage[] {
    return this.messages;
  }
}
