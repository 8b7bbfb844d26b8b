// Keys live in the store: after a restart on the same data, the JWKS is the same, tokens issued
// before still introspect as active, and accounts are still there.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera } from '../support/tessera.ts';
import { ClientService } from '../../src/admin/clients.ts';

async function token(issuer: string, id: string, secret: string, body: Record<string, string>, endpoint = '/token') {
  const res = await fetch(`${issuer}${endpoint}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('restart on the same store', () => {
  it('keeps signing keys, cookie keys, clients, accounts and issued tokens', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-restart-'));
    try {
      const first = await startTessera({ dataDir });
      const s = first.built.services;
      const c = await new ClientService(s.store, s.box, s.provider).create({
        client_name: 'Service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid',
      });
      await s.accounts.register({ name: 'Kept', email: 'kept@example.com', password: 'a persistent passphrase', email_verified: true });
      const jwksBefore = await (await fetch(`${first.issuer}/jwks`)).json();
      const issued = await token(first.issuer, c.client_id, c.client_secret!, { grant_type: 'client_credentials' });
      expect(issued.status).toBe(200);
      await first.stop({ keepData: true });

      const second = await startTessera({ dataDir });
      try {
        const jwksAfter = await (await fetch(`${second.issuer}/jwks`)).json();
        expect(jwksAfter).toEqual(jwksBefore);
        expect((jwksAfter as { keys: { alg: string }[] }).keys[0].alg).toBe('ES256');
        // The issuer URL differs (random port), so introspect with the new server: the token is in the store.
        const intro = await token(second.issuer, c.client_id, c.client_secret!, { token: String(issued.json.access_token) }, '/token/introspection');
        expect(intro.json.active).toBe(true);
        expect(intro.json.client_id).toBe(c.client_id);
        // Another (third-party) client may not read this client's token.
        const other = await new ClientService(second.store, second.built.services.box, second.built.services.provider).create({
          client_name: 'Nosy', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid',
        });
        const nosy = await token(second.issuer, other.client_id, other.client_secret!, { token: String(issued.json.access_token) }, '/token/introspection');
        expect(nosy.json).toEqual({ active: false });
        const signIn = await second.built.services.accounts.signIn('kept@example.com', 'a persistent passphrase', '127.0.0.1');
        expect(signIn.ok).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
