import { describe, it, expect } from 'vitest';
import { AcrModel, requestedAcrValues } from '../../src/oidc/acr.ts';

const acr = new AcrModel({ oneFactor: 'urn:tessera:acr:1fa', mfa: 'urn:tessera:acr:mfa', mfaSms: 'urn:tessera:acr:mfa:sms' });

describe('the acr model', () => {
  it('ranks what a set of methods proves', () => {
    expect(acr.achieved(['pwd'])).toBe(0);
    expect(acr.achieved(['pwd', 'rec'])).toBe(1);
    expect(acr.achieved(['pwd', 'otp'])).toBe(1);
    expect(acr.achieved(['pwd', 'sms'])).toBe(2);
  });

  it('demands the weakest acceptable requested value, never below the client minimum', () => {
    expect(acr.demand([])).toBeUndefined();
    expect(acr.demand(['urn:unknown'])).toBeUndefined();
    expect(acr.demand(['urn:tessera:acr:mfa:sms'])!.level).toBe(2);
    expect(acr.demand(['urn:tessera:acr:mfa:sms', 'urn:tessera:acr:mfa'])!.level).toBe(1);
    expect(acr.demand(['urn:tessera:acr:1fa'], 'urn:tessera:acr:mfa:sms')!.level).toBe(2);
    expect(acr.demand([], 'urn:tessera:acr:mfa')!.level).toBe(1);
  });

  it('reports the strongest requested value met, or what was achieved', () => {
    const d = acr.demand(['urn:tessera:acr:mfa', 'urn:tessera:acr:mfa:sms']);
    expect(acr.resultAcr(['pwd', 'sms'], d)).toBe('urn:tessera:acr:mfa:sms');
    expect(acr.resultAcr(['pwd', 'rec'], d)).toBe('urn:tessera:acr:mfa');
    expect(acr.resultAcr(['pwd'])).toBe('urn:tessera:acr:1fa');
    expect(acr.resultAcr(['pwd', 'sms'])).toBe('urn:tessera:acr:mfa:sms');
  });

  it('adds mfa to amr only when a second factor joined the password', () => {
    expect(AcrModel.withMfa(['pwd'])).toEqual(['pwd']);
    expect(AcrModel.withMfa(['pwd', 'sms'])).toEqual(['pwd', 'sms', 'mfa']);
    expect(AcrModel.withMfa(['pwd', 'sms', 'mfa', 'sms'])).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('reads acr_values and an essential acr claim', () => {
    expect(requestedAcrValues({ acr_values: 'a b' })).toEqual(['a', 'b']);
    expect(requestedAcrValues({}, { id_token: { acr: { essential: true, value: 'x' } } })).toEqual(['x']);
    expect(requestedAcrValues({}, { id_token: { acr: { essential: false, value: 'x' } } })).toEqual([]);
  });
});
