// The refresh token reuse interval (issue 12, item 3): a reply lost after a refresh committed must not make
// the client's retry look like token theft. Over raw HTTP with a relying party (openid-client), on both
// stores: the embedded SQLite store and MongoDB (over the wire protocol).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as oidc from 'openid-client';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, mongoUriWithDatabase, testDatabaseName, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient } from '../support/http.ts';
import { httpRp, signIn, type HttpRp } from '../support/rp-http.ts';

const PASSWORD = 'a passphrase for retries';
const refresh = (rp: HttpRp, token: string) => oidc.refreshTokenGrant(rp.config, token);
const refused = (p: Promise<unknown>) => expect(p).rejects.toMatchObject({ error: 'invalid_grant' });

describe.each(['sqlite', 'mongo'] as const)('refresh token reuse interval on %s', (kind) => {
  let mongo: MongoTestServer | undefined;
  const running: RunningTessera[] = [];
  let n = 0;

  /** A Tessera with this reuse interval (seconds), its relying party, and a way to sign a new user in. */
  async function tessera(seconds: string) {
    const store = mongo ? await openMongoStore({ uri: mongoUriWithDatabase(mongo.uri, testDatabaseName()) }) : undefined;
    const t = await startTessera({ env: { REFRESH_TOKEN_REUSE_SECONDS: seconds }, store });
    running.push(t);
    const rp = await httpRp(t);
    const user = async () => {
      n += 1;
      const email = `retry${n}-${kind}@example.com`;
      const account = await t.built.services.accounts.register({ name: `Retry ${n}`, email, password: PASSWORD, email_verified: true });
      const tokens = await signIn(t, new HttpClient(t.issuer), rp, { email, password: PASSWORD, params: { prompt: 'consent' } });
      expect(tokens.refresh_token).toBeTruthy();
      return { id: account.id, refreshToken: tokens.refresh_token! };
    };
    return { t, rp, user };
  }

  let main: Awaited<ReturnType<typeof tessera>>;
  beforeAll(async () => {
    if (kind === 'mongo') mongo = await startMongoTestServer();
    // Far longer than the tests take between a refresh and its retry, even on a loaded machine.
    main = await tessera('60');
  }, 60_000);
  afterAll(async () => {
    for (const t of running) await t.stop();
    await mongo?.stop();
  });

  it('a retry within the interval gets the same successor and fresh tokens; the grant stays alive', async () => {
    const { t, rp, user } = main;
    const u = await user();
    const lost = await refresh(rp, u.refreshToken); // the reply the client never saw
    const retry = await refresh(rp, u.refreshToken);
    expect(retry.refresh_token).toBe(lost.refresh_token);
    expect(retry.refresh_token).not.toBe(u.refreshToken);
    expect(retry.access_token).not.toBe(lost.access_token);
    expect(retry.claims()).toMatchObject({ sub: u.id });
    expect(await oidc.fetchUserInfo(rp.config, retry.access_token, u.id)).toMatchObject({ sub: u.id });
    // Again (a second lost reply): still the same successor.
    expect((await refresh(rp, u.refreshToken)).refresh_token).toBe(lost.refresh_token);
    // The successor works as any refresh token, and rotates.
    const next = await refresh(rp, lost.refresh_token!);
    expect(next.refresh_token).not.toBe(lost.refresh_token);
    expect((await refresh(rp, next.refresh_token!)).access_token).toBeTruthy();

    const audit = await t.store.audit.list({ accountId: u.id, type: 'refresh.reused_within_interval' });
    expect(audit).toHaveLength(2);
    expect(audit[0].detail).toMatchObject({ client: rp.clientId, rotations: 1 });
    for (const secret of [u.refreshToken, lost.refresh_token!, retry.refresh_token!]) expect(JSON.stringify(audit)).not.toContain(secret);
  });

  it('once the successor was used, presenting the old token revokes the grant', async () => {
    const { rp, user } = main;
    const u = await user();
    const successor = await refresh(rp, u.refreshToken);
    const used = await refresh(rp, successor.refresh_token!);
    await refused(refresh(rp, u.refreshToken));
    await refused(refresh(rp, used.refresh_token!)); // the whole grant is gone
    await expect(oidc.fetchUserInfo(rp.config, used.access_token, u.id)).rejects.toThrow();
  });

  it('another client presenting the token gets invalid_grant, and the owner’s retry still works', async () => {
    const { t, rp, user } = main;
    const other = await httpRp(t);
    const u = await user();
    const successor = await refresh(rp, u.refreshToken);
    await refused(refresh(other, u.refreshToken));
    await refused(refresh(other, successor.refresh_token!));
    expect((await refresh(rp, u.refreshToken)).refresh_token).toBe(successor.refresh_token);
  });

  it('a rotation cut between its two writes (consumed, no successor saved) completes on the retry', async () => {
    const { t, rp, user } = main;
    const u = await user();
    // What MongoDB holds when the process dies after the consumption was acknowledged and before the
    // successor was saved.
    await t.store.oidc.consume('RefreshToken', u.refreshToken);
    const retry = await refresh(rp, u.refreshToken);
    expect(retry.refresh_token).toBeTruthy();
    expect(retry.refresh_token).not.toBe(u.refreshToken);
    // From here it is an ordinary rotation: a retry gets that successor, which works.
    expect((await refresh(rp, u.refreshToken)).refresh_token).toBe(retry.refresh_token);
    expect((await refresh(rp, retry.refresh_token!)).access_token).toBeTruthy();
    expect(await t.store.audit.list({ accountId: u.id, type: 'refresh.rotation_completed' })).toHaveLength(1);
  });

  it('after the interval, presenting the old token revokes the grant and the successor is dead', async () => {
    const { rp, user } = await tessera('1');
    const u = await user();
    const successor = await refresh(rp, u.refreshToken);
    await new Promise((r) => setTimeout(r, 1500)); // the next whole second has begun: the interval is over
    await refused(refresh(rp, u.refreshToken));
    await refused(refresh(rp, successor.refresh_token!));
  });

  it('0 turns the interval off: the first retry revokes', async () => {
    const { rp, user } = await tessera('0');
    const u = await user();
    const successor = await refresh(rp, u.refreshToken);
    await refused(refresh(rp, u.refreshToken));
    await refused(refresh(rp, successor.refresh_token!));
  });
});
