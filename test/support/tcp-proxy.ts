// A TCP proxy for fault tests: forwards every connection to a target (e.g. the MongoDB wire test
// server) until drop(), which destroys every open connection (both sides, with a reset) and refuses new
// ones (each is reset as soon as it is accepted) until restore(). The listening port stays the same, so
// a client keeps the one address it was given, as it would with a real network outage.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections forwarded so far (accepted while up). */
  readonly forwarded: number;
  drop(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let up = true;
  let forwarded = 0;
  const reset = (s: net.Socket) => (typeof s.resetAndDestroy === 'function' ? s.resetAndDestroy() : s.destroy());

  const server = net.createServer((client) => {
    if (!up) {
      client.on('error', () => undefined);
      reset(client);
      return;
    }
    forwarded++;
    const upstream = net.connect(target.port, target.host);
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      open.add(a);
      a.setNoDelay(true);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    get forwarded() {
      return forwarded;
    },
    drop() {
      up = false;
      for (const s of open) reset(s);
      open.clear();
    },
    restore() {
      up = true;
    },
    async close() {
      up = false;
      for (const s of open) s.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** host and port of a single-host mongodb:// connection string (the wire test server's, or MONGODB_URI's). */
export function mongoTarget(uri: string): { host: string; port: number } {
  const m = /^mongodb:\/\/(?:[^@/]*@)?([^/:,?]+)(?::(\d+))?[/?]/.exec(`${uri}/`);
  if (!m) throw new Error(`a single-host mongodb:// connection string is needed for the proxy, got ${uri}`);
  return { host: m[1], port: m[2] ? Number(m[2]) : 27017 };
}
