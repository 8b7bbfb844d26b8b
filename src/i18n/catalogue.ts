// Message catalogues: one JSON file per language in locales/ (the supported languages are the files
// found there: adding a language is adding a file). Flat keys; `{name}` placeholders; an entry whose
// value is an object holds plural forms chosen by Intl.PluralRules from `count` ("one", "other", ...).
// English is complete by definition and the fallback for a key another catalogue lacks. No koa here.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Entry = string | Partial<Record<Intl.LDMLPluralRule, string>>;
export type Catalogue = Record<string, Entry>;
export type Vars = Record<string, string | number | null | undefined>;

export const LOCALES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'locales');
export const SOURCE_LOCALE = 'en';

function load(dir: string): Map<string, Catalogue> {
  const out = new Map<string, Catalogue>();
  for (const file of fs.readdirSync(dir).filter((f) => /^[a-z]{2,3}(-[A-Z]{2})?\.json$/.test(f)).sort()) {
    out.set(file.slice(0, -5), JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Catalogue);
  }
  if (!out.has(SOURCE_LOCALE)) throw new Error(`locales/${SOURCE_LOCALE}.json is missing`);
  return out;
}

const catalogues = load(LOCALES_DIR);
const plurals = new Map<string, Intl.PluralRules>();

/** Every language with a catalogue, English first. */
export const SUPPORTED: readonly string[] = [SOURCE_LOCALE, ...[...catalogues.keys()].filter((l) => l !== SOURCE_LOCALE)];

export function catalogue(locale: string): Catalogue | undefined {
  return catalogues.get(locale);
}

export function isSupported(locale: string): boolean {
  return catalogues.has(locale);
}

function fill(text: string, vars: Vars | undefined): string {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (all, name: string) => (vars[name] === undefined || vars[name] === null ? all : String(vars[name])));
}

function pick(locale: string, entry: Entry, vars: Vars | undefined): string {
  if (typeof entry === 'string') return entry;
  const n = Number(vars?.count ?? 0);
  let rules = plurals.get(locale);
  if (!rules) plurals.set(locale, (rules = new Intl.PluralRules(locale)));
  return entry[rules.select(n)] ?? entry.other ?? Object.values(entry)[0] ?? '';
}

/** The text of `key` in `locale` (English when that catalogue lacks it), or null for an unknown key. */
export function lookup(locale: string, key: string, vars?: Vars): string | null {
  const own = catalogues.get(locale)?.[key];
  if (own !== undefined) return fill(pick(locale, own, vars), vars);
  const en = catalogues.get(SOURCE_LOCALE)![key];
  return en === undefined ? null : fill(pick(SOURCE_LOCALE, en, vars), vars);
}

// ---- English texts from domain code ---------------------------------------------------------------
// Domain code (factors, challenges, account rules) speaks English: its messages are also read by the
// CLI, the admin API and logs. The hosted pages translate them at the edge: every English catalogue
// entry is also an index from its text back to its key (placeholders match any value), so an English
// message the domain produced is shown in the page's language. A text not in the catalogue stays as is.

interface Pattern {
  key: string;
  re: RegExp;
  names: string[];
  literal: number;
}

const exact = new Map<string, string>();
const patterns: Pattern[] = [];
{
  const en = catalogues.get(SOURCE_LOCALE)!;
  for (const [key, entry] of Object.entries(en)) {
    for (const text of typeof entry === 'string' ? [entry] : Object.values(entry)) {
      if (!text) continue;
      const names: string[] = [];
      if (!/\{\w+\}/.test(text)) {
        if (!exact.has(text)) exact.set(text, key);
        continue;
      }
      // A text that is mostly placeholders ("{lead} {destination}.") would match anything: not an index.
      const literal = text.replace(/\{\w+\}/g, '');
      if (literal.replace(/[^\p{L}]/gu, '').length < 4) continue;
      const source = text.split(/(\{\w+\})/).map((part) => {
        const m = /^\{(\w+)\}$/.exec(part);
        if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(m[1]);
        return m[1] === 'count' ? '(\\d+)' : '(.+?)';
      }).join('');
      patterns.push({ key, re: new RegExp(`^${source}$`, 's'), names, literal: literal.length });
    }
  }
  // The most specific pattern first: more fixed text, fewer ways to match by accident.
  patterns.sort((a, b) => b.literal - a.literal);
}

/** The key and values behind an English text from the catalogue, or null. */
export function fromEnglish(text: string): { key: string; vars: Vars } | null {
  const key = exact.get(text);
  if (key) return { key, vars: {} };
  for (const p of patterns) {
    const m = p.re.exec(text);
    if (!m) continue;
    const vars: Vars = {};
    p.names.forEach((name, i) => {
      vars[name] = name === 'count' ? Number(m[i + 1]) : m[i + 1];
    });
    return { key: p.key, vars };
  }
  return null;
}

/**
 * What the pages call: `t('login.title')`, `t('code.sent', { destination })`, or `t(englishText)` for a
 * message domain code made. Values that are themselves catalogue texts (a factor's name inside a
 * sentence) are translated too.
 */
export function translator(locale: string): (keyOrText: unknown, vars?: Vars) => string {
  const t = (keyOrText: unknown, vars?: Vars): string => {
    if (keyOrText === undefined || keyOrText === null) return '';
    const s = String(keyOrText);
    const direct = lookup(locale, s, vars);
    if (direct !== null) return direct;
    const found = fromEnglish(s);
    if (!found) return s;
    const inner: Vars = {};
    for (const [k, v] of Object.entries(found.vars)) inner[k] = typeof v === 'string' && k !== 'destination' && k !== 'email' ? t(v) : v;
    return lookup(locale, found.key, { ...inner, ...vars }) ?? s;
  };
  return t;
}
