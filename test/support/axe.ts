// axe-core in Chromium for a page as it is: evaluated through the debugging protocol, so the page's CSP
// (script-src 'self') stays as it is. Shared by the hosted-page sweep and the admin console's journeys.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const require = createRequire(import.meta.url);
export const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const AXE_VERSION: string = JSON.parse(fs.readFileSync(require.resolve('axe-core/package.json'), 'utf8')).version;

export interface AxeViolation { id: string; impact: string; help: string; targets: string[] }

export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const w = window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } };
    const r = await w.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

/** "serious color-contrast (…): target, target" for each violation of impact serious or critical. */
export function seriousOrCritical(violations: AxeViolation[]): string[] {
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id} (${v.help}): ${v.targets.join(', ')}`);
}
