// Recovery codes as a second step: one of the account's single-use codes instead of its factor. They
// back up the user's own factors and meet `…:mfa`, never `…:mfa:sms` (the acr model says which
// methods meet which ACR). Wrong codes count as failed sign-ins.
import type { AccountRecord } from '../../store/ports.ts';
import type { AccountService } from '../../accounts/service.ts';
import type { Factor, FactorContext, Started, Checked, StepWords } from '../factor.ts';
import { recoveryCodesLeft } from '../records.ts';
import type { RecoveryCodes } from './codes.ts';

export class RecoveryFactor implements Factor {
  readonly type = 'recovery' as const;
  readonly amr = 'rec';
  readonly offer = 'Use a recovery code';
  readonly name = 'Recovery codes';
  readonly words: StepWords = {
    title: 'Use a recovery code', lead: () => 'Enter one of the recovery codes you saved when you turned on two-step sign-in. Each works once.',
    field: 'recovery_code', label: 'Recovery code',
  };

  constructor(private readonly deps: { accounts: AccountService; recovery: RecoveryCodes }) {}

  enabled() {
    return false; // never a step of its own choosing: only "another way"
  }

  usable(a: AccountRecord) {
    return recoveryCodesLeft(a.factors) > 0;
  }

  async start(): Promise<Started> {
    return { ok: true, sent: false, cooldown: 0, destination: null };
  }

  resend(): Promise<Started> {
    return this.start();
  }

  async verify(a: AccountRecord, answer: string, c: FactorContext): Promise<Checked> {
    const outcome = await this.deps.accounts.guarded(a, c.ip, () => this.deps.recovery.use(a.id, answer));
    if (outcome === 'ok') return { ok: true };
    if (outcome === 'throttled') return { ok: false, message: 'Too many failed attempts. Try again later.', status: 429 };
    return { ok: false, message: 'That recovery code isn’t valid or was already used.', status: 400 };
  }
}
