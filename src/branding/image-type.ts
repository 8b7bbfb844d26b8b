// What an image file really is, by its first bytes: a declared or guessed content type is never trusted.
export type RasterType = 'image/png' | 'image/jpeg' | 'image/webp';
export type ImageType = RasterType | 'image/svg+xml';

export function rasterType(bytes: Uint8Array): RasterType | null {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

/**
 * An SVG document Tessera is willing to serve: text, an <svg> root, and nothing active in it (scripts,
 * event handlers, javascript: URLs, embedded HTML, external references). It is refused rather than
 * rewritten: a cleaner that edits markup is a parser to get right; an operator can export a plain SVG.
 * Served with a CSP that forbids scripts as well (src/http/branding.ts).
 */
export function svgProblem(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return 'it is not a text file';
  const text = Buffer.from(bytes).toString('utf8');
  const head = text.replace(/^\uFEFF/, '').replace(/^\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE[^>]*>\s*)?/i, '');
  if (!/^<svg[\s>]/i.test(head)) return 'it does not start with an <svg> element';
  if (/<script|<foreignObject|<iframe|<embed|<object|\son\w+\s*=|javascript:|<!ENTITY|(?:xlink:)?href\s*=\s*["'](?!#|data:image\/(?:png|jpeg|webp);)/i.test(text))
    return 'it contains scripts, event handlers, external references or embedded documents';
  return null;
}
