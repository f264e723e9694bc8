import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describeWhere } from './requirement.js';
import type { HeadlessBrowser } from '../../src/bench/chromium.js';
import { browserProblem, launchChromium } from '../../src/bench/chromium.js';

/**
 * `describe` for tests that need the real browser: skipped with the reason when /usr/bin/chromium is
 * missing, failed with the same reason under DAN_REQUIRE_BROWSER=1 (CI).
 */
export function describeBrowser(name: string, fn: () => void): void {
  describeWhere(name, browserProblem(), 'DAN_REQUIRE_BROWSER', fn);
}

export type TestBrowser = HeadlessBrowser;

/** The browser the tests drive (src/bench/chromium.ts: the bench measures with the same one). */
export const launchBrowser = (): Promise<TestBrowser> => launchChromium();

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation { id: string; impact: string | null; help: string; nodes: number }

/**
 * axe-core's serious and critical violations on the page as it is now. The engine is evaluated from
 * node_modules through the debugging protocol, not added as a script tag: the page's CSP (rightly)
 * refuses inline scripts.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  // A string, evaluated in the page: this program is compiled without the DOM's types.
  const violations = await page.evaluate<AxeViolation[]>(
    'axe.run(document).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))');
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** test-output/screenshots/, which CI keeps; made if missing. */
export function screenshotDir(): string {
  const dir = join(process.cwd(), 'test-output', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
