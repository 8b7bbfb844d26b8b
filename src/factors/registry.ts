// The factors Tessera knows, in the default order of preference (authenticator app first: no SMS is
// sent to someone who has one unless they ask). Everything outside src/factors reaches a factor here.
import type { AccountRecord } from '../store/ports.ts';
import type { Factor } from './factor.ts';
import type { FactorType } from './records.ts';

export class FactorRegistry {
  private readonly byType: Map<FactorType, Factor>;
  constructor(private readonly ordered: Factor[]) {
    this.byType = new Map(ordered.map((f) => [f.type, f]));
  }

  get(type: FactorType): Factor {
    const f = this.byType.get(type);
    if (!f) throw new Error(`unknown factor ${type}`);
    return f;
  }

  find(type: string): Factor | undefined {
    return this.byType.get(type as FactorType);
  }

  all(): Factor[] {
    return [...this.ordered];
  }

  /** The account's own second factors (what makes the sign-in ask for a second step by itself). */
  enabled(a: AccountRecord): Factor[] {
    return this.ordered.filter((f) => f.enabled(a));
  }

  /** Every factor the account could prove right now, in the default order. */
  usable(a: AccountRecord): Factor[] {
    return this.ordered.filter((f) => f.usable(a));
  }
}
