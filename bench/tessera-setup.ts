// Child process: seeds a fresh Tessera store (DATA_DIR or MONGODB_URI from the environment, the same
// environment the server then starts with) with the bench clients and users. It wires the same services
// as the admin CLI (src/admin/cli-main.ts) — ClientService and UserAdmin, so the same validation runs —
// but in one process: spawning `npm run cli` per user would cost ~1 s of start-up each.
// Prints one JSON line: { clients, users } counts.
import { loadConfig } from '../src/config.ts';
import { buildCore } from '../src/app.ts';
import { createProvider } from '../src/oidc/provider.ts';
import { AcrModel } from '../src/oidc/acr.ts';
import { ClientService } from '../src/admin/clients.ts';
import { UserAdmin } from '../src/admin/users.ts';
import { AccountService } from '../src/accounts/service.ts';
import { LoginGuard } from '../src/guard/limits.ts';
import { createLogger } from '../src/log.ts';
import { CC_CLIENT, WEB_CLIENT, PASSWORD, PASSWORD_USERS, SMS_USERS, passwordEmail, smsEmail, smsPhone } from './fixtures.ts';

const config = loadConfig();
const { store, keys, box } = await buildCore(config, { log: createLogger('silent') });
const noPage = async () => {};
const provider = createProvider({ config, store, keys, box, acr: new AcrModel(config.acr), pages: { error: noPage, logoutConfirm: noPage, loggedOut: noPage } });
const clients = new ClientService(store, box, provider);
const users = new UserAdmin(store, config, new AccountService({ store, config, loginGuard: new LoginGuard(store, config.login) }));

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

await store.close();
process.stdout.write(`${JSON.stringify({ clients: 2, users: inputs.length })}\n`);
process.exit(0);
