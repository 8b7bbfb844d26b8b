// The factor registry as the app wires it: adding a factor is a folder here and one line below.
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import type { ChallengeEngine } from '../challenges/engine.ts';
import type { AccountService } from '../accounts/service.ts';
import type { RecoveryCodes } from './recovery/codes.ts';
import { FactorRegistry } from './registry.ts';
import { TotpFactor } from './totp/factor.ts';
import { smsFactor } from './sms/factor.ts';
import { emailFactor } from './email/factor.ts';
import { RecoveryFactor } from './recovery/factor.ts';

export function createFactorRegistry(deps: { store: Store; box: SecretBox; challenges: ChallengeEngine; accounts: AccountService; recovery: RecoveryCodes; issuerLabel: string }) {
  return new FactorRegistry([
    new TotpFactor(deps),
    smsFactor(deps),
    emailFactor(deps),
    new RecoveryFactor(deps),
  ]);
}
