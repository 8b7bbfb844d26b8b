// Prometheus metrics (prom-client), served at GET /metrics (src/http/metrics.ts). One registry per app
// for Tessera's own metrics, so two apps in one process (tests) count apart; the process metrics
// (CPU, memory, event-loop lag, GC, handles) are the process's and are collected once per process.
//
// Every label takes values from a fixed set: a route name, never a raw path; a method or a cap's name,
// never a user's input. Counts that happen on every request (HTTP, store operations on the token path)
// keep their labelled children made up front, so a request looks nothing up by label.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** The `amr` values a sign-in step proves (src/oidc/acr.ts). */
export type SignInMethod = 'pwd' | 'otp' | 'sms' | 'email' | 'rec';
export type SignInResult = 'success' | 'failure' | 'throttled';
export type CodeChannel = 'sms' | 'email';

/** What the code-challenge engine reports (src/challenges/engine.ts). */
export interface CodeMetrics {
  codeSent(channel: CodeChannel, purpose: string): void;
  /** `rule`: the cap, throttle or deny-list that refused the send (e.g. number_hour, denied_prefix, cooldown). */
  codeRefused(channel: CodeChannel, rule: string): void;
  codeDeliveryFailed(channel: CodeChannel): void;
}

/** One store operation's instruments (src/ops/store-metrics.ts). */
export interface StoreOpMetrics {
  observe(seconds: number): void;
  error(err: unknown, kind: StoreErrorKind): void;
}
export type StoreErrorKind = 'unavailable' | 'conflict' | 'other';

/** One HTTP route's instruments (src/http/metrics.ts). */
export interface RouteMetrics {
  duration: { observe(seconds: number): void };
  /** The request counter of this route and status. */
  status(code: number): { inc(): void };
}

// Seconds. HTTP: from a token request (a millisecond) to a slow mail or SMS send (the providers' 10 s timeout).
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Store: an in-memory artifact lookup (microseconds) to a MongoDB server selection timing out.
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30];

let processRegistry: Registry | null = null;

/** The process's own metrics (prom-client's defaults: CPU, memory, event-loop lag, GC, handles), started once. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

function packageVersion(): string {
  try {
    const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
    return String((JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

export class Metrics implements CodeMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'route' | 'status'>;
  private readonly httpDuration: Histogram<'route'>;
  private readonly signInSteps: Counter<'method' | 'result'>;
  private readonly signInsCompleted: Counter<'methods'>;
  private readonly codesSent: Counter<'channel' | 'purpose'>;
  private readonly codesRefused: Counter<'channel' | 'rule'>;
  private readonly codeFailures: Counter<'channel'>;
  private readonly storeDuration: Histogram<'op'>;
  private readonly storeErrors: Counter<'op' | 'kind'>;
  private readonly oidcErrors: Counter<'event' | 'error'>;

  constructor() {
    const registers = [this.registry];
    new Gauge({ name: 'tessera_build_info', help: 'Tessera version and Node.js version (always 1)', labelNames: ['version', 'node'], registers })
      .labels(packageVersion(), process.version)
      .set(1);
    this.httpRequests = new Counter({ name: 'tessera_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'], registers });
    this.httpDuration = new Histogram({
      name: 'tessera_http_request_duration_seconds', help: 'Time to answer an HTTP request (until the response is handed to Node), by route',
      labelNames: ['route'], buckets: HTTP_BUCKETS, registers,
    });
    this.signInSteps = new Counter({
      name: 'tessera_sign_in_attempts_total',
      help: 'Sign-in steps answered, by method (amr: pwd, otp, sms, email, rec) and result (success, failure, throttled)',
      labelNames: ['method', 'result'], registers,
    });
    this.signInsCompleted = new Counter({
      name: 'tessera_sign_ins_total', help: 'Sign-ins completed, by the methods proved (e.g. pwd, pwd+sms)', labelNames: ['methods'], registers,
    });
    this.codesSent = new Counter({ name: 'tessera_codes_sent_total', help: 'One-time codes (and code mails) handed to the SMS or mail provider, by channel and purpose', labelNames: ['channel', 'purpose'], registers });
    this.codesRefused = new Counter({
      name: 'tessera_codes_refused_total', help: 'Code sends refused before reaching a provider, by channel and the rule that refused (cap, deny-list, cooldown)',
      labelNames: ['channel', 'rule'], registers,
    });
    this.codeFailures = new Counter({ name: 'tessera_code_delivery_failures_total', help: 'Code sends the SMS or mail provider failed or timed out on, by channel', labelNames: ['channel'], registers });
    this.storeDuration = new Histogram({
      name: 'tessera_store_operation_duration_seconds',
      help: 'Store operation latency, by operation (operations of the token path: one call in 16 timed)',
      labelNames: ['op'], buckets: STORE_BUCKETS, registers,
    });
    this.storeErrors = new Counter({
      name: 'tessera_store_operation_errors_total', help: 'Store operations that failed, by operation and kind (unavailable, conflict, other); every call counts',
      labelNames: ['op', 'kind'], registers,
    });
    this.oidcErrors = new Counter({
      name: 'tessera_oidc_errors_total', help: 'Errors oidc-provider reported, by event (server_error, grant.error, ...) and OAuth error code',
      labelNames: ['event', 'error'], registers,
    });
  }

  /** Starts the process metrics (event-loop lag and the rest): only when /metrics is served. */
  collectProcessMetrics(): void {
    processMetrics();
  }

  /** The Prometheus text exposition of this app's metrics and the process's. */
  async text(): Promise<string> {
    const own = await this.registry.metrics();
    return processRegistry ? `${await processRegistry.metrics()}\n${own}` : own;
  }

  route(name: string): RouteMetrics {
    const byStatus: ({ inc(): void } | undefined)[] = [];
    const counter = this.httpRequests;
    return {
      duration: this.httpDuration.labels(name),
      status: (code) => (byStatus[code] ??= counter.labels(name, String(code))),
    };
  }

  storeOperation(op: string): StoreOpMetrics {
    const duration = this.storeDuration.labels(op);
    const errors = this.storeErrors;
    return {
      observe: (seconds) => duration.observe(seconds),
      error: (_err, kind) => errors.labels(op, kind).inc(),
    };
  }

  /** `method`: the amr the step proves (a factor's amr, a fixed set). */
  signInStep(method: SignInMethod | (string & {}), result: SignInResult): void {
    this.signInSteps.labels(method, result).inc();
  }

  signInCompleted(amr: readonly string[]): void {
    this.signInsCompleted.labels(amr.filter((m) => m !== 'mfa').join('+') || 'none').inc();
  }

  codeSent(channel: CodeChannel, purpose: string): void {
    this.codesSent.labels(channel, purpose).inc();
  }

  codeRefused(channel: CodeChannel, rule: string): void {
    this.codesRefused.labels(channel, rule).inc();
  }

  codeDeliveryFailed(channel: CodeChannel): void {
    this.codeFailures.labels(channel).inc();
  }

  oidcError(event: string, error: string): void {
    this.oidcErrors.labels(event, error).inc();
  }
}
