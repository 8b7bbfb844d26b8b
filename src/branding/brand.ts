// The operator's branding (config.brand): product name, logo file, primary colour, support contact.
// Read and checked once at start: a logo that isn't a small PNG, JPEG, WebP or plain SVG stops the start
// with a config error naming BRAND_LOGO, rather than a broken image on every page later.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { ConfigError, type Config } from '../config.ts';
import { brandShades, type BrandShades } from './colour.ts';
import { rasterType, svgProblem, type ImageType } from './image-type.ts';

export const BRAND_LOGO_MAX_BYTES = 512 * 1024;
export const DEFAULT_BRAND_COLOR = '#3346d3';

export interface BrandLogo {
  bytes: Buffer;
  type: ImageType;
  /** A short hash of the bytes: the logo's URL changes with the file, so it can be cached for a year. */
  version: string;
}

export interface Branding {
  name: string;
  logo: BrandLogo | null;
  shades: BrandShades;
  /** Only when the colour isn't Tessera's: the default look needs no extra stylesheet. */
  themeCss: string | null;
  /** The footer's "need help" link, or plain text when it is neither an email address nor a URL. */
  support: { text: string; href: string | null } | null;
  /** Set when the chosen colour was darkened to keep white button text readable (logged at start). */
  notice: string | null;
}

export function loadBranding(brand: Config['brand']): Branding {
  const shades = brandShades(brand.primaryColor);
  const isDefault = shades.chosen === DEFAULT_BRAND_COLOR;
  return {
    name: brand.name,
    logo: brand.logo ? readLogo(brand.logo) : null,
    shades,
    themeCss: isDefault ? null : themeCss(shades),
    support: brand.supportContact ? supportLink(brand.supportContact) : null,
    notice: shades.adjusted
      ? `BRAND_PRIMARY_COLOR ${shades.chosen} has less than 4.5:1 contrast with white button text; pages use the nearest shade that has it, ${shades.brand}`
      : null,
  };
}

export function readLogo(file: string): BrandLogo {
  const fail = (why: string) => new ConfigError(`Invalid configuration:\n  BRAND_LOGO (brand.logo): ${file}: ${why}`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw fail('no such file (it must be a path to a logo file readable by Tessera)');
  }
  if (!stat.isFile()) throw fail('not a file');
  if (stat.size > BRAND_LOGO_MAX_BYTES) throw fail(`it is ${Math.ceil(stat.size / 1024)} KB; the limit is ${BRAND_LOGO_MAX_BYTES / 1024} KB`);
  if (stat.size === 0) throw fail('the file is empty');
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw fail(`can't be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let type: ImageType | null = rasterType(bytes);
  if (!type) {
    const problem = svgProblem(bytes);
    if (problem && /start with an <svg>|not a text file/.test(problem)) throw fail('not a PNG, JPEG, WebP or SVG image (checked by its content, not its name)');
    if (problem) throw fail(`an SVG logo must be plain drawing: ${problem}`);
    type = 'image/svg+xml';
  }
  return { bytes, type, version: crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

/** The brand stylesheet (/branding/theme.css), linked after tessera.css: both themes' brand shades. */
export function themeCss(s: BrandShades): string {
  return [
    `:root { --brand: ${s.brand}; --brand-dark: ${s.brandDark}; --link: ${s.brand}; --focus-ring: ${s.brand}; }`,
    `@media (prefers-color-scheme: dark) {`,
    `  :root { --link: ${s.brandOnDark}; --focus-ring: ${s.brandOnDark}; }`,
    `}`,
    '',
  ].join('\n');
}

function supportLink(contact: string): { text: string; href: string | null } {
  if (/^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(contact)) return { text: contact, href: `mailto:${contact}` };
  if (/^https?:\/\/[^\s<>"]+$/i.test(contact)) return { text: contact.replace(/^https?:\/\//i, '').replace(/\/$/, ''), href: contact };
  return { text: contact, href: null };
}
