// A minimal cookie-keeping HTTP client for protocol-level tests (no browser): follows nothing by
// itself, so tests see every status and Location.
export class HttpClient {
  private readonly cookies = new Map<string, string>();
  /** `headers`: sent with every request (e.g. a browser's User-Agent). */
  constructor(readonly base: string, private readonly headers: Record<string, string> = {}) {}

  private store(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(path: string): Promise<Response> {
    const res = await fetch(new URL(path, this.base), { redirect: 'manual', headers: { ...this.headers, cookie: this.header(), accept: 'text/html' } });
    this.store(res);
    return res;
  }

  async post(path: string, body: string | URLSearchParams | Record<string, string>, contentType = 'application/x-www-form-urlencoded'): Promise<Response> {
    const payload = typeof body === 'string' || body instanceof URLSearchParams ? String(body) : String(new URLSearchParams(body));
    const res = await fetch(new URL(path, this.base), {
      method: 'POST',
      redirect: 'manual',
      headers: { ...this.headers, cookie: this.header(), 'content-type': contentType, accept: 'text/html' },
      body: payload,
    });
    this.store(res);
    return res;
  }

  /** GETs and follows redirects on the issuer's origin; returns the last response and its URL. */
  async follow(path: string, max = 10): Promise<{ res: Response; url: string }> {
    let url = new URL(path, this.base).href;
    for (let i = 0; i < max; i++) {
      const res = await this.get(url);
      const loc = res.headers.get('location');
      if (!loc || res.status < 300 || res.status >= 400) return { res, url };
      url = new URL(loc, url).href;
      if (!url.startsWith(this.base)) return { res, url };
    }
    throw new Error('too many redirects');
  }
}

export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token in page');
  return m[1];
}
