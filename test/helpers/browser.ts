/**
 * A real browser for dashboard tests: Debian's Chromium (/usr/bin/chromium) driven by
 * playwright-core, headless, in a fresh profile directory, with everything that would reach
 * outside hosts turned off. With CI=true a missing Chromium is a failure, not a skip.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** false when Chromium is installed (run the test), a skip reason when not; throws under CI=true. */
export function requireChromium(): false | string {
  try {
    accessSync(CHROMIUM, fsConstants.X_OK);
    return false;
  } catch {
    const message = `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;
    if (process.env.CI === 'true') throw new Error(`${message}; CI=true, so this is a failure, not a skip`);
    return `${message}; skipping (set CI=true to make this a failure)`;
  }
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Console messages and page errors seen so far (CSP violations show up here). */
  console: string[];
  close(): Promise<void>;
}

/** Launches Chromium with a new empty user-data dir; close() removes it. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'anvil-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1360, height: 900 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const messages: string[] = [];
  const watch = (p: Page) => {
    p.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
    p.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  };
  watch(page);
  context.on('page', watch);
  return {
    context,
    page,
    console: messages,
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
