// Starts Tessera: read config, open the store, build the app, listen, shut down gracefully.
import http from 'node:http';
import { loadConfig, listenHost, ConfigError } from './config.ts';
import { buildApp } from './app.ts';
import { createLogger } from './log.ts';
import { trackRequests } from './http/drain.ts';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  // Loud on purpose: a dev convenience reachable from the network gives away sign-in codes or a client.
  for (const warning of config.warnings) {
    log.warn({ event: 'config.warning' }, warning);
    process.stderr.write(`\n*** WARNING: ${warning}\n\n`);
  }
  const built = await buildApp(config, { log });
  const server = http.createServer(built.app.callback());
  server.keepAliveTimeout = 65_000;
  const requests = trackRequests(server);
  const host = listenHost(config);
  await new Promise<void>((resolve) => server.listen(config.port, host, resolve));
  const where = config.mongodbUri ? 'MongoDB' : `SQLite in ${config.dataDir}`;
  log.info({ issuer: config.issuer, store: where, listen: host ?? 'all interfaces' }, `Tessera listening on ${config.issuer} (store: ${where})`);
  if (host)
    log.info(
      { event: 'listen.loopback_only', host },
      `Listening on ${host} only: the dev outbox and demo client are on because ISSUER is on loopback, so nothing else on the network may reach them. ` +
        'Set NODE_ENV=production (or DEV_OUTBOX and DEMO_CLIENT explicitly) to listen on every interface.',
    );
  if (built.services.outbox) log.info(`Development outbox: ${config.issuer}/dev/outbox (emails and texts land there)`);

  // Drain before closing the store: a request in flight may already have committed (a rotated refresh
  // token), so cutting it loses the only reply the client could use. Bounded by SHUTDOWN_GRACE_SECONDS.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const graceMs = config.shutdownGraceSeconds * 1000;
    // Last resort if closing the store itself hangs.
    setTimeout(() => {
      log.error({ event: 'shutdown.forced' }, 'shutdown: still not done, exiting anyway');
      process.exit(1);
    }, graceMs + 10_000).unref();
    log.info(
      { event: 'shutdown.draining', signal, inFlight: requests.inFlight(), graceSeconds: config.shutdownGraceSeconds },
      `shutting down (${signal}): no new connections, waiting for ${requests.inFlight()} request(s) in flight`,
    );
    const drained = await requests.drain(graceMs);
    if (drained.finished) log.info({ event: 'shutdown.drained', ...drained }, 'shutdown: every request in flight answered');
    else log.warn({ event: 'shutdown.cut', ...drained }, `shutdown: grace period over, ${drained.cut} request(s) cut`);
    try {
      await built.close();
      log.info({ event: 'shutdown.store_closed' }, 'shutdown: store closed');
    } catch (err) {
      log.error({ event: 'shutdown.store_close_failed', err }, 'shutdown: closing the store failed');
      process.exit(1);
    }
    log.info({ event: 'shutdown.exit' }, 'shutdown: done');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  // A config error found while building (a bad BRAND_LOGO file): said like any other, exit 2.
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`Tessera failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
