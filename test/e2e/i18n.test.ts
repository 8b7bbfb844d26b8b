// Languages of the hosted pages, end to end in Chromium with openid-client as the relying party: the
// OIDC request's ui_locales, the browser's Accept-Language, the language switcher (no JavaScript needed)
// and the account's stored language for its mail and texts (read from the SMTP sink and the Vonage stub).
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading } from '../support/browser.ts';
import type { RelyingParty } from '../support/rp.ts';
import { codeFrom } from '../support/smtp-sink.ts';

const SMS = 'urn:tessera:acr:mfa:sms';

let j: Journey;
let t: Journey['t'];
let page: Page;
let rp: RelyingParty;

beforeAll(async () => {
  j = await startJourney({ tessera_first_party: true });
  ({ t, page, rp } = j);
});

afterAll(() => j?.stop());

beforeEach(async () => {
  await j.browser.context.clearCookies();
  await page.setExtraHTTPHeaders({ 'Accept-Language': 'en' });
});

const lang = () => page.locator('html').getAttribute('lang');

/** Screenshots at a phone's and a desktop's width, into SCREENSHOTS when set (test/support/screens.ts). */
async function shots(name: string) {
  const dir = process.env.SCREENSHOTS;
  if (!dir) return;
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${dir}/${name}-${width}.png`, fullPage: true });
  }
}

describe('the language of the hosted pages', () => {
  it('ui_locales=fr on the authorization request gives a French sign-in page, lang="fr" and its own title', async () => {
    const started = await rp.start({ ui_locales: 'it fr-CA en' });
    await page.goto(started.url.href);
    await expectHeading(page, 'Se connecter');
    expect(await lang()).toBe('fr');
    expect(await page.title()).toBe('Se connecter – Example Shop – Tessera');
    expect(await page.locator('label[for=password]').innerText()).toBe('Mot de passe');
    expect(await page.locator('.client').innerText()).toBe('Connexion à Example Shop');
    // The switcher: labelled, the current language marked, the others buttons of a plain form.
    const nav = page.getByRole('navigation', { name: 'Langue' });
    expect(await nav.locator('[aria-current=true]').innerText()).toBe('Français');
    expect(await nav.getByRole('button').allInnerTexts()).toEqual(['English', 'Deutsch', 'Español']);
    await shots('i18n-fr-sign-in');
    await nav.getByRole('button', { name: 'Deutsch' }).focus();
    await shots('i18n-switcher-focus');
    // Its error messages too (domain text from the account service, shown translated).
    await page.fill('#email', 'nobody@example.com');
    await page.fill('#password', 'not the password at all');
    await page.click('button:has-text("Continuer")');
    expect(await page.locator('.alert-error').innerText()).toContain('ne correspondent à aucun compte');
  });

  it('Accept-Language: de gives a German one', async () => {
    await page.setExtraHTTPHeaders({ 'Accept-Language': 'it;q=0.9, de-AT;q=0.8, en;q=0.1' });
    const started = await rp.start();
    await page.goto(started.url.href);
    await expectHeading(page, 'Anmelden');
    expect(await lang()).toBe('de');
    expect(await page.title()).toBe('Anmelden – Example Shop – Tessera');
    await page.click('text=Jetzt erstellen');
    await expectHeading(page, 'Konto erstellen');
    expect(await page.title()).toBe('Konto erstellen – Example Shop – Tessera');
  });

  it('the switcher’s choice sticks across pages and a new authorization, by keyboard and without JavaScript', async () => {
    const noScript = await j.browser.context.newPage();
    await noScript.route('**/*.js', (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: '' }));
    try {
      const started = await rp.start();
      await noScript.goto(started.url.href);
      await expectHeading(noScript, 'Sign in');
      // Keyboard only: focus the switcher's Español button and press Enter.
      await noScript.getByRole('navigation', { name: 'Language' }).getByRole('button', { name: 'Español' }).focus();
      await noScript.keyboard.press('Enter');
      await expectHeading(noScript, 'Iniciar sesión');
      expect(await noScript.locator('html').getAttribute('lang')).toBe('es');
      expect(new URL(noScript.url()).pathname).toMatch(/^\/interaction\/[^/]+$/);
      await noScript.click('text=Crea una');
      await expectHeading(noScript, 'Crear tu cuenta');
      // A new authorization (no ui_locales) in the same browser: still Spanish.
      const again = await rp.start();
      await noScript.goto(again.url.href);
      await expectHeading(noScript, 'Iniciar sesión');
      // Pages outside a sign-in follow it too.
      await noScript.goto(`${t.issuer}/no-such-page`);
      await expectHeading(noScript, 'Página no encontrada');
      // An app's ui_locales wins for its request; a choice made on that request's page wins over it.
      const french = await rp.start({ ui_locales: 'fr' });
      await noScript.goto(french.url.href);
      await expectHeading(noScript, 'Se connecter');
      await noScript.getByRole('button', { name: 'Deutsch' }).click();
      await expectHeading(noScript, 'Anmelden');
    } finally {
      await noScript.close();
    }
  });

  it('the switcher goes back only to a path on this site', async () => {
    const res = await page.request.post(`${t.issuer}/locale`, {
      form: { lang: 'fr', return_to: '//evil.example/', _csrf: 'x' },
      maxRedirects: 0,
    });
    // Without this browser's CSRF token it changes nothing…
    expect(res.status()).toBe(403);
    // …and with it, an off-site return path becomes the start page.
    await page.goto(`${t.issuer}/`);
    const csrf = await page.locator('nav.lang-switch input[name=_csrf]').getAttribute('value');
    const ok = await page.request.post(`${t.issuer}/locale`, { form: { lang: 'fr', return_to: '//evil.example/', _csrf: csrf! }, maxRedirects: 0 });
    expect(ok.status()).toBe(303);
    expect(ok.headers().location).toBe('/');
  });
});

describe('the account’s language for its mail and texts', () => {
  it('a user who signed up in Spanish gets Spanish email (HTML and text) and SMS, even from an English page', async () => {
    const email = `sofia-${Date.now()}@example.com`;
    const started = await rp.start({ ui_locales: 'es' });
    await page.goto(started.url.href);
    await expectHeading(page, 'Iniciar sesión');
    await page.click('text=Crea una');
    await expectHeading(page, 'Crear tu cuenta');
    await page.fill('#name', 'Sofía Díaz');
    await page.fill('#email', email);
    await page.fill('#password', 'una frase bastante larga');
    await page.fill('#password_confirm', 'una frase bastante larga');
    await page.click('button:has-text("Crear cuenta")');
    await expectHeading(page, 'Confirma tu correo');
    const mail = await t.smtp.waitFor(email);
    expect(mail.subject).toBe('Confirma tu dirección de correo');
    expect(mail.contentType).toBe('multipart/alternative');
    // Both parts from the templates, in Spanish, with the same code; the HTML one escaped and branded.
    expect(mail.text).toContain('Hola, Sofía Díaz:');
    expect(mail.text).toContain('Usa este código para confirmar tu dirección de correo:');
    const code = codeFrom(mail.text);
    expect(mail.html).toContain('<html lang="es">');
    expect(mail.html).toContain(`>${code}</td>`);
    expect(mail.html).toContain('Tessera');
    expect(mail.html).toContain('#3346d3');
    expect(mail.html).toContain('El código caduca en 10 minutos.');
    await page.fill('#code', code);
    await page.click('button:has-text("Confirmar")');
    await expectHeading(page, '¿Permitir el acceso?');
    expect(await page.title()).toBe('¿Permitir el acceso? – Example Shop – Tessera');
    await page.click('button:has-text("Permitir")');
    const tokens = await rp.finish(await j.rpServer.nextArrival(15_000, page), started);
    const account = (await t.store.accounts.findByEmail(email))!;
    expect(account.locale).toBe('es');
    // The app learns it too: the OIDC `locale` claim (profile scope).
    expect((await rp.userinfo(tokens.access_token, account.id)).locale).toBe('es');

    // Later, from a page in English (another browser's language, the app's ui_locales), the SMS that
    // verifies a phone is in the account's language.
    await j.browser.context.clearCookies();
    const english = await rp.start({ ui_locales: 'en', acr_values: SMS });
    await page.goto(english.url.href);
    await expectHeading(page, 'Sign in');
    await page.fill('#email', email);
    await page.fill('#password', 'una frase bastante larga');
    await page.click('button:has-text("Continue")');
    await expectHeading(page, 'Add your mobile number');
    await page.fill('#phone_number', '+34 612 34 56 78');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Verify your phone');
    const sms = await t.vonage.waitFor('+34612345678', 1);
    expect(sms.text).toMatch(/^\d{6} es tu clave de Tessera para verificar tu teléfono\. Caduca en 10 minutos\. No la compartas\.\n\n@[^ ]+ #\d{6}$/);
    // The security notice about the new phone, by email, is Spanish too.
    await page.fill('#code', codeFrom(sms.text));
    await page.click('button:has-text("Verify")');
    await expectHeading(page, 'Allow access?');
    await page.click('button:has-text("Allow")');
    await j.rpServer.nextArrival(15_000, page);
    const notice = await t.smtp.waitFor(email, (m) => m.subject.includes('teléfono'));
    expect(notice.subject).toBe('Se añadió un número de teléfono a tu cuenta');
    expect(notice.contentType).toBe('multipart/alternative');
    expect(notice.text).toContain('Cuándo:');

    // Signed in: a choice in the switcher, or on the profile page, becomes the account's language.
    await page.goto(`${t.issuer}/account`);
    await expectHeading(page, 'Your account');
    await page.getByRole('navigation', { name: 'Language' }).getByRole('button', { name: 'Deutsch' }).click();
    await expectHeading(page, 'Ihr Konto');
    expect((await t.store.accounts.findByEmail(email))!.locale).toBe('de');
    await page.click('text=Sprache ändern');
    await expectHeading(page, 'Ihr Profil');
    await page.selectOption('#locale', 'fr');
    await page.click('button:has-text("Speichern")');
    await expectHeading(page, 'Votre compte');
    expect(await page.locator('.alert-ok').innerText()).toBe('Votre profil a été enregistré.');
    expect((await t.store.accounts.findByEmail(email))!.locale).toBe('fr');
    await shots('i18n-account-fr');
    // The switcher of a page outside /account (its token bound to no session) changes this browser's
    // language only, never the account's: a form planted from elsewhere can't choose the victim's mail language.
    await page.goto(`${t.issuer}/`);
    await page.getByRole('navigation', { name: 'Langue' }).getByRole('button', { name: 'Español' }).click();
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('es');
    expect((await t.store.accounts.findByEmail(email))!.locale).toBe('fr');
  });
});
