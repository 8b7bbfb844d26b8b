// Child process: seeds a fresh Tessera store (DATA_DIR or MONGODB_URI from the environment, the same
// environment the server then starts with) with the bench clients and users. It wires the same services
// as the admin CLI (src/admin/cli-main.ts) — ClientService and UserAdmin, so the same validation runs —
// but in one process: spawning `npm run cli` per user would cost ~1 s of start-up each.
// BENCH_TOTP_USERS (set by servers.ts where the password + authenticator flow runs) adds that many
// authenticator users. Prints one JSON line: { clients, users } counts.
import { loadConfig } from '../src/config.ts';
import { buildCore } from '../src/app.ts';
import { createProvider } from '../src/oidc/provider.ts';
import { AcrModel } from '../src/oidc/acr.ts';
import { ClientService } from '../src/admin/clients.ts';
import { UserAdmin, adminFactors } from '../src/admin/users.ts';
import { randomId } from '../src/secrets.ts';
import { AccountService } from '../src/accounts/service.ts';
import { LoginGuard } from '../src/guard/limits.ts';
import { createLogger } from '../src/log.ts';
import { CC_CLIENT, WEB_CLIENT, PASSWORD, PASSWORD_USERS, SMS_USERS, passwordEmail, smsEmail, smsPhone, totpEmail, totpSecret } from './fixtures.ts';

const config = loadConfig();
const { store, keys, box } = await buildCore(config, { log: createLogger('silent') });
const noPage = async () => {};
const provider = createProvider({ config, store, keys, box, acr: new AcrModel(config.acr), pages: { error: noPage, logoutConfirm: noPage, loggedOut: noPage } });
const clients = new ClientService(store, box, provider);
const users = new UserAdmin(store, config, new AccountService({ store, config, loginGuard: new LoginGuard(store, config.login) }), box);

for (const { client_secret, ...metadata } of [CC_CLIENT, WEB_CLIENT]) await clients.create(metadata, { secret: client_secret });

// argon2 hashing runs on the thread pool: a few at a time keeps both cores busy.
const inputs = [
  ...Array.from({ length: PASSWORD_USERS }, (_, i) => ({ email: passwordEmail(i), password: PASSWORD, name: `Bench ${i}`, email_verified: true })),
  ...Array.from({ length: SMS_USERS }, (_, i) => ({
    email: smsEmail(i), password: PASSWORD, name: `Bench SMS ${i}`, email_verified: true,
    phone_number: smsPhone(i), phone_number_verified: true, mfa: ['sms'],
  })),
];
for (let i = 0; i < inputs.length; i += 4) await Promise.all(inputs.slice(i, i + 4).map((u) => users.create(u)));

// Authenticator users: the first through UserAdmin.create like everyone above; the others reuse its
// password hash (new hashes run one at a time: thousands would take minutes) and get their factor from
// adminFactors, the check `user create` runs on mfa + totp_secret (secret validated, stored encrypted).
const totpUsers = Math.max(0, Number(process.env.BENCH_TOTP_USERS) || 0);
if (totpUsers > 0) {
  const first = await users.create({ email: totpEmail(0), password: PASSWORD, name: 'Bench TOTP 0', email_verified: true, mfa: ['totp'], totp_secret: totpSecret(0) });
  const passwordHash = (await store.accounts.findById(first.sub))!.passwordHash;
  const clone = async (i: number) => {
    const now = new Date();
    const base = { id: randomId(16), email: totpEmail(i), emailVerified: true, name: `Bench TOTP ${i}`, passwordHash, phoneNumber: null, phoneNumberVerified: false, createdAt: now, updatedAt: now };
    await store.accounts.create({ ...base, ...adminFactors({ ...base, factors: [], preferredMfa: null }, { mfa: ['totp'], totp_secret: totpSecret(i) }, box) });
  };
  for (let i = 1; i < totpUsers; i += 50) await Promise.all(Array.from({ length: Math.min(50, totpUsers - i) }, (_, k) => clone(i + k)));
  const last = await users.show(totpEmail(totpUsers - 1));
  if (!last.mfa.includes('totp')) throw new Error(`${totpEmail(totpUsers - 1)} has no authenticator: ${JSON.stringify(last.mfa)}`);
}

await store.close();
process.stdout.write(`${JSON.stringify({ clients: 2, users: inputs.length + totpUsers })}\n`);
process.exit(0);
