// /interaction/:uid — the hosted sign-in. Thin handlers: parse, call, render (see login.ts,
// second-factor.ts, consent.ts).
import Router from '@koa/router';
import type { Services } from '../services.ts';
import { showInteraction, submitPassword, showRegister, submitRegister, abort } from './login.ts';
import {
  submitEmailCode, showEmailLink, resendEmailCode, submitSmsCode, resendSmsCode, submitRecoveryCode,
  submitEnrolPhone, declineEnrolPhone, changeEnrolPhone,
} from './second-factor.ts';
import { submitConsent } from './consent.ts';
import { showForgot, submitForgot, submitReset } from './password-reset.ts';

export function interactionRouter(s: Services): Router {
  const r = new Router({ prefix: '/interaction/:uid' });
  r.get('/', (ctx) => showInteraction(s, ctx));
  r.post('/login', (ctx) => submitPassword(s, ctx));
  r.get('/register', (ctx) => showRegister(s, ctx));
  r.post('/register', (ctx) => submitRegister(s, ctx));
  r.post('/email', (ctx) => submitEmailCode(s, ctx));
  r.get('/email/link', (ctx) => showEmailLink(s, ctx));
  r.post('/email/resend', (ctx) => resendEmailCode(s, ctx));
  r.post('/sms', (ctx) => submitSmsCode(s, ctx));
  r.post('/sms/resend', (ctx) => resendSmsCode(s, ctx));
  r.post('/recovery', (ctx) => submitRecoveryCode(s, ctx));
  r.post('/enrol-phone', (ctx) => submitEnrolPhone(s, ctx));
  r.post('/enrol-phone/decline', (ctx) => declineEnrolPhone(s, ctx));
  r.post('/enrol-phone/change', (ctx) => changeEnrolPhone(s, ctx));
  r.get('/forgot', (ctx) => showForgot(s, ctx));
  r.post('/forgot', (ctx) => submitForgot(s, ctx));
  r.post('/reset', (ctx) => submitReset(s, ctx));
  r.post('/consent', (ctx) => submitConsent(s, ctx));
  r.post('/abort', (ctx) => abort(s, ctx));
  return r;
}
