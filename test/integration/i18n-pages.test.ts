// The configured default language (DEFAULT_LOCALE), titles of pages outside a sign-in, and the switcher
// remembering the choice on the signed-in account (its emails and texts follow it), over plain HTTP.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';

let t: RunningTessera;

beforeAll(async () => {
  t = await startTessera({ env: { DEFAULT_LOCALE: 'de', BRAND_NAME: 'Acme ID' } });
});

afterAll(() => t?.stop());

const title = (html: string) => /<title>([^<]*)<\/title>/.exec(html)?.[1];

describe('pages outside a sign-in', () => {
  it('speak the configured default when the browser names no supported language, with "<Page> – <product>" titles', async () => {
    const res = await new HttpClient(t.issuer, { 'accept-language': 'it, ja;q=0.5' }).get('/no-such-page');
    const html = await res.text();
    expect(res.status).toBe(404);
    expect(html).toContain('<html lang="de">');
    expect(title(html)).toBe('Seite nicht gefunden – Acme ID');
    expect(html).toContain('Diese Seite gibt es nicht.');
  });

  it('follow Accept-Language over the default', async () => {
    const html = await (await new HttpClient(t.issuer, { 'accept-language': 'es-MX' }).get('/')).text();
    expect(html).toContain('<html lang="es">');
    expect(title(html)).toBe('Inicio – Acme ID');
  });

  it('the switcher sets a cookie and goes back to a same-site path; an unknown language changes nothing', async () => {
    const browser = new HttpClient(t.issuer, { 'accept-language': 'en' });
    const page = await (await browser.get('/')).text();
    expect(page).toContain('<html lang="en">');
    const switched = await browser.post('/locale', { _csrf: csrfOf(page), lang: 'fr', return_to: '/?from=switcher' });
    expect(switched.status).toBe(303);
    expect(switched.headers.get('location')).toBe('/?from=switcher');
    expect(await (await browser.get('/')).text()).toContain('<html lang="fr">');
    const offsite = await browser.post('/locale', { _csrf: csrfOf(page), lang: 'xx', return_to: 'https://evil.example/' });
    expect(offsite.headers.get('location')).toBe('/');
    expect(await (await browser.get('/')).text()).toContain('<html lang="fr">');
  });
});
