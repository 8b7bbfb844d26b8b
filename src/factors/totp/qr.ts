// The enrolment QR code, drawn by Tessera itself (the `qrcode` package, pure JS): the otpauth URI
// carries the secret, so it must never be sent to a third-party QR service.
import QRCode from 'qrcode';

/**
 * SVG markup of the QR code. It uses presentation attributes only (fill/stroke, no `style`, no
 * script), has an xmlns so it renders as an image, and width/height so an <img> gets a size.
 * Error-correction M and the standard 4-module quiet zone scan reliably from a screen.
 */
export function qrSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 4, width: 240 });
}

/**
 * The same as a `data:image/svg+xml;base64,…` URL for `<img src>`: allowed by our CSP's
 * `img-src 'self' data:`, and an SVG loaded as an image can't run script or fetch anything, so
 * the pages need no inline SVG (and no style-src exception) at all.
 */
export async function qrSvgDataUrl(uri: string): Promise<string> {
  return `data:image/svg+xml;base64,${Buffer.from(await qrSvg(uri)).toString('base64')}`;
}
