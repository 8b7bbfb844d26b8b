// /interaction/:uid — the hosted sign-in. Thin handlers: parse, call, render (see login.ts,
// second-factor.ts, consent.ts).
import Router from '@koa/router';
import type { Services } from '../services.ts';
import { showInteraction, submitPassword, showRegister, submitRegister, abort, switchAccount } from './login.ts';
import {
  submitEmailCode, showEmailLink, resendEmailCode,
  submitEnrolPhone, declineEnrolPhone, changeEnrolPhone,
} from './second-factor.ts';
import { submitConsent } from './consent.ts';
import { submitFactor, resendFactor, anotherWay } from './factor-step.ts';
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
  r.post('/factor/:type', (ctx) => submitFactor(s, ctx, ctx.params.type));
  r.post('/factor/:type/resend', (ctx) => resendFactor(s, ctx, ctx.params.type));
  r.post('/another-way', (ctx) => anotherWay(s, ctx));
  // The paths of earlier versions' SMS step (bookmarked forms, older tests).
  r.post('/sms', (ctx) => submitFactor(s, ctx, 'sms'));
  r.post('/sms/resend', (ctx) => resendFactor(s, ctx, 'sms'));
  r.post('/recovery', (ctx) => submitFactor(s, ctx, 'recovery'));
  r.post('/enrol-phone', (ctx) => submitEnrolPhone(s, ctx));
  r.post('/enrol-phone/decline', (ctx) => declineEnrolPhone(s, ctx));
  r.post('/enrol-phone/change', (ctx) => changeEnrolPhone(s, ctx));
  r.get('/forgot', (ctx) => showForgot(s, ctx));
  r.post('/forgot', (ctx) => submitForgot(s, ctx));
  r.post('/reset', (ctx) => submitReset(s, ctx));
  r.post('/consent', (ctx) => submitConsent(s, ctx));
  r.post('/abort', (ctx) => abort(s, ctx));
  r.post('/switch-account', (ctx) => switchAccount(s, ctx));
  return r;
}
