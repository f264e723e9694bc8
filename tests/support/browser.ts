import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { describe, it } from 'vitest';

/** Debian's Chromium: the tests use the system browser, nothing is downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** Set by CI (.ci/run): a missing browser fails the tests instead of skipping them. */
export const browserRequired = process.env['DAN_REQUIRE_BROWSER'] === '1';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserProblem(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) to run the dashboard's browser tests`;
}

/**
 * `describe` for tests that need the real browser: skipped with the reason when it is missing, failed
 * with the same reason under DAN_REQUIRE_BROWSER=1.
 */
export function describeBrowser(name: string, fn: () => void): void {
  const problem = browserProblem();
  if (!problem) {
    describe(name, fn);
  } else if (browserRequired) {
    describe(name, () => {
      it('has Chromium (DAN_REQUIRE_BROWSER=1)', () => {
        throw new Error(`DAN_REQUIRE_BROWSER=1 but ${problem}`);
      });
    });
  } else {
    console.warn(`skipping "${name}": ${problem} (set DAN_REQUIRE_BROWSER=1 to fail instead)`);
    describe.skip(`${name} (skipped: ${problem}; set DAN_REQUIRE_BROWSER=1 to fail instead)`, fn);
  }
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile of its own, nothing fetched from the network by the browser
 * itself (no component updates, sync or background requests), QUIC off.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'dan-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation { id: string; impact: string | null; help: string; nodes: number }

/**
 * axe-core's serious and critical violations on the page as it is now. The engine is evaluated from
 * node_modules through the debugging protocol, not added as a script tag: the page's CSP (rightly)
 * refuses inline scripts.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: unknown[] }> }> } }).axe;
    const result = await axe.run(document);
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** test-output/screenshots/, which CI keeps; made if missing. */
export function screenshotDir(): string {
  const dir = join(process.cwd(), 'test-output', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
