// The code-challenge engine against the real store and the real Vonage SDK (pointed at the local
// /sms/json stand-in): attempts, expiry, single use, resend cooldown, caps, and provider failures.
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import type { ChallengeEngine, StartRequest } from '../../src/challenges/engine.ts';

let t: RunningTessera;
let engine: ChallengeEngine;
let seq = 0;

beforeAll(async () => {
  t = await startTessera({
    env: { SMS_COOLDOWN_SECONDS: '30', SMS_PER_NUMBER_HOURLY: '3', SMS_PER_NUMBER_DAILY: '5', SMS_PER_ACCOUNT_HOURLY: '4' },
  });
  engine = t.built.services.challenges;
});
afterAll(() => t?.stop());
afterEach(() => {
  vi.useRealTimers();
  t.vonage.mode = 'ok';
});

function req(overrides: Partial<StartRequest> = {}): StartRequest {
  seq += 1;
  return {
    purpose: 'phone-verify', accountId: `acct-${seq}`, channel: 'sms', destination: `+336123400${String(seq).padStart(2, '0')}`,
    context: 'test', ip: '203.0.113.7', ...overrides,
  };
}

async function started(r: StartRequest) {
  const s = await engine.start(r);
  if (!s.ok) throw new Error(`start failed: ${s.reason}`);
  const sms = await t.vonage.waitFor(r.destination, 1);
  return { challenge: s.challenge, code: codeFrom(sms.text) };
}

describe('verifying codes', () => {
  it('stores only a hash, accepts the right code once, and then says it was used', async () => {
    const r = req();
    const { challenge, code } = await started(r);
    const stored = await t.store.challenges.find(challenge.id);
    expect(stored!.codeHash).not.toContain(code);
    expect((await engine.verify(challenge.id, code)).ok).toBe(true);
    expect(await engine.verify(challenge.id, code)).toEqual({ ok: false, reason: 'used' });
  });

  it('voids the challenge after 5 wrong codes, even for the right code afterwards', async () => {
    const { challenge, code } = await started(req());
    const wrong = code === '000000' ? '111111' : '000000';
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await engine.verify(challenge.id, wrong));
    expect(results.slice(0, 4).map((r) => (r.ok ? 'ok' : r.reason === 'invalid' ? r.attemptsLeft : r.reason))).toEqual([4, 3, 2, 1]);
    expect(results[4]).toEqual({ ok: false, reason: 'exhausted' });
    expect(await engine.verify(challenge.id, code)).toEqual({ ok: false, reason: 'exhausted' });
  });

  it('rejects an expired code', async () => {
    const { challenge, code } = await started(req());
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 10 * 60_000 + 1000);
    expect(await engine.verify(challenge.id, code)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a code for another account or purpose', async () => {
    const r = req();
    const { challenge, code } = await started(r);
    expect(await engine.verify(challenge.id, code, { accountId: 'someone-else', purpose: 'phone-verify' })).toEqual({ ok: false, reason: 'unknown' });
    expect(await engine.verify(challenge.id, code, { accountId: r.accountId, purpose: 'sms-login' })).toEqual({ ok: false, reason: 'unknown' });
    expect((await engine.verify(challenge.id, code, { accountId: r.accountId, purpose: 'phone-verify' })).ok).toBe(true);
  });
});

describe('sending and resending', () => {
  it('does not send again when the same step is opened twice', async () => {
    const r = req();
    const first = await engine.start(r);
    const second = await engine.start(r);
    expect(first.ok && second.ok && second.challenge.id === first.challenge.id).toBe(true);
    expect(second.ok && second.sent).toBe(false);
    expect(t.vonage.to(r.destination)).toHaveLength(1);
  });

  it('refuses a resend inside the cooldown, then keeps both the late first code and the new one valid', async () => {
    const r = req();
    const { challenge, code: firstCode } = await started(r);
    const early = await engine.resend(challenge.id, { ip: r.ip });
    expect(early).toMatchObject({ ok: false, reason: 'cooldown' });
    expect(early.ok === false && 'retryAfterSeconds' in early && early.retryAfterSeconds).toBeGreaterThan(0);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 31_000);
    const later = await engine.resend(challenge.id, { ip: r.ip });
    expect(later.ok).toBe(true);
    const secondCode = codeFrom((await t.vonage.waitFor(r.destination, 2)).text);
    // The delayed first SMS still works (once), so a slow network doesn't lock the user out.
    expect((await engine.verify(challenge.id, firstCode)).ok).toBe(true);
    expect(await engine.verify(challenge.id, secondCode)).toEqual({ ok: false, reason: 'used' });
  });

  it('enforces the per-number hourly cap and records the refusal as a security event', async () => {
    const destination = '+33612349999';
    const outcomes = [];
    for (let i = 0; i < 4; i++) {
      const r = await engine.start(req({ destination, purpose: 'sms-login', context: `ctx-${i}` }));
      outcomes.push(r.ok ? 'sent' : r.reason);
    }
    expect(outcomes).toEqual(['sent', 'sent', 'sent', 'limited']);
    expect(t.vonage.to(destination)).toHaveLength(3);
    const events = await t.store.audit.list({ type: 'sms.refused' });
    expect(events.some((e) => e.detail.rule === 'number_hour')).toBe(true);
  });

  it('enforces the per-account cap across numbers', async () => {
    const accountId = 'acct-many-numbers';
    const outcomes = [];
    for (let i = 0; i < 5; i++) {
      const r = await engine.start(req({ accountId, destination: `+3361235000${i}`, context: `a-${i}` }));
      outcomes.push(r.ok ? 'sent' : r.reason);
    }
    expect(outcomes).toEqual(['sent', 'sent', 'sent', 'sent', 'limited']);
  });

  it('caps code emails per address', async () => {
    const outcomes = [];
    for (let i = 0; i < 6; i++) {
      const r = await engine.start(req({ channel: 'email', purpose: 'password-reset', destination: 'target@example.com', context: `mail-${i}` }));
      outcomes.push(r.ok ? 'sent' : r.reason);
    }
    expect(outcomes).toEqual(['sent', 'sent', 'sent', 'sent', 'sent', 'limited']);
    // Each allowed code was delivered (the sink has it once nodemailer's send returns), the refused one not.
    expect(t.smtp.mails.filter((m) => m.to === 'target@example.com')).toHaveLength(5);
    expect((await t.store.audit.list({ type: 'mail.refused' })).length).toBe(1);
  });

  it('reports a Vonage error status as delivery_failed and creates no usable challenge', async () => {
    t.vonage.mode = 'error-status';
    const r = req();
    expect(await engine.start(r)).toEqual({ ok: false, reason: 'delivery_failed' });
    expect(await t.store.challenges.findActive(r.accountId, r.purpose, 'test')).toBeNull();
    const events = await t.store.audit.list({ type: 'sms.delivery_failed', accountId: r.accountId });
    expect(String(events[0].detail.detail)).toContain('Bad Credentials');
  });

  it('stores the challenge before sending: a second start() during a slow send sends nothing and a resend waits', async () => {
    t.vonage.delayMs = 1_000;
    try {
      const r = req();
      const first = engine.start(r);
      await new Promise((res) => setTimeout(res, 200));
      const open = await t.store.challenges.findActive(r.accountId, r.purpose, 'test');
      expect(open).toMatchObject({ sends: 0, lastSentAt: null }); // stored, not yet delivered
      expect(await engine.resend(open!.id, { ip: r.ip })).toMatchObject({ ok: false, reason: 'cooldown' });
      const again = await engine.start(r); // waits for the send in flight
      const done = await first;
      expect(done).toMatchObject({ ok: true, sent: true, challenge: { sends: 1 } });
      expect(again).toMatchObject({ ok: true, sent: false, challenge: { id: open!.id, sends: 1 } });
      expect(t.vonage.to(r.destination)).toHaveLength(1);
      const code = codeFrom(t.vonage.to(r.destination)[0].text);
      expect(await engine.verify(open!.id, code)).toMatchObject({ ok: true });
    } finally {
      t.vonage.delayMs = 0;
    }
  });

  it('reports a network failure the same way', async () => {
    t.vonage.mode = 'drop';
    expect(await engine.start(req())).toEqual({ ok: false, reason: 'delivery_failed' });
    t.vonage.mode = 'http-500';
    expect(await engine.start(req())).toEqual({ ok: false, reason: 'delivery_failed' });
  });
});
