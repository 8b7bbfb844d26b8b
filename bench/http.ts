// The flow client's HTTP plumbing: node:http over one keep-alive agent (fetch/undici would add its own
// per-request overhead to the measured latency and run in the same single pinned core as the load
// generator), a per-flow cookie jar, and the bits of HTML the flows need (form actions, _csrf).
import http from 'node:http';

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class HttpClient {
  readonly agent: http.Agent;
  constructor(maxSockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = http.request(
        { method, host: u.hostname, port: u.port, path: u.pathname + u.search, agent: this.agent, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close() {
    this.agent.destroy();
  }
}

/** One browser's cookies. Paths and domains are ignored: a flow talks to one origin and cookie names are unique. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Res) {
    for (const c of res.headers['set-cookie'] ?? []) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** The actions of the page's forms, decoded (pug escapes attribute values). */
export function formActions(html: string): string[] {
  return [...html.matchAll(/<form[^>]*\saction="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
}

export function csrfOf(html: string): string {
  return /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
