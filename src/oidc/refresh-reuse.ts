// The refresh token reuse interval (issue 12, item 3). Refresh tokens rotate: each use consumes the token
// and hands out a successor, and oidc-provider treats a consumed token presented again as theft and revokes
// the whole grant. But a reply can be lost after the rotation committed (a network drop, a crash, a proxy
// timeout), and then the client's honest retry with the same token is that "reuse". For a few seconds after
// a rotation (REFRESH_TOKEN_REUSE_SECONDS), the same client presenting the same token gets the SAME
// successor again, with fresh access and ID tokens, as long as that successor is itself unused. Once the
// successor was used, or the interval has passed, oidc-provider's reuse detection applies unchanged.
//
// Where it hooks in (oidc-provider 9, lib/actions/grants/refresh_token.js), chosen so that a normal refresh
// pays no store read or write and no extra async frame:
// - findAccount(ctx, sub, token): oidc-provider calls it with the presented token after it checked the
//   client, the expiry, the sender bindings and the grant, and before it decides "already used". Only a
//   consumed token gets past a property check here. If its unused successor is found, the token object
//   (which the grant handler goes on with) takes the successor's identity: the handler then issues tokens
//   for the successor as for any unused refresh token.
// - rotateRefreshToken(ctx): false for such a request, so the successor is handed out as is (not rotated).
// - 'grant.success' (emitted right after the handler, before the reply goes out): the handler put the
//   presented value in the reply (it only replaces it when it rotates); the reply names the successor.
//
// A consumed token with no successor at all: the rotation was cut between its two writes (MongoDB: the
// consumption is acknowledged, then the process died or the store failed before the successor was saved;
// the embedded store commits both in one row). Within the interval the rotation is completed: the token is
// treated as unused and rotates normally, so the client's retry works. (Nobody can hold a successor that
// was never saved.) A successor being revoked on its own never leaves this state: revoking a refresh token
// revokes its grant, the consumed token with it.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { OidcArtifactRepo } from '../store/ports.ts';

export type RefreshReuseEvent = 'refresh.reused_within_interval' | 'refresh.rotation_completed';

/** Told about each reuse (audit and log). The detail holds no token value. */
export type RefreshReuseReport = (
  event: RefreshReuseEvent,
  ctx: KoaContextWithOIDC,
  accountId: string | null,
  detail: { client: string; ageSeconds: number; rotations: number },
) => void;

/** The fields of a rotated token that its successor copies (refresh_token.js): a successor matches on all. */
const COPIED = ['accountId', 'clientId', 'grantId', 'iiat', 'sessionUid', 'sid', 'scope', 'nonce', 'authTime', 'acr', 'amr', 'claims', 'resource', 'rar', 'expiresWithSession', 'jkt', 'x5t#S256', 'attestationJkt'] as const;
/** What differs between the two: the successor's identity, taken over by the presented token object. */
const OWN = ['jti', 'iat', 'exp', 'rotations', 'gty'] as const;

type Token = Record<string, unknown>;
const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);
const epoch = () => Math.floor(Date.now() / 1000);

export class RefreshReuse {
  /** Requests answered with an existing successor: the successor's value. */
  private readonly served = new WeakMap<object, string>();

  constructor(
    private readonly opts: {
      /** The interval in seconds; 0 = off (never called then: see provider.ts). */
      seconds: number;
      artifacts: Pick<OidcArtifactRepo, 'findByGrantId'>;
      report?: RefreshReuseReport;
    },
  ) {}

  /**
   * From findAccount, with the token being redeemed. Does nothing unless it is a refresh token consumed
   * less than the interval ago, presented at the token endpoint (the client was already checked).
   */
  async redeeming(ctx: KoaContextWithOIDC, token: Token): Promise<void> {
    if (ctx.oidc.route !== 'token' || ctx.oidc.params?.grant_type !== 'refresh_token') return;
    const consumed = token.consumed as number;
    const age = epoch() - consumed;
    if (!(age < this.opts.seconds) || typeof token.grantId !== 'string') return;
    const rotations = (typeof token.rotations === 'number' ? token.rotations : 0) + 1;
    // Its successor: saved right after it was consumed, copying its fields, one rotation further.
    const found = (await this.opts.artifacts.findByGrantId('RefreshToken', token.grantId)).filter(
      (s) => s.rotations === rotations && typeof s.iat === 'number' && s.iat >= consumed && COPIED.every((k) => same(s[k], token[k])),
    );
    const detail = { client: String(token.clientId), ageSeconds: age, rotations };
    const accountId = typeof token.accountId === 'string' ? token.accountId : null;
    if (found.length === 0) {
      delete token.consumed; // the handler rotates it now
      this.opts.report?.('refresh.rotation_completed', ctx, accountId, detail);
      return;
    }
    // Two look-alike chains of one grant (issued and rotated in the same seconds) can't be told apart:
    // then, as when the successor was used, oidc-provider's reuse detection decides.
    if (found.length > 1 || found[0].consumed !== undefined || typeof found[0].jti !== 'string') return;
    const successor = found[0];
    for (const k of OWN) {
      if (successor[k] === undefined) delete token[k];
      else token[k] = successor[k];
    }
    delete token.consumed;
    this.served.set(ctx, successor.jti as string);
    this.opts.report?.('refresh.reused_within_interval', ctx, accountId, detail);
  }

  /** oidc-provider's rotateRefreshToken: rotate, except when handing out an existing successor. */
  rotate(ctx: KoaContextWithOIDC): boolean {
    return !this.served.has(ctx);
  }

  /** On 'grant.success': the reply names the successor, not the presented token. */
  answered(ctx: KoaContextWithOIDC): void {
    const value = this.served.get(ctx);
    if (value === undefined) return;
    (ctx.body as Record<string, unknown>).refresh_token = value;
  }
}
