// Recovery codes: created when the first second factor is turned on, shown once, stored as keyed
// hashes, each usable once (atomic removal in the store).
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import crypto from 'node:crypto';

const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no look-alikes (0/o, 1/l/i)

function recoveryCode(): string {
  const chars = Array.from({ length: 10 }, () => ALPHABET[crypto.randomInt(ALPHABET.length)]);
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`;
}

export const normaliseRecoveryCode = (input: string) => input.trim().toLowerCase().replace(/[\s-]+/g, '');

export class RecoveryCodes {
  constructor(private readonly store: Store, private readonly box: SecretBox) {}

  /** Replaces any earlier set; returns the plain codes for one-time display. */
  async generate(accountId: string, count = 10): Promise<string[]> {
    const codes = Array.from({ length: count }, recoveryCode);
    await this.store.accounts.update(accountId, { recoveryCodes: codes.map((c) => this.box.mac(normaliseRecoveryCode(c))) });
    return codes;
  }

  async use(accountId: string, input: string): Promise<boolean> {
    const norm = normaliseRecoveryCode(input);
    if (norm.length !== 10) return false;
    return this.store.accounts.useRecoveryCode(accountId, this.box.mac(norm));
  }
}
