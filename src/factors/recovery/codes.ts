// Recovery codes: created when the first second factor is turned on, shown once, stored as keyed
// hashes, each usable once (atomic removal in the store).
import type { Store } from '../../store/ports.ts';
import { randomId, type SecretBox } from '../../secrets.ts';
import { newFactor, withFactor } from '../records.ts';
import crypto from 'node:crypto';

const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no look-alikes (0/o, 1/l/i)

function recoveryCode(): string {
  const chars = Array.from({ length: 10 }, () => ALPHABET[crypto.randomInt(ALPHABET.length)]);
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`;
}

export const normaliseRecoveryCode = (input: string) => input.trim().toLowerCase().replace(/[\s-]+/g, '');

export class RecoveryCodes {
  constructor(private readonly store: Store, private readonly box: SecretBox) {}

  /** Replaces any earlier set (they stop working); returns the plain codes for one-time display. */
  async generate(accountId: string, count = 10): Promise<string[]> {
    const account = await this.store.accounts.findById(accountId);
    if (!account) return [];
    const codes = Array.from({ length: count }, recoveryCode);
    // The data key's id is kept beside the hashes: after a data key rotation, `keys reencrypt` can tell
    // which sets still need an older key (a keyed hash can't be re-made without the code).
    const record = newFactor('recovery', { codes: codes.map((c) => this.box.mac(normaliseRecoveryCode(c))), key: this.box.currentKeyId }, () => randomId(9));
    await this.store.accounts.update(accountId, { factors: withFactor(account.factors, record) });
    return codes;
  }

  async use(accountId: string, input: string): Promise<boolean> {
    const norm = normaliseRecoveryCode(input);
    if (norm.length !== 10) return false;
    // Under each data key in use, current first: codes made before a rotation keep working.
    for (const hash of this.box.macs(norm)) if (await this.store.accounts.useRecoveryCode(accountId, hash)) return true;
    return false;
  }
}
