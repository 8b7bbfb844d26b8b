// Starts a real Tessera on a random loopback port with a fresh store, real SMTP (sink) and the real
// Vonage SDK pointed at the local stub.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.ts';
import { buildApp, type Built } from '../../src/app.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { Store } from '../../src/store/ports.ts';
import { SmtpSink } from './smtp-sink.ts';
import { VonageStub } from './vonage-stub.ts';

export interface RunningTessera {
  issuer: string;
  built: Built;
  store: Store;
  smtp: SmtpSink;
  vonage: VonageStub;
  dataDir: string;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/** `port`: listen there instead of on a free port (a restart on the same data keeps the issuer). */
export async function startTessera(opts: { env?: Record<string, string>; overrides?: Record<string, unknown>; dataDir?: string; store?: Store; log?: Logger; port?: number } = {}): Promise<RunningTessera> {
  const smtp = await new SmtpSink().start();
  const vonage = await new VonageStub().start();
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-test-'));
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      PORT: String(port),
      ISSUER: issuer,
      DATA_DIR: dataDir,
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Tessera Test <id@tessera.test>',
      VONAGE_API_KEY: 'test-key',
      VONAGE_API_SECRET: 'test-secret',
      VONAGE_FROM: 'Tessera',
      VONAGE_REST_HOST: vonage.url,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // Every test browser shares 127.0.0.1: per-IP and global caps are raised here; sms-caps.test.ts sets
      // them low and tests them.
      SMS_PER_IP_HOURLY: '1000',
      SMS_PER_IP_DAILY: '1000',
      SMS_GLOBAL_DAILY: '10000',
      // Registration and forgot-password per-IP caps likewise (abuse.test.ts sets them low).
      REGISTRATION_PER_IP_HOURLY: '1000',
      PASSWORD_RESET_PER_IP_HOURLY: '1000',
      ...(process.env.MONGODB_URI_FOR_APP ? { MONGODB_URI: process.env.MONGODB_URI_FOR_APP } : {}),
      ...opts.env,
    },
    opts.overrides,
  );
  const built = await buildApp(config, { log: opts.log ?? createLogger(config.logLevel), store: opts.store });
  server.on('request', built.app.callback());
  return {
    issuer,
    built,
    store: built.services.store,
    smtp,
    vonage,
    dataDir,
    async stop(o = {}) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await built.close();
      await smtp.stop();
      await vonage.stop();
      if (!o.keepData && !opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
