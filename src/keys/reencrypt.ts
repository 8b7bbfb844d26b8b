// After a data key rotation: every secret stored encrypted (client secrets, authenticator secrets) is
// decrypted with whichever key in use opens it and encrypted again with the current one, so the older
// keys can go. Each swap is a compare-and-set in the store: a secret an admin rotates or a user changes
// meanwhile is never overwritten with the old one.
//
// Keyed hashes can't be re-made without what they hash: recovery codes stay under the key they were
// made with (their set records its id) and keep working while that key is in use; the report counts
// them. Short-lived ones (sign-in codes, sign-ins in progress, authenticator set-ups) expire within the
// hour and are left to do so.
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import { factorData, factorOf } from '../factors/records.ts';

export interface SecretsReport {
  /** Now under the current key because this run re-encrypted them. */
  reencrypted: number;
  /** Already under the current key. */
  current: number;
  /** Still under an older key (found with `dryRun`, or changed by someone else during every attempt). */
  older: number;
  /** Opened by no key in use (ids): lost already, nothing here can bring them back. */
  unreadable: string[];
}

export interface ReencryptReport {
  /** keyId() of the data key that encrypts now. */
  dataKey: string;
  clientSecrets: SecretsReport;
  totpSecrets: SecretsReport;
  recoveryCodeSets: {
    current: number;
    /** Made under an older key still in use: they work while it is kept. */
    olderKey: number;
    /** Made before sets recorded their key: under the current key or an older one, which can't be told. */
    untracked: number;
    /** Made under a key no longer in use: they no longer work (the users can make new ones). */
    keyGone: number;
  };
  /** Whether anything stored still needs a key other than the current one (untracked sets count, to be safe). */
  olderKeysNeeded: boolean;
}

const PAGE = 200;
const ATTEMPTS = 5;

const emptySecrets = (): SecretsReport => ({ reencrypted: 0, current: 0, older: 0, unreadable: [] });

/**
 * Re-encrypts (or with `dryRun` only counts) every stored secret not under the current key.
 * `read` returns the ciphertext stored now (null: gone); `swap` is the store's compare-and-set.
 */
async function migrate(
  box: SecretBox, report: SecretsReport, id: string, dryRun: boolean,
  read: () => Promise<string | null>, swap: (from: string, to: string) => Promise<boolean>,
) {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const stored = await read();
    if (stored === null) return; // deleted meanwhile
    let opened: { plain: string; keyIndex: number };
    try {
      opened = box.open(stored);
    } catch {
      report.unreadable.push(id);
      return;
    }
    if (opened.keyIndex === 0) {
      report.current++;
      return;
    }
    if (dryRun) break;
    if (await swap(stored, box.encrypt(opened.plain))) {
      report.reencrypted++;
      return;
    }
  }
  report.older++;
}

export async function reencryptSecrets(store: Store, box: SecretBox, opts: { dryRun?: boolean } = {}): Promise<ReencryptReport> {
  const dryRun = opts.dryRun ?? false;
  const report: ReencryptReport = {
    dataKey: box.currentKeyId,
    clientSecrets: emptySecrets(),
    totpSecrets: emptySecrets(),
    recoveryCodeSets: { current: 0, olderKey: 0, untracked: 0, keyGone: 0 },
    olderKeysNeeded: false,
  };
  for (const client of await store.clients.list()) {
    if (!client.secretEncrypted) continue;
    await migrate(
      box, report.clientSecrets, client.clientId, dryRun,
      async () => (await store.clients.find(client.clientId))?.secretEncrypted ?? null,
      (from, to) => store.clients.replaceSecret(client.clientId, from, to),
    );
  }
  const inUse = new Set(box.keyIds);
  for (let offset = 0; ; offset += PAGE) {
    const accounts = await store.accounts.list({ limit: PAGE, offset });
    for (const account of accounts) {
      if (factorOf(account.factors, 'totp')) {
        await migrate(
          box, report.totpSecrets, account.id, dryRun,
          async () => {
            const fresh = await store.accounts.findById(account.id);
            return fresh ? (factorData(fresh.factors, 'totp')?.secret ?? null) : null;
          },
          (from, to) => store.accounts.replaceTotpSecret(account.id, from, to),
        );
      }
      const recovery = factorData(account.factors, 'recovery');
      if (recovery?.codes.length) {
        const sets = report.recoveryCodeSets;
        if (recovery.key === undefined) sets.untracked++;
        else if (recovery.key === box.currentKeyId) sets.current++;
        else if (inUse.has(recovery.key)) sets.olderKey++;
        else sets.keyGone++;
      }
    }
    if (accounts.length < PAGE) break;
  }
  const { clientSecrets: c, totpSecrets: t, recoveryCodeSets: r } = report;
  report.olderKeysNeeded = c.older + t.older + r.olderKey > 0 || (r.untracked > 0 && box.keyIds.length > 1);
  return report;
}
