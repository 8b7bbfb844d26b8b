// The set-up every browser journey shares: a Tessera, a real RP web server with a registered client,
// openid-client discovered against it, and a Chromium page.
import type { Page } from 'playwright-core';
import { startTessera, type RunningTessera } from './tessera.ts';
import { launchBrowser } from './browser.ts';
import { RelyingParty, RpServer, registerClient } from './rp.ts';
import { ClientService } from '../../src/admin/clients.ts';

export interface Journey {
  t: RunningTessera;
  clients: ClientService;
  rpServer: RpServer;
  rp: RelyingParty;
  browser: Awaited<ReturnType<typeof launchBrowser>>;
  page: Page;
  stop(): Promise<void>;
}

export async function startJourney(clientMetadata: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<Journey> {
  const t = await startTessera({ env });
  const s = t.built.services;
  const clients = new ClientService(s.store, s.box, s.provider);
  const rpServer = await new RpServer().start();
  const client = await registerClient(clients, rpServer, clientMetadata);
  const rp = await RelyingParty.discover(t.issuer, rpServer, client.client_id, client.client_secret);
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  return {
    t, clients, rpServer, rp, browser, page,
    async stop() {
      await browser.close();
      await t.stop();
      await rpServer.stop();
    },
  };
}
