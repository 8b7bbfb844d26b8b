// WCAG 2.2 contrast arithmetic and the shades derived from a brand colour. Used at start (BRAND_PRIMARY_COLOR)
// and by the contrast test that reads public/tessera.css, so both speak the same arithmetic.

export type Rgb = [number, number, number];

export function parseHex(hex: string): Rgb {
  const m = /^#([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(hex.trim());
  if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
  const h = m[1].length === 3 ? m[1].replace(/./g, (c) => c + c) : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as Rgb;
}

export function toHex(rgb: Rgb): string {
  return `#${rgb.map((c) => Math.round(Math.min(255, Math.max(0, c))).toString(16).padStart(2, '0')).join('')}`;
}

/** Relative luminance (WCAG 2.x definition, sRGB). */
export function luminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Contrast ratio 1..21 between two #rrggbb colours. */
export function contrast(a: string, b: string): number {
  const la = luminance(parseHex(a));
  const lb = luminance(parseHex(b));
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** `rgb` moved toward `target` by `t` (0..1), keeping its hue roughly. */
function mix(rgb: Rgb, target: Rgb, t: number): Rgb {
  return rgb.map((c, i) => c + (target[i] - c) * t) as Rgb;
}

/**
 * The colour itself if it has `ratio` against every one of `against`, else the nearest shade toward
 * `toward` (black or white) that has: a brand colour is darkened just enough, never swapped for another.
 */
export function shadeFor(hex: string, against: string[], ratio: number, toward: 'black' | 'white'): string {
  const base = parseHex(hex);
  const target: Rgb = toward === 'black' ? [0, 0, 0] : [255, 255, 255];
  for (let step = 0; step <= 100; step++) {
    const c = toHex(mix(base, target, step / 100));
    if (against.every((a) => contrast(c, a) >= ratio)) return c;
  }
  return toward === 'black' ? '#000000' : '#ffffff';
}

/** The page colours a brand shade is checked against (public/tessera.css, both themes). */
export const SURFACES = {
  light: { card: '#ffffff', bg: '#f4f6fb' },
  dark: { card: '#171d2b', bg: '#0f1420' },
} as const;

export interface BrandShades {
  /** As configured. */
  chosen: string;
  /** Button background (white text on it) and links on the light theme: 4.5:1 against white and the page. */
  brand: string;
  /** Hover/pressed: darker still. */
  brandDark: string;
  /** Links and the focus ring on the dark theme: 4.5:1 against the dark card and page. */
  brandOnDark: string;
  /** True when `brand` differs from the chosen colour (it failed 4.5:1 for white button text). */
  adjusted: boolean;
}

/**
 * The shades of a brand colour that keep WCAG AA: white button text and links need 4.5:1, so a light
 * colour (a yellow, a light blue) is darkened to the nearest shade that has it rather than refused.
 */
export function brandShades(chosen: string): BrandShades {
  const light = SURFACES.light;
  const dark = SURFACES.dark;
  const brand = shadeFor(chosen, ['#ffffff', light.card, light.bg], 4.5, 'black');
  const darker = toHex(mix(parseHex(brand), [0, 0, 0], 0.2));
  const brandOnDark = shadeFor(chosen, [dark.card, dark.bg], 4.5, 'white');
  return { chosen: chosen.toLowerCase(), brand, brandDark: darker, brandOnDark, adjusted: brand !== chosen.toLowerCase() };
}
