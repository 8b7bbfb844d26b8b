// Authenticator app (TOTP, RFC 6238): nothing is sent; the code from the app is checked against the
// secret (encrypted at rest), ±1 time step, and each step is accepted once (the store advances the last
// used step atomically, so a replayed code is refused even inside its 30 s window). Wrong codes count
// as failed sign-ins (the password throttle), so six digits can't be walked.
import type { AccountRecord, Store } from '../../store/ports.ts';
import type { SecretBox } from '../../secrets.ts';
import type { AccountService } from '../../accounts/service.ts';
import type { Factor, FactorContext, Started, Checked, FactorEnrolment, EnrolStarted, StepWords } from '../factor.ts';
import { factorData, hasFactor, newFactor } from '../records.ts';
import { checkTotp, newTotpSecret, otpauthUri, qrSvgDataUrl } from './totp.ts';
import { randomId } from '../../secrets.ts';

const WRONG = 'That code isn’t right. Check the time on your phone and enter the newest code.';

const PENDING = 'TesseraTotpEnrol'; // a secret shown for scanning, until its first code comes back
const PENDING_SECONDS = 15 * 60;

export class TotpFactor implements Factor {
  readonly type = 'totp' as const;
  readonly amr = 'otp';
  readonly offer = 'Use my authenticator app';
  readonly name = 'Authenticator app';
  readonly words: StepWords = {
    title: 'Enter your authenticator code', lead: () => 'Open your authenticator app and enter the 6-digit code it shows for this account.',
    field: 'code', label: 'Code from the app',
  };
  readonly enrolment: FactorEnrolment;

  constructor(private readonly deps: { store: Store; box: SecretBox; accounts: AccountService; issuerLabel: string }) {
    this.enrolment = this.makeEnrolment();
  }

  /**
   * Enrolment shows a QR code (rendered here, no outside service) and the secret as text; the factor
   * exists only once a first correct code comes back, so a half-scanned secret never guards a sign-in.
   * The pending secret is kept server-side (encrypted) for this browser's /account context only.
   */
  private makeEnrolment(): FactorEnrolment {
    const { store, box, issuerLabel } = this.deps;
    const show = async (a: AccountRecord, secret: string): Promise<EnrolStarted> => {
      const uri = otpauthUri({ secret, issuerLabel, accountName: a.email });
      return { ok: true, kind: 'secret', secret, uri, qr: await qrSvgDataUrl(uri) };
    };
    const pending = async (a: AccountRecord, c: FactorContext) => {
      const rec = (await store.oidc.find(PENDING, c.context)) as { accountId?: string; secret?: string } | undefined;
      return rec?.accountId === a.id && rec.secret ? box.decrypt(rec.secret) : null;
    };
    return {
      words: {
        on: 'Set up an authenticator app', off: 'Remove the authenticator app', lead: '', label: 'Code from the app',
        start: 'You’ll scan a QR code with an authenticator app on your phone.', button: 'Show the QR code',
      },
      blocked: () => null,
      begin: async (a, c) => {
        const secret = newTotpSecret();
        await store.oidc.upsert(PENDING, c.context, { accountId: a.id, secret: box.encrypt(secret) }, new Date(Date.now() + PENDING_SECONDS * 1000));
        return show(a, secret);
      },
      again: async (a, c) => {
        const secret = await pending(a, c);
        return secret ? show(a, secret) : { ok: false, message: 'This set-up took too long. Start again.', status: 400 };
      },
      resend: (a, c) => this.enrolment.again(a, c),
      finish: async (a, answer, c) => {
        const secret = await pending(a, c);
        if (!secret) return { ok: false, message: 'This set-up took too long. Start again.', status: 400 };
        const outcome = await this.deps.accounts.guarded(a, c.ip, async () => firstTotpStep(secret, answer) !== null);
        if (outcome !== 'ok') return { ok: false, message: outcome === 'throttled' ? 'Too many failed attempts. Try again later.' : WRONG, status: outcome === 'throttled' ? 429 : 400 };
        const step = firstTotpStep(secret, answer)!;
        await store.oidc.destroy(PENDING, c.context);
        return { ok: true, record: newFactor('totp', { secret: box.encrypt(secret), lastStep: step }, () => randomId(9)) };
      },
    };
  }

  enabled(a: AccountRecord) {
    return hasFactor(a.factors, 'totp');
  }

  usable(a: AccountRecord) {
    return this.enabled(a);
  }

  async start(): Promise<Started> {
    return { ok: true, sent: false, cooldown: 0, destination: null };
  }

  resend(): Promise<Started> {
    return this.start();
  }

  async verify(a: AccountRecord, answer: string, c: FactorContext): Promise<Checked> {
    const data = factorData(a.factors, 'totp');
    if (!data) return { ok: false, message: WRONG, status: 400 };
    let replayed = false;
    const outcome = await this.deps.accounts.guarded(a, c.ip, async () => {
      const r = checkTotp({ secret: this.deps.box.decrypt(data.secret), code: answer, lastStep: data.lastStep });
      if (!r.ok) {
        replayed = r.reason === 'replayed';
        return false;
      }
      // Two requests with the same code: only one advances the step.
      if (await this.deps.store.accounts.advanceTotpStep(a.id, r.step)) return true;
      replayed = true;
      return false;
    });
    if (outcome === 'ok') return { ok: true };
    if (outcome === 'throttled') return { ok: false, message: 'Too many failed attempts. Try again later, or use another way.', status: 429 };
    return { ok: false, message: replayed ? 'That code was already used. Wait for the next one in your app.' : WRONG, status: 400 };
  }
}

/** Checks a first code against a secret being enrolled (not stored yet): the step it proved, or null. */
export function firstTotpStep(secret: string, code: string): number | null {
  const r = checkTotp({ secret, code, lastStep: 0 });
  return r.ok ? r.step : null;
}
