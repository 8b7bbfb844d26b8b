// WCAG 2.2 AA contrast of both themes, computed from public/tessera.css itself: the custom properties of
// :root and of the prefers-color-scheme: dark block, and every pair of colours a page puts together.
// A palette change that breaks a ratio fails here. Brand colours: the shades derived from any chosen
// colour keep the same ratios (src/branding/colour.ts).
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { contrast, brandShades, SURFACES } from '../../src/branding/colour.ts';
import { themeCss } from '../../src/branding/brand.ts';

const CSS = fs.readFileSync(path.resolve(import.meta.dirname, '../../public/tessera.css'), 'utf8');

/** The custom properties declared in the first `:root { ... }` of `css`. */
function props(css: string): Record<string, string> {
  const m = /:root\s*\{([^}]*)\}/.exec(css);
  if (!m) throw new Error('no :root block');
  const out: Record<string, string> = {};
  for (const d of m[1].matchAll(/--([\w-]+)\s*:\s*([^;]+);/g)) out[d[1]] = d[2].trim();
  return out;
}

function themes(css: string): { light: Record<string, string>; dark: Record<string, string> } {
  const light = props(css);
  const at = css.indexOf('@media (prefers-color-scheme: dark)');
  if (at < 0) throw new Error('no dark theme (@media (prefers-color-scheme: dark))');
  // The dark block redefines the light one's properties: anything it leaves out is inherited.
  return { light, dark: { ...light, ...props(css.slice(at)) } };
}

// [foreground, background, minimum, what a person sees there]
const TEXT = 4.5;
const UI = 3;
const PAIRS: [string, string, number, string][] = [
  ['text', 'card', TEXT, 'body text'],
  ['text', 'bg', TEXT, 'header and footer text on the page'],
  ['text', 'field-bg', TEXT, 'typed text in a field'],
  ['text', 'secondary-bg', TEXT, 'secondary button text'],
  ['muted', 'card', TEXT, 'hints and muted text'],
  ['muted', 'bg', TEXT, 'footer text'],
  ['link', 'card', TEXT, 'links and link buttons'],
  ['link', 'bg', TEXT, 'links in the footer and header'],
  ['on-brand', 'brand', TEXT, 'primary button text'],
  ['on-brand', 'brand-dark', TEXT, 'primary button text on hover'],
  ['on-brand', 'danger', TEXT, 'danger button text'],
  ['on-brand', 'danger-dark', TEXT, 'danger button text on hover'],
  ['error', 'card', TEXT, 'a field error'],
  ['error', 'error-bg', TEXT, 'an error alert'],
  ['ok', 'ok-bg', TEXT, 'a notice and an ok badge'],
  ['warn', 'warn-bg', TEXT, 'a warning badge and the check-up'],
  ['text', 'bg', TEXT, 'a plain badge'],
  ['field-border', 'field-bg', UI, 'a field’s border against its inside'],
  ['field-border', 'card', UI, 'a field’s border against the card'],
  ['error', 'field-bg', UI, 'an invalid field’s border'],
  ['focus-ring', 'card', UI, 'the focus ring on the card'],
  ['focus-ring', 'bg', UI, 'the focus ring on the page (skip link, header)'],
];

describe('contrast of the hosted pages’ colours (public/tessera.css)', () => {
  const both = themes(CSS);
  for (const [name, vars] of Object.entries(both)) {
    it(`${name} theme: every text pair 4.5:1, field borders and the focus ring 3:1`, () => {
      const failures: string[] = [];
      for (const [fg, bg, min, what] of PAIRS) {
        if (!vars[fg] || !vars[bg]) throw new Error(`--${fg} or --${bg} is not defined in the ${name} theme`);
        const ratio = contrast(vars[fg], vars[bg]);
        if (ratio < min) failures.push(`${what}: --${fg} ${vars[fg]} on --${bg} ${vars[bg]} is ${ratio.toFixed(2)}:1, needs ${min}:1`);
      }
      expect(failures).toEqual([]);
    });
  }

  it('uses the theme properties everywhere: no colour literal outside the two theme blocks', () => {
    const start = CSS.indexOf(':root');
    const darkStart = CSS.indexOf('@media (prefers-color-scheme: dark)');
    const darkEnd = CSS.indexOf('}\n}', darkStart) + 3;
    const firstEnd = CSS.indexOf('}', start) + 1;
    const rest = CSS.slice(0, start) + CSS.slice(firstEnd, darkStart) + CSS.slice(darkEnd);
    expect(rest.match(/#[0-9a-f]{3,8}\b|rgba?\(/gi) ?? []).toEqual([]);
  });

  it('draws the focus indicator as a solid ring in --focus-ring, never a faint shadow', () => {
    expect(CSS).toMatch(/:focus-visible[^{]*\{[^}]*outline:\s*3px solid var\(--focus-ring\)/);
    expect(CSS).not.toMatch(/outline:\s*none/);
  });

  it('the page surfaces the brand shades are derived against are the stylesheet’s', () => {
    expect(both.light.card).toBe(SURFACES.light.card);
    expect(both.light.bg).toBe(SURFACES.light.bg);
    expect(both.dark.card).toBe(SURFACES.dark.card);
    expect(both.dark.bg).toBe(SURFACES.dark.bg);
  });
});

describe('brand colours (BRAND_PRIMARY_COLOR → /branding/theme.css)', () => {
  const both = themes(CSS);
  for (const chosen of ['#3346d3', '#ffcc00', '#00a3e0', '#e4002b', '#111111', '#7fffd4', '#ffffff']) {
    it(`${chosen}: the derived shades meet AA in both themes`, () => {
      const css = themeCss(brandShades(chosen));
      // The brand sheet's own blocks override the stylesheet's (it is linked after it).
      const brand = themes(css);
      const light = { ...both.light, ...brand.light };
      const dark = { ...both.dark, ...brand.dark };
      for (const [vars, surfaces] of [[light, SURFACES.light], [dark, SURFACES.dark]] as const) {
        expect(contrast(vars['on-brand'], vars.brand)).toBeGreaterThanOrEqual(4.5);
        expect(contrast(vars['on-brand'], vars['brand-dark'])).toBeGreaterThanOrEqual(4.5);
        expect(contrast(vars.link, surfaces.card)).toBeGreaterThanOrEqual(4.5);
        expect(contrast(vars.link, surfaces.bg)).toBeGreaterThanOrEqual(4.5);
        expect(contrast(vars['focus-ring'], surfaces.card)).toBeGreaterThanOrEqual(3);
        expect(contrast(vars['focus-ring'], surfaces.bg)).toBeGreaterThanOrEqual(3);
      }
    });
  }

  it('keeps an accessible chosen colour as it is, and darkens one that fails white text', () => {
    expect(brandShades('#3346D3')).toMatchObject({ brand: '#3346d3', adjusted: false });
    const yellow = brandShades('#ffcc00');
    expect(yellow.adjusted).toBe(true);
    expect(contrast('#ffffff', yellow.brand)).toBeGreaterThanOrEqual(4.5);
    expect(contrast('#ffffff', yellow.brand)).toBeLessThan(5.2); // the nearest shade, not black
  });
});
