/** Debian's Chromium for the editor tests, driven by playwright-core (which downloads no browser of its own). */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Starts headless Chromium; without one, fails saying how to get it rather than skipping. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: the editor tests need a browser. Install Debian's chromium package ` +
        `(apt-get install chromium) or set CHROMIUM to a Chromium executable.`,
    );
  }
  // No sandbox: CI runs as root. No background networking: this machine reaches no internet.
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** Opens the editor at `url` and its Journeys sidebar, once the flow holding `nodeId` is loaded. */
export async function openJourneysSidebar(page: Page, url: string, nodeId: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.waitForFunction(
    (id) => {
      const RED = (window as any).RED;
      try {
        // Node-RED 4.1 throws here until its sidebar is built.
        return !!(RED.sidebar.containsTab('journeys') && RED.nodes.node(id));
      } catch {
        return false;
      }
    },
    nodeId,
    { timeout: 60_000 },
  );
  await page.evaluate(() => (window as any).RED.sidebar.show('journeys'));
}
