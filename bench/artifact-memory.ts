// Memory per rotated refresh token in the embedded store's artifact log (issue 12): N refresh rotations
// as oidc-provider makes them (find the presented token, consume it, save its successor), in the server's
// mode (each "request" in durably(), 200 chains side by side so commits are shared), then what the process
// holds per rotated (consumed, still unexpired) token after full garbage collections.
//
//   node --expose-gc --import tsx bench/artifact-memory.ts [rotations=100000] [reuseSeconds=1]
//
// Read the heap figure: RSS after collections moves with how many pages V8 keeps (run it with 500000
// rotations for a steadier RSS).
//
// The reuse window is passed to the store (refreshReuseSeconds); the script waits it out and makes one
// more commit, after which consumed tokens older than the window are kept compactly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { openSqliteStore } from '../src/store/sqlite/index.ts';

const N = Number(process.argv[2] ?? 100_000);
const REUSE = Number(process.argv[3] ?? 1);
const CHAINS = 200;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-artifact-memory-'));
const store = await openSqliteStore({ file: path.join(dir, 'tessera.db'), refreshReuseSeconds: REUSE });
await store.claimForServer();
const oidc = store.oidc;
const id = () => randomBytes(32).toString('base64url').slice(0, 43);
const now = () => Math.floor(Date.now() / 1000);
const TTL = 14 * 24 * 3600;

/** A refresh token's payload as oidc-provider 9 stores it (opaque format). */
function refreshToken(jti: string, grantId: string, rotations: number) {
  const t = now();
  return {
    iat: t, exp: t + TTL, accountId: 'c5d0a2b4-7d8e-4f7a-9d55-0d1c6f1e2a3b', acr: 'urn:tessera:acr:1fa', amr: ['pwd'],
    authTime: t - 60, claims: { id_token: { auth_time: { essential: true } } }, clientId: 'bench-client-0123456789',
    expiresWithSession: false, iiat: t - 60, grantId, gty: 'authorization_code refresh_token', kind: 'RefreshToken',
    jti, rotations, scope: 'openid offline_access email profile', sessionUid: 'sEssIonUid-0123456789ab', sid: randomUUID(),
  };
}

const chains: Array<{ grantId: string; token: string; rotations: number }> = [];
for (let i = 0; i < CHAINS; i++) {
  const grantId = id();
  const token = id();
  await oidc.durably(async () => {
    await oidc.upsert('Grant', grantId, { jti: grantId, kind: 'Grant', accountId: 'a', clientId: 'bench-client-0123456789', openid: { scope: 'openid offline_access' } }, null);
    await oidc.upsert('RefreshToken', token, refreshToken(token, grantId, 0), new Date(Date.now() + TTL * 1000));
  });
  chains.push({ grantId, token, rotations: 0 });
}

async function rotate(c: (typeof chains)[number]) {
  await oidc.durably(async () => {
    const old = await oidc.find('RefreshToken', c.token);
    if (!old || old.consumed) throw new Error('chain broken');
    await oidc.consume('RefreshToken', c.token);
    const next = id();
    await oidc.upsert('RefreshToken', next, refreshToken(next, c.grantId, ++c.rotations), new Date(Date.now() + TTL * 1000));
    c.token = next;
  });
}

async function settle() {
  await new Promise((r) => setTimeout(r, (REUSE + 1) * 1000));
  await oidc.durably(() => oidc.upsert('AccessToken', 'nudge', { jti: 'nudge' }, new Date(Date.now() + 60_000))); // one more commit
  await new Promise((r) => setTimeout(r, 100));
  gc!();
  gc!();
  return process.memoryUsage();
}

// Warm up (code compiled, the 4 MB of recent commits and the read cache filled) before the first reading.
for (let done = 0; done < 20_000; done += CHAINS) await Promise.all(chains.map(rotate));
const before = await settle();
const started = Date.now();
for (let done = 0; done < N; done += CHAINS) await Promise.all(chains.map(rotate));
const seconds = (Date.now() - started) / 1000;
const after = await settle();
const per = (k: 'rss' | 'heapUsed' | 'heapTotal' | 'external') => ((after[k] - before[k]) / N).toFixed(0);
console.log(
  `${N} rotations in ${seconds.toFixed(1)} s (${Math.round(N / seconds)}/s); per rotated token: ` +
    `RSS ${per('rss')} B, heap used ${per('heapUsed')} B (V8 heap size ${per('heapTotal')} B), external ${per('external')} B ` +
    `(RSS ${(before.rss / 1e6).toFixed(0)} → ${(after.rss / 1e6).toFixed(0)} MB, heap ${(before.heapUsed / 1e6).toFixed(0)} → ${(after.heapUsed / 1e6).toFixed(0)} MB)`,
);
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
