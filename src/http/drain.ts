// Graceful shutdown of an HTTP server: stop accepting, close idle keep-alive connections, let the
// requests in flight finish (their writes may already be committed, so cutting them loses the reply
// the client needs), bounded by a grace period after which the rest are cut.
import type http from 'node:http';

export interface DrainResult {
  /** Requests in flight when the drain began. */
  inFlightAtStart: number;
  /** Requests still unanswered when the grace period ran out (their connections were cut). */
  cut: number;
  /** True when every request finished within the grace period. */
  finished: boolean;
}

export interface Drainer {
  /** Requests received and not yet answered (or aborted). */
  inFlight(): number;
  /** Stops accepting, waits for in-flight requests up to timeoutMs, then closes every connection. */
  drain(timeoutMs: number): Promise<DrainResult>;
}

/** Starts counting the server's in-flight requests; call before it serves anything. */
export function trackRequests(server: http.Server): Drainer {
  let inFlight = 0;
  let draining = false;
  let onIdle: (() => void) | null = null;

  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight++;
    // A request arriving on a kept-alive connection during the drain is served, then its connection closed.
    if (draining && !res.headersSent) res.setHeader('connection', 'close');
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      inFlight--;
      if (draining) {
        // The connection this response used is idle once it's written: close it (and any other idle one).
        setImmediate(() => server.closeIdleConnections());
        if (inFlight === 0) onIdle?.();
      }
    };
    // 'close' follows 'finish' for every response, and also comes alone when the connection drops: one
    // listener per request is enough (this runs on the token path too).
    res.once('close', end);
  });

  return {
    inFlight: () => inFlight,
    async drain(timeoutMs) {
      draining = true;
      const inFlightAtStart = inFlight;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const idle = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onIdle = resolve));
      const outcome = await Promise.race([idle.then(() => 'idle' as const), timedOut]);
      const cut = outcome === 'timeout' ? inFlight : 0;
      // Answered connections close after their response; whatever is left (cut or idle) goes now.
      server.closeIdleConnections();
      if (outcome === 'timeout') server.closeAllConnections();
      await Promise.race([closed, timedOut]);
      server.closeAllConnections();
      clearTimeout(timer);
      return { inFlightAtStart, cut, finished: cut === 0 };
    },
  };
}
