// Issue 10 item 7: costly and non-SMS numbers are refused where they are typed (the page says why) and
// never texted, also when a number got into the store before the rule (the engine checks before every
// text). Driven through the account pages as a browser would (HTTP), with the Vonage stub watching.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient } from '../support/http.ts';
import { newFactor } from '../../src/factors/records.ts';
import { randomId } from '../../src/secrets.ts';

const PASSWORD = 'a toll-free passphrase';

let t: RunningTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.stop());

interface Page {
  res: Response;
  url: string;
  html: string;
}
interface Form {
  action: string;
  hidden: Record<string, string>;
  names: string[];
}

function formsOf(html: string): Form[] {
  return [...html.matchAll(/<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].map(([, action, inner]) => ({
    action,
    hidden: Object.fromEntries([...inner.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1], m[2]])),
    names: [...inner.matchAll(/name="([^"]+)"/g)].map((m) => m[1]),
  }));
}

async function read(http: HttpClient, res: Response, url: string): Promise<Page> {
  const loc = res.headers.get('location');
  if (res.status >= 300 && res.status < 400 && loc) {
    const next = await http.follow(new URL(loc, url).href);
    return { res: next.res, url: next.url, html: await next.res.text() };
  }
  return { res, url, html: await res.text() };
}

async function open(http: HttpClient, path: string): Promise<Page> {
  const { res, url } = await http.follow(path);
  return { res, url, html: await res.text() };
}

/** Posts `fields` to the form to `action`, giving the password first where a fresh proof is asked. */
async function act(http: HttpClient, page: Page, action: string, fields: Record<string, string>): Promise<Page> {
  for (let step = 0; step < 5; step++) {
    const forms = formsOf(page.html);
    const target = forms.find((f) => f.action === action);
    const proof = forms.find((f) => f.names.includes('password') && !f.names.includes('password_confirm'));
    if (target) return read(http, await http.post(target.action, { ...target.hidden, ...fields }), new URL(target.action, t.issuer).href);
    if (proof) page = await read(http, await http.post(proof.action, { ...proof.hidden, password: PASSWORD }), new URL(proof.action, t.issuer).href);
    else throw new Error(`no form to ${action} on ${page.url}: ${page.html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  throw new Error(`never reached the form to ${action}`);
}

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#39;|&rsquo;/g, '’').replace(/\s+/g, ' ');

describe('toll fraud', () => {
  it('refuses personal-number and satellite phones on /account/phone, saying why, and texts nothing', async () => {
    const email = 'tolls@example.com';
    const account = await t.built.services.accounts.register({ name: 'Toll Payer', email, password: PASSWORD, email_verified: true });
    const http = new HttpClient(t.issuer);
    const login = await open(http, '/account');
    const home = await act(http, login, `${new URL(login.url).pathname}/login`, { email, password: PASSWORD });
    expect(home.html).toContain('Your account');

    // A UK 070 personal number (libphonenumber: valid, PERSONAL_NUMBER) and an Iridium handset (valid, MOBILE).
    for (const number of ['+44 7011 223344', '+881 6 12345678', '+870 773 123456']) {
      const refused = await act(http, await open(http, '/account/phone'), '/account/phone', { phone_number: number });
      expect(refused.res.status, number).toBe(400);
      expect(text(refused.html), number).toContain('This kind of number');
      expect(text(refused.html), number).toContain('can’t receive our texts');
    }
    expect(t.vonage.messages).toHaveLength(0);
    expect(await t.store.accounts.findById(account.id)).toMatchObject({ phoneNumber: null, phoneNumberVerified: false });

    // The same page does text a mobile (so the silence above is the rule, not a broken stub).
    const ok = await act(http, await open(http, '/account/phone'), '/account/phone', { phone_number: '+1 201 555 0123' });
    expect(ok.res.status).toBe(200);
    await t.vonage.waitFor('+12015550123', 1);
  });

  it('never texts a denied number that is already stored, and audits the refusal', async () => {
    const s = t.built.services;
    const account = await s.accounts.register({ name: 'Old Number', email: 'old-number@example.com', password: PASSWORD, email_verified: true });
    // Stored before the rule existed: verified, SMS sign-in on.
    await t.store.accounts.update(account.id, { phoneNumber: '+881612345678', phoneNumberVerified: true, factors: [newFactor('sms', {}, () => randomId(9))] });
    const before = t.vonage.messages.length;
    const started = await s.challenges.start({ purpose: 'sms-login', accountId: account.id, channel: 'sms', destination: '+881612345678', context: 'ix-toll', ip: '192.0.2.7' });
    expect(started).toEqual({ ok: false, reason: 'delivery_failed' });
    expect(t.vonage.messages).toHaveLength(before);
    const [event] = await t.store.audit.list({ type: 'sms.refused', accountId: account.id });
    expect(event).toMatchObject({ ip: '192.0.2.7', detail: { rule: 'denied_prefix', purpose: 'sms-login' } });
    expect(await t.store.challenges.findActive(account.id, 'sms-login', 'ix-toll')).toBeNull();
  });
});
