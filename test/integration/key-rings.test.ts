// Key rotation across instances, on both stores (SQLite: two connections to one file, as the server and
// the CLI have; MongoDB: two connections to one database, as two instances have). Time is given to each
// call, so the activation and retention rules are checked at their exact edges without waiting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Store } from '../../src/store/ports.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { Keys } from '../../src/keys/live.ts';
import { KeyAdmin } from '../../src/keys/admin.ts';
import { SIGNING } from '../../src/keys/kinds.ts';
import { keyId } from '../../src/secrets.ts';
import { dropMongoDatabase, mongoUriWithDatabase, startMongoTestServer, testDatabaseName, type MongoTestServer } from '../support/mongo-test-server.ts';

const T = Date.parse('2030-01-01T00:00:00Z');
const kids = (k: Keys) => k.jwks.keys.map((j) => j.kid);

interface Opened {
  /** A new connection to the same data: another instance, or the CLI. */
  connect(): Promise<Store>;
  cleanup(): Promise<void>;
}

function describeRotation(name: string, open: () => Promise<Opened>) {
  describe(`key rings across instances: ${name}`, () => {
    let data: Opened;
    const stores: Store[] = [];
    let config: Config;
    const connect = async () => {
      const s = await data.connect();
      stores.push(s);
      return s;
    };
    beforeAll(async () => {
      data = await open();
      config = loadConfig({ NODE_ENV: 'test', DATA_DIR: os.tmpdir(), KEYS_REFRESH_SECONDS: '30' });
    });
    afterAll(async () => {
      for (const s of stores) await s.close();
      await data?.cleanup();
    });

    it('publishes a rotated signing key on every instance before any signs with it, and drops the old one on time', async () => {
      const [a, b] = [await Keys.load(await connect(), config, { now: T }), await Keys.load(await connect(), config, { now: T })];
      expect(kids(a)).toEqual(kids(b));
      const [k1] = kids(a);
      const cli = new KeyAdmin(await connect(), config, await Keys.load(stores[stores.length - 1], config, { now: T }));
      const rotation = await cli.rotateSigning(T + 1000);
      const k2 = rotation.id;
      // Activation: twice the refresh interval later, so both instances have read it by then.
      expect(rotation.activates).toBe(new Date(T + 61_000).toISOString());
      for (const k of [a, b]) {
        expect(kids(k)).toEqual([k1]); // not read yet
        await k.refresh(T + 31_000);
        expect(kids(k)).toEqual([k1, k2]); // published, k1 still signs
        await k.refresh(T + 60_999);
        expect(kids(k)).toEqual([k1, k2]);
        await k.refresh(T + 61_000);
        expect(kids(k)).toEqual([k2, k1]); // k2 signs
      }
      // k1 retired at T + 61 s and is kept while an ID token, access token or session it signed may live.
      const retention = SIGNING.retentionSeconds(config)! * 1000;
      expect(retention).toBe(Math.max(config.tokens.idTokenTtl, config.tokens.sessionTtl, config.tokens.accessTokenTtl) * 1000);
      const dropAt = T + 61_000 + retention;
      await Promise.all([a.refresh(dropAt - 1), b.refresh(dropAt - 1)]);
      expect(kids(a)).toEqual([k2, k1]);
      const before = (await stores[0].keys.get('jwks'))!.version;
      // Both instances prune at the same moment: one write wins, the other sees it done.
      await Promise.all([a.refresh(dropAt), b.refresh(dropAt)]);
      expect(kids(a)).toEqual([k2]);
      expect(kids(b)).toEqual([k2]);
      const after = (await stores[0].keys.get<{ entries: { id: string }[] }>('jwks'))!;
      expect(after.version).toBe(before + 1);
      expect(after.value.entries.map((e) => e.id)).toEqual([k2]);
    });

    it('keeps both keys when two rotations race, and changes the cookie key list in place', async () => {
      const a = await Keys.load(await connect(), config, { now: T });
      const list = a.cookieKeys;
      const [c1] = list;
      const admins = [
        new KeyAdmin(await connect(), config, await Keys.load(stores[stores.length - 1], config, { now: T })),
        new KeyAdmin(await connect(), config, await Keys.load(stores[stores.length - 1], config, { now: T })),
      ];
      const rotations = await Promise.all(admins.map((admin) => admin.rotateCookie(T + 1000)));
      await a.refresh(T + 2000);
      expect(a.cookieKeys).toBe(list); // the same array koa and oidc-provider hold
      expect(list[0]).toBe(c1); // nothing new signs before it activates
      expect(list).toHaveLength(3);
      await a.refresh(T + 61_000);
      expect(list[0]).not.toBe(c1);
      expect(list).toContain(c1);
      const views = a.view(T + 61_000).filter((v) => v.kind === 'cookie');
      expect(views.map((v) => v.id).sort()).toEqual([...rotations.map((r) => r.id), keyId(c1)].sort());
      expect(views.filter((v) => v.status === 'current')).toHaveLength(1);
      expect(views.find((v) => v.id === keyId(c1))).toMatchObject({ status: 'retired', source: 'store' });
    });
  });
}

describeRotation('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-rings-'));
  return {
    connect: () => openSqliteStore({ file: path.join(dir, 'tessera.db') }),
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describe('mongo (wire test server unless MONGODB_URI is set)', () => {
  let server: MongoTestServer;
  beforeAll(async () => {
    server = await startMongoTestServer();
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });
  describeRotation('mongo', async () => {
    const uri = mongoUriWithDatabase(server.uri, testDatabaseName());
    return { connect: () => openMongoStore({ uri }), cleanup: () => dropMongoDatabase(uri) };
  });
});
