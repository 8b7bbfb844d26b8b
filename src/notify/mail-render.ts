// Turns what an email says (its parts, already in the recipient's language) into the message sent: an
// HTML part from views/mail/message.pug and a plain-text alternative from textOf() below, both from the
// same parts, so they never say different things. No koa here.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pug from 'pug';
import { translator } from '../i18n/catalogue.ts';
import { brandShades } from '../branding/colour.ts';

const TEMPLATE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'views', 'mail', 'message.pug');
let compiled: pug.compileTemplate | undefined;

export interface Brand {
  name: string;
  primaryColor: string;
  supportContact: string | null;
  /** BRAND_LOGO as Tessera serves it, absolute (https://id.example.com/branding/logo?v=…); none: the name alone. */
  logoUrl?: string | null;
}

export interface MailParts {
  subject: string;
  greeting: string;
  /** Before the code or the button. */
  paragraphs: string[];
  code?: string;
  link?: { href: string; label: string; intro?: string };
  /** After the code or the button. */
  after?: string[];
  /** "When: …", "Where: …" lines of a security notice. */
  facts?: string[];
  closing?: string[];
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export function renderMail(parts: MailParts, opts: { locale: string; brand: Brand; host: string }): RenderedMail {
  const t = translator(opts.locale);
  const footer = t('mail.footer', { product: opts.brand.name, host: opts.host });
  const support = opts.brand.supportContact ? t('mail.support', { contact: opts.brand.supportContact }) : null;
  compiled ??= pug.compileFile(TEMPLATE);
  const html = compiled({
    lang: opts.locale, product: opts.brand.name, logoUrl: opts.brand.logoUrl ?? null,
    // The pages' shade of the brand colour: white button text on it keeps 4.5:1 (BRAND_PRIMARY_COLOR may be light).
    color: brandShades(opts.brand.primaryColor).brand,
    subject: parts.subject, greeting: parts.greeting, paragraphs: parts.paragraphs, code: parts.code, link: parts.link,
    after: parts.after ?? [], facts: parts.facts ?? [], closing: parts.closing ?? [], footer, support,
  });
  return { subject: parts.subject, text: textOf(parts, footer, support), html };
}

/** The plain-text part: the same parts, one paragraph per block, the code indented, the link in full. */
function textOf(parts: MailParts, footer: string, support: string | null): string {
  const blocks: string[] = [parts.greeting, ...parts.paragraphs];
  if (parts.code) blocks.push(`    ${parts.code}`);
  if (parts.link) blocks.push([parts.link.intro, parts.link.href].filter(Boolean).join('\n'));
  blocks.push(...(parts.after ?? []));
  if (parts.facts?.length) blocks.push(parts.facts.join('\n'));
  blocks.push(...(parts.closing ?? []));
  blocks.push(['--', footer, support].filter(Boolean).join('\n'));
  return `${blocks.join('\n\n')}\n`;
}
