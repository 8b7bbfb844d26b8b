// The wired-up domain services handed to route modules (injected, never imported as singletons, so
// tests can build an app over any store).
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Store } from './store/ports.ts';
import type { Logger } from './log.ts';
import type { AccountService } from './accounts/service.ts';
import type { ChallengeEngine } from './challenges/engine.ts';
import type { RecoveryCodes } from './factors/recovery/codes.ts';
import type { AcrModel } from './oidc/acr.ts';
import type { Renderer } from './http/render.ts';
import type { DevOutbox } from './notify/outbox.ts';
import type { SecretBox } from './secrets.ts';
import type { FormGuard } from './guard/limits.ts';
import type { AccountUnlock } from './guard/unlock.ts';
import type { SecurityNotices } from './notify/notices.ts';
import type { FactorRegistry } from './factors/registry.ts';
import type { Metrics } from './ops/metrics.ts';
import type { ClientLogos } from './branding/client-logos.ts';

export interface Services {
  config: Config;
  store: Store;
  log: Logger;
  provider: Provider;
  accounts: AccountService;
  challenges: ChallengeEngine;
  recovery: RecoveryCodes;
  acr: AcrModel;
  render: Renderer;
  outbox: DevOutbox | null;
  box: SecretBox;
  /** Per-IP and global caps on registration and forgot-password. */
  guards: FormGuard;
  /** The emailed way back from an account-wide password lockout. */
  unlock: AccountUnlock;
  notices: SecurityNotices;
  factors: FactorRegistry;
  /** Prometheus counters (sign-ins, codes, ...), served at /metrics. */
  metrics: Metrics;
  /** The cookie keys in use, current first (one live list: a rotation changes it in place, src/keys/). */
  cookieKeys: readonly string[];
  /** Clients' logo_uri images, fetched once, checked, served from /client-logo/ (src/branding/client-logos.ts). */
  clientLogos: ClientLogos;
  audit(type: string, accountId: string | null, ip: string | null, detail?: Record<string, unknown>): Promise<void>;
}
