// Which language a page speaks: the OIDC request's ui_locales, then the switcher's cookie, then the
// browser's Accept-Language (q-values honoured; fr-CA counts as fr), then the configured default.
// A switcher choice made after the authorization request started wins over its ui_locales: the user
// picked a language on this very sign-in. No koa here.

/** The first supported language of a list of tags ("fr-CA" → "fr"), or null. */
export function firstSupported(tags: readonly string[], supported: readonly string[]): string | null {
  for (const raw of tags) {
    const tag = raw.trim().toLowerCase();
    if (!tag || tag === '*') continue;
    const exactTag = supported.find((s) => s.toLowerCase() === tag);
    if (exactTag) return exactTag;
    const base = tag.split('-')[0];
    const byBase = supported.find((s) => s.toLowerCase() === base);
    if (byBase) return byBase;
  }
  return null;
}

/** Accept-Language's tags, most wanted first (q=0 dropped; equal q keep their order). */
export function parseAcceptLanguage(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .slice(0, 1024)
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
      return { tag: tag.trim(), q: q ? Number(q[1]) : 1, i };
    })
    .filter((x) => x.tag && Number.isFinite(x.q) && x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i)
    .map((x) => x.tag);
}

/** The switcher's cookie: `<locale>.<unix seconds when picked>`. */
export function parseChoice(value: string | undefined): { locale: string; at: number } | null {
  const m = value ? /^([a-zA-Z]{2,3}(?:-[a-zA-Z]{2})?)\.(\d{1,12})$/.exec(value) : null;
  return m ? { locale: m[1], at: Number(m[2]) } : null;
}

export interface LocaleInputs {
  /** The authorization request's ui_locales (space-separated), when the page belongs to one. */
  uiLocales?: string | null;
  /** When that authorization request's interaction began (unix seconds). */
  requestedAt?: number | null;
  cookie?: string;
  acceptLanguage?: string;
  supported: readonly string[];
  fallback: string;
}

export function chooseLocale(i: LocaleInputs): string {
  const choice = parseChoice(i.cookie);
  const chosen = choice ? firstSupported([choice.locale], i.supported) : null;
  const ui = typeof i.uiLocales === 'string' ? firstSupported(i.uiLocales.slice(0, 512).split(/\s+/), i.supported) : null;
  if (ui && !(chosen && choice && i.requestedAt && choice.at >= i.requestedAt)) return ui;
  return chosen ?? firstSupported(parseAcceptLanguage(i.acceptLanguage), i.supported) ?? i.fallback;
}
