// Turning SMS sign-in on proves the verified number with a fresh code. If the number changes between
// "Turn on SMS sign-in" and entering that code, the code proves the old number only: confirming must
// be refused and SMS sign-in stay off. Driven through the account pages as a browser would (HTTP). The
// verified phone is a factor of the fresh proof (account/reauth.ts), so a code to it comes first.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';

const PASSWORD = 'a phone-hopping passphrase';
const OLD = '+33612340101';
const NEW = '+33612340202';

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

async function post(http: HttpClient, form: Form, fields: Record<string, string>): Promise<Page> {
  return read(http, await http.post(form.action, { ...form.hidden, ...fields }), new URL(form.action, t.issuer).href);
}

/**
 * Goes where a user goes to post `fields` to `action`, from `page`: gives the password where a fresh proof
 * is asked first (account/reauth.ts) and presses the button of a page that confirms the action, until
 * the form to `action` is posted. Returns the page that answered it.
 */
async function act(http: HttpClient, page: Page, action: string, fields: Record<string, string>): Promise<Page> {
  for (let step = 0; step < 5; step++) {
    const forms = formsOf(page.html);
    const target = forms.find((f) => f.action === action);
    const proof = forms.find((f) => f.names.includes('password') && !f.names.includes('password_confirm'));
    // The account's verified phone is a factor of the proof too: a code to it (the newest text) follows the password.
    const code = forms.find((f) => f.action === '/account/confirm/code' && f.names.includes('code'));
    if (target) return post(http, target, fields);
    if (proof) page = await post(http, proof, { password: PASSWORD });
    else if (code) page = await post(http, code, { code: codeFrom((await t.vonage.waitFor(OLD, 1)).text) });
    else throw new Error(`no form to ${action} on ${page.url}: ${page.html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  throw new Error(`never reached the form to ${action}`);
}

async function open(http: HttpClient, path: string): Promise<Page> {
  const { res, url } = await http.follow(path);
  return { res, url, html: await res.text() };
}

describe('turning SMS sign-in on while the phone number changes', () => {
  it('refuses the code sent to the old number once the number changed, and leaves SMS sign-in off', async () => {
    const email = 'hopper@example.com';
    const account = await t.built.services.accounts.register({ name: 'Hop Per', email, password: PASSWORD, email_verified: true, phone_number: OLD, phone_number_verified: true });
    const http = new HttpClient(t.issuer);

    // Sign in to the account pages.
    const login = await open(http, '/account');
    let page = await act(http, login, `${new URL(login.url).pathname}/login`, { email, password: PASSWORD });
    expect(page.html).toContain('Your account');

    // "Turn on SMS sign-in": a code goes to the verified (old) number.
    page = await act(http, page, '/account/mfa/sms/enable', {});
    // After a proof, the pages may lead back to a page that confirms the step ("Text me a code").
    for (let i = 0; i < 2 && !formsOf(page.html).some((f) => f.action === '/account/mfa/sms/confirm'); i++) page = await act(http, page, '/account/mfa/sms/enable', {});
    const confirmForm = formsOf(page.html).find((f) => f.action === '/account/mfa/sms/confirm');
    expect(confirmForm?.names).toContain('code');
    const oldCode = codeFrom((await t.vonage.waitFor(OLD, 2)).text); // the proof's code came first

    // Meanwhile, in another tab, the number is changed and the new one verified.
    const verifying = await act(http, await open(http, '/account/phone'), '/account/phone', { phone_number: NEW });
    expect(verifying.html).toContain('Verify your phone');
    const newCode = codeFrom((await t.vonage.waitFor(NEW, 1)).text);
    const changed = await act(http, verifying, '/account/phone/verify', { code: newCode });
    expect(changed.html).toContain('Your account');
    expect(await t.store.accounts.findById(account.id)).toMatchObject({ phoneNumber: NEW, phoneNumberVerified: true, factors: [] });

    // The code that proved the old number doesn't turn SMS sign-in on for the new one.
    const confirmed = await post(http, confirmForm!, { code: oldCode }); // the first tab's form
    expect(confirmed.res.status).toBeGreaterThanOrEqual(400);
    expect(confirmed.res.status).toBeLessThan(500);
    expect(confirmed.html).not.toContain('Save your recovery codes');
    expect(confirmed.html).toMatch(/role="alert"/);
    expect(await t.store.accounts.findById(account.id)).toMatchObject({ phoneNumber: NEW, factors: [] });
    const events = await t.store.audit.list({ type: 'mfa.enabled', accountId: account.id });
    expect(events).toHaveLength(0);
  });
});
