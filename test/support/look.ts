// A look at pages as a person sees them (not a test): `npx tsx test/support/look.ts DIR` starts a Tessera,
// walks a registration and the /account proof, and screenshots each page at 390 and 1280 px into DIR.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera } from './tessera.ts';
import { CHROMIUM } from './browser.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { codeFrom } from './smtp-sink.ts';

const dir = process.argv[2] ?? '/tmp/shots';
fs.mkdirSync(dir, { recursive: true });
const t = await startTessera();
const s = t.built.services;
const client = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Example Shop', redirect_uris: ['http://127.0.0.1:9/cb'], tessera_first_party: true });
await s.accounts.register({ name: 'Pat Phone', email: 'pat@example.com', password: 'a long enough passphrase', email_verified: true, phone_number: '+12015550123', phone_number_verified: true, mfa: ['sms'] });
const ctxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'look-'));
const browser = await chromium.launchPersistentContext(ctxDir, { headless: true, executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const page = await browser.newPage();
const both = async (name: string) => {
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: path.join(dir, `${name}-${width}.png`), fullPage: true });
  }
};
const auth = `${t.issuer}/auth?client_id=${client.client_id}&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:9/cb&state=x`;
await page.goto(auth);
await page.click('text=Create one');
await page.fill('#name', 'Nia New');
await page.fill('#email', 'nia@example.com');
await page.fill('#password', 'another long passphrase');
await page.fill('#password_confirm', 'another long passphrase');
await page.click('button[type=submit]');
await page.waitForSelector('h1:has-text("Confirm your email")');
await both('email-confirm');
const mail = await t.smtp.waitFor('nia@example.com');
const link = /(http:\/\/\S+\/email\/link\?\S+)/.exec(mail.text)![1];
await page.goto(link);
await both('email-link');
await page.context().clearCookies();
await page.goto(link);
await both('email-link-elsewhere');
await page.goto(`${t.issuer}/account`);
await page.fill('#email', 'pat@example.com');
await page.fill('#password', 'a long enough passphrase');
await page.click('button:has-text("Continue")');
await page.fill('#code', codeFrom((await t.vonage.waitFor('+12015550123', 1)).text));
await page.click('button:has-text("Verify")');
await page.waitForSelector('h1:has-text("Your account")');
await page.goto(`${t.issuer}/account/phone`);
await both('reauth-password');
await page.fill('#password', 'a long enough passphrase');
await page.click('button:has-text("Continue")');
await page.waitForSelector('text=We texted');
await both('reauth-code');
await page.fill('#code', codeFrom((await t.vonage.waitFor('+12015550123', 2)).text));
await page.click('button:has-text("Verify")');
await page.waitForSelector('h1:has-text("Change your mobile number")');
await page.goto(`${t.issuer}/account/mfa/sms/disable`);
await both('confirm-action');
await browser.close();
await t.stop();
console.log(`screenshots in ${dir}`);
