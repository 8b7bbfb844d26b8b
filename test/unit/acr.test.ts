// The acr model as data (src/oidc/acr.ts): each ACR is a list of method combinations; what a request
// demands is a list of acceptable ACRs raised to the client's minimum; a new ACR is configuration.
import { describe, it, expect } from 'vitest';
import { AcrModel, AMR, defaultPolicies, requestedAcrValues } from '../../src/oidc/acr.ts';
import { loadConfig } from '../../src/config.ts';

const ONE = 'urn:tessera:acr:1fa';
const MFA = 'urn:tessera:acr:mfa';
const SMS = 'urn:tessera:acr:mfa:sms';
const acr = new AcrModel({ oneFactor: ONE, mfa: MFA, mfaSms: SMS });

describe('the acr model (default policies)', () => {
  it('keeps the three configured values, weakest first', () => {
    expect(acr.values).toEqual([ONE, MFA, SMS]);
    expect(acr.rank(ONE)).toBe(0);
    expect(acr.rank(SMS)).toBe(2);
    expect(acr.rank('urn:unknown')).toBeUndefined();
    expect(defaultPolicies({ oneFactor: ONE, mfa: MFA, mfaSms: SMS }).map((p) => p.value)).toEqual([ONE, MFA, SMS]);
  });

  it('says which method combinations satisfy each ACR', () => {
    expect(acr.satisfies(['pwd'], ONE)).toBe(true);
    expect(acr.satisfies([], ONE)).toBe(false);
    expect(acr.satisfies(['pwd'], MFA)).toBe(false);
    for (const second of ['sms', 'otp', 'email', 'rec']) {
      expect(acr.satisfies(['pwd', second], MFA), second).toBe(true);
      expect(acr.satisfies([second], MFA), `${second} without the password`).toBe(false);
    }
    expect(acr.satisfies(['pwd', 'sms'], SMS)).toBe(true);
    expect(acr.satisfies(['sms', 'pwd', 'mfa'], SMS)).toBe(true); // order and extra methods don't matter
    for (const other of ['otp', 'email', 'rec']) expect(acr.satisfies(['pwd', other], SMS), other).toBe(false);
    expect(acr.satisfies(['pwd', 'otp', 'email', 'rec', 'mfa'], SMS)).toBe(false); // `mfa` is not SMS
    expect(acr.satisfies(['pwd', 'sms'], 'urn:unknown')).toBe(false);
  });

  it('demands the acceptable requested values (weakest first), never below the client minimum', () => {
    expect(acr.demand([])).toBeUndefined();
    expect(acr.demand(['urn:unknown'])).toBeUndefined();
    expect(acr.demand([ONE])).toEqual({ acceptable: [ONE] });
    expect(acr.demand([SMS])).toEqual({ acceptable: [SMS] });
    expect(acr.demand([SMS, MFA])).toEqual({ acceptable: [MFA, SMS] });
    expect(acr.demand(['urn:unknown', MFA])).toEqual({ acceptable: [MFA] });
    // The client's minimum: requested values below it drop out; with none left, the minimum itself.
    expect(acr.demand([ONE], SMS)).toEqual({ acceptable: [SMS] });
    expect(acr.demand([ONE, MFA, SMS], MFA)).toEqual({ acceptable: [MFA, SMS] });
    expect(acr.demand([], MFA)).toEqual({ acceptable: [MFA] });
    expect(acr.demand(['urn:unknown'], SMS)).toEqual({ acceptable: [SMS] });
    expect(acr.demand([], ONE)).toBeUndefined(); // a 1fa minimum demands nothing more
    expect(acr.demand([MFA], 'urn:unknown-minimum')).toEqual({ acceptable: [MFA] });
  });

  it('is met when any one acceptable ACR is satisfied', () => {
    expect(acr.met(['pwd'], undefined)).toBe(true);
    expect(acr.met([], undefined)).toBe(true);
    expect(acr.met(['pwd'], acr.demand([ONE]))).toBe(true);
    expect(acr.met(['pwd'], acr.demand([MFA]))).toBe(false);
    expect(acr.met(['pwd', 'otp'], acr.demand([MFA]))).toBe(true);
    expect(acr.met(['pwd', 'otp'], acr.demand([SMS]))).toBe(false);
    expect(acr.met(['pwd', 'otp'], acr.demand([SMS, MFA]))).toBe(true);
    expect(acr.met(['pwd', 'otp'], acr.demand([MFA], SMS))).toBe(false); // the client minimum wins
    expect(acr.met(['pwd', 'sms'], acr.demand([], SMS))).toBe(true);
  });

  it("stands for the user's own second factor with the mfa value", () => {
    expect(acr.ownDemand()).toEqual({ acceptable: [MFA] });
    expect(acr.met(['pwd'], acr.ownDemand())).toBe(false);
    for (const second of ['sms', 'otp', 'email', 'rec']) expect(acr.met(['pwd', second], acr.ownDemand()), second).toBe(true);
  });

  it('reports the strongest requested value met, or the strongest achieved', () => {
    const d = acr.demand([MFA, SMS]);
    expect(acr.resultAcr(['pwd', 'sms'], d)).toBe(SMS);
    expect(acr.resultAcr(['pwd', 'rec'], d)).toBe(MFA);
    expect(acr.resultAcr(['pwd', 'otp', 'mfa'], d)).toBe(MFA);
    expect(acr.resultAcr(['pwd'])).toBe(ONE);
    expect(acr.resultAcr(['pwd', 'sms'])).toBe(SMS);
    expect(acr.resultAcr(['pwd', 'otp'])).toBe(MFA);
    expect(acr.resultAcr(['pwd', 'email'])).toBe(MFA);
    // Only 1fa was asked for: that is the value returned, even after a second factor.
    expect(acr.resultAcr(['pwd', 'sms'], acr.demand([ONE]))).toBe(ONE);
    // A demand not met (remember-browser skipped nothing an RP asked; this is the honest fallback).
    expect(acr.resultAcr(['pwd'], acr.demand([SMS]))).toBe(ONE);
    expect(acr.resultAcr(['pwd', 'otp'], acr.demand([SMS]))).toBe(MFA);
  });

  it('adds mfa to amr only when a second factor joined the password', () => {
    expect(AcrModel.withMfa(['pwd'])).toEqual(['pwd']);
    expect(AcrModel.withMfa(['pwd', 'sms'])).toEqual(['pwd', 'sms', 'mfa']);
    expect(AcrModel.withMfa(['pwd', 'otp'])).toEqual(['pwd', 'otp', 'mfa']);
    expect(AcrModel.withMfa(['pwd', 'email'])).toEqual(['pwd', 'email', 'mfa']);
    expect(AcrModel.withMfa(['pwd', 'rec'])).toEqual(['pwd', 'rec', 'mfa']);
    expect(AcrModel.withMfa(['pwd', 'sms', 'mfa', 'sms'])).toEqual(['pwd', 'sms', 'mfa']);
    expect(AcrModel.withMfa(['sms'])).toEqual(['sms']); // no password: not multi-factor
    expect(AcrModel.withMfa(['sms', 'mfa'])).toEqual(['sms']); // a stale `mfa` is not carried over
  });

  it("hints the sign-in page: 0 = nothing more, 1 = some second step, 2 = a text message", () => {
    expect(acr.hint(undefined)).toBe(0);
    expect(acr.hint(acr.demand([ONE]))).toBe(0);
    expect(acr.hint(acr.demand([MFA]))).toBe(1);
    expect(acr.hint(acr.demand([SMS]))).toBe(2);
    expect(acr.hint(acr.demand([MFA, SMS]))).toBe(1);
    expect(acr.hint(acr.demand([], SMS))).toBe(2);
  });

  it('follows renamed values (ACR_* settings)', () => {
    const renamed = new AcrModel({ oneFactor: 'urn:x:low', mfa: 'urn:x:two', mfaSms: 'urn:x:phone' });
    expect(renamed.values).toEqual(['urn:x:low', 'urn:x:two', 'urn:x:phone']);
    expect(renamed.demand([MFA])).toBeUndefined(); // Tessera's default names mean nothing now
    expect(renamed.met(['pwd', 'otp'], renamed.demand(['urn:x:two']))).toBe(true);
    expect(renamed.ownDemand()).toEqual({ acceptable: ['urn:x:two'] });
  });

  it('reads acr_values and an essential acr claim', () => {
    expect(requestedAcrValues({ acr_values: 'a b' })).toEqual(['a', 'b']);
    expect(requestedAcrValues({ acr_values: ' a  b ' })).toEqual(['a', 'b']);
    expect(requestedAcrValues({}, { id_token: { acr: { essential: true, value: 'x' } } })).toEqual(['x']);
    expect(requestedAcrValues({}, { id_token: { acr: { essential: true, values: ['x', 'y'] } } })).toEqual(['x', 'y']);
    expect(requestedAcrValues({}, { id_token: { acr: { essential: false, value: 'x' } } })).toEqual([]);
    expect(requestedAcrValues({ acr_values: 'a' }, { id_token: { acr: { essential: true, value: 'x' } } })).toEqual(['a', 'x']);
  });
});

describe('a new ACR is configuration', () => {
  // An ACR met only by an authenticator app, added next to the three defaults in the config file.
  const APP = 'urn:example:acr:app';
  const config = loadConfig(
    { NODE_ENV: 'test' },
    {
      acr: {
        policies: [
          { value: ONE, anyOf: [['pwd']] },
          { value: MFA, anyOf: [['pwd', 'sms'], ['pwd', 'otp'], ['pwd', 'email'], ['pwd', 'rec']] },
          { value: SMS, anyOf: [['pwd', 'sms']] },
          { value: APP, anyOf: [['pwd', 'otp']] },
        ],
      },
    },
  );
  const custom = new AcrModel(config.acr);

  it('is advertised with the others and met only by its methods', () => {
    expect(custom.values).toEqual([ONE, MFA, SMS, APP]);
    const d = custom.demand([APP]);
    expect(d).toEqual({ acceptable: [APP] });
    expect(custom.met(['pwd'], d)).toBe(false);
    expect(custom.met(['pwd', 'sms'], d)).toBe(false);
    expect(custom.met(['pwd', 'email'], d)).toBe(false);
    expect(custom.met(['pwd', 'rec'], d)).toBe(false);
    expect(custom.met([AMR.totp], d)).toBe(false); // still needs the password
    expect(custom.met(['pwd', 'otp'], d)).toBe(true);
    expect(custom.resultAcr(['pwd', 'otp', 'mfa'], d)).toBe(APP);
    expect(custom.hint(d)).toBe(1); // a second step, not necessarily a text
  });

  it('leaves the default ACRs as they were', () => {
    expect(custom.met(['pwd', 'sms'], custom.demand([SMS]))).toBe(true);
    expect(custom.met(['pwd', 'otp'], custom.demand([SMS]))).toBe(false);
    expect(custom.met(['pwd', 'email'], custom.demand([MFA]))).toBe(true);
    expect(custom.resultAcr(['pwd', 'sms'], custom.demand([MFA, SMS]))).toBe(SMS);
    expect(custom.ownDemand()).toEqual({ acceptable: [MFA] });
  });

  it('may be a client minimum', () => {
    expect(custom.demand([MFA], APP)).toEqual({ acceptable: [APP] });
    expect(custom.demand([], APP)).toEqual({ acceptable: [APP] });
  });

  it("refuses a list without the mfa ACR (a user's own second factor could never be met)", () => {
    const without = loadConfig({ NODE_ENV: 'test' }, { acr: { policies: [{ value: ONE, anyOf: [['pwd']] }, { value: APP, anyOf: [['pwd', 'otp']] }] } });
    expect(() => new AcrModel(without.acr)).toThrow(/acr\.policies must list the mfa ACR urn:tessera:acr:mfa/);
    const renamed = loadConfig({ NODE_ENV: 'test', ACR_MFA: APP }, { acr: { policies: [{ value: ONE, anyOf: [['pwd']] }, { value: APP, anyOf: [['pwd', 'otp']] }] } });
    expect(new AcrModel(renamed.acr).ownDemand()).toEqual({ acceptable: [APP] });
  });

  it('is refused by the config schema when malformed', () => {
    expect(() => loadConfig({ NODE_ENV: 'test' }, { acr: { policies: [{ value: APP, anyOf: [] }] } })).toThrow(/acr\.policies/);
    expect(() => loadConfig({ NODE_ENV: 'test' }, { acr: { policies: [{ value: '', anyOf: [['pwd']] }] } })).toThrow(/acr\.policies/);
  });
});
