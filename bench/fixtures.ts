// What both servers are seeded with, in one place so Tessera (seeded through its own services by
// tessera-setup.ts) and the bare reference (reference-server.ts) get the same clients and users and the
// load generator knows their secrets.
import crypto from 'node:crypto';
import { encodeBase32 } from '../src/factors/totp/base32.ts';

/** Never contacted: the flow client reads the code off the Location header. */
export const REDIRECT_URI = 'http://127.0.0.1:9/cb';

export const CC_CLIENT = {
  client_id: 'bench-cc',
  client_secret: 'bench-cc-secret-0123456789abcdef0123456789',
  client_name: 'Bench machine client',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
};

export const WEB_CLIENT = {
  client_id: 'bench-web',
  client_secret: 'bench-web-secret-0123456789abcdef012345678',
  client_name: 'Bench web app',
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'openid profile email phone offline_access',
  // Tessera: skips the consent page (the reference auto-grants the same way, see reference-server.ts).
  tessera_first_party: true,
};

export const PASSWORD = 'bench correct horse battery';
/** Password-only users: flows pick them round-robin (several flows may use one account at a time). */
export const PASSWORD_USERS = 32;
/** Users with mfa ['sms'] and their own verified phone: a flow holds one exclusively (its code is its own). */
export const SMS_USERS = 24;

/**
 * Users with an authenticator app (mfa ['totp'], a known secret), Tessera only. A code is accepted once per
 * user per 30 s step (replay protection), so the pool rests each user TOTP_COOLDOWN_MS between sign-ins
 * (flows.ts UserPool) and must hold rate × the seconds of back-to-back TOTP flows in any such window:
 * `BENCH_ONLY='login (password+totp)'` runs 2 + 5 × 5 s = 27 s in a row, ~3,500 users at 130 flows/s.
 * Provisioned only on the servers that run this flow, all with one precomputed password hash.
 */
export const TOTP_USERS = 5000;
/** > one 30 s step after a user's last code was sent, so its next code is of a later step. */
export const TOTP_COOLDOWN_MS = 35_000;

export const passwordEmail = (i: number) => `pw${i}@bench.test`;
export const smsEmail = (i: number) => `sms${i}@bench.test`;
/** French mobile numbers, E.164 (Tessera keeps E.164; Vonage gets them without '+'). */
export const smsPhone = (i: number) => `+3361234${String(i).padStart(4, '0')}`;
export const totpEmail = (i: number) => `totp${i}@bench.test`;
/** 160-bit secrets derived from the index (base32, as an authenticator app is given them). */
export const totpSecret = (i: number) => encodeBase32(crypto.createHash('sha1').update(`tessera-bench-totp-${i}`).digest());

export function basic(client: { client_id: string; client_secret: string }): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
}
